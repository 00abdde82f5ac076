"""CutMix (Yun et al., ICCV 2019), exactly as the paper and its official code.

lambda ~ Beta(alpha, alpha); a box of size (H*sqrt(1-lambda), W*sqrt(1-lambda)) with a uniform centre,
clipped to the image, is filled with the partner image's pixels (partner = a random permutation of the
batch); lambda is then recomputed as the exact fraction of pixels kept from the original image.
Applied with probability ``prob`` (the paper's ``cutmix_prob``: 0.5 on CIFAR, 1.0 on ImageNet).

The variants of Table 8 and SaliencyMix subclass it and override one step: where the box goes
(:meth:`draw_centres`), how large it is (:meth:`draw_sizes`) or how labels mix (:meth:`mix_labels`).
"""
from __future__ import annotations

import torch

from harness.augment.base import BetaMixing, mix_targets
from harness.augment.registry import register
from harness.augment.sampling import box_area, box_masks, boxes_around, sample_beta


def paste_from_partners(region: torch.Tensor, perm: torch.Tensor) -> None:
    """In place: ``region[i] = old region[perm[i]]`` for a view ``region`` of the batch (the box).

    On the CPU, walking the permutation's cycles reads and writes each box once with one box-sized
    temporary per cycle: 7x faster than a batched gather there. On accelerators one gather kernel wins.
    """
    if region.device.type != "cpu":
        region.copy_(region.index_select(0, perm))
        return
    partners = perm.tolist()
    done = [False] * len(partners)
    for start, partner in enumerate(partners):
        if done[start] or partner == start:
            continue
        first = region[start].clone()
        i = start
        while True:
            done[i] = True
            j = partners[i]
            if j == start:
                region[i].copy_(first)
                break
            region[i].copy_(region[j])
            i = j


@register("cutmix")
class CutMix(BetaMixing):
    def draw_sizes(self, n: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Nominal box sides: (H, W) * sqrt(1 - lambda), lambda ~ Beta(alpha, alpha)."""
        cut_ratio = torch.sqrt(1.0 - sample_beta(self.alpha, n, self.generator))
        return (height * cut_ratio).long(), (width * cut_ratio).long()

    def draw_centres(self, n: int, height: int, width: int, images: torch.Tensor, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box centres, uniform over the pixels."""
        return torch.randint(0, height, (n,), generator=self.generator), torch.randint(0, width, (n,), generator=self.generator)

    def sample_boxes(self, n: int, height: int, width: int, images: torch.Tensor | None = None,
                     perm: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` boxes (y1, y2, x1, x2), clipped to the image."""
        cut_h, cut_w = self.draw_sizes(n, height, width)
        cy, cx = self.draw_centres(n, height, width, images, perm)
        return boxes_around(cy, cx, cut_h, cut_w, height, width)

    def mix_labels(self, targets: torch.Tensor, perm: torch.Tensor, kept: torch.Tensor | float) -> torch.Tensor:
        """Targets weighted by the kept-pixel fraction (the paper); variants change this."""
        return mix_targets(targets, perm, kept)

    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, _, height, width = images.shape
        if self.mode == "batch":
            if not self.draw_applied(1).item():
                return images, targets
            perm = self.draw_permutation(batch, images.device)
            y1, y2, x1, x2 = self.sample_boxes(1, height, width, images, perm)[0].tolist()
            paste_from_partners(images[:, :, y1:y2, x1:x2], perm)  # only the box region is touched
            kept = 1.0 - (y2 - y1) * (x2 - x1) / (height * width)
            return images, self.mix_labels(targets, perm, kept)
        applied = self.draw_applied(batch)
        perm = self.draw_permutation(batch, images.device)
        boxes = self.sample_boxes(batch, height, width, images, perm) * applied.unsqueeze(1)  # not applied: empty box
        images = torch.where(box_masks(boxes, height, width, images.device), images[perm], images)
        kept = 1.0 - box_area(boxes).double() / (height * width)
        return images, self.mix_labels(targets, perm, kept)
