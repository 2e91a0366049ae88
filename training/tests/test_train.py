"""The training loop on a tiny synthetic fer2013.csv: checkpoints, resuming, bf16 autocast, one step, and the epoch-time estimate."""
from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from emotrain import augment, data, distill, epoch_time, models, preprocess, train


def write_fake_csv(path: Path, rng: np.random.Generator) -> None:
    rows = ["emotion,pixels,Usage"]
    for usage, count in (("Training", 48), ("PublicTest", 12), ("PrivateTest", 5)):
        for i in range(count):
            pixels = " ".join(map(str, rng.integers(0, 256, 48 * 48)))
            rows.append(f"{i % 7},{pixels},{usage}")
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("bf16", [False, True])
def test_train_saves_checkpoints_and_resumes(tmp_path: Path, bf16: bool):
    csv_path = tmp_path / "fer2013.csv"
    write_fake_csv(csv_path, np.random.default_rng(0))
    out = tmp_path / "run"
    common = ["--arch", "emonet-tiny", "--data", str(csv_path), "--batch", "8", "--threads", "1", "--out", str(out)]
    if bf16:
        common.append("--bf16")

    train.main(common + ["--epochs", "1"])
    first = json.loads((out / "history.json").read_text())
    assert first["epoch"] == 1 and len(first["history"]) == 1
    assert (out / "last.pt").exists() and (out / "best.pt").exists()
    assert np.isfinite(first["history"][0]["train_loss"])

    # The same command with more epochs continues from last.pt instead of starting over.
    train.main(common + ["--epochs", "2"])
    second = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in second["history"]] == [1, 2]
    checkpoint = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert checkpoint["meta"]["args"]["bf16"] is bf16
    # 6 classes by default: disgust rows are dropped, PrivateTest is never read.
    assert checkpoint["meta"]["labels"] == ["angry", "fear", "happy", "sad", "surprise", "neutral"]
    # best.pt is picked on the held-out validation split, never on PublicTest.
    assert "val_acc" in second["history"][0] and "publictest_acc" not in second["history"][0]
    assert checkpoint["meta"]["selected_on"] == "validation"


def test_resuming_with_another_selection_split_is_refused(tmp_path: Path):
    csv_path = tmp_path / "fer2013.csv"
    write_fake_csv(csv_path, np.random.default_rng(1))
    common = ["--arch", "emonet-tiny", "--data", str(csv_path), "--batch", "8", "--threads", "1", "--out", str(tmp_path / "run")]
    train.main(common + ["--epochs", "1"])
    with pytest.raises(SystemExit, match="selected on validation"):
        train.main(common + ["--epochs", "2", "--select-on", "publictest"])


def test_ema_run_selects_and_saves_the_averaged_weights_and_resumes_them(tmp_path: Path):
    csv_path = tmp_path / "fer2013.csv"
    write_fake_csv(csv_path, np.random.default_rng(2))
    out = tmp_path / "run"
    common = ["--arch", "emonet-tiny", "--data", str(csv_path), "--batch", "8", "--threads", "1", "--out", str(out),
              "--select-on", "publictest", "--ema-decay", "0.5"]
    train.main(common + ["--epochs", "1"])
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    best = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    averaged = {k.removeprefix("module."): v for k, v in last["averaged"].items() if k.startswith("module.")}
    assert averaged.keys() == best["model"].keys() == last["model"].keys()
    # best.pt holds the average (what was scored), not the last step's weights.
    assert all(torch.equal(best["model"][k], averaged[k]) for k in averaged)
    assert any(not torch.equal(last["model"][k], averaged[k]) for k in averaged if averaged[k].is_floating_point())
    # A saved average loads into the network as any checkpoint does.
    models.build("emonet-tiny", 6).load_state_dict(best["model"])

    train.main(common + ["--epochs", "2"])
    resumed = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert resumed["averaged"]["n_averaged"].item() == 2 * last["averaged"]["n_averaged"].item()
    without = [a for a in common if a not in ("--ema-decay", "0.5")]
    with pytest.raises(SystemExit, match="with --ema-decay"):
        train.main(without + ["--epochs", "3"])


