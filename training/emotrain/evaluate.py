"""Evaluate a checkpoint on PublicTest and write its model card.

    python -m emotrain.evaluate --checkpoint runs/emonet/best.pt --out ../models/emonet \
        --train-command "..." --export-command "..."

Writes `<out>.md` (the model card) and `<out>.confusion.png`; prints accuracy and per-class
recall. Evaluation averages each face with its mirror image (and zoomed copies with --zoom-tta),
exactly as the exported ONNX graph does when both get the same options, so the card's numbers are
the app's numbers.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from . import data, models, preprocess, tta
from .train import pick_device, predict, selection_accuracy


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n: int) -> np.ndarray:
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def save_confusion_png(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.8), dpi=110)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def training_summary(ckpt: dict) -> str:
    """One line on how a checkpoint was trained, for the model card."""
    history, targs = ckpt["state"]["history"], ckpt["meta"]["args"]
    minutes = sum(h["seconds"] for h in history) / 60
    best = max(history, key=selection_accuracy)
    # Checkpoints from before the device was recorded were all trained on this 2-core CPU.
    device = ckpt["meta"].get("device", "cpu")
    where = "the 2-core CPU here" if device == "cpu" else f"one {ckpt['meta'].get('device_name', device)} GPU"
    # best.pt holds the history up to the best epoch; the schedule may have run on after it.
    return (f"best at epoch {best['epoch']} of a {targs['epochs']}-epoch schedule, {minutes:.0f} min of training up to it on {where}"
            f"{', bfloat16 autocast' if targs.get('bf16') else ''}, batch {targs['batch']}, SGD+Nesterov peak lr "
            f"{targs['lr']}, cosine, label smoothing {targs['label_smoothing']}"
            f"{', weights averaged over the steps (EMA ' + str(targs['ema_decay']) + ')' if targs.get('ema_decay') else ''}"
            f"{', weights rounded to ' + ckpt['meta']['carried_as'] + ' to travel back from that machine' if ckpt['meta'].get('carried_as') else ''}"
            f", seed {targs['seed']}")


def members_section(checkpoints: list[dict]) -> str:
    """The card's table of ensemble members (empty for a single network)."""
    if len(checkpoints) < 2:
        return ""
    rows = "\n".join(
        f"| `{c['meta']['arch']}` | {models.DESCRIPTIONS.get(c['meta']['arch'], '')} | {c['state']['best_acc']:.2%} on {c['meta'].get('selected_on', 'publictest')} | "
        f"{training_summary(c)} |" for c in checkpoints)
    return f"""## Members

| arch | what | alone, on the split it was selected on (with mirror averaging) | training |
|---|---|---|---|
{rows}

"""


def views_note(flip_tta: bool, zooms: tuple[float, ...]) -> str:
    """The compute row's note on how many times the graph runs the network per face."""
    views = tta.view_count(flip_tta, zooms)
    if views == 1:
        return ""
    if tuple(zooms) == tta.NO_ZOOM:
        return " (x2: the graph also runs the mirror image)"
    what = f"{len(zooms)} zooms" + (", each also mirrored" if flip_tta else "")
    return f" (x{views}: the graph runs {what})"


def output_note(flip_tta: bool, zooms: tuple[float, ...]) -> str:
    """The output row's note on what the logits are an average of."""
    if tuple(zooms) == tta.NO_ZOOM:
        return ", the average of the face's and its mirror image's logits" if flip_tta else ""
    scales = ", ".join(f"{z:g}" for z in zooms)
    mirrored = " and of the mirror image of each" if flip_tta else ""
    return (f", the average of the logits of the face zoomed by {scales} (about its centre, border pixels "
            f"repeated){mirrored}")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, nargs="+", help="best.pt; several are evaluated as one ensemble")
    p.add_argument("--data", default=data.DEFAULT_DATA)
    p.add_argument("--out", required=True, help="path prefix: writes <out>.md and <out>.confusion.png")
    p.add_argument("--name", default=None)
    p.add_argument("--train-command", default="", help="recorded in the card")
    p.add_argument("--export-command", default="", help="the export/release command, recorded in the card")
    p.add_argument("--no-flip-tta", action="store_true", help="match an export made with --no-flip-tta")
    p.add_argument("--zoom-tta", type=tta.zoom_scale, nargs="+", default=list(tta.NO_ZOOM), metavar="SCALE",
                   help="match an export made with these --zoom-tta scales")
    args = p.parse_args(argv)

    arch, labels, net, checkpoints = models.load_checkpoints(args.checkpoint)
    device = pick_device()
    net = net.to(device)
    cache = data.CACHE_DIR
    test_x, test_y = data.load_split(args.data, "test", labels, cache)
    flip_tta = not args.no_flip_tta
    zooms = tuple(args.zoom_tta)
    selected_on = {c["meta"].get("selected_on", "publictest") for c in checkpoints}
    val_accuracy, val_faces = None, 0
    if selected_on == {"validation"}:
        train_x, train_y = data.load_split(args.data, "train", labels, cache)
        _, val_idx = data.validation_split(train_y, train_x)
        val_probs = predict(net, train_x[val_idx], device, flip_tta=flip_tta, zooms=zooms)
        val_accuracy, val_faces = float((val_probs.argmax(1) == train_y[val_idx]).mean()), len(val_idx)
    selection_row = selection_row_for("validation" if selected_on == {"validation"} else "publictest", labels,
                                      val_accuracy, val_faces)
    probs = predict(net, test_x, device, flip_tta=flip_tta, zooms=zooms)
    params, macs = models.count_params(net.cpu()), models.count_macs(net.cpu())
    if len(checkpoints) == 1:
        description = models.DESCRIPTIONS.get(arch, "see training/emotrain/models.py")
        training_row = f"| training | {training_summary(checkpoints[0])} |"
    else:
        description = (f"{len(checkpoints)} networks trained separately, one model: the mean of their log-probabilities")
        training_row = "| training | each member separately, below |"
    return write_card(Path(args.out), args.name or arch, arch, description, params, macs, labels, flip_tta, zooms,
                      selection_row, probs.argmax(1), test_y, training_row, members_section(checkpoints),
                      [args.train_command, args.export_command], val_accuracy)


