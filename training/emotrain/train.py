"""Train one backbone on FER-2013 Training, select on its validation split, save resumable checkpoints.

    python -m emotrain.train --arch emonet --epochs 30 --out runs/emonet

The validation split (`data.validation_split`: a fixed, seeded 10% of every class of Training) is
held out of training and picks the checkpoint; PublicTest is not read here (`--select-on publictest`
restores the old behaviour, for reproducing the first shipped models). Each epoch ends with a
checkpoint (`last.pt`) and, when the selection accuracy improves, `best.pt`.
Re-running the same command resumes from `last.pt`. `--time-budget-min` stops cleanly (after
saving) when the next epoch would not fit, so a long schedule can span several sessions; with
`--fit-epochs-to-budget` it instead shortens the schedule after the first epoch so that the whole
cosine decay fits the budget (for a machine lent for a fixed time, `gpu_round`).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import augment, data, distill, models, preprocess, tta


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="emonet", choices=sorted(models.BACKBONES))
    p.add_argument("--data", default=data.DEFAULT_DATA, help="FER-2013 folder (train/, test/) or fer2013.csv")
    p.add_argument("--classes", type=int, default=6, choices=[6, 7], help="6 drops disgust, as the original study did")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05, help="peak SGD learning rate (cosine decay after 1 warm-up epoch)")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--bf16", action="store_true",
                   help="train under bfloat16 autocast (about 2x faster on CPUs with AMX/AVX-512 BF16; "
                        "weights, evaluation and export stay float32)")
    p.add_argument("--time-budget-min", type=float, default=0.0, help="stop (resumably) before exceeding this many minutes")
    p.add_argument("--fit-epochs-to-budget", action="store_true",
                   help="after the first epoch, lower --epochs to what --time-budget-min holds at that epoch's pace, "
                        "so that the schedule ends, learning rate decayed, inside the budget")
    p.add_argument("--limit-train", type=int, default=0, help="use only the first N training images (smoke tests)")
    p.add_argument("--select-on", default="validation", choices=["validation", "publictest"],
                   help="the split that picks best.pt: the held-out 10%% of Training (default), or PublicTest "
                        "(how the first EmoNets were made; it flatters their PublicTest figure)")
    p.add_argument("--teacher", nargs="+", default=[], metavar="MODEL.onnx|best.pt",
                   help="distil from these shipped models or trained checkpoints "
                        "(their mean log-probabilities on each training face)")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="share of the loss given to the teachers' soft targets (the rest: the labels)")
    p.add_argument("--distill-temperature", type=float, default=4.0, help="softening of the soft targets")
    p.add_argument("--teacher-zoom-tta", type=tta.zoom_scale, nargs="+", default=list(tta.NO_ZOOM), metavar="SCALE",
                   help="average each teacher over the faces zoomed by these scales (emotrain.tta; default 1.0: as they are)")
    p.add_argument("--mix", default="none", choices=["none", "mixup", "cutmix"],
                   help="mix pairs of training faces: mixup (weighted mean) or CutMix (a pasted rectangle)")
    p.add_argument("--mix-alpha", type=float, default=1.0, help="Beta(alpha, alpha) of the mixing weight")
    p.add_argument("--ema-decay", type=float, default=0.0, metavar="DECAY",
                   help="select and save an exponential moving average of the weights and batch-norm statistics "
                        "(e.g. 0.999: about the last 1000 steps) instead of the last step's weights; 0: off")
    p.add_argument("--out", required=True, help="run folder for checkpoints and the log")
    args = p.parse_args(argv)
    if not 0.0 <= args.ema_decay < 1.0:
        p.error(f"--ema-decay {args.ema_decay}: must be in [0, 1) (0 turns it off)")
    if args.fit_epochs_to_budget and not args.time_budget_min:
        p.error("--fit-epochs-to-budget needs --time-budget-min")
    return args


def fitted_epochs(requested: int, budget_s: float, first_epoch_s: float) -> int:
    """The epochs that fit `budget_s` when each takes as long as the first did (`first_epoch_s`,
    its evaluation and checkpoint included). The first epoch is the slowest (warm-up of kernels
    and caches), so the estimate errs towards ending early. Never more than `requested`, never
    fewer than the one already done."""
    return max(1, min(requested, int(budget_s // max(first_epoch_s, 1e-9))))


# The history key of the selection accuracy; checkpoints from before the validation split have
# only "publictest_acc".
SELECTION_KEYS = {"validation": "val_acc", "publictest": "publictest_acc"}


def selection_accuracy(record: dict) -> float:
    return record.get("val_acc", record.get("publictest_acc", 0.0))


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def predict(model: torch.nn.Module, images_u8: np.ndarray, device: torch.device, flip_tta: bool = True,
            batch: int = 512, zooms: tuple[float, ...] = tta.NO_ZOOM) -> np.ndarray:
    """Softmax probabilities (N, C) of the logits averaged as the exported graph averages them
    (`tta`: with `flip_tta`, over the face and its mirror image; over every zoom in `zooms`)."""
    logits = tta.averaged_logits(model, images_u8, device, flip_tta, zooms, batch)
    return F.softmax(torch.from_numpy(logits), dim=1).numpy()


def training_step(model: torch.nn.Module, opt: torch.optim.Optimizer, faces_u8: torch.Tensor, y: torch.Tensor,
                  gen: torch.Generator, device: torch.device, args: argparse.Namespace,
                  teacher_log_probs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on a batch of uint8 faces (N, 48, 48) with the recipe's augmentation and loss
    (`args`: bf16, label_smoothing, distill_weight, distill_temperature, mix, mix_alpha). Returns
    (loss, logits)."""
    # On the training device: a GPU then warps the batch too, and only uint8 faces cross the bus.
    x = preprocess.normalize(faces_u8.to(device))
    x = augment.random_affine(x, gen)
    x = augment.random_erasing(x, gen)
    partner, lam = None, 1.0
    if args.mix != "none":
        x, partner, lam = augment.mix_pairs(x, gen, args.mix, args.mix_alpha)
    x = x.contiguous(memory_format=torch.channels_last)

    def loss_towards(rows: torch.Tensor | slice) -> torch.Tensor:
        """The recipe's loss of every output against the targets of faces `rows`."""
        loss = F.cross_entropy(logits.float(), y[rows], label_smoothing=args.label_smoothing)
        if teacher_log_probs is not None:
            soft = distill.distillation_loss(logits.float(), teacher_log_probs[rows], args.distill_temperature)
            loss = (1 - args.distill_weight) * loss + args.distill_weight * soft
        return loss

    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
        logits = model(x)
        # Both losses are linear in their targets, so the mixed face's loss is the mix of its two
        # faces' losses (the teachers' answers mix the same way).
        loss = loss_towards(slice(None))
        if partner is not None:
            loss = lam * loss + (1 - lam) * loss_towards(partner.to(device))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss, logits


