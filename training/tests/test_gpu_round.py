"""The GPU round's plumbing: the packed faces read back as train.py's own caches, and checkpoints
cut into float16 pieces come back whole."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emotrain import data, evaluate, gpu_round, models


def test_packed_faces_are_read_back_as_the_6_and_7_class_training_sets(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 48, 48), dtype=np.uint8)
    labels7 = np.arange(20) % 7
    source = tmp_path / "source"
    # The decoded 7-class set, as load_split caches it after reading the PNGs.
    data.CACHE_DIR.mkdir(parents=True)
    np.savez(data.cache_path(source, "train", data.labels_for(7), data.CACHE_DIR), images=images, labels=labels7)
    pack = tmp_path / "fer_train.npy.xz"
    gpu_round.pack_data(pack, str(source))

    elsewhere = tmp_path / "not-there" / "fer2013"
    gpu_round.seed_caches(pack, elsewhere)
    got7, y7 = data.load_split(elsewhere, "train", data.labels_for(7), data.CACHE_DIR)
    np.testing.assert_array_equal(got7, images)
    np.testing.assert_array_equal(y7, labels7)
    got6, y6 = data.load_split(elsewhere, "train", data.labels_for(6), data.CACHE_DIR)
    kept = labels7 != data.FER_LABELS_7.index("disgust")
    np.testing.assert_array_equal(got6, images[kept])
    # The same emotion under its 6-class index.
    assert [data.labels_for(6)[i] for i in y6] == [data.FER_LABELS_7[i] for i in labels7[kept]]


def test_a_checkpoint_cut_into_float16_pieces_comes_back_whole(tmp_path: Path, monkeypatch):
    net = models.build("emonet-tiny", 6)
    ckpt = {"model": net.state_dict(), "meta": {"arch": "emonet-tiny", "labels": data.labels_for(6)},
            "state": {"best_acc": 0.5, "epoch": 3}}
    torch.save(ckpt, tmp_path / "best.pt")
    monkeypatch.setattr(gpu_round, "PIECE_BYTES", 100_000)
    pieces = gpu_round.pack_checkpoint(tmp_path / "best.pt", tmp_path / "pieces", "tiny-6")
    assert len(pieces) > 1 and all(p.stat().st_size <= 100_000 for p in pieces)

    gpu_round.unpack(tmp_path / "pieces", tmp_path / "runs")
    back = torch.load(tmp_path / "runs" / "tiny-6" / "best.pt", map_location="cpu", weights_only=False)
    assert back["meta"]["carried_as"] == "float16"
    for name, value in ckpt["model"].items():
        restored = back["model"][name]
        assert restored.dtype == value.dtype
        if value.is_floating_point():
            torch.testing.assert_close(restored, value.half().float())
        else:
            assert torch.equal(restored, value)

    whole = pieces[-1].read_bytes()
    pieces[-1].write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SystemExit, match="do not join"):
        gpu_round.unpack(tmp_path / "pieces", tmp_path / "runs")
    pieces[-1].unlink()
    (tmp_path / "pieces" / "tiny-6.pt.9").write_bytes(b"x")
    with pytest.raises(SystemExit, match="not 0.."):
        gpu_round.unpack(tmp_path / "pieces", tmp_path / "runs")


def test_the_card_says_where_a_carried_checkpoint_trained_and_that_it_was_rounded():
    args = {"epochs": 80, "bf16": True, "batch": 128, "lr": 0.1, "label_smoothing": 0.1, "seed": 0}
    ckpt = {"meta": {"args": args, "device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "carried_as": "float16"},
            "state": {"history": [{"epoch": 1, "val_acc": 0.5, "seconds": 3.0}, {"epoch": 2, "val_acc": 0.6, "seconds": 3.0}]}}
    line = evaluate.training_summary(ckpt)
    assert "one NVIDIA H100 80GB HBM3 GPU" in line and "rounded to float16" in line and "epoch 2 of a 80-epoch schedule" in line
    del ckpt["meta"]["carried_as"]
    assert "rounded" not in evaluate.training_summary(ckpt)
