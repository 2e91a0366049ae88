"""Temperature calibration: the fit, the ECE, the rewritten graph, its parity file and its card.

The models here are linear maps of the face whose "true" class probabilities are known: labels are
drawn from softmax(s), so a model whose logits are k*s is over-confident (k > 1) or under-confident
(k < 1) by exactly k, and its fitted temperature should come out near k.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from emotrain import calibrate, ece_noise, end_to_end, export, overlap, preprocess, release, tta

from test_backbones import check_with_app

LABELS = ["angry", "fear", "happy", "sad", "surprise", "neutral"]


class Linear(torch.nn.Module):
    def __init__(self, weight: torch.Tensor, scale: float):
        super().__init__()
        self.weight = torch.nn.Parameter(weight * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight


def synthetic(tmp_path: Path, scale: float, faces: int = 3000, seed: int = 0, selected_on: str = "validation"):
    """A model with logits scale*s, written by the real exporter (with its parity file and
    metadata), and validation/test faces whose labels are drawn from softmax(s)."""
    rng = np.random.default_rng(seed)
    weight = torch.from_numpy(rng.normal(0, 0.04, (48 * 48, len(LABELS))).astype(np.float32))
    images = rng.integers(0, 256, (2 * faces, 48, 48), dtype=np.uint8)
    with torch.no_grad():
        s = (preprocess.to_tensor(images).flatten(1) @ weight).numpy().astype(np.float64)
    p = calibrate.softmax(s)
    labels = np.array([rng.choice(len(LABELS), p=row) for row in p])
    net = Linear(weight, scale).eval()
    model = tmp_path / "m.onnx"
    meta = export.metadata_for("synthetic", LABELS, "Synthetic", False, 0.5, net, selected_on)
    export.export(net, model, meta, flip_tta=False)
    card = tmp_path / "m.md"
    card.write_text("# Synthetic\n\n| | |\n|---|---|\n| output | `logits`: float32 [N, 6] |\n\n"
                    "## Per-class recall\n\nx\n\n## How it was made\n\n```\ntrain\n```\n")
    return model, card, (images[:faces], labels[:faces]), (images[faces:], labels[faces:])


def test_ece_of_perfectly_calibrated_and_of_overconfident_predictions():
    rng = np.random.default_rng(0)
    n = 200_000
    confidence = rng.uniform(0.2, 1.0, n)
    # Two classes; class 0 is right with probability exactly its confidence.
    labels = (rng.uniform(0, 1, n) > confidence).astype(np.int64)
    probs = np.stack([confidence, 1 - confidence], axis=1)
    probs = np.where(probs[:, :1] >= 0.5, probs, probs[:, ::-1])  # the argmax is then the predicted class
    labels = np.where(confidence >= 0.5, labels, 1 - labels)
    assert calibrate.expected_calibration_error(probs, labels) < 0.01
    # All predictions at 100% confidence, right half of the time: ECE 0.5.
    sure = np.tile([[1.0, 0.0]], (1000, 1))
    assert calibrate.expected_calibration_error(sure, np.arange(1000) % 2) == pytest.approx(0.5)


def test_fit_recovers_the_temperature_of_scaled_logits():
    rng = np.random.default_rng(1)
    s = rng.normal(0, 2, (20_000, 6))
    labels = np.array([rng.choice(6, p=row) for row in calibrate.softmax(s)])
    for k in (0.5, 1.0, 3.0):
        assert calibrate.fit_temperature(s * k, labels) == pytest.approx(k, rel=0.06)


def test_the_ece_fit_lands_near_the_true_temperature_and_never_above_the_nll_fits_ece():
    rng = np.random.default_rng(2)
    s = rng.normal(0, 2, (20_000, 6))
    labels = np.array([rng.choice(6, p=row) for row in calibrate.softmax(s)])
    for k in (0.5, 1.0, 3.0):
        by_ece, by_nll = calibrate.fit_temperature_for_ece(s * k, labels), calibrate.fit_temperature(s * k, labels)
        assert by_ece == pytest.approx(k, rel=0.1)
        ece = lambda t: calibrate.expected_calibration_error(calibrate.softmax(s * k / t), labels)
        assert ece(by_ece) <= ece(by_nll) + 1e-4


def test_overconfident_model_gets_t_above_1_lower_ece_same_accuracy_and_its_metadata(tmp_path: Path):
    model, card, validation, publictest = synthetic(tmp_path, scale=4.0)
    model.chmod(0o644)
    before = onnx.load(str(model))
    before_meta = calibrate.metadata(before)
    report = calibrate.calibrate_file(model, validation, publictest, card, "python -m emotrain.calibrate --model m.onnx")
    assert model.stat().st_mode & 0o777 == 0o644  # the rewritten file keeps its mode

    assert 3.0 < report["temperature"] < 5.0
    for split in ("validation", "publictest"):
        r = report[split]
        assert r["ece_after"] < r["ece_before"] / 2, r
        assert r["nll_after"] < r["nll_before"]
        assert r["accuracy_after"] == r["accuracy"]

    after = onnx.load(str(model))
    meta = calibrate.metadata(after)
    assert {k: v for k, v in meta.items() if k != "temperature"} == before_meta
    assert float(meta["temperature"]) == report["temperature"]
    assert [o.name for o in after.graph.output] == ["logits"]
    assert [i.name for i in after.graph.input] == ["face"]
    assert after.graph.node[-1].op_type == "Div" and after.graph.node[-1].output[0] == "logits"

    # The outputs are the old logits divided by T; the predictions are the same.
    x = preprocess.to_tensor(publictest[0][:64]).numpy()
    old, new = calibrate.run_logits(before, x), calibrate.run_logits(after, x)
    np.testing.assert_allclose(new, old / np.float32(report["temperature"]), rtol=1e-5, atol=1e-6)
    assert np.array_equal(new.argmax(1), old.argmax(1))

    # The parity file now holds PyTorch's probabilities for the divided logits.
    parity = json.loads(model.with_suffix(".parity.json").read_text())
    net_faces = preprocess.to_tensor(np.asarray(parity["faces"], dtype=np.uint8).reshape(-1, 48, 48))
    weight = torch.from_numpy(onnx.numpy_helper.to_array(
        next(i for i in before.graph.initializer if i.dims == [48 * 48, 6])).copy())
    with torch.no_grad():
        expected = torch.softmax(net_faces.flatten(1) @ weight / report["temperature"], dim=1).numpy()
    np.testing.assert_allclose(parity["probabilities"], expected, atol=1e-6)
    assert parity["max_abs_diff_onnxruntime"] <= calibrate.PARITY_TOLERANCE

    text = card.read_text()
    assert text.count("## Calibration") == 1
    assert text.index("## Calibration") < text.index("## How it was made")
    assert f"T = {report['temperature']:.4f}" in text and "python -m emotrain.calibrate --model m.onnx" in text
    assert "divided by the temperature T" in text

    check_with_app(model, tmp_path)


def test_underconfident_model_gets_t_below_1(tmp_path: Path):
    model, card, validation, publictest = synthetic(tmp_path, scale=0.4, faces=2000, seed=3)
    report = calibrate.calibrate_file(model, validation, publictest, card)
    assert 0.3 < report["temperature"] < 0.55
    assert report["validation"]["ece_after"] < report["validation"]["ece_before"]


def test_calibrating_again_fits_from_the_uncalibrated_logits_and_changes_nothing(tmp_path: Path):
    model, card, validation, publictest = synthetic(tmp_path, scale=3.0, faces=1500, seed=4)
    first = calibrate.calibrate_file(model, validation, publictest, card)
    graph_once = onnx.load(str(model))
    parity_once = json.loads(model.with_suffix(".parity.json").read_text())
    card_once = card.read_text()

    second = calibrate.calibrate_file(model, validation, publictest, card)
    assert second["previous_temperature"] == first["temperature"]
    assert second["temperature"] == first["temperature"]  # not compounded: T is not fitted on logits / T
    assert second["validation"]["ece_before"] == pytest.approx(first["validation"]["ece_before"])
    graph_twice = onnx.load(str(model))
    assert sum(n.name == calibrate.NODE_NAME for n in graph_twice.graph.node) == 1
    assert len(graph_twice.graph.node) == len(graph_once.graph.node)
    assert [p.key for p in graph_twice.metadata_props].count("temperature") == 1
    parity_twice = json.loads(model.with_suffix(".parity.json").read_text())
    np.testing.assert_allclose(parity_twice["probabilities"], parity_once["probabilities"], atol=1e-9)
    assert card.read_text() == card_once

    # Stripping gives back the uncalibrated graph.
    stripped = calibrate.strip_temperature(graph_twice)
    assert "temperature" not in calibrate.metadata(stripped)
    assert all(n.name != calibrate.NODE_NAME for n in stripped.graph.node)


def test_a_temperature_key_without_its_node_is_refused(tmp_path: Path):
    model, _, _, _ = synthetic(tmp_path, scale=1.0, faces=10)
    proto = onnx.load(str(model))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "temperature", "2.0"
    with pytest.raises(ValueError, match="not a graph emotrain.calibrate wrote"):
        calibrate.strip_temperature(proto)
    with pytest.raises(ValueError, match="already has a temperature"):
        calibrate.apply_temperature(proto, 1.5)


def test_only_fer_labels_are_scored_on_fer2013_one_message_otherwise(tmp_path: Path):
    model, _, _, _ = synthetic(tmp_path, scale=1.0, faces=10)
    proto = onnx.load(str(model))
    assert calibrate.fer_labels_of(proto, model) == LABELS

    def with_labels(value: str | None) -> onnx.ModelProto:
        changed = onnx.load(str(model))
        kept = [e for e in changed.metadata_props if e.key != "labels"]
        del changed.metadata_props[:]
        changed.metadata_props.extend(kept)
        if value is not None:
            entry = changed.metadata_props.add()
            entry.key, entry.value = "labels", value
        return changed

    # Another order, another count, no labels, unreadable labels: each stops with the file's name.
    for value in [json.dumps(LABELS[::-1]), json.dumps(LABELS[:5]), None, "angry,fear"]:
        with pytest.raises(SystemExit, match=r"m\.onnx: its labels .* are not FER-2013's"):
            calibrate.fer_labels_of(with_labels(value), model)
    # Seven classes in FER-2013's order are FER-2013's.
    seven = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert calibrate.fer_labels_of(with_labels(json.dumps(seven)), model) == seven


def test_every_command_that_reads_a_model_stops_with_one_message_on_a_missing_or_broken_file(tmp_path: Path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model at all")
    missing = tmp_path / "missing.onnx"
    commands = {
        "calibrate": lambda m: calibrate.main(["--model", str(m)]),
        "ece_noise": lambda m: ece_noise.main(["--model", str(m)]),
        "overlap": lambda m: overlap.main(["--model", str(m)]),
        "tta": lambda m: tta.main(["--model", str(m), "--zooms", "1.0"]),
        "end_to_end": lambda m: end_to_end.main(["--model", str(m), "--emocam", str(broken)]),
    }
    for name, command in commands.items():
        for model in (missing, broken):
            with pytest.raises(SystemExit, match=rf"cannot read the model .*{model.name}") as stopped:
                command(model)
            assert str(stopped.value).count("\n") == 0, name
    assert broken.read_bytes() == b"not a model at all"
    assert not missing.exists()


def test_a_model_trained_on_the_validation_faces_is_measured_not_rewritten(tmp_path: Path):
    # The first EmoNets were trained on all of Training: a T fitted on faces they learnt is no calibration.
    model, card, validation, publictest = synthetic(tmp_path, scale=4.0, faces=1000, seed=5, selected_on="publictest")
    files = {path: path.read_bytes() for path in (model, model.with_suffix(".parity.json"))}
    report = calibrate.calibrate_file(model, validation, publictest, card)
    assert report["applied"] is False and report["temperature"] > 1
    assert all(path.read_bytes() == content for path, content in files.items())
    text = card.read_text()
    assert "**Not calibrated**" in text and "divided by the temperature" not in text
    # Asked to, it calibrates anyway.
    forced = calibrate.calibrate_file(model, validation, publictest, card, allow_seen_validation=True)
    assert forced["applied"] and "temperature" in calibrate.metadata(onnx.load(str(model)))
    assert card.read_text().count("## Calibration") == 1 and "**Not calibrated**" not in card.read_text()


def test_release_calibrates_what_it_ships(tmp_path: Path, monkeypatch):
    calls = []
    monkeypatch.setattr(release.evaluate, "main", lambda argv: calls.append("evaluate") or {"accuracy": 0.5})
    monkeypatch.setattr(release.export, "main", lambda argv: calls.append("export"))
    monkeypatch.setattr(release, "add_latency_to_card", lambda card, model: calls.append("latency"))
    monkeypatch.setattr(release.calibrate, "main", lambda argv: calls.append(("calibrate", argv)))
    monkeypatch.setattr(release.end_to_end, "main", lambda argv: calls.append(("end_to_end", argv)))
    out = str(tmp_path / "m")
    app = tmp_path / "emocam"
    app.write_text("")
    release.main(["--checkpoint", "best.pt", "--name", "M", "--out", out, "--train-command", "train", "--emocam", str(app)])
    assert calls[:3] == ["evaluate", "export", "latency"]
    kind, argv = calls[3]
    assert kind == "calibrate" and argv[argv.index("--model") + 1] == out + ".onnx"
    assert "--command" in argv and "emotrain.release" in argv[argv.index("--command") + 1]
    # Last, the calibrated model goes through the built app (the End-to-end section of the card).
    kind, argv = calls[4]
    assert kind == "end_to_end" and argv[argv.index("--model") + 1] == out + ".onnx"
    assert argv[argv.index("--emocam") + 1] == str(app) and len(calls) == 5

    calls.clear()
    release.main(["--checkpoint", "best.pt", "--name", "M", "--out", out, "--train-command", "train", "--no-calibrate",
                  "--no-end-to-end"])
    assert calls == ["evaluate", "export", "latency"]
    # Without the app, the release still ships (the card lacks the section; a line says so).
    release.main(["--checkpoint", "best.pt", "--name", "M", "--out", out, "--train-command", "train", "--no-calibrate",
                  "--emocam", str(tmp_path / "absent")])
    assert calls == ["evaluate", "export", "latency"] * 2


def test_ece_noise_floor_holds_a_calibrated_model_and_not_an_overconfident_one():
    """The bootstrap interval brackets the ECE; a calibrated model's ECE lies in the noise of the
    perfectly calibrated draws, an over-confident one's far above them; more faces, less noise."""
    rng = np.random.default_rng(3)

    def predictions(n: int):
        probs = rng.dirichlet(np.ones(len(LABELS)) * 0.7, size=n)
        labels = np.array([rng.choice(len(LABELS), p=p) for p in probs])
        return probs, labels

    probs, labels = predictions(3000)
    ece = calibrate.expected_calibration_error(probs, labels)
    low, high = ece_noise.bootstrap_interval(probs, labels, rng, draws=200)
    assert low <= ece <= high
    floor = ece_noise.perfectly_calibrated_eces(probs, rng, draws=200)
    assert 0 < floor.mean() < 0.05
    assert ece <= np.percentile(floor, 99)
    sharpened = calibrate.softmax(np.log(probs) * 2.0)  # the same predictions, over-confident
    assert calibrate.expected_calibration_error(sharpened, labels) > 3 * np.percentile(floor, 95)
    big_probs, _ = predictions(30000)
    assert ece_noise.perfectly_calibrated_eces(big_probs, rng, draws=50).mean() < floor.mean() / 2


def test_overlap_finds_pixel_identical_copies_only():
    rng = np.random.default_rng(0)
    train_faces = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    near_copy = train_faces[2].copy()
    near_copy[0, 0] ^= 1  # one pixel off is a different image
    test_faces = np.stack([train_faces[3], near_copy, rng.integers(0, 256, (48, 48), dtype=np.uint8), train_faces[0]])
    assert overlap.training_copies(test_faces, train_faces).tolist() == [True, False, False, True]
    assert not overlap.training_copies(test_faces[1:3], train_faces[:0]).any()
