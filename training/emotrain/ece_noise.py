"""How much of a shipped model's PublicTest ECE is sampling noise (read-only: no file is changed).

    python -m emotrain.ece_noise --model ../models/emonet-wide.onnx [--model ...]

The binned ECE (15 bins, `calibrate.expected_calibration_error`) of a finite test set is above
zero even for a perfectly calibrated model: each bin's accuracy is a sample mean. This prints, for
each model, its PublicTest ECE as shipped (temperature included), a bootstrap 95% interval of it
(faces resampled with replacement), and the ECE a perfectly calibrated model with the same
predictions and confidences would score (each face right with probability equal to its
confidence): the mean and 95th percentile over the draws. A model's ECE below that 95th
percentile cannot be told from perfect calibration on this many faces.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from . import calibrate, data


def bootstrap_interval(probs: np.ndarray, labels: np.ndarray, rng: np.random.Generator, draws: int = 500,
                       level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of the ECE over `draws` resamplings of the faces."""
    n = len(labels)
    eces = [calibrate.expected_calibration_error(probs[i], labels[i]) for i in (rng.integers(0, n, n) for _ in range(draws))]
    tail = (1 - level) / 2 * 100
    return float(np.percentile(eces, tail)), float(np.percentile(eces, 100 - tail))


def perfectly_calibrated_eces(probs: np.ndarray, rng: np.random.Generator, draws: int = 500) -> np.ndarray:
    """ECEs of a model with these predictions and confidences that is calibrated by construction:
    in each draw a face is right with probability equal to its confidence (else labelled with
    another class)."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    other = (predicted + 1) % probs.shape[1]
    out = []
    for _ in range(draws):
        labels = np.where(rng.random(len(confidence)) < confidence, predicted, other)
        out.append(calibrate.expected_calibration_error(probs, labels))
    return np.asarray(out)


def measure(model_path: Path, data_path: str, draws: int, seed: int, threads: int) -> dict:
    model = calibrate.load_model(model_path)
    labels = calibrate.fer_labels_of(model, model_path)
    _, (faces, truth) = calibrate.load_splits(data_path, labels)
    probs = calibrate.softmax(calibrate.run_logits(model, calibrate.faces_to_inputs(faces), threads=threads))
    rng = np.random.default_rng(seed)
    low, high = bootstrap_interval(probs, truth, rng, draws)
    floor = perfectly_calibrated_eces(probs, rng, draws)
    return {"model": str(model_path), "faces": len(truth), "ece": calibrate.expected_calibration_error(probs, truth),
            "bootstrap_95": [low, high], "calibrated_mean": float(floor.mean()),
            "calibrated_p95": float(np.percentile(floor, 95))}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, action="append", help="an exported .onnx (repeatable)")
    p.add_argument("--data", default=data.DEFAULT_DATA, help="FER-2013 folder (train/, test/) or fer2013.csv")
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    args = p.parse_args(argv)
    reports = []
    for path in args.model:
        r = measure(Path(path), args.data, args.draws, args.seed, args.threads)
        reports.append(r)
        print(f"{Path(path).name}: PublicTest ECE {r['ece']:.2%} (bootstrap 95%: {r['bootstrap_95'][0]:.2%}-"
              f"{r['bootstrap_95'][1]:.2%}); a perfectly calibrated model with these confidences: "
              f"{r['calibrated_mean']:.2%} on average, 95th percentile {r['calibrated_p95']:.2%}", flush=True)
    return reports


if __name__ == "__main__":
    main()
