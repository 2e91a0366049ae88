"""Measure how long one training epoch of a backbone takes on this machine, without training it.

    python -m emotrain.epoch_time --arch resnet50 wide_resnet101_2 --threads 2 --bf16

Runs `--steps` real training steps (the recipe's augmentation, loss and SGD update, batch 64, on
random faces: the cost does not depend on the pixels) after `--warmup` untimed ones, and one
mirror-averaged validation pass over `--eval-faces` faces, then scales them to a full epoch of
FER-2013 Training less the validation split (6 classes) and to the validation split itself. The
epoch's minutes are the training steps alone, as `train` prints them; the validation pass after
each epoch is given apart. It reads no data set, so it can size a run on a machine before the data
is there. Pause other training (SIGSTOP) while it runs, or it measures them too.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from . import models, train

# FER-2013 Training without disgust, less the validation split, and the split itself, as
# `train` reports them ("data: 25445 train / 2828 validation images").
TRAIN_FACES = 25445
VALIDATION_FACES = 2828


def epoch_minutes(step_seconds: float, batch: int = 64, train_faces: int = TRAIN_FACES) -> float:
    """Minutes of training steps in one epoch: every full batch of the training faces (as `train`)."""
    return (train_faces // batch) * step_seconds / 60


def validation_minutes(eval_seconds_per_face: float, validation_faces: int = VALIDATION_FACES) -> float:
    return validation_faces * eval_seconds_per_face / 60


def measure(arch: str, steps: int, warmup: int, eval_faces: int, bf16: bool, batch: int = 64,
            num_classes: int = 6, seed: int = 0) -> dict:
    """Seconds per training step and per validation face for `arch`, and the epoch they add up to."""
    if steps < 1 or warmup < 0 or eval_faces < 1:
        raise ValueError("need steps >= 1, warmup >= 0 and eval_faces >= 1")
    # The recipe's defaults (loss, optimizer), as `train` parses them; --out is never written.
    args = train.parse_args(["--arch", arch, "--batch", str(batch), "--out", "unused"] + (["--bf16"] if bf16 else []))
    device = torch.device("cpu")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = models.build(arch, num_classes).to(memory_format=torch.channels_last)
    opt = train.make_optimizer(model, args)
    model.train()
    step_seconds = []
    for step in range(warmup + steps):
        faces = torch.randint(0, 256, (batch, 48, 48), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, num_classes, (batch,), generator=gen)
        started = time.perf_counter()
        train.training_step(model, opt, faces, labels, gen, device, args)
        if step >= warmup:
            step_seconds.append(time.perf_counter() - started)
    faces_u8 = np.random.default_rng(seed).integers(0, 256, (eval_faces, 48, 48), dtype=np.uint8)
    train.predict(model, faces_u8[:8], device)  # untimed: the first evaluation pass sets up its kernels
    started = time.perf_counter()
    train.predict(model, faces_u8, device)
    eval_seconds_per_face = (time.perf_counter() - started) / eval_faces
    step_median = float(np.median(step_seconds))
    return {"arch": arch, "params_m": models.count_params(model) / 1e6, "step_seconds": step_median,
            "eval_ms_per_face": eval_seconds_per_face * 1e3,
            "epoch_min": epoch_minutes(step_median, batch),
            "validation_min": validation_minutes(eval_seconds_per_face)}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", nargs="+", required=True, choices=sorted(models.BACKBONES))
    p.add_argument("--steps", type=int, default=8, help="timed training steps (the median is used)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (allocation, kernel choice)")
    p.add_argument("--eval-faces", type=int, default=256, help="faces in the timed validation pass")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast, as `train --bf16`")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        results = [measure(arch, args.steps, args.warmup, args.eval_faces, args.bf16) for arch in args.arch]
    except ValueError as error:
        raise SystemExit(str(error)) from error
    print(f"{torch.get_num_threads()} thread(s), bf16 {args.bf16}, batch 64, {TRAIN_FACES} training and "
          f"{VALIDATION_FACES} validation faces per epoch")
    print(f"| arch | params | s per step (median of {args.steps}) | min per epoch | validation pass, min |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| `{r['arch']}` | {r['params_m']:.2f} M | {r['step_seconds']:.2f} | {r['epoch_min']:.1f} | "
              f"{r['validation_min']:.1f} |")
    return results


if __name__ == "__main__":
    main()