def make_optimizer(model: torch.nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay)


def lr_at(step: int, steps_per_epoch: int, epochs: int, peak: float) -> float:
    warmup = steps_per_epoch
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, epochs * steps_per_epoch - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def weight_average(model: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel | None:
    """The exponential moving average of `model`'s weights and buffers (batch-norm statistics), or
    None when `decay` is 0. The late epochs of a run swing by half a point of validation accuracy
    from one epoch to the next; the average of the last steps' weights is steadier, and what is
    selected and saved is then the average."""
    if not decay:
        return None
    return torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device()
    if device.type == "cuda":
        # Every training batch has the same shape (the last partial batch is dropped).
        torch.backends.cudnn.benchmark = True
    labels = data.labels_for(args.classes)
    cache = data.CACHE_DIR
    train_x, train_y = data.load_split(args.data, "train", labels, cache)
    if args.limit_train:
        train_x, train_y = train_x[: args.limit_train], train_y[: args.limit_train]
    if args.select_on == "validation":
        train_idx, val_idx = data.validation_split(train_y, train_x)
        select_x, select_y = train_x[val_idx], train_y[val_idx]
        train_x, train_y = train_x[train_idx], train_y[train_idx]
        select_name = "validation"
    else:
        select_x, select_y = data.load_split(args.data, "test", labels, cache)
        select_name = "PublicTest"
    print(f"data: {len(train_x)} train / {len(select_x)} {select_name} images, classes {labels}, device {device}", flush=True)

    teacher_lp = None
    if args.teacher:
        try:
            teacher_lp = torch.from_numpy(distill.teacher_log_probs([Path(t) for t in args.teacher], train_x, labels, cache,
                                                                    threads=args.threads or 2,
                                                                    zooms=tuple(args.teacher_zoom_tta),
                                                                    device=device))
        except (distill.TeacherError, OSError) as error:
            raise SystemExit(f"cannot distil: {error}") from error
        agreement = float((teacher_lp.argmax(1).numpy() == train_y).mean())
        print(f"teachers agree with the labels on {agreement:.3f} of the training faces", flush=True)

    torch.manual_seed(args.seed)
    model = models.build(args.arch, len(labels)).to(device).to(memory_format=torch.channels_last)
    opt = make_optimizer(model, args)
    averaged = weight_average(model, args.ema_decay)
    state = {"epoch": 0, "best_acc": 0.0, "train_seconds": 0.0, "history": []}
    last = out / "last.pt"
    if last.exists():
        ckpt = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if (averaged is None) != ("averaged" not in ckpt):
            raise SystemExit(f"{last} was trained {'without' if 'averaged' not in ckpt else 'with'} --ema-decay: "
                             f"resume it as it was, or use a new --out")
        if averaged is not None:
            averaged.load_state_dict(ckpt["averaged"])
        state = ckpt["state"]
        # A fitted schedule resumes as fitted, whatever --epochs says.
        args.epochs = state.get("fitted_epochs", args.epochs)
        # Checkpoints from before the validation split were all selected on PublicTest.
        resumed_selection = ckpt["meta"].get("selected_on", "publictest")
        if resumed_selection != args.select_on:
            raise SystemExit(f"{last} was selected on {resumed_selection}, not {args.select_on}: "
                             f"pass --select-on {resumed_selection} to resume it, or use a new --out")
        print(f"resumed from {last} at epoch {state['epoch']}", flush=True)

    gen = torch.Generator().manual_seed(args.seed * 1000 + state["epoch"])
    steps_per_epoch = len(train_x) // args.batch
    train_t = torch.from_numpy(train_x)
    train_labels = torch.from_numpy(train_y)
    started = time.monotonic()
    while state["epoch"] < args.epochs:
        epoch = state["epoch"]
        if args.time_budget_min and state["history"]:
            spent_min = (time.monotonic() - started) / 60
            epoch_min = state["history"][-1]["seconds"] / 60
            if spent_min + epoch_min > args.time_budget_min:
                print(f"time budget reached after {spent_min:.1f} min; re-run the same command to resume", flush=True)
                break
        model.train()
        t0 = time.monotonic()
        order = torch.randperm(len(train_x), generator=gen)
        # Summed on the device: reading them every step would wait for the GPU each time.
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        for i in range(steps_per_epoch):
            idx = order[i * args.batch:(i + 1) * args.batch]
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch * steps_per_epoch + i, steps_per_epoch, args.epochs, args.lr)
            y = train_labels[idx].to(device)
            loss, logits = training_step(model, opt, train_t[idx], y, gen, device, args,
                                         None if teacher_lp is None else teacher_lp[idx].to(device))
            if averaged is not None:
                averaged.update_parameters(model)
            loss_sum += loss.detach()
            correct += (logits.argmax(1) == y).sum()
            if i % 100 == 0:
                print(f"  epoch {epoch + 1} step {i}/{steps_per_epoch} loss {loss.item():.3f}", flush=True)
        seconds = time.monotonic() - t0
        selected = model if averaged is None else averaged.module
        probs = predict(selected, select_x, device)
        acc = float((probs.argmax(1) == select_y).mean())
        record = {"epoch": epoch + 1, "train_loss": loss_sum.item() / steps_per_epoch,
                  "train_acc": correct.item() / (steps_per_epoch * args.batch), SELECTION_KEYS[args.select_on]: acc,
                  "seconds": seconds}
        state["history"].append(record)
        state["epoch"] = epoch + 1
        state["train_seconds"] += seconds
        if args.fit_epochs_to_budget and "fitted_epochs" not in state:
            state["fitted_epochs"] = args.epochs = fitted_epochs(args.epochs, args.time_budget_min * 60,
                                                                 time.monotonic() - started)
            print(f"schedule fitted to the budget: {args.epochs} epochs", flush=True)
        meta = {"arch": args.arch, "labels": labels, "args": vars(args), "device": device.type,
                "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
                "selected_on": args.select_on, "validation_rule": data.VALIDATION_RULE}
        if acc > state["best_acc"]:
            state["best_acc"] = acc
            torch.save({"model": selected.state_dict(), "meta": meta, "state": state}, out / "best.pt")
        resumable = {"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state, "meta": meta}
        if averaged is not None:
            resumable["averaged"] = averaged.state_dict()
        torch.save(resumable, last)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {record['train_loss']:.3f} train {record['train_acc']:.3f} "
              f"{select_name} {acc:.4f} (best {state['best_acc']:.4f}) {seconds / 60:.1f} min", flush=True)
        (out / "history.json").write_text(json.dumps(state, indent=1))


if __name__ == "__main__":
    main()
