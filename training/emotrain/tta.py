"""Test-time averaging: the logits of a face, its mirror image and zoomed copies, averaged.

    python -m emotrain.tta --model ../models/emonet-tiny.onnx ../models/emonet.onnx --zooms 0.92 1.0 1.1

(the command measures what zoom averaging would give shipped models, and their ensemble, on the
validation split; `export --zoom-tta` / `release --zoom-tta` put it in a graph, `train
--teacher-zoom-tta` in a teacher's answers.)

The same module runs in training's evaluation (`train.predict`) and inside the exported graph
(`export`), so the card's accuracy is the app's. A zoom by `s` (>1: closer, <1: wider, the border
pixels repeated) is `A x A^T` with a fixed 48x48 interpolation matrix A: two MatMuls in the
graph, the same bilinear sampling as `augment.random_affine`'s zoom (`grid_sample`, border
padding), so the network sees the kind of copy it was trained on. All views go through the
network as one batch.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
import torch

from . import preprocess

# Mirror averaging only: what every model shipped before zoom averaging does.
NO_ZOOM = (1.0,)


def zoom_matrix(scale: float, size: int = preprocess.INPUT_SIZE) -> torch.Tensor:
    """A (size, size) such that `A @ image @ A.T` is `image` zoomed by `scale` about its centre,
    sampled bilinearly with the border pixels repeated (grid_sample, align_corners=False)."""
    if not scale > 0:
        raise ValueError(f"a zoom must be > 0, got {scale}")
    out = torch.arange(size, dtype=torch.float64)
    # Output pixel centre in [-1, 1], sampled at 1/scale of it, back to input pixel coordinates.
    source = (((2 * out + 1) / size - 1) / scale + 1) * size / 2 - 0.5
    source = source.clamp(0, size - 1)
    below = source.floor().long().clamp(max=size - 2)
    weight = source - below
    matrix = torch.zeros(size, size, dtype=torch.float64)
    matrix[out.long(), below] = 1 - weight
    matrix[out.long(), below + 1] += weight
    return matrix.float()


def zoom_scale(text: str) -> float:
    """argparse type of a zoom option: a scale > 0 (1.0: the face as it is)."""
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not scale > 0:
        raise argparse.ArgumentTypeError(f"a zoom must be > 0, got {text}")
    return scale


def view_count(flip: bool, zooms: tuple[float, ...]) -> int:
    """How many times the network runs per face: once per zoom, twice with the mirror image."""
    return len(zooms) * (2 if flip else 1)


def zoomed_inputs(inputs: np.ndarray, zoom: float) -> np.ndarray:
    """Network inputs (N, 1, 48, 48) zoomed as `TestTimeAveraged` zooms them."""
    if zoom == 1.0:
        return inputs
    matrix = zoom_matrix(zoom).numpy()
    return (matrix @ inputs @ matrix.T).astype(np.float32)


@torch.no_grad()
def averaged_logits(net: torch.nn.Module, images_u8: np.ndarray, device: torch.device, flip: bool = True,
                    zooms: tuple[float, ...] = NO_ZOOM, batch: int = 512) -> np.ndarray:
    """`net`'s logits (N, C) on uint8 faces (N, 48, 48), averaged over the views as
    `TestTimeAveraged` (and so the exported graph) averages them; `batch` faces at a time on `device`."""
    net.eval()
    averaged = TestTimeAveraged(net, flip, zooms).to(device)
    out = []
    for start in range(0, len(images_u8), batch):
        x = preprocess.to_tensor(images_u8[start:start + batch]).to(device)
        out.append(averaged(x).float().cpu().numpy())
    return np.concatenate(out)


class TestTimeAveraged(torch.nn.Module):
    """`net`'s logits averaged over the views of each face: every zoom in `zooms`, each also
    mirrored when `flip`. zooms=(1.0,), flip=True is plain mirror averaging."""

    def __init__(self, net: torch.nn.Module, flip: bool = True, zooms: tuple[float, ...] = NO_ZOOM):
        super().__init__()
        if not zooms:
            raise ValueError("at least one zoom (1.0: the face as it is)")
        self.net = net
        self.flip = flip
        self.zooms = tuple(float(z) for z in zooms)
        for i, zoom in enumerate(self.zooms):
            self.register_buffer(f"zoom_{i}", zoom_matrix(zoom), persistent=False)

    @property
    def views(self) -> int:
        return view_count(self.flip, self.zooms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = []
        for i, zoom in enumerate(self.zooms):
            matrix = getattr(self, f"zoom_{i}")
            views.append(x if zoom == 1.0 else matrix @ x @ matrix.T)
        if self.flip:
            views += [torch.flip(v, dims=[3]) for v in views]
        if len(views) == 1:
            return self.net(x)
        logits = self.net(torch.cat(views, 0))
        return logits.reshape(len(views), -1, logits.shape[1]).mean(0)


def zoom_averaged_graph(model: onnx.ModelProto, zooms: tuple[float, ...]) -> onnx.ModelProto:
    """An exported graph (input `face` (N, 1, 48, 48), output `logits` (N, C), its own mirror
    averaging inside, no temperature) averaged over the face zoomed by `zooms`: the same two
    MatMuls per zoom as `TestTimeAveraged`, all zooms through the graph as one batch, the mean of
    their logits. The same model as an export with `--zoom-tta`, for a model whose checkpoint is
    gone (`release --model`). Metadata are kept, `zoom_tta` added."""
    from . import calibrate, export

    meta = calibrate.metadata(model)
    if calibrate.TEMPERATURE_KEY in meta:
        raise ValueError("the graph has a temperature: strip_temperature first (zooms average the uncalibrated logits)")
    if export.ZOOM_TTA_KEY in meta:
        raise ValueError(f"the graph already averages over zooms {meta[export.ZOOM_TTA_KEY]}")
    if tuple(zooms) == NO_ZOOM or not zooms:
        raise ValueError("zooms besides 1.0 are needed to average over")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ValueError("expected one input and one output")
    face, logits = graph.input[0].name, graph.output[0].name
    try:
        classes = len(json.loads(meta["labels"]))
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"the graph's metadata has no readable labels (the class count): {error}") from error
    face_views, logits_views = f"{face}_zoom_views", f"{logits}_zoom_views"
    for node in graph.node:
        node.input[:] = [face_views if name == face else name for name in node.input]
        node.output[:] = [logits_views if name == logits else name for name in node.output]
        node.input[:] = [logits_views if name == logits else name for name in node.input]

    before, views = [], []
    for i, zoom in enumerate(zooms):
        if zoom == 1.0:
            views.append(face)
            continue
        matrix = zoom_matrix(zoom).numpy()
        rows, columns, half = f"zoom_{i}_rows", f"zoom_{i}_columns", f"{face}_zoom_{i}_rows"
        graph.initializer.extend([numpy_helper.from_array(matrix, rows),
                                  numpy_helper.from_array(np.ascontiguousarray(matrix.T), columns)])
        before += [helper.make_node("MatMul", [rows, face], [half], name=f"zoom_{i}_rows"),
                   helper.make_node("MatMul", [half, columns], [f"{face}_zoom_{i}"], name=f"zoom_{i}_columns")]
        views.append(f"{face}_zoom_{i}")
    before.append(helper.make_node("Concat", views, [face_views], name="zoom_views", axis=0))

    per_zoom, shape = f"{logits}_per_zoom", "zoom_views_shape"
    graph.initializer.append(numpy_helper.from_array(np.array([len(zooms), -1, classes], dtype=np.int64), shape))
    after = [helper.make_node("Reshape", [logits_views, shape], [per_zoom], name="zoom_views_apart")]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset >= 18:  # ReduceMean's axes became an input in opset 18
        graph.initializer.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "zoom_axis"))
        after.append(helper.make_node("ReduceMean", [per_zoom, "zoom_axis"], [logits], name="zoom_mean", keepdims=0))
    else:
        after.append(helper.make_node("ReduceMean", [per_zoom], [logits], name="zoom_mean", axes=[0], keepdims=0))
    nodes = [*before, *graph.node, *after]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]  # shapes inside now carry the views' batch; let ONNX Runtime infer them
    calibrate.set_metadata(model, export.ZOOM_TTA_KEY, json.dumps([float(z) for z in zooms]))
    onnx.checker.check_model(model)
    return model


def validation_accuracies(model_paths: list[Path], zooms: tuple[float, ...], data_path: str, threads: int = 1) -> dict:
    """Validation accuracy of each model (ONNX Runtime, the graph as shipped: its own mirror
    averaging) as it is and averaged over `zooms`, and the same for the mean of their
    log-probabilities (an ensemble, as `train --teacher` uses them). The models must share their
    labels: the splits are read once, and the mean needs one label order."""
    from . import calibrate

    models = [calibrate.load_model(path) for path in model_paths]
    labels = calibrate.fer_labels_of(models[0], model_paths[0])
    for model, path in zip(models[1:], model_paths[1:]):
        if calibrate.fer_labels_of(model, path) != labels:
            raise SystemExit(f"{path}: its labels are not those of {model_paths[0]}; measure them separately")
    (faces, truth), _ = calibrate.load_splits(data_path, labels)
    inputs = calibrate.faces_to_inputs(faces)
    per_model, plain_sum, zoomed_sum = {}, 0.0, 0.0
    for model, path in zip(models, model_paths):
        graph = calibrate.strip_temperature(model)
        views = {z: calibrate.run_logits(graph, zoomed_inputs(inputs, z), threads=threads) for z in {1.0, *zooms}}
        plain = calibrate.log_softmax(views[1.0])
        zoomed = calibrate.log_softmax(np.mean([views[z] for z in zooms], axis=0, dtype=np.float64))
        per_model[str(path)] = {"as_shipped": float((plain.argmax(1) == truth).mean()),
                                "zoom_averaged": float((zoomed.argmax(1) == truth).mean())}
        plain_sum, zoomed_sum = plain_sum + plain, zoomed_sum + zoomed
    result = {"zooms": list(zooms), "faces": len(truth), "models": per_model}
    if len(model_paths) > 1:
        result["ensemble"] = {"as_shipped": float((plain_sum.argmax(1) == truth).mean()),
                              "zoom_averaged": float((zoomed_sum.argmax(1) == truth).mean())}
    return result


def main(argv=None) -> dict:
    from . import data

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", required=True, help="exported .onnx files (FER-2013 labels)")
    p.add_argument("--zooms", type=zoom_scale, nargs="+", required=True, metavar="SCALE", help="e.g. 0.92 1.0 1.1")
    p.add_argument("--data", default=data.DEFAULT_DATA, help="FER-2013 folder (train/, test/) or fer2013.csv")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    args = p.parse_args(argv)
    zooms = tuple(args.zooms)
    result = validation_accuracies([Path(m) for m in args.model], zooms, args.data, args.threads)
    print(json.dumps(result, indent=1))
    scales = ", ".join(f"{z:g}" for z in zooms)
    print(f"\n| model | validation, as shipped | averaged over zooms {scales} |\n|---|---|---|")
    for name, r in [*((Path(k).name, v) for k, v in result["models"].items()), *(
            [("mean of the models above", result["ensemble"])] if "ensemble" in result else [])]:
        print(f"| {name} | {r['as_shipped']:.2%} | {r['zoom_averaged']:.2%} |")
    return result


if __name__ == "__main__":
    main()
