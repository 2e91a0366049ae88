"""Hostile ONNX files for the Rust reliability tests: valid graphs whose shapes or numbers a
careless loader would crash, hang or lie on (nothing here is a shipped model).

    python -m emotrain.hostile_fixtures --out ../tests/fixtures

- fixed_batch4.onnx: a 6-class classifier whose input batch is fixed at 4 ([4,1,48,48]), as
  many exports are; emocam must pad smaller batches.
- nan_output.onnx: a classifier whose every score is NaN; emocam must refuse it.
- huge_input_size.onnx: dynamic height and width with metadata input_size "1e9"; emocam must
  refuse it (allocating for it would abort).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import data

OPSET = 17


def _classifier(name: str, batch, height, width, *, nan: bool, metadata: dict) -> onnx.ModelProto:
    """Mean-pools the grey face to 4x4, then a fixed random linear layer to 6 scores."""
    labels = data.labels_for(6)
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(0, 1, (16, len(labels))).astype(np.float32), "weights")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    nodes = [
        helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[12, 12], strides=[12, 12])
        if height != "h" else helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
    ]
    initializers = [weights]
    if height == "h":
        # One pooled value per face: repeat it to the 16 the layer takes.
        repeats = numpy_helper.from_array(np.array([1, 16], np.int64), "repeats")
        nodes.append(helper.make_node("Tile", ["flat", "repeats"], ["flat16"]))
        initializers.append(repeats)
        linear_input = "flat16"
    else:
        linear_input = "flat"
    if nan:
        nodes.append(helper.make_node("MatMul", [linear_input, "weights"], ["scores"]))
        nodes.append(helper.make_node("Mul", ["scores", "zero"], ["zeros"]))
        nodes.append(helper.make_node("Div", ["zeros", "zero"], ["logits"]))
        initializers.append(zero)
    else:
        nodes.append(helper.make_node("MatMul", [linear_input, "weights"], ["logits"]))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 1, height, width])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, len(labels)])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    meta = {"labels": json.dumps(labels), "display_name": name, **metadata}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(_classifier("Fixed batch of 4", 4, 48, 48, nan=False, metadata={}), out / "fixed_batch4.onnx")
    onnx.save(_classifier("NaN scores", "n", 48, 48, nan=True, metadata={}), out / "nan_output.onnx")
    onnx.save(_classifier("Huge input size", "n", "h", "w", nan=False, metadata={"input_size": "1e9"}), out / "huge_input_size.onnx")


if __name__ == "__main__":
    main()