@pytest.mark.parametrize("decay", ["1", "-0.1", "1.5"])
def test_ema_decay_outside_0_1_is_a_usage_error(decay: str, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--out", "x", "--ema-decay", decay])
    assert "--ema-decay" in capsys.readouterr().err


def test_validation_split_is_stratified_disjoint_and_independent_of_order():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(6), [400, 60, 700, 500, 300, 450])
    images = rng.integers(0, 256, (len(labels), 48, 48), dtype=np.uint8)
    train_idx, val_idx = data.validation_split(labels, images)
    assert len(set(train_idx) & set(val_idx)) == 0 and len(train_idx) + len(val_idx) == len(labels)
    for cls, count in enumerate([400, 60, 700, 500, 300, 450]):
        assert (labels[val_idx] == cls).sum() == round(count * data.VALIDATION_FRACTION)
    # Shuffled input (another file order, or fer2013.csv instead of folders): the same images are held out.
    order = rng.permutation(len(labels))
    _, shuffled_val = data.validation_split(labels[order], images[order])
    held_out = {images[i].tobytes() for i in val_idx}
    assert {images[order][i].tobytes() for i in shuffled_val} == held_out
    # Another seed holds out other images.
    _, other_val = data.validation_split(labels, images, seed=data.VALIDATION_SEED + 1)
    assert set(other_val) != set(val_idx)


def test_release_adds_the_measured_latency_per_face_to_the_card(tmp_path: Path):
    from emotrain import release

    card = tmp_path / "model.md"
    card.write_text("# M\n\n| | |\n|---|---|\n| compute | 1 M multiply-adds |\n| labels | a, b |\n")
    fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tiny.onnx"
    release.add_latency_to_card(card, fixture)
    lines = card.read_text().split("\n")
    row = lines[lines.index("| compute | 1 M multiply-adds |") + 1]
    assert row.startswith("| latency per face | ") and "ms p50" in row, row
    assert float(row.split("| latency per face | ")[1].split(" ms")[0]) > 0


def test_epoch_minutes_count_full_batches_and_the_validation_pass_apart():
    # 25445 // 64 = 397 steps of 2 s; 2828 validation faces at 10 ms.
    assert epoch_time.epoch_minutes(2.0) == pytest.approx(397 * 2.0 / 60)
    assert epoch_time.epoch_minutes(1.0, batch=100, train_faces=250) == pytest.approx(2 / 60)
    assert epoch_time.validation_minutes(0.01) == pytest.approx(28.28 / 60)


def test_epoch_time_measures_real_training_steps():
    torch.set_num_threads(1)
    result = epoch_time.measure("emonet-tiny", steps=2, warmup=1, eval_faces=8, bf16=False)
    assert result["arch"] == "emonet-tiny"
    assert result["step_seconds"] > 0 and result["eval_ms_per_face"] > 0
    assert result["epoch_min"] == pytest.approx(epoch_time.epoch_minutes(result["step_seconds"]))
    assert result["validation_min"] == pytest.approx(epoch_time.validation_minutes(result["eval_ms_per_face"] / 1e3))
    with pytest.raises(ValueError):
        epoch_time.measure("emonet-tiny", steps=0, warmup=0, eval_faces=8, bf16=False)


