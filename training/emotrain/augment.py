"""Batch augmentation on tensors: one affine warp per image plus flip and random erasing.

Doing it on the whole batch with `affine_grid`/`grid_sample` costs a few ms per batch, where a
per-image PIL pipeline in DataLoader workers would compete with training for the two cores.
"""
from __future__ import annotations

import math

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
    theta = torch.stack([torch.stack([a, b, tx], 1), torch.stack([c, d, ty], 1)], 1)
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
    return x.masked_fill(box.unsqueeze(1), 0.0)
