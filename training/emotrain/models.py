"""Backbones that see 48x48 grey faces natively.

Two kinds:
- compact CNNs designed for 48x48 (`emonet-*`): VGG-style 3x3 stacks, batch norm, global average
  pooling. Sized so that training fits a 2-core CPU and inference stays around a millisecond.
- the backbones of the original FER-2013 study (VGG-16, ResNets, DenseNets, EfficientNet-B5,
  SqueezeNet 1.1) from torchvision, adapted instead of upscaling the face to 224/256 px: a
  1-channel stem with less striding and a head that fits the small final feature map.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torchvision.models as tvm


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class EmoNet(nn.Module):
    """VGG-style net for 48x48: one conv at full resolution, then two convs per stage at 24, 12, 6 px.

    The first stage is a single narrow conv because it runs on 2304 positions: most of the cost
    of a plain VGG at 48x48 sits there for little gain.
    """

    def __init__(self, num_classes: int, width: int = 32, in_channels: int = 1, dropout: float = 0.3):
        super().__init__()
        w1, w2, w3, w4 = width, width * 2, width * 4, width * 8
        layers: list[nn.Module] = _conv_bn(in_channels, w1) + [nn.MaxPool2d(2)]
        layers += _conv_bn(w1, w2) + _conv_bn(w2, w2) + [nn.MaxPool2d(2)]
        layers += _conv_bn(w2, w3) + _conv_bn(w3, w3) + [nn.MaxPool2d(2)]
        layers += _conv_bn(w3, w4) + _conv_bn(w4, w4)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(w4, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _grey_conv(conv: nn.Conv2d, stride: int | None = None, kernel: int | None = None) -> nn.Conv2d:
    """A copy of `conv` taking 1 channel, optionally with another stride or kernel size."""
    k = kernel or conv.kernel_size[0]
    s = stride if stride is not None else conv.stride[0]
    return nn.Conv2d(1, conv.out_channels, k, stride=s, padding=k // 2, bias=conv.bias is not None)


def _vgg16(n: int) -> nn.Module:
    m = tvm.vgg16_bn(weights=None)
    m.features[0] = _grey_conv(m.features[0])
    m.features = m.features[:-1]  # keep 3x3 at the end instead of pooling 48 px down to 1
    m.avgpool = nn.AdaptiveAvgPool2d(1)
    m.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(512, n))
    return m


def _resnet(factory: Callable[..., nn.Module]) -> Callable[[int], nn.Module]:
    def build(n: int) -> nn.Module:
        m = factory(weights=None, num_classes=n)
        # 3x3 stride-1 stem + the max-pool: 48 -> 24 -> 12 -> 6 -> 3 through the four stages.
        m.conv1 = _grey_conv(m.conv1, stride=1, kernel=3)
        return m

    return build


def _densenet(factory: Callable[..., nn.Module]) -> Callable[[int], nn.Module]:
    def build(n: int) -> nn.Module:
        m = factory(weights=None, num_classes=n)
        m.features.conv0 = _grey_conv(m.features.conv0, stride=1, kernel=3)
        return m

    return build


def _efficientnet_b5(n: int) -> nn.Module:
    m = tvm.efficientnet_b5(weights=None, num_classes=n)
    m.features[0][0] = _grey_conv(m.features[0][0], stride=1)
    return m


def _squeezenet(n: int) -> nn.Module:
    m = tvm.squeezenet1_1(weights=None, num_classes=n)
    m.features[0] = _grey_conv(m.features[0], stride=1)
    return m


BACKBONES: dict[str, Callable[[int], nn.Module]] = {
    "emonet-tiny": lambda n: EmoNet(n, width=16),
    "emonet": lambda n: EmoNet(n, width=32),
    "emonet-wide": lambda n: EmoNet(n, width=48),
    "vgg16": _vgg16,
    "resnet18": _resnet(tvm.resnet18),
    "resnet50": _resnet(tvm.resnet50),
    "resnet101": _resnet(tvm.resnet101),
    "wide_resnet101_2": _resnet(tvm.wide_resnet101_2),
    "densenet121": _densenet(tvm.densenet121),
    "densenet201": _densenet(tvm.densenet201),
    "efficientnet_b5": _efficientnet_b5,
    "squeezenet1_1": _squeezenet,
}

DESCRIPTIONS: dict[str, str] = {
    "emonet-tiny": "VGG-style CNN for 48x48: one 3x3 conv at 48 px, then two at each of 24, 12 and 6 px "
                   "(widths 16-32-64-128), batch norm, global average pooling, dropout 0.3, linear head",
    "emonet": "VGG-style CNN for 48x48: one 3x3 conv at 48 px, then two at each of 24, 12 and 6 px "
              "(widths 32-64-128-256), batch norm, global average pooling, dropout 0.3, linear head",
    "emonet-wide": "VGG-style CNN for 48x48 (widths 48-96-192-384), as emonet",
    "squeezenet1_1": "torchvision SqueezeNet 1.1 (fire modules, no batch norm), from scratch, its first conv "
                     "made 1-channel and stride 1 for 48x48 faces, conv classifier with global average pooling",
    "resnet18": "torchvision ResNet-18 (basic blocks, batch norm), from scratch, a 1-channel 3x3 stride-1 stem "
                "and the max-pool: stages at 24, 12, 6 and 3 px, global average pooling, linear head",
    "vgg16": "torchvision VGG-16-BN (13 3x3 convs with batch norm), from scratch, its first conv made 1-channel: "
             "conv blocks at 48, 24, 12, 6 and 3 px (the last max-pool removed), global average pooling, "
             "dropout 0.3, linear head",
    "densenet121": "torchvision DenseNet-121 (growth rate 32, dense blocks of 6, 12, 24 and 16 layers, batch norm), "
                   "from scratch, a 1-channel 3x3 stride-1 stem and the max-pool: dense blocks at 24, 12, 6 and 3 px, "
                   "global average pooling, linear head",
}

# The backbones of the original FER-2013 study, for the test that builds every one of them.
STUDY_BACKBONES = ["vgg16", "resnet18", "resnet50", "resnet101", "wide_resnet101_2", "densenet121",
                   "densenet201", "efficientnet_b5", "squeezenet1_1"]


class Ensemble(nn.Module):
    """Several trained networks as one: the mean of their log-probabilities.

    Averaging log-softmax rather than raw logits keeps a member with larger logits from
    outvoting the others; the app's softmax of the output is the members' normalised geometric
    mean."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.log_softmax(m(x), dim=1) for m in self.members]).mean(0)