def test_training_step_updates_the_weights():
    torch.manual_seed(0)
    model = models.build("emonet-tiny", 6).to(memory_format=torch.channels_last)
    args = train.parse_args(["--out", "unused"])  # the recipe's defaults; nothing is written
    opt = train.make_optimizer(model, args)
    before = [p.detach().clone() for p in model.parameters()]
    gen = torch.Generator().manual_seed(0)
    faces = torch.randint(0, 256, (8, 48, 48), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 6, (8,), generator=gen)
    loss, logits = train.training_step(model, opt, faces, labels, gen, torch.device("cpu"), args,
                                       teacher_log_probs=torch.log_softmax(torch.randn(8, 6), dim=1))
    assert torch.isfinite(loss) and logits.shape == (8, 6)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mix_pairs_mixes_each_face_with_its_partner_by_lam(kind: str):
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(16, 1, 48, 48, generator=gen)
    mixed, partner, lam = augment.mix_pairs(x, gen, kind, alpha=1.0)
    assert mixed.shape == x.shape and sorted(partner.tolist()) == list(range(16))
    assert 0.0 <= lam <= 1.0
    if kind == "mixup":
        assert torch.allclose(mixed, lam * x + (1 - lam) * x[partner])
    else:
        # Every pixel comes from the face or its partner, and lam is the share from the face.
        from_self = mixed == x
        assert torch.all(from_self | (mixed == x[partner]))
        kept = from_self[partner != torch.arange(16)].float().mean().item()
        assert kept == pytest.approx(lam, abs=1e-6)
    # Beta(alpha, alpha) has mean 1/2; CutMix's boxes clipped at the border keep more of the face.
    lams = [augment.mix_pairs(x, gen, kind, alpha=1.0)[2] for _ in range(200)]
    assert (0.4 < np.mean(lams) < 0.6) if kind == "mixup" else (0.55 < np.mean(lams) < 0.8)
    # Tiny alpha puts lam near 0 or 1 (CutMix: near 1 or, its box clipped, a quarter to a half pasted).
    extreme = [augment.mix_pairs(x, gen, kind, alpha=0.05)[2] for _ in range(50)]
    if kind == "mixup":
        assert np.mean([min(v, 1 - v) < 0.1 for v in extreme]) > 0.7
    else:
        assert np.mean([v > 0.9 for v in extreme]) > 0.3 and min(extreme) >= 0.0
    with pytest.raises(ValueError, match="unknown mix"):
        augment.mix_pairs(x, gen, "blend", alpha=1.0)


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixed_training_step_loss_is_the_mix_of_both_faces_losses(kind: str):
    args = train.parse_args(["--out", "unused", "--mix", kind])
    faces = torch.randint(0, 256, (8, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(8) % 6
    teacher = torch.log_softmax(torch.randn(8, 6, generator=torch.Generator().manual_seed(2)), dim=1)
    model = models.build("emonet-tiny", 6)
    model.train()
    weights = {k: v.clone() for k, v in model.state_dict().items()}

    # The expected loss, from the step's own draws replayed: the mixed batch, each face's partner, lam.
    gen = torch.Generator().manual_seed(5)
    x = augment.random_erasing(augment.random_affine(preprocess.normalize(faces), gen), gen)
    mixed, partner, lam = augment.mix_pairs(x, gen, kind, args.mix_alpha)
    assert 0 < lam < 1 and torch.any(partner != torch.arange(8))
    torch.manual_seed(7)  # dropout
    logits = model(mixed.contiguous(memory_format=torch.channels_last))

    def recipe_loss(rows) -> torch.Tensor:
        hard = torch.nn.functional.cross_entropy(logits, labels[rows], label_smoothing=args.label_smoothing)
        soft = distill.distillation_loss(logits, teacher[rows], args.distill_temperature)
        return (1 - args.distill_weight) * hard + args.distill_weight * soft

    expected = lam * recipe_loss(slice(None)) + (1 - lam) * recipe_loss(partner)
    # Not the unmixed targets' loss alone: the partners' targets count.
    assert expected.item() != pytest.approx(recipe_loss(slice(None)).item(), abs=1e-4)

    model.load_state_dict(weights)
    opt = train.make_optimizer(model, args)
    torch.manual_seed(7)
    loss, _ = train.training_step(model, opt, faces, labels, torch.Generator().manual_seed(5), torch.device("cpu"),
                                  args, teacher_log_probs=teacher)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_fitted_epochs_hold_the_budget_at_the_first_epochs_pace():
    assert train.fitted_epochs(300, budget_s=330, first_epoch_s=4.0) == 82
    assert train.fitted_epochs(30, budget_s=330, first_epoch_s=4.0) == 30  # never more than asked
    assert train.fitted_epochs(300, budget_s=10, first_epoch_s=60.0) == 1  # the epoch already done


def test_a_fitted_schedule_ends_inside_its_budget_and_resumes_as_fitted(tmp_path: Path, monkeypatch):
    csv_path = tmp_path / "fer2013.csv"
    write_fake_csv(csv_path, np.random.default_rng(4))
    out = tmp_path / "run"
    # Every reading of the clock moves it 15 s on: the first epoch "takes" a few tens of seconds of
    # the 2-minute budget, and a few epochs fit, not the 50 asked for.
    clock = iter(range(0, 10_000, 15))
    monkeypatch.setattr(train, "time", types.SimpleNamespace(monotonic=lambda: float(next(clock))))
    common = ["--arch", "emonet-tiny", "--data", str(csv_path), "--batch", "8", "--threads", "1", "--out", str(out),
              "--time-budget-min", "2", "--fit-epochs-to-budget"]
    train.main(common + ["--epochs", "50"])
    state = json.loads((out / "history.json").read_text())
    assert 1 < state["fitted_epochs"] < 50
    assert state["epoch"] <= state["fitted_epochs"]
    best = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    assert best["meta"]["args"]["epochs"] == state["fitted_epochs"]
    # Resuming keeps the fitted schedule (the cosine decay it was on), whatever --epochs says.
    train.main(common + ["--epochs", "50", "--time-budget-min", "100"])
    resumed = json.loads((out / "history.json").read_text())
    assert resumed["epoch"] == state["fitted_epochs"]


def test_fit_epochs_to_budget_without_a_budget_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--out", "x", "--fit-epochs-to-budget"])
    assert "--time-budget-min" in capsys.readouterr().err
