"""FER-2013 loading: the image-folder layout or the original fer2013.csv, into uint8 arrays.

Both sources give the same thing: `images` (N, 48, 48) uint8 and `labels` (N,) int64 indices into
the chosen label list. Decoding 28k PNGs takes a while, so the arrays are cached as .npz.
"""
from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

# The original FER-2013 numbering (fer2013.csv's `emotion` column).
FER_LABELS_7 = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
# The original study dropped disgust (436 training images) and kept six classes.
FER_LABELS_6 = ["angry", "fear", "happy", "sad", "surprise", "neutral"]

DEFAULT_DATA = os.environ.get("FER2013_DIR", str(Path(__file__).resolve().parents[2] / ".." / "shared" / "fer2013"))
# Decoded splits and teacher outputs, kept between runs (ignored by git).
CACHE_DIR = Path(__file__).resolve().parents[1] / "data_cache"

# CSV `Usage` values per split; PrivateTest is deliberately never read.
CSV_USAGE = {"train": "Training", "test": "PublicTest"}

# The validation split: a fixed 10% of every class of FER-2013 Training, chosen by a seeded hash
# of each image's pixels (so the folder layout and fer2013.csv give the same split, in any order).
# Checkpoints, temperatures and ensembles are chosen on it; PublicTest is measured once, at release.
VALIDATION_FRACTION = 0.1
VALIDATION_SEED = 2026
VALIDATION_RULE = (f"per class, the {VALIDATION_FRACTION:.0%} of FER-2013 Training images with the smallest "
                   f"sha1(seed {VALIDATION_SEED} + pixels), ties by order")


def labels_for(num_classes: int) -> list[str]:
    if num_classes == 6:
        return list(FER_LABELS_6)
    if num_classes == 7:
        return list(FER_LABELS_7)
    raise ValueError(f"--classes must be 6 or 7, got {num_classes}")


def _from_folder(root: Path, split: str, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    split_dir = root / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"no '{split}' folder under {root} (expected {split_dir}/<emotion>/*.png)")
    images, targets = [], []
    for index, name in enumerate(labels):
        class_dir = split_dir / name
        if not class_dir.is_dir():
            raise FileNotFoundError(f"missing class folder {class_dir}")
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            with Image.open(path) as im:
                im = im.convert("L")
                if im.size != (48, 48):
                    im = im.resize((48, 48), Image.Resampling.BOX)
                images.append(np.asarray(im, dtype=np.uint8))
            targets.append(index)
    return np.stack(images), np.asarray(targets, dtype=np.int64)


def _from_csv(csv_path: Path, split: str, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    usage = CSV_USAGE[split]
    images, targets = [], []
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            if row["Usage"] != usage:
                continue
            name = FER_LABELS_7[int(row["emotion"])]
            if name not in labels:
                continue
            pixels = np.asarray(row["pixels"].split(), dtype=np.uint8).reshape(48, 48)
            images.append(pixels)
            targets.append(labels.index(name))
    return np.stack(images), np.asarray(targets, dtype=np.int64)


def cache_path(data: str | Path, split: str, labels: list[str], cache_dir: Path) -> Path:
    """Where `load_split` keeps (and looks for) the decoded arrays of `split` of `data`. A cache
    written there by other means (`gpu_round`, on a machine without the PNGs) is read as if
    decoded from `data`."""
    key = hashlib.sha1(f"{Path(data).resolve()}|{split}|{','.join(labels)}".encode()).hexdigest()[:12]
    return cache_dir / f"{split}-{len(labels)}-{key}.npz"


def load_split(data: str | Path, split: str, labels: list[str], cache_dir: Path | None = None):
    """Loads `split` ('train' or 'test') from a folder tree or a fer2013.csv file."""
    if split not in CSV_USAGE:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    data = Path(data)
    cache = None
    if cache_dir is not None:
        cache = cache_path(data, split, labels, cache_dir)
        if cache.exists():
            arrays = np.load(cache)
            return arrays["images"], arrays["labels"]
    if data.suffix.lower() == ".csv":
        images, targets = _from_csv(data, split, labels)
    else:
        images, targets = _from_folder(data, split, labels)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, images=images, labels=targets)
    return images, targets


def validation_split(labels: np.ndarray, images: np.ndarray, fraction: float = VALIDATION_FRACTION,
                     seed: int = VALIDATION_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of FER-2013 Training: `fraction` of every class, stratified.

    An image's place depends only on its pixels and the seed, never on file order or format.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    salt = seed.to_bytes(8, "little")
    keys = np.array([hashlib.sha1(salt + image.tobytes()).hexdigest() for image in images])
    validation = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        # A stable sort on the hash: duplicate images (same pixels) keep their file order.
        ranked = members[np.argsort(keys[members], kind="stable")]
        take = max(1, round(fraction * len(members))) if len(members) > 1 else 0
        validation.extend(ranked[:take].tolist())
    is_validation = np.zeros(len(labels), dtype=bool)
    is_validation[validation] = True
    return np.flatnonzero(~is_validation), np.flatnonzero(is_validation)
