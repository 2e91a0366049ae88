"""Export a trained checkpoint to ONNX with the metadata emocam reads, and check parity.

    python -m emotrain.export --checkpoint runs/emonet/best.pt --out ../models/emonet.onnx --name EmoNet

Metadata keys (see the top-level README): labels, display_name, layout, pixel_scale, mean, std,
output, architecture, dataset, publictest_accuracy, plus params/macs/flip_tta for model cards.
The parity check runs ONNX Runtime and PyTorch on the same faces and fails above 1e-5; the same
faces and PyTorch's probabilities go to `<out>.parity.json` for the Rust app's own check.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F

from . import data, models, preprocess, tta

OPSET = 17
PARITY_FACES = 4
PARITY_TOLERANCE = 1e-5
ZOOM_TTA_KEY = "zoom_tta"


def parity_faces(seed: int = 1234) -> np.ndarray:
    """Deterministic 48x48 test faces: smooth random blobs, not just noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48]
    faces = []
    for _ in range(PARITY_FACES):
        img = np.zeros((48, 48))
        for _ in range(6):
            cy, cx, r, v = rng.uniform(0, 48), rng.uniform(0, 48), rng.uniform(4, 16), rng.uniform(-120, 120)
            img += v * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        faces.append(np.clip(img + 128 + rng.normal(0, 8, img.shape), 0, 255))
    return np.stack(faces).astype(np.uint8)


def export(net: torch.nn.Module, out: Path, metadata: dict[str, str], flip_tta: bool,
           zooms: tuple[float, ...] = tta.NO_ZOOM) -> dict:
    """Writes the ONNX file (with the test-time averaging in the graph: `tta`), checks ONNX
    Runtime against PyTorch, writes the parity file."""
    net.eval()
    graph = tta.TestTimeAveraged(net, flip_tta, zooms)
    graph.eval()
    dummy = torch.zeros(2, 1, preprocess.INPUT_SIZE, preprocess.INPUT_SIZE)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(graph, dummy, str(out), input_names=["face"], output_names=["logits"],
                      dynamic_axes={"face": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET, dynamo=False)
    model = onnx.load(str(out))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "emocam-training"
    onnx.checker.check_model(model)
    onnx.save(model, str(out))

    faces = parity_faces()
    x = preprocess.to_tensor(faces)
    with torch.no_grad():
        torch_probs = F.softmax(graph(x), dim=1).numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    ort_logits = session.run(None, {"face": x.numpy()})[0]
    ort_probs = torch.softmax(torch.from_numpy(ort_logits), dim=1).numpy()
    diff = float(np.abs(ort_probs - torch_probs).max())
    if diff > PARITY_TOLERANCE:
        raise SystemExit(f"parity check failed: ONNX Runtime and PyTorch differ by {diff:.2e} (> {PARITY_TOLERANCE})")
    parity = {"faces": faces.reshape(len(faces), -1).tolist(), "probabilities": torch_probs.tolist(), "max_abs_diff_onnxruntime": diff}
    out.with_suffix(".parity.json").write_text(json.dumps(parity))
    return {"max_abs_diff": diff}


def metadata_for(arch: str, labels: list[str], name: str, flip_tta: bool, accuracy: float | None,
                 net: torch.nn.Module, selected_on: str = "publictest",
                 zooms: tuple[float, ...] = tta.NO_ZOOM) -> dict[str, str]:
    meta = {
        "labels": json.dumps(labels),
        "display_name": name,
        "layout": "NCHW",
        "pixel_scale": repr(preprocess.PIXEL_SCALE),
        "mean": json.dumps([preprocess.MEAN]),
        "std": json.dumps([preprocess.STD]),
        "output": "logits",
        "architecture": arch,
        "dataset": ("FER-2013 Training less its validation split, selected on the validation split"
                    if selected_on == "validation" else "FER-2013 Training (image-folder layout), selected on PublicTest"),
        "params": str(models.count_params(net)),
        "macs": str(models.count_macs(net)),
        "flip_tta": json.dumps(flip_tta),
    }
    if tuple(zooms) != tta.NO_ZOOM:
        # The zooms the graph averages over (each mirrored too with flip_tta): the app counts the
        # passes per face from this and `macs`.
        meta[ZOOM_TTA_KEY] = json.dumps(list(zooms))
    if accuracy is not None:
        meta["publictest_accuracy"] = f"{accuracy:.4f}"
    return meta


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", nargs="+", help="best.pt from emotrain.train; several make an ensemble")
    src.add_argument("--random-arch", choices=sorted(models.BACKBONES), help="export untrained weights (tests)")
    p.add_argument("--classes", type=int, default=6, choices=[6, 7], help="with --random-arch")
    p.add_argument("--out", required=True)
    p.add_argument("--name", help="display name in the app")
    p.add_argument("--no-flip-tta", action="store_true", help="export the bare network, without mirror averaging")
    p.add_argument("--zoom-tta", type=tta.zoom_scale, nargs="+", default=list(tta.NO_ZOOM), metavar="SCALE",
                   help="also average over copies zoomed by these scales (1.0: the face as it is; default: 1.0 only)")
    p.add_argument("--accuracy", type=float, help="PublicTest accuracy to record (default: the checkpoint's best)")
    args = p.parse_args(argv)

    if args.checkpoint:
        arch, labels, net, checkpoints = models.load_checkpoints(args.checkpoint)
        if args.accuracy is None and len(checkpoints) > 1:
            raise SystemExit("an ensemble's accuracy is not in any checkpoint: give --accuracy (emotrain.release does)")
        selected_on = checkpoints[0]["meta"].get("selected_on", "publictest")
        if args.accuracy is None and selected_on != "publictest":
            raise SystemExit("this checkpoint's best accuracy is on the validation split, not PublicTest: "
                             "give --accuracy (emotrain.release measures it)")
        accuracy = args.accuracy if args.accuracy is not None else checkpoints[0]["state"]["best_acc"]
    else:
        arch, labels = args.random_arch, data.labels_for(args.classes)
        torch.manual_seed(0)
        net = models.build(arch, len(labels))
        accuracy = args.accuracy
    net = net.to(memory_format=torch.contiguous_format).eval()
    flip_tta = not args.no_flip_tta
    selected_on = checkpoints[0]["meta"].get("selected_on", "publictest") if args.checkpoint else "publictest"
    zooms = tuple(args.zoom_tta)
    meta = metadata_for(arch, labels, args.name or arch, flip_tta, accuracy, net, selected_on, zooms)
    result = export(net, Path(args.out), meta, flip_tta, zooms)
    print(f"wrote {args.out} ({arch}, {len(labels)} classes, flip TTA {flip_tta}, zooms {list(zooms)}); "
          f"ONNX Runtime vs PyTorch max |diff| {result['max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