def ensemble_arch(archs: list[str]) -> str:
    """The architecture name recorded for an ensemble, e.g. `ensemble(emonet-wide+emonet)`."""
    return f"ensemble({'+'.join(archs)})"


def load_checkpoints(paths: list[str]) -> tuple[str, list[str], nn.Module, list[dict]]:
    """One trained network from one `best.pt`, or an [`Ensemble`] of several.

    Returns the architecture name, the labels, the network (CPU, eval mode) and the checkpoints.
    """
    if not paths:
        raise ValueError("no checkpoint given")
    checkpoints, nets = [], []
    for path in paths:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        net = build(ckpt["meta"]["arch"], len(ckpt["meta"]["labels"]))
        net.load_state_dict(ckpt["model"])
        checkpoints.append(ckpt)
        nets.append(net.eval())
    labels = checkpoints[0]["meta"]["labels"]
    for path, ckpt in zip(paths, checkpoints):
        if ckpt["meta"]["labels"] != labels:
            raise ValueError(f"{path} has labels {ckpt['meta']['labels']}, {paths[0]} has {labels}: an ensemble needs the same")
    if len(nets) == 1:
        return checkpoints[0]["meta"]["arch"], labels, nets[0], checkpoints
    archs = [c["meta"]["arch"] for c in checkpoints]
    return ensemble_arch(archs), labels, Ensemble(nets).eval(), checkpoints


def build(arch: str, num_classes: int) -> nn.Module:
    if arch not in BACKBONES:
        raise ValueError(f"unknown --arch {arch!r}; choose from {', '.join(BACKBONES)}")
    return BACKBONES[arch](num_classes)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, size: int = 48) -> int:
    """Multiply-accumulates of one 1x1xsize x size forward pass (convolutions and linear layers)."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inp, out):
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1] * (module.in_channels // module.groups)
        total += out.numel() * k

    def linear_hook(module: nn.Linear, _inp, out):
        nonlocal total
        total += out.numel() * module.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, size, size))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total
