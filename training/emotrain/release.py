"""Turn a trained checkpoint into a shipped model: evaluate, export, write the model card.

    python -m emotrain.release --checkpoint runs/emonet/best.pt --name EmoNet --out ../models/emonet \
        --train-command "python -m emotrain.train --arch emonet --epochs 15 --out runs/emonet"

Several `--checkpoint`s make one ensemble model (the mean of the members' log-probabilities).

Writes `<out>.onnx` (+ `.parity.json`), `<out>.md` and `<out>.confusion.png`. The accuracy
recorded in the ONNX metadata is the one measured here, with the same mirror averaging as the
exported graph.
"""
from __future__ import annotations

import argparse
import shlex
import sys

from . import evaluate, export


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, nargs="+", help="best.pt; several make one ensemble model")
    p.add_argument("--name", required=True)
    p.add_argument("--out", required=True, help="path prefix, e.g. ../models/emonet")
    p.add_argument("--train-command", required=True, help="the command that trained the checkpoint (for the card)")
    p.add_argument("--no-flip-tta", action="store_true")
    p.add_argument("--data", default=None)
    args = p.parse_args(argv)

    tta = ["--no-flip-tta"] if args.no_flip_tta else []
    release_command = "python -m emotrain.release " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    eval_args = ["--checkpoint", *args.checkpoint, "--out", args.out, "--name", args.name,
                 "--train-command", args.train_command, "--export-command", release_command, *tta]
    if args.data:
        eval_args += ["--data", args.data]
    summary = evaluate.main(eval_args)
    export.main(["--checkpoint", *args.checkpoint, "--out", args.out + ".onnx", "--name", args.name,
                 "--accuracy", f"{summary['accuracy']:.6f}", *tta])


if __name__ == "__main__":
    main()
