"""Turn a trained checkpoint into a shipped model: evaluate, export, write the model card.

    python -m emotrain.release --checkpoint runs/emonet/best.pt --name EmoNet --out ../models/emonet \
        --train-command "python -m emotrain.train --arch emonet --epochs 15 --out runs/emonet"

Several `--checkpoint`s make one ensemble model (the mean of the members' log-probabilities).

    python -m emotrain.release --model ../models/emonet-wide.onnx --zoom-tta 0.92 1.0 1.1 --out ../models/emonet-wide

re-releases an exported model whose checkpoint is gone (`runs/` does not outlive a machine)
averaged over zoomed copies too (`tta.zoom_averaged_graph`): evaluated, carded (the source card's
training row and commands kept), parity-checked against the source graph run on the zoomed faces,
then measured and calibrated as below.

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
import json
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import onnx

from . import calibrate, data, end_to_end, evaluate, export, models, tta


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", nargs="+", help="best.pt; several make one ensemble model")
    source.add_argument("--model", help="an exported .onnx (its card next to it) whose checkpoint is gone, "
                                        "re-released averaged over --zoom-tta")
    p.add_argument("--name", default=None, help="display name (needed with --checkpoint; default: the model's)")
    p.add_argument("--out", required=True, help="path prefix, e.g. ../models/emonet")
    p.add_argument("--train-command", default=None, help="the command that trained the checkpoint (for the card)")
    p.add_argument("--no-flip-tta", action="store_true")
    p.add_argument("--zoom-tta", type=tta.zoom_scale, nargs="+", default=None, metavar="SCALE",
                   help="average over copies zoomed by these scales too (emotrain.tta; e.g. 1.0 1.05)")
    p.add_argument("--data", default=None)
    p.add_argument("--no-calibrate", action="store_true", help="ship the uncalibrated logits (no temperature)")
    p.add_argument("--emocam", default=str(end_to_end.DEFAULT_EMOCAM), help="the built app, for the end-to-end accuracy")
    p.add_argument("--no-end-to-end", action="store_true", help="leave out the end-to-end accuracy")
    args = p.parse_args(argv)

    release_command = "python -m emotrain.release " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if args.model:
        if not args.zoom_tta or tuple(args.zoom_tta) == tta.NO_ZOOM:
            p.error("--model re-releases a model averaged over zooms: give --zoom-tta (e.g. 0.92 1.0 1.1)")
        if args.no_flip_tta or args.train_command:
            p.error("--model keeps the model's mirror averaging and its card's training command")
        release_zoomed(Path(args.model), Path(args.out), args.name, tuple(args.zoom_tta), args.data or data.DEFAULT_DATA,
                       release_command)
    else:
        if not args.name or not args.train_command:
            p.error("--checkpoint needs --name and --train-command")
        tta_args = ["--no-flip-tta"] if args.no_flip_tta else []
        if args.zoom_tta:
            tta_args += ["--zoom-tta", *map(str, args.zoom_tta)]
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


def card_parts(card: str) -> tuple[str, list[str]]:
    """A card's training row and the commands of its "How it was made" block."""
    training = re.search(r"^\| training \|.*$", card, re.MULTILINE)
    made = re.search(r"^## How it was made\n.*?^```\n(.*?)^```", card, re.MULTILINE | re.DOTALL)
    if not training or not made:
        raise ValueError("no training row or no \"How it was made\" block")
    return training.group(0), made.group(1).rstrip("\n").split("\n")


def release_zoomed(source_path: Path, out: Path, name: str | None, zooms: tuple[float, ...], data_path: str,
                   command: str) -> dict:
    """Writes `<out>.onnx`, its parity file, card and confusion matrix: the model at
    `source_path` (uncalibrated) averaged over `zooms`. Nothing is written when a check fails;
    the source may be `<out>.onnx` itself."""
    source = calibrate.load_model(source_path)
    labels = calibrate.fer_labels_of(source, source_path)
    source_card = source_path.with_suffix(".md")
    try:
        training_row, commands = card_parts(source_card.read_text())
        uncalibrated = calibrate.strip_temperature(source)
        graph = tta.zoom_averaged_graph(uncalibrated, zooms)
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot re-release {source_path} (card {source_card}): {error}") from error
    meta = calibrate.metadata(graph)
    name = name or meta["display_name"]
    calibrate.set_metadata(graph, "display_name", name)

    (val_faces, val_truth), (test_faces, test_truth) = calibrate.load_splits(data_path, labels)
    seen_validation = calibrate.trained_on_validation(meta)
    val_accuracy = None if seen_validation else float(
        (calibrate.run_logits(graph, calibrate.faces_to_inputs(val_faces)).argmax(1) == val_truth).mean())
    predicted = calibrate.run_logits(graph, calibrate.faces_to_inputs(test_faces)).argmax(1)

    # Parity: the new graph against the source graph run on each zoomed copy (the source matched
    # PyTorch within the same tolerance when it was exported).
    faces = export.parity_faces()
    inputs = calibrate.faces_to_inputs(faces)
    expected = calibrate.softmax(np.mean([calibrate.run_logits(uncalibrated, tta.zoomed_inputs(inputs, z)) for z in zooms],
                                         axis=0, dtype=np.float64))
    got = calibrate.softmax(calibrate.run_logits(graph, inputs).astype(np.float64))
    diff = float(np.abs(got - expected).max())
    if diff > export.PARITY_TOLERANCE:
        raise SystemExit(f"parity check failed: the zoom-averaged graph and the source graph on zoomed faces differ by "
                         f"{diff:.2e} (> {export.PARITY_TOLERANCE}): nothing written")

    arch = meta["architecture"]
    summary = evaluate.write_card(
        out, name, arch, models.DESCRIPTIONS.get(arch, "see training/emotrain/models.py"), int(meta["params"]),
        int(meta["macs"]), labels, json.loads(meta["flip_tta"]), zooms,
        evaluate.selection_row_for("publictest" if seen_validation else "validation", labels, val_accuracy, len(val_truth)),
        predicted, test_truth, training_row, "", [*commands, command], val_accuracy)
    calibrate.set_metadata(graph, "publictest_accuracy", f"{summary['accuracy']:.4f}")
    parity = {"faces": faces.reshape(len(faces), -1).tolist(), "probabilities": expected.tolist(),
              "max_abs_diff_onnxruntime": diff}
    model_path = out.with_suffix(".onnx")
    calibrate._write_atomically(model_path, lambda tmp: onnx.save(graph, str(tmp)))
    calibrate._write_atomically(out.with_suffix(".parity.json"), lambda tmp: tmp.write_text(json.dumps(parity)))
    print(f"wrote {model_path} ({name}, zooms {list(zooms)}); parity with the source graph on zoomed faces {diff:.2e}")
    return summary


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
