"""Every backbone builds at 48x48, trains a step, exports to ONNX, and the Rust app agrees.

The Rust side is checked through the built binary (`target/release/emocam`): it classifies the
export's parity faces, and its probabilities must match PyTorch's within 1e-4. That part is
skipped, with a notice, when the binary or ONNX Runtime is missing.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from emotrain import augment, export, models, preprocess

ROOT = Path(__file__).resolve().parents[2]
EMOCAM = ROOT / "target" / "release" / "emocam"
ALL = models.STUDY_BACKBONES + ["emonet-tiny", "emonet", "emonet-wide"]


@pytest.mark.parametrize("arch", ALL)
def test_backbone_trains_exports_and_matches_the_app(arch: str, tmp_path: Path):
    torch.manual_seed(0)
    net = models.build(arch, 6)
    x = torch.randn(4, 1, 48, 48)
    y = torch.tensor([0, 1, 2, 3])
    assert net(x).shape == (4, 6)

    # One training step with the real augmentation moves the loss.
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    batch = augment.random_erasing(augment.random_affine(x, gen), gen)
    loss = F.cross_entropy(net(batch), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())

    out = tmp_path / f"{arch}.onnx"
    meta = export.metadata_for(arch, ["angry", "fear", "happy", "sad", "surprise", "neutral"], arch, False, None, net)
    result = export.export(net.eval(), out, meta, flip_tta=False)
    assert result["max_abs_diff"] <= export.PARITY_TOLERANCE

    check_with_app(out, tmp_path)


def check_with_app(model: Path, tmp_path: Path) -> None:
    if not EMOCAM.exists():
        pytest.skip(f"{EMOCAM} not built: run `cargo build --release` for the app-side check")
    parity = json.loads(model.with_suffix(".parity.json").read_text())
    faces_dir = tmp_path / "faces"
    faces_dir.mkdir()
    for i, pixels in enumerate(parity["faces"]):
        Image.fromarray(np.asarray(pixels, dtype=np.uint8).reshape(48, 48)).save(faces_dir / f"{i}.png")
    run = subprocess.run([str(EMOCAM), "analyze", "--faces", str(faces_dir), "--model", str(model), "--json", "-"],
                         capture_output=True, text=True, timeout=300)
    if run.returncode != 0 and "ONNX Runtime library" in run.stderr:
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert len(records) == len(parity["faces"])
    for record, expected in zip(records, parity["probabilities"]):
        got = list(record["probabilities"].values())
        assert np.allclose(got, expected, atol=1e-4), (got, expected)


def test_preprocessing_contract():
    faces = np.array([[[0, 255] * 24] * 48], dtype=np.uint8)
    x = preprocess.to_tensor(faces)
    assert x.shape == (1, 1, 48, 48)
    assert float(x.min()) == pytest.approx(-1.0) and float(x.max()) == pytest.approx(1.0)


def test_labels():
    from emotrain import data
    assert data.labels_for(6) == ["angry", "fear", "happy", "sad", "surprise", "neutral"]
    assert data.labels_for(7)[1] == "disgust"
    with pytest.raises(ValueError):
        data.labels_for(5)


def test_csv_and_folder_loaders_agree(tmp_path: Path):
    from emotrain import data
    # A tiny data set written both ways.
    rng = np.random.default_rng(0)
    rows, labels7 = [], data.FER_LABELS_7
    for split, usage in [("train", "Training"), ("test", "PublicTest")]:
        for i, emotion in enumerate([0, 1, 3, 6]):
            img = rng.integers(0, 256, (48, 48), dtype=np.uint8)
            folder = tmp_path / "folders" / split / labels7[emotion]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{usage}_{i}.png")
            rows.append(f"{emotion},{' '.join(map(str, img.flatten()))},{usage}")
    rows.append(f"0,{' '.join(['0'] * 2304)},PrivateTest")
    csv_path = tmp_path / "fer2013.csv"
    csv_path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    for d in labels7:
        for split in ("train", "test"):
            (tmp_path / "folders" / split / d).mkdir(parents=True, exist_ok=True)
    six = data.labels_for(6)
    fx, fy = data.load_split(tmp_path / "folders", "test", six)
    cx, cy = data.load_split(csv_path, "test", six)
    # Disgust (1) is dropped for 6 classes; PrivateTest is never read.
    assert len(fy) == len(cy) == 3
    assert sorted(fy.tolist()) == sorted(cy.tolist())
    assert sorted(x.tobytes() for x in fx) == sorted(x.tobytes() for x in cx)


def fake_checkpoint(path: Path, arch: str, seed: int) -> torch.nn.Module:
    """A best.pt as emotrain.train writes it, with random weights."""
    torch.manual_seed(seed)
    net = models.build(arch, 6).eval()
    state = {"epoch": 1, "best_acc": 0.5, "train_seconds": 1.0,
             "history": [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "publictest_acc": 0.5, "seconds": 1.0}]}
    meta = {"arch": arch, "labels": ["angry", "fear", "happy", "sad", "surprise", "neutral"],
            "args": {"batch": 64, "lr": 0.05, "label_smoothing": 0.1, "seed": seed}}
    torch.save({"model": net.state_dict(), "meta": meta, "state": state}, path)
    return net


def test_ensemble_of_checkpoints_exports_and_matches_the_app(tmp_path: Path):
    paths = [tmp_path / "a.pt", tmp_path / "b.pt"]
    members = [fake_checkpoint(paths[0], "emonet-tiny", 1), fake_checkpoint(paths[1], "emonet", 2)]
    arch, labels, net, _ = models.load_checkpoints([str(p) for p in paths])
    assert arch == "ensemble(emonet-tiny+emonet)" and len(labels) == 6

    x = torch.randn(3, 1, 48, 48)
    with torch.no_grad():
        expected = (F.log_softmax(members[0](x), 1) + F.log_softmax(members[1](x), 1)) / 2
        assert torch.allclose(net(x), expected, atol=1e-6)

    out = tmp_path / "ensemble.onnx"
    export.main(["--checkpoint", *map(str, paths), "--out", str(out), "--accuracy", "0.5"])
    check_with_app(out, tmp_path)


def test_ensemble_members_must_share_labels(tmp_path: Path):
    fake_checkpoint(tmp_path / "a.pt", "emonet-tiny", 1)
    other = torch.load(tmp_path / "a.pt", weights_only=False)
    other["meta"]["labels"] = other["meta"]["labels"][::-1]
    torch.save(other, tmp_path / "b.pt")
    with pytest.raises(ValueError, match="same"):
        models.load_checkpoints([str(tmp_path / "a.pt"), str(tmp_path / "b.pt")])
