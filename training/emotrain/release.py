"""Turn a trained checkpoint into a shipped model: evaluate, export, write the model card.

    python -m emotrain.release --checkpoint runs/emonet/best.pt --name EmoNet --out ../models/emonet \
        --train-command "python -m emotrain.train --arch emonet --epochs 15 --out runs/emonet"

Several `--checkpoint`s make one ensemble model (the mean of the members' log-probabilities).

Writes `<out>.onnx` (+ `.parity.json`), `<out>.md` and `<out>.confusion.png`. The accuracy
recorded in the ONNX metadata is the one measured here, with the same mirror averaging as the
exported graph. Last, the model is calibrated (`emotrain.calibrate`: a temperature fitted on the
validation split, folded into the graph, reported in the card); `--no-calibrate` skips that.
Then, when the app is built (`--emocam`, default `../target/release/emocam`), the end-to-end
accuracy (`emotrain.end_to_end`: the app detects and crops the upscaled PublicTest faces itself)
goes into the card; `--no-end-to-end` skips it.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from . import calibrate, end_to_end, evaluate, export, tta


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, nargs="+", help="best.pt; several make one ensemble model")
    p.add_argument("--name", required=True)
    p.add_argument("--out", required=True, help="path prefix, e.g. ../models/emonet")
    p.add_argument("--train-command", required=True, help="the command that trained the checkpoint (for the card)")
    p.add_argument("--no-flip-tta", action="store_true")
    p.add_argument("--zoom-tta", type=tta.zoom_scale, nargs="+", default=None, metavar="SCALE",
                   help="average over copies zoomed by these scales too (emotrain.tta; e.g. 1.0 1.05)")
    p.add_argument("--data", default=None)
    p.add_argument("--no-calibrate", action="store_true", help="ship the uncalibrated logits (no temperature)")
    p.add_argument("--emocam", default=str(end_to_end.DEFAULT_EMOCAM), help="the built app, for the end-to-end accuracy")
    p.add_argument("--no-end-to-end", action="store_true", help="leave out the end-to-end accuracy")
    args = p.parse_args(argv)

    tta_args = ["--no-flip-tta"] if args.no_flip_tta else []
    if args.zoom_tta:
        tta_args += ["--zoom-tta", *map(str, args.zoom_tta)]
    release_command = "python -m emotrain.release " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    eval_args = ["--checkpoint", *args.checkpoint, "--out", args.out, "--name", args.name,
                 "--train-command", args.train_command, "--export-command", release_command, *tta_args]
    if args.data:
        eval_args += ["--data", args.data]
    summary = evaluate.main(eval_args)
    export.main(["--checkpoint", *args.checkpoint, "--out", args.out + ".onnx", "--name", args.name,
                 "--accuracy", f"{summary['accuracy']:.6f}", *tta_args])
    add_latency_to_card(Path(args.out + ".md"), Path(args.out + ".onnx"))
    if not args.no_calibrate:
        calibrate_args = ["--model", args.out + ".onnx", "--command",
                          f"python -m emotrain.calibrate --model {args.out}.onnx  # run by emotrain.release (above)"]
        if args.data:
            calibrate_args += ["--data", args.data]
        calibrate.main(calibrate_args)
    if not args.no_end_to_end:
        e2e_args = ["--model", args.out + ".onnx", "--emocam", args.emocam]
        command = f"python -m emotrain.end_to_end --model {args.out}.onnx  # run by emotrain.release (above)"
        if args.data:
            e2e_args += ["--data", args.data]
        if Path(args.emocam).exists():
            end_to_end.main(e2e_args + ["--command", command])
        else:
            print(f"end-to-end accuracy NOT measured: {args.emocam} not built; afterwards run "
                  f"python -m emotrain.end_to_end {' '.join(e2e_args)}")


def latency_per_face_ms(onnx_path: Path, runs: int = 300) -> tuple[float, float]:
    """(p50, p95) ms to classify one face with ONNX Runtime on one CPU thread, as the app does
    by default (`--threads 1`), after a warm-up."""
    import time

    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    face = np.random.default_rng(0).standard_normal((1, 1, 48, 48)).astype(np.float32)
    for _ in range(20):
        session.run(None, {name: face})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {name: face})
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def add_latency_to_card(card: Path, onnx_path: Path) -> None:
    """Adds the measured cost per face to the card, after its compute row."""
    p50, p95 = latency_per_face_ms(onnx_path)
    lines = card.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("| compute |")) + 1
    lines.insert(at, f"| latency per face | {p50:.2f} ms p50, {p95:.2f} ms p95 (ONNX Runtime, one CPU thread of this 2-core "
                     f"machine, batch 1, measured at release) |")
    card.write_text("\n".join(lines))
    print(f"latency per face: {p50:.2f} ms p50, {p95:.2f} ms p95")


if __name__ == "__main__":
    main()
