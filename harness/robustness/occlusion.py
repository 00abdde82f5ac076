"""Figure 5's inputs: centre and boundary occlusion (zeros inside or outside a centred square hole), and
in-between-class samples of two images (Mixup's blend, CutMix's centre patch). Images are [0, 1] pixels: zero is
black, as the paper's figure shows it, not zero after the normalisation."""
from __future__ import annotations

import torch


def centre_mask(height: int, width: int, hole: int) -> torch.Tensor:
    """``[H, W]`` bool, True inside the centred ``hole`` x ``hole`` square (clipped to the image)."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    top, left = (height - hole) // 2, (width - hole) // 2
    mask[max(top, 0):max(top, 0) + min(hole, height), max(left, 0):max(left, 0) + min(hole, width)] = True
    return mask


def occlude(pixels: torch.Tensor, hole: int, where: str) -> torch.Tensor:
    """``where="centre"``: zeros inside the hole (hole 0 = the image); ``"boundary"``: zeros outside it (a hole as
    large as the image = the image)."""
    if where not in ("centre", "boundary"):
        raise ValueError(f"where must be 'centre' or 'boundary', not {where!r}")
    inside = centre_mask(pixels.shape[-2], pixels.shape[-1], hole).to(pixels.device)
    return pixels * (~inside if where == "centre" else inside)


def mixup_between(first: torch.Tensor, second: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * first + (1 - lam) * second``."""
    return lam * first + (1.0 - lam) * second


def cutmix_between(first: torch.Tensor, second: torch.Tensor, hole: int) -> torch.Tensor:
    """``first`` with ``second``'s centred ``hole`` x ``hole`` patch."""
    inside = centre_mask(first.shape[-2], first.shape[-1], hole).to(first.device)
    return torch.where(inside, second, first)


def draw_pairs(labels: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """``[count, 2]`` indices of image pairs of different classes, drawn once from ``seed`` (every method sees the
    same pairs)."""
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(len(labels), (count,), generator=generator)
    second = torch.randint(len(labels), (count,), generator=generator)
    clash = labels[first] == labels[second]
    while bool(clash.any()):
        second[clash] = torch.randint(len(labels), (int(clash.sum()),), generator=generator)
        clash = labels[first] == labels[second]
    return torch.stack([first, second], dim=1)
