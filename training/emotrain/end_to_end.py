"""End-to-end accuracy: the built app finds and crops the faces itself, as it does live.

    python -m emotrain.end_to_end --model ../models/emonet-tiny.onnx [--emocam ../target/release/emocam]

`release` and `evaluate` score the data set's own 48x48 crops. The app classifies its own crops
of Haar detections instead (`vision::face::Framing`), so this measures the whole path: every
PublicTest face is upscaled (48 -> `--side` px, bicubic) and surrounded by a replicated border
(`--pad` of the side on each edge, so the cascade has room to fire), the images are written to one
folder and `emocam analyze FOLDER --model M --json FILE` runs on it (a folder of photos: every
image is detected afresh, no tracking). The largest face found in an image is its answer; an
image with no face counts as wrong. For comparison the same app classifies the data set's crops
(`emocam analyze --faces`), over all faces and over the detected ones.

Writes an "End-to-end" section into the model's card (`--card`, default `<model>.md`).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import calibrate, data

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EMOCAM = ROOT / "target" / "release" / "emocam"
CARD_SECTION = "## End-to-end"
DEFAULT_SIDE = 224
DEFAULT_PAD = 0.25


BORDERS = ("edge", "reflect", "mean")
BORDER_WORDS = {"edge": "the edge pixels replicated", "reflect": "mirrored", "mean": "the face's mean grey"}


def upscale_with_border(face_u8: np.ndarray, side: int = DEFAULT_SIDE, pad: float = DEFAULT_PAD,
                        border_mode: str = "edge") -> np.ndarray:
    """A 48x48 face as a `side` px image (bicubic) inside a border of `pad` * side px: the edge
    pixels replicated, mirrored ("reflect"), or the image's mean grey ("mean")."""
    big = np.asarray(Image.fromarray(face_u8).resize((side, side), Image.Resampling.BICUBIC), dtype=np.uint8)
    border = int(round(pad * side))
    if not border:
        return big
    if border_mode == "mean":
        return np.pad(big, border, mode="constant", constant_values=int(round(float(face_u8.mean()))))
    return np.pad(big, border, mode={"edge": "edge", "reflect": "symmetric"}[border_mode])


