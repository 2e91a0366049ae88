"""Batch augmentation on tensors: one affine warp per image plus flip and random erasing, and
mixup / CutMix of pairs of images (`train --mix`).

Doing it on the whole batch with `affine_grid`/`grid_sample` costs a few ms per batch, where a
per-image PIL pipeline in DataLoader workers would compete with training for the two cores. The
random draws come from a CPU generator (the same numbers on any machine); the pixels stay on
whatever device the batch is on.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, gen: torch.Generator, zoom: float = 0.2, shear: float = 0.2,
                  rotate_deg: float = 10.0, translate: float = 0.1, flip_p: float = 0.5) -> torch.Tensor:
    """Zoom +-`zoom`, shear +-`shear` (radians, as in the original study's Keras generator),
    rotation +-`rotate_deg`, shift +-`translate` of the size, and horizontal flips."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    scale = uniform(1 - zoom, 1 + zoom)
    sh = uniform(-shear, shear)
    angle = uniform(-rotate_deg, rotate_deg) * math.pi / 180
    tx, ty = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2
    flip = torch.where(torch.rand(n, generator=gen) < flip_p, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Output->input sampling matrix: rotation @ shear @ (1/scale), with the flip on x.
    a = (cos / scale) * flip
    b = (-sin + cos * sh) / scale
    c = (sin / scale) * flip
    d = (cos + sin * sh) / scale
    theta = torch.stack([torch.stack([a, b, tx], 1), torch.stack([c, d, ty], 1)], 1).to(x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erasing(x: torch.Tensor, gen: torch.Generator, p: float = 0.25, max_frac: float = 0.25) -> torch.Tensor:
    """Blanks one random rectangle (up to `max_frac` of the side squared) in a fraction `p` of images."""
    n, _, h, w = x.shape
    keep = torch.rand(n, generator=gen) >= p
    eh = (torch.rand(n, generator=gen) * max_frac * h + 4).long()
    ew = (torch.rand(n, generator=gen) * max_frac * w + 4).long()
    y0 = (torch.rand(n, generator=gen) * (h - eh)).long()
    x0 = (torch.rand(n, generator=gen) * (w - ew)).long()
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    box = (ys >= y0.view(n, 1, 1)) & (ys < (y0 + eh).view(n, 1, 1)) & (xs >= x0.view(n, 1, 1)) & (xs < (x0 + ew).view(n, 1, 1))
    box &= ~keep.view(n, 1, 1)
    return x.masked_fill(box.unsqueeze(1).to(x.device), 0.0)


def mix_pairs(x: torch.Tensor, gen: torch.Generator, kind: str, alpha: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mixup (Zhang et al. 2018: a weighted mean of two faces) or CutMix (Yun et al. 2019: a
    rectangle of the other face pasted in) of each image with another of the same batch.

    Returns (mixed images, the partner of each image as indices into the batch, lam): the loss of
    a mixed image is lam * loss(its own target) + (1 - lam) * loss(its partner's). One lam per
    batch, drawn from Beta(alpha, alpha); for CutMix it is the share of pixels left unpasted."""
    n, _, h, w = x.shape
    partner = torch.randperm(n, generator=gen)
    # torch's Beta sampler takes no generator: draw it from numpy, seeded from `gen`, so a run
    # stays reproducible from its seed.
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    if kind == "mixup":
        return lam * x + (1 - lam) * x[partner], partner, lam
    if kind != "cutmix":
        raise ValueError(f"unknown mix {kind!r}: mixup or cutmix")
    cut_h, cut_w = round(h * math.sqrt(1 - lam)), round(w * math.sqrt(1 - lam))
    cy, cx = int(torch.randint(0, h, (1,), generator=gen)), int(torch.randint(0, w, (1,), generator=gen))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + (cut_h + 1) // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + (cut_w + 1) // 2, w)
    mixed = x.clone()
    mixed[:, :, y0:y1, x0:x1] = x[partner, :, y0:y1, x0:x1]
    # The box may be clipped at the border: lam is the share actually kept.
    return mixed, partner, 1 - (y1 - y0) * (x1 - x0) / (h * w)
