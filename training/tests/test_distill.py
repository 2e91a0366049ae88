"""Distillation: the soft-target loss, which teachers are accepted, the cached teacher answers, and
a training run that learns from a teacher."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from emotrain import calibrate, distill, models, train

from test_calibrate import LABELS, synthetic
from test_train import write_fake_csv


def test_the_loss_is_zero_when_the_student_answers_as_the_teacher_and_pulls_towards_it():
    teacher = torch.log_softmax(torch.tensor([[2.0, 0.5, -1.0, 0.0, 0.0, 0.3]]), dim=1)
    assert distill.distillation_loss(teacher.clone(), teacher, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(1, 6, requires_grad=True)
    loss = distill.distillation_loss(student, teacher, 4.0)
    assert loss.item() > 0
    loss.backward()
    # Gradient descent raises the logit the teacher favours most and lowers its least favoured one.
    assert student.grad[0, 0] < 0 and student.grad[0, 2] > 0


def test_a_teacher_with_other_labels_or_that_saw_the_validation_faces_is_refused(tmp_path: Path):
    model, _, _, _ = synthetic(tmp_path, scale=1.0, faces=10)
    proto = onnx.load(str(model))
    distill.check_teacher(proto, model, LABELS)
    with pytest.raises(distill.TeacherError, match="labels"):
        distill.check_teacher(proto, model, ["angry", "disgust", *LABELS[1:]])
    seen = tmp_path / "seen"
    seen.mkdir()
    seen_model, _, _, _ = synthetic(seen, scale=1.0, faces=10, selected_on="publictest")
    with pytest.raises(distill.TeacherError, match="validation"):
        distill.check_teacher(onnx.load(str(seen_model)), seen_model, LABELS)


def test_teacher_answers_are_the_ensembles_mean_log_probabilities_and_are_cached(tmp_path: Path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    model_a, _, (faces, _), _ = synthetic(first, scale=2.0, faces=50, seed=1)
    model_b, _, _, _ = synthetic(second, scale=0.5, faces=50, seed=2)
    cache = tmp_path / "cache"
    answers = distill.teacher_log_probs([model_a, model_b], faces, LABELS, cache, threads=1)
    inputs = calibrate.faces_to_inputs(faces)
    expected = [calibrate.log_softmax(calibrate.run_logits(onnx.load(str(m)), inputs).astype(np.float64))
                for m in (model_a, model_b)]
    np.testing.assert_allclose(answers, (expected[0] + expected[1]) / 2, atol=1e-5)
    assert len(list(cache.glob("teacher-*.npy"))) == 2
    # A second call reads the cache and runs no model: zeroed cached logits give uniform answers.
    for cached in cache.glob("teacher-*.npy"):
        np.save(cached, np.load(cached) * 0)
    again = distill.teacher_log_probs([model_a, model_b], faces, LABELS, cache, threads=1)
    np.testing.assert_allclose(again, np.full_like(again, -np.log(len(LABELS))), atol=1e-5)


def test_zoom_averaged_teacher_answers_average_each_teachers_logits_over_the_zooms(tmp_path: Path):
    model, _, (faces, _), _ = synthetic(tmp_path, scale=2.0, faces=40, seed=3)
    cache = tmp_path / "cache"
    zooms = (0.92, 1.0, 1.1)
    answers = distill.teacher_log_probs([model], faces, LABELS, cache, threads=1, zooms=zooms)
    # The reference: the teacher on the faces zoomed by training's own sampler (grid_sample).
    from test_tta import grid_sample_zoom
    inputs = torch.from_numpy(calibrate.faces_to_inputs(faces))
    logits = [calibrate.run_logits(onnx.load(str(model)), grid_sample_zoom(inputs, z).numpy()) for z in zooms]
    expected = calibrate.log_softmax(np.mean(logits, axis=0, dtype=np.float64))
    np.testing.assert_allclose(answers, expected, atol=1e-4)
    plain = distill.teacher_log_probs([model], faces, LABELS, cache, threads=1)
    assert not np.allclose(plain, answers, atol=1e-3)
    # One cache file per zoom; the plain view's is shared with the run without zooms.
    assert len(list(cache.glob("teacher-*.npy"))) == 3


def test_training_with_a_teacher_records_it_and_a_refused_teacher_stops_the_run(tmp_path: Path):
    csv_path = tmp_path / "fer2013.csv"
    write_fake_csv(csv_path, np.random.default_rng(3))
    teacher, _, _, _ = synthetic(tmp_path, scale=1.0, faces=10)
    out = tmp_path / "run"
    common = ["--arch", "emonet-tiny", "--data", str(csv_path), "--batch", "8", "--threads", "1", "--epochs", "1"]
    train.main(common + ["--teacher", str(teacher), "--out", str(out)])
    history = json.loads((out / "history.json").read_text())
    assert np.isfinite(history["history"][0]["train_loss"])
    checkpoint = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert checkpoint["meta"]["args"]["teacher"] == [str(teacher)]
    with pytest.raises(SystemExit, match="cannot distil"):
        train.main(common + ["--classes", "7", "--teacher", str(teacher), "--out", str(tmp_path / "run7")])


def test_a_checkpoint_teaches_as_its_export_would_and_one_that_saw_validation_is_refused(tmp_path: Path):
    csv_path = tmp_path / "fer2013.csv"
    write_fake_csv(csv_path, np.random.default_rng(5))
    run = tmp_path / "teacher"
    train.main(["--arch", "emonet-tiny", "--data", str(csv_path), "--batch", "8", "--threads", "1",
                "--epochs", "1", "--out", str(run)])
    labels = ["angry", "fear", "happy", "sad", "surprise", "neutral"]
    faces = np.random.default_rng(6).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    log_probs = distill.teacher_log_probs([run / "best.pt"], faces, labels, tmp_path / "cache")
    # The checkpoint's own mirror-averaged answer, as train.predict (and the export) computes it.
    _, _, net, _ = models.load_checkpoints([str(run / "best.pt")])
    expected = train.predict(net, faces, torch.device("cpu"))
    np.testing.assert_allclose(np.exp(log_probs), expected, atol=1e-5)
    with pytest.raises(distill.TeacherError, match="labels"):
        distill.teacher_log_probs([run / "best.pt"], faces, ["angry", "disgust", *labels[1:]], tmp_path / "cache")
    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    ckpt["meta"]["selected_on"] = "publictest"
    torch.save(ckpt, tmp_path / "seen.pt")
    with pytest.raises(distill.TeacherError, match="validation"):
        distill.teacher_log_probs([tmp_path / "seen.pt"], faces, labels, tmp_path / "cache")