def write_images(faces_u8: np.ndarray, folder: Path, side: int = DEFAULT_SIDE, pad: float | None = DEFAULT_PAD,
                 border_mode: str = "edge") -> list[str]:
    """Writes face i as `folder/{i:05d}.png`, upscaled (`pad` None: the 48x48 crop as it is).
    Returns the file names, in face order (which is also the app's name order)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, face in enumerate(faces_u8):
        name = f"{i:05d}.png"
        Image.fromarray(face if pad is None else upscale_with_border(face, side, pad, border_mode)).save(folder / name)
        names.append(name)
    return names


def app_environment() -> dict[str, str]:
    """The environment for the app: resources from this checkout, ONNX Runtime from
    third_party/ when the caller has not named one."""
    env = dict(os.environ)
    env.setdefault("EMOCAM_HOME", str(ROOT))
    ort = ROOT / "third_party" / "onnxruntime" / "libonnxruntime.so"
    if "EMOCAM_ORT_LIB" not in env and "ORT_DYLIB_PATH" not in env and ort.exists():
        env["EMOCAM_ORT_LIB"] = str(ort)
    return env


def run_app(emocam: Path, model: Path, args: list[str], json_out: Path, timeout: float = 1800) -> list[dict]:
    """Runs `emocam analyze ARGS --model MODEL --json JSON_OUT`; returns its records."""
    command = [str(emocam), "analyze", *args, "--model", str(model), "--json", str(json_out)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=app_environment())
    if run.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({run.returncode}):\n{run.stderr.strip()}")
    return [json.loads(line) for line in json_out.read_text().splitlines() if line.strip()]


def score(records: list[dict], names: list[str], truth: np.ndarray, labels: list[str]) -> dict:
    """Scores app records against the truth of each image (`names[i]` has label index `truth[i]`).

    A record belongs to the image whose file name is its `source`'s; an image's answer is the
    `label` of its largest face (w * h); an image without a record is undetected and wrong.
    Returns counts, `accuracy` (over all images), `accuracy_detected`, `detection_rate`,
    `multiple` (images with more than one face) and `correct_mask` / `detected_mask` (per image)."""
    index = {name: i for i, name in enumerate(names)}
    best: dict[int, dict] = {}
    count = np.zeros(len(names), dtype=np.int64)
    for record in records:
        i = index.get(Path(record["source"]).name)
        if i is None:
            raise ValueError(f"a record for an image that is not one of the faces: {record['source']}")
        count[i] += 1
        if i not in best or record["w"] * record["h"] > best[i]["w"] * best[i]["h"]:
            best[i] = record
    detected = count > 0
    box_sides = [max(r["w"], r["h"]) for r in best.values()]
    predicted = np.full(len(names), -1, dtype=np.int64)
    for i, record in best.items():
        predicted[i] = labels.index(record["label"])
    correct = predicted == np.asarray(truth)
    n, n_detected, n_correct = len(names), int(detected.sum()), int(correct.sum())
    return {
        "faces": n,
        "detected": n_detected,
        "correct": n_correct,
        "multiple": int((count > 1).sum()),
        "accuracy": n_correct / n if n else 0.0,
        "accuracy_detected": n_correct / n_detected if n_detected else 0.0,
        "detection_rate": n_detected / n if n else 0.0,
        "median_box_side": float(np.median(box_sides)) if box_sides else 0.0,
        "correct_mask": correct,
        "detected_mask": detected,
    }


def evaluate(model: Path, emocam: Path, faces_u8: np.ndarray, truth: np.ndarray, labels: list[str],
             side: int = DEFAULT_SIDE, pad: float = DEFAULT_PAD, detector_args: list[str] | None = None,
             work: Path | None = None, border_mode: str = "edge") -> dict:
    """Both runs of the app (its own crops of the upscaled faces; the data set's crops) and their scores."""
    with tempfile.TemporaryDirectory(prefix="emocam-e2e-") as tmp:
        work = Path(work or tmp)
        names = write_images(faces_u8, work / "scenes", side, pad, border_mode)
        write_images(faces_u8, work / "crops", pad=None)
        started = time.monotonic()
        end_to_end = score(run_app(emocam, model, [str(work / "scenes"), *(detector_args or [])], work / "scenes.jsonl"),
                           names, truth, labels)
        seconds = time.monotonic() - started
        crops = score(run_app(emocam, model, ["--faces", str(work / "crops")], work / "crops.jsonl"), names, truth, labels)
    detected = end_to_end["detected_mask"]
    return {
        "end_to_end": end_to_end,
        "crops": crops,
        "crops_accuracy_on_detected": float(crops["correct_mask"][detected].mean()) if detected.any() else 0.0,
        "seconds": seconds,
        "side": side,
        "pad": pad,
        "border_mode": border_mode,
        "detector_args": detector_args or [],
    }


def card_section(result: dict, split: str, command: str) -> str:
    result = {"border_mode": "edge", **result}
    e2e, crops = result["end_to_end"], result["crops"]
    border = int(round(result["pad"] * result["side"]))
    size = result["side"] + 2 * border
    options = " ".join(result["detector_args"]) or "the app's defaults"
    return f"""{CARD_SECTION}

The app does not see the data set's crops: it finds faces with its Haar detector and cuts its own
crops around them (`vision::face::Framing`). Here every {split} face was upscaled to
{result['side']} px (bicubic) inside a {border} px border ({BORDER_WORDS[result['border_mode']]}): {size}x{size}
images, one face each. The built app (`emocam analyze FOLDER`, detector options: {options})
found, cropped and classified them; an image's largest face is its answer, and a face the app did
not find counts as wrong. Beside it, the same app on the data set's own 48x48 crops (`emocam analyze --faces`).

| | faces | accuracy |
|---|---|---|
| **end to end, all faces** (not found = wrong) | {e2e['faces']} | **{e2e['accuracy']:.2%}** ({e2e['correct']}/{e2e['faces']}) |
| end to end, faces found | {e2e['detected']} | {e2e['accuracy_detected']:.2%} |
| the data set's crops (`--faces`), all faces | {crops['faces']} | {crops['accuracy']:.2%} ({crops['correct']}/{crops['faces']}) |
| the data set's crops, the faces found end to end | {e2e['detected']} | {result['crops_accuracy_on_detected']:.2%} |

Faces found: {e2e['detection_rate']:.1%} ({e2e['detected']} of {e2e['faces']}); images with more than one
face found: {e2e['multiple']}. The median Haar box found is {e2e['median_box_side'] / result['side']:.2f} of the face image's side (on FER-2013's own framing it is 0.84, `emocam measure-framing`; the
border makes the cascade's boxes larger, so the app's crops are looser than the data set's here).

```
{command}
```
"""


def update_card(card: Path, section: str) -> None:
    """Replaces an earlier End-to-end section, or puts it before "## How it was made" (or at the end)."""
    lines = card.read_text().split("\n")
    new = section.rstrip("\n").split("\n")
    if CARD_SECTION in lines:
        start = lines.index(CARD_SECTION)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = new + [""]
    else:
        at = next((i for i, line in enumerate(lines) if line.startswith("## How it was made")), None)
        if at is None:
            lines += [""] + new
        else:
            lines[at:at] = new + [""]
    card.write_text("\n".join(lines))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="the ONNX model (its labels are FER-2013's)")
    p.add_argument("--emocam", default=str(DEFAULT_EMOCAM), help="the built app")
    p.add_argument("--data", default=data.DEFAULT_DATA)
    p.add_argument("--side", type=int, default=DEFAULT_SIDE, help="upscaled face side, px")
    p.add_argument("--pad", type=float, default=DEFAULT_PAD, help="replicated border on each edge, as a fraction of the side")
    p.add_argument("--border", default="edge", choices=BORDERS, help="what fills the border")
    p.add_argument("--limit", type=int, default=0, help="only the first N faces of every class (quick checks)")
    p.add_argument("--card", default=None, help="card to write the section into (default <model>.md; 'none': no card)")
    p.add_argument("--command", default=None, help="the command recorded in the card (default: this one)")
    p.add_argument("--work", default=None, help="keep the images and records in this folder")
    p.add_argument("detector", nargs=argparse.REMAINDER, help="after --: detector options for `emocam analyze`")
    args = p.parse_args(argv)

    model, emocam = Path(args.model), Path(args.emocam)
    if not emocam.exists():
        raise SystemExit(f"{emocam} not found: build the app (`cargo build --release`) or pass --emocam")
    labels = calibrate.fer_labels_of(calibrate.load_model(model), model)
    cache = data.CACHE_DIR
    faces, truth = data.load_split(args.data, "test", labels, cache)
    if args.limit:
        keep = np.concatenate([np.flatnonzero(truth == c)[: args.limit] for c in range(len(labels))])
        faces, truth = faces[keep], truth[keep]
    detector = [a for a in args.detector if a != "--"]
    result = evaluate(model, emocam, faces, truth, labels, args.side, args.pad, detector,
                      Path(args.work) if args.work else None, args.border)
    e2e, crops = result["end_to_end"], result["crops"]
    print(f"{model.name}: end to end {e2e['accuracy']:.2%} of {e2e['faces']} faces ({e2e['correct']}), "
          f"{e2e['accuracy_detected']:.2%} of the {e2e['detected']} found (detection rate {e2e['detection_rate']:.1%}, "
          f"{e2e['multiple']} with several faces); the data set's crops {crops['accuracy']:.2%} "
          f"({result['crops_accuracy_on_detected']:.2%} on the faces found); {result['seconds']:.0f} s")
    card = None if args.card == "none" else Path(args.card) if args.card else model.with_suffix(".md")
    if card is not None and card.exists() and not args.limit:
        split = "PublicTest"
        command = args.command or "python -m emotrain.end_to_end " + shlex.join(argv if argv is not None else sys.argv[1:])
        update_card(card, card_section(result, split, command))
        print(f"wrote {CARD_SECTION!r} into {card}")
    return result


if __name__ == "__main__":
    main()
