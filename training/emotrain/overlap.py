"""PublicTest faces that are copies of Training faces, and each model's accuracy with and without
them (read-only: no file is changed).

    python -m emotrain.overlap --model ../models/emonet-tiny.onnx ../models/emonet-wide.onnx

FER-2013 was scraped from the web, and some images landed in both Training and PublicTest. A
model that has learnt a Training face gets its PublicTest copy nearly for free, so the PublicTest
figure of every model is a little higher than on faces it has never seen, and more so for models
that memorise more. This counts the pixel-identical copies (the validation split has none: it
keeps copies together, `data.validation_split`) and prints each model's accuracy on all of
PublicTest, on the copies and on the rest.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
from pathlib import Path

import numpy as np

from . import calibrate, data


def training_copies(test_faces: np.ndarray, train_faces: np.ndarray) -> np.ndarray:
    """A boolean mask over `test_faces`: True where the same pixels appear among `train_faces`."""
    seen = {hashlib.sha1(face.tobytes()).digest() for face in train_faces}
    return np.array([hashlib.sha1(face.tobytes()).digest() in seen for face in test_faces], dtype=bool)


@functools.lru_cache(maxsize=2)
def publictest_and_copies(data_path: str, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PublicTest's faces, labels and copies mask, read and hashed once per label set."""
    train_faces, _ = data.load_split(data_path, "train", list(labels), data.CACHE_DIR)
    test_faces, truth = data.load_split(data_path, "test", list(labels), data.CACHE_DIR)
    return test_faces, truth, training_copies(test_faces, train_faces)


def measure(model_path: Path, data_path: str, threads: int = 1) -> dict:
    model = calibrate.load_model(model_path)
    labels = calibrate.fer_labels_of(model, model_path)
    test_faces, truth, copies = publictest_and_copies(data_path, tuple(labels))
    right = calibrate.run_logits(model, calibrate.faces_to_inputs(test_faces), threads=threads).argmax(axis=1) == truth
    return {"model": str(model_path), "faces": len(truth), "copies": int(copies.sum()),
            "accuracy": float(right.mean()), "accuracy_copies": float(right[copies].mean()) if copies.any() else None,
            "accuracy_rest": float(right[~copies].mean())}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", required=True, help="exported .onnx files")
    p.add_argument("--data", default=data.DEFAULT_DATA, help="FER-2013 folder (train/, test/) or fer2013.csv")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    args = p.parse_args(argv)
    results = []
    for path in args.model:
        try:
            results.append(measure(Path(path), args.data, args.threads))
        except (OSError, KeyError, ValueError) as error:
            raise SystemExit(f"cannot measure {path}: {error}") from error
    print("| model | PublicTest faces | copies of Training faces | accuracy | on the copies | on the rest |")
    print("|---|---|---|---|---|---|")
    for r in results:
        on_copies = "-" if r["accuracy_copies"] is None else f"{100 * r['accuracy_copies']:.2f}%"
        print(f"| `{Path(r['model']).name}` | {r['faces']} | {r['copies']} | {100 * r['accuracy']:.2f}% | {on_copies} | "
              f"{100 * r['accuracy_rest']:.2f}% |")
    return results


if __name__ == "__main__":
    main()