def selection_row_for(selected_on: str, labels: list[str], val_accuracy: float | None, val_faces: int) -> str:
    """The card's data row(s): what the model learnt from and what selected it."""
    if selected_on == "validation":
        return (f"| data | FER-2013 Training ({len(labels)} classes) less the validation split; checkpoint selected "
                f"on the validation split ({data.VALIDATION_RULE}); PublicTest measured once, here; PrivateTest never used |\n"
                f"| validation accuracy | {val_accuracy:.2%} ({val_faces} faces) |")
    return (f"| data | FER-2013 Training ({len(labels)} classes), checkpoint selected on PublicTest (so the "
            f"PublicTest figure flatters it a little); PrivateTest never used |")


def write_card(out: Path, name: str, arch: str, description: str, params: int, macs: int, labels: list[str],
               flip_tta: bool, zooms: tuple[float, ...], selection_row: str, predicted: np.ndarray, test_y: np.ndarray,
               training_row: str, members: str, commands: list[str], val_accuracy: float | None) -> dict:
    """Writes `<out>.md` (the model card) and `<out>.confusion.png` from PublicTest's answers;
    returns the summary (accuracy, recall, ...)."""
    accuracy = float((predicted == test_y).mean())
    matrix = confusion_matrix(test_y, predicted, len(labels))
    recall = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_confusion_png(matrix, labels, out.with_suffix(".confusion.png"), f"{name}: PublicTest {accuracy:.2%}")
    recall_rows = "\n".join(f"| {label} | {r:.1%} | {int(matrix[i].sum())} |" for i, (label, r) in enumerate(zip(labels, recall)))
    made_by = "\n".join(commands)
    card = f"""# {name} (`{out.name}.onnx`)

Emotion classifier for 48x48 grey faces, trained from scratch by `training/` on FER-2013.

| | |
|---|---|
| architecture | `{arch}` ({description}) |
| parameters | {params:,} ({params * 4 / 1e6:.2f} MB as float32) |
| compute | {macs / 1e6:.1f} M multiply-adds per face at 48x48{views_note(flip_tta, zooms)} |
| labels | {", ".join(labels)} ({len(labels)} classes{"; disgust dropped as in the original study" if len(labels) == 6 else ""}) |
| input | `face`: float32 [N, 1, 48, 48] (NCHW), value = (pixel / 255 - {preprocess.MEAN}) / {preprocess.STD} |
| output | `logits`: float32 [N, {len(labels)}]{output_note(flip_tta, zooms)} |
{selection_row}
| **PublicTest accuracy** | **{accuracy:.2%}** ({int((predicted == test_y).sum())}/{len(test_y)}) |
{training_row}

Augmentation: random zoom ±20%, shear ±0.2, rotation ±10°, shift ±10%, horizontal flip, random
erasing (p=0.25).

{members}## Per-class recall on PublicTest

| class | recall | faces |
|---|---|---|
{recall_rows}

![confusion matrix]({out.name}.confusion.png)

## How it was made

From `training/` (see its README):

```
{made_by}
```
"""
    out.with_suffix(".md").write_text(card)
    summary = {"accuracy": accuracy, "validation_accuracy": val_accuracy, "recall": dict(zip(labels, map(float, recall))), "params": params, "macs": macs}
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
