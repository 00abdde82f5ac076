"""Hide-and-Seek (Singh & Lee, ICCV 2017): each training image is cut into a grid and each cell is hidden (set
to 0, the data mean after normalisation) with probability ``hide_prob``; labels unchanged. The cell size is drawn
per image from ``grid_sizes`` (0: the image stays whole), given in pixels at ``reference_size`` and scaled to the
batch's size, as the original code draws it from {0, 16, 32, 44, 56} at 224 px; ``per="batch"`` draws one size
for the whole batch, as wsolevaluation does. The paper's Table 9 row: GoogLeNet-GAP + HaS (ImageNet)."""
from __future__ import annotations

import torch

from harness.augment.base import Augmentation
from harness.augment.registry import register


@register("hide_and_seek")
class HideAndSeek(Augmentation):
    def __init__(self, num_classes: int, *, grid_sizes=(0, 16, 32, 44, 56), hide_prob: float = 0.5,
                 reference_size: int = 224, per: str = "image", **common) -> None:
        super().__init__(num_classes, **common)
        if not grid_sizes or any(size < 0 for size in grid_sizes):
            raise ValueError(f"grid_sizes must be sizes >= 0 (0: nothing hidden), got {grid_sizes}")
        if not 0.0 <= hide_prob <= 1.0:
            raise ValueError(f"hide_prob must be in [0, 1], got {hide_prob}")
        if per not in ("image", "batch"):
            raise ValueError(f"per must be 'image' or 'batch', got {per!r}")
        self.grid_sizes, self.hide_prob, self.reference_size, self.per = tuple(grid_sizes), hide_prob, reference_size, per

    def cell_sizes(self, batch: int, width: int) -> list[int]:
        """Each image's cell side in pixels at the batch's width (0: none hidden)."""
        draws = torch.randint(len(self.grid_sizes), (1 if self.per == "batch" else batch,), generator=self.generator)
        sizes = [self.grid_sizes[i] for i in draws.expand(batch).tolist()]
        return [max(1, round(size * width / self.reference_size)) if size else 0 for size in sizes]

    def hidden(self, height: int, width: int, side: int) -> torch.Tensor:
        """A ``[height, width]`` mask: True on the pixels of the grid cells (of side ``side``) drawn hidden."""
        rows, cols = -(-height // side), -(-width // side)
        cells = torch.rand(rows, cols, generator=self.generator) < self.hide_prob
        return cells.repeat_interleave(side, 0).repeat_interleave(side, 1)[:height, :width]

    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, _, height, width = images.shape
        applied = self.draw_applied(batch)
        for index, side in enumerate(self.cell_sizes(batch, width)):
            if side and applied[index]:
                images[index].masked_fill_(self.hidden(height, width, side).to(images.device), 0.0)
        return images, targets
