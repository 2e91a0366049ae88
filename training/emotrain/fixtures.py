"""Small ONNX files for the Rust tests (random weights; nothing here is a shipped model).

    python -m emotrain.fixtures --out ../tests/fixtures

- tiny.onnx: emonet-tiny as `emotrain.export` writes it (NCHW, logits, metadata embedded),
  with tiny.parity.json (faces + PyTorch probabilities).
- tiny_nhwc.onnx: the same weights the way a Keras/TensorFlow export looks: NHWC input, softmax
  output, no metadata at all; its labels and normalisation come from the sidecar tiny_nhwc.json.
- not_image.onnx: a classifier over a flat vector of 10 values, which the app must refuse.

Hostile models (fixed batch, NaN scores, a huge input size) come from `emotrain.hostile_fixtures`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from . import data, export, models, preprocess


class NhwcSoftmax(torch.nn.Module):
    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x.permute(0, 3, 1, 2)), dim=1)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = data.labels_for(6)

    torch.manual_seed(0)
    net = models.build("emonet-tiny", len(labels)).eval()
    # Random BN statistics make the untrained outputs less uniform, so a layout mix-up shows.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        # A larger head spreads the probabilities, so different faces get visibly different ones.
        net.head[-1].weight.mul_(40.0)
    meta = export.metadata_for("emonet-tiny", labels, "Tiny test model", False, None, net)
    export.export(net, out / "tiny.onnx", meta, flip_tta=False)

    nhwc = NhwcSoftmax(net).eval()
    torch.onnx.export(nhwc, torch.zeros(1, 48, 48, 1), str(out / "tiny_nhwc.onnx"), input_names=["input_1"],
                      output_names=["dense"], dynamic_axes={"input_1": {0: "n"}, "dense": {0: "n"}},
                      opset_version=export.OPSET, dynamo=False)
    sidecar = {"labels": labels, "pixel_scale": preprocess.PIXEL_SCALE, "mean": preprocess.MEAN,
               "std": preprocess.STD, "display_name": "Tiny test model (NHWC)"}
    (out / "tiny_nhwc.json").write_text(json.dumps(sidecar, indent=1) + "\n")

    flat = torch.nn.Sequential(torch.nn.Linear(10, 6)).eval()
    torch.onnx.export(flat, torch.zeros(1, 10), str(out / "not_image.onnx"), input_names=["x"], output_names=["y"],
                      opset_version=export.OPSET, dynamo=False)
    print(f"wrote fixtures to {out}")


if __name__ == "__main__":
    main()
