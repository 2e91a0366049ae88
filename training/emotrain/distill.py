"""Knowledge distillation from shipped ONNX models or trained checkpoints (`train --teacher`).

The teachers' answers are computed once per training image (the clean face, mirror-averaged as
the exported graphs do, temperature stripped) and cached; the student then learns from them on
its augmented copies of the same faces. Running the teachers on every augmented batch would cost
more than training the student. A teacher must have been trained without the validation split:
one that saw it would leak its labels into the student and flatter the checkpoint selection.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from . import calibrate, models, tta


class TeacherError(ValueError):
    """A teacher that cannot teach this run (wrong labels, trained on the validation split)."""


def check_teacher(model: onnx.ModelProto, path: Path, labels: list[str]) -> None:
    meta = calibrate.metadata(model)
    teacher_labels = json.loads(meta.get("labels", "[]"))
    if teacher_labels != labels:
        raise TeacherError(f"{path}: its labels {teacher_labels} are not this run's {labels}")
    if calibrate.trained_on_validation(meta):
        raise TeacherError(f"{path}: trained on all of FER-2013 Training, validation split included; "
                           "it would leak the validation labels into the student")


def checkpoint_logits(path: Path, images_u8: np.ndarray, labels: list[str], device: torch.device,
                      zooms: tuple[float, ...] = tta.NO_ZOOM) -> np.ndarray:
    """A trained checkpoint's (`best.pt`) logits (N, C) on `images_u8`, averaged over the mirror
    image and `zooms` as its export would average them. Computed on `device`, not cached: this is
    the teacher of a run on the machine that just trained it (`gpu_round`), where scoring the
    training faces takes seconds."""
    _, teacher_labels, net, (ckpt,) = models.load_checkpoints([str(path)])
    if teacher_labels != labels:
        raise TeacherError(f"{path}: its labels {teacher_labels} are not this run's {labels}")
    if ckpt["meta"].get("selected_on") != "validation":
        raise TeacherError(f"{path}: not trained with the validation split held out; "
                           "it would leak the validation labels into the student")
    return tta.averaged_logits(net, images_u8, device, zooms=zooms)


def teacher_log_probs(paths: list[Path], images_u8: np.ndarray, labels: list[str], cache_dir: Path,
                      threads: int = 2, zooms: tuple[float, ...] = tta.NO_ZOOM,
                      device: torch.device = torch.device("cpu")) -> np.ndarray:
    """The teachers' mean log-probabilities (N, C) on `images_u8` (the ensemble's answer); with
    `zooms`, each teacher's logits are first averaged over the faces zoomed by each scale (its own
    mirror averaging applies to each), as an exported graph with `--zoom-tta` would. A teacher is
    an exported model (.onnx, scored by ONNX Runtime with `threads`, cached in `cache_dir`) or a
    training checkpoint (.pt, scored on `device`)."""
    inputs = None
    total = np.zeros((len(images_u8), len(labels)), dtype=np.float64)
    for path in paths:
        if Path(path).suffix == ".pt":
            logits = checkpoint_logits(Path(path), images_u8, labels, device, zooms)
            total += calibrate.log_softmax(logits.astype(np.float64))
            continue
        raw = Path(path).read_bytes()
        model = onnx.ModelProto.FromString(raw)
        check_teacher(model, Path(path), labels)
        views = []
        for zoom in zooms:
            # The plain view keeps the cache name it always had.
            suffix = b"" if zoom == 1.0 else f"zoom {zoom!r}".encode()
            key = hashlib.sha1(raw + images_u8.tobytes() + suffix).hexdigest()[:16]
            cached = cache_dir / f"teacher-{key}.npy"
            if cached.exists():
                views.append(np.load(cached))
                continue
            if inputs is None:
                inputs = calibrate.faces_to_inputs(images_u8)
            print(f"teacher {path}: scoring {len(images_u8)} training faces zoomed by {zoom} (cached as {cached.name})", flush=True)
            logits = calibrate.run_logits(calibrate.strip_temperature(model), tta.zoomed_inputs(inputs, zoom), threads=threads)
            cache_dir.mkdir(parents=True, exist_ok=True)
            np.save(cached, logits)
            views.append(logits)
        total += calibrate.log_softmax(np.mean(views, axis=0, dtype=np.float64))
    return (total / len(paths)).astype(np.float32)


def distillation_loss(student_logits: torch.Tensor, teacher_log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton's soft-target loss: KL(teacher || student) at `temperature`, scaled by its square so
    that its gradients keep their size whatever the temperature."""
    soft_targets = F.softmax(teacher_log_probs / temperature, dim=1)
    student = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(student, soft_targets, reduction="batchmean") * temperature ** 2
