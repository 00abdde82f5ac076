"""Random draws shared by the mixing methods, all from an explicit ``torch.Generator`` (reproducible).

Parameters (lambda, boxes, permutations) are a few numbers per sample, drawn on the CPU generator and
moved to the images' device in one copy: no host round trip per sample, and the same draws on any device.
"""
from __future__ import annotations

import torch


def sample_gamma(shape: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` draws of Gamma(shape, 1) in float64 (Marsaglia & Tsang, 2000), reproducible from ``generator``."""
    if shape <= 0:
        raise ValueError(f"gamma shape must be > 0, got {shape}")
    boost = shape < 1.0  # Gamma(a) = Gamma(a + 1) * U^(1/a) for a < 1
    a = shape + 1.0 if boost else shape
    d = a - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    out = torch.empty(n, dtype=torch.float64)
    pending = torch.arange(n)
    while pending.numel():
        m = pending.numel()
        x = torch.randn(m, generator=generator, dtype=torch.float64)
        u = torch.rand(m, generator=generator, dtype=torch.float64)
        v = (1.0 + c * x) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * x * x + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        out[pending[ok]] = d * v[ok]
        pending = pending[~ok]
    if boost:
        out *= torch.rand(n, generator=generator, dtype=torch.float64) ** (1.0 / shape)
    return out


def sample_beta(alpha: float, n: int, generator: torch.Generator, beta: float | None = None) -> torch.Tensor:
    """``n`` draws of Beta(alpha, beta) (beta defaults to alpha, the mixing methods' symmetric prior)."""
    x = sample_gamma(alpha, n, generator)
    y = sample_gamma(alpha if beta is None else beta, n, generator)
    return x / (x + y)


def sample_boxes(
    height: int, width: int, cut_h: torch.Tensor, cut_w: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Boxes ``[n, 4]`` as (y1, y2, x1, x2), of nominal size ``cut_h x cut_w`` with a uniform centre, clipped.

    As the official CutMix code: centre ``(cy, cx)`` uniform over the pixels, the box spans
    ``c - cut // 2`` to ``c + cut // 2`` and is clipped to the image.
    """
    n = cut_h.numel()
    cy = torch.randint(0, height, (n,), generator=generator)
    cx = torch.randint(0, width, (n,), generator=generator)
    return boxes_around(cy, cx, cut_h, cut_w, height, width)


def boxes_around(cy: torch.Tensor, cx: torch.Tensor, cut_h: torch.Tensor, cut_w: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Boxes (y1, y2, x1, x2) spanning ``c - cut // 2`` to ``c + cut // 2`` around each centre, clipped."""
    y1 = (cy - cut_h // 2).clamp(0, height)
    y2 = (cy + cut_h // 2).clamp(0, height)
    x1 = (cx - cut_w // 2).clamp(0, width)
    x2 = (cx + cut_w // 2).clamp(0, width)
    return torch.stack([y1, y2, x1, x2], dim=1)


def box_masks(boxes: torch.Tensor, height: int, width: int, device: torch.device) -> torch.Tensor:
    """Boolean masks ``[n, 1, H, W]``, True inside each (y1, y2, x1, x2) box, built on ``device``."""
    boxes = boxes.to(device, non_blocking=True)
    rows = torch.arange(height, device=device).view(1, height, 1)
    cols = torch.arange(width, device=device).view(1, 1, width)
    y1, y2, x1, x2 = (boxes[:, i].view(-1, 1, 1) for i in range(4))
    return ((rows >= y1) & (rows < y2) & (cols >= x1) & (cols < x2)).unsqueeze(1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Pixel area of (y1, y2, x1, x2) boxes."""
    return (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
