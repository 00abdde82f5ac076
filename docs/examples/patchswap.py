# docs/examples/patchswap.py: the method of docs/adding_a_method.md (a test keeps the two the same)
import torch

from harness.augment import Augmentation, mix_targets, register


@register("patchswap")
class PatchSwap(Augmentation):
    """Swap the top-left quarter of each image with a random partner's."""

    def apply(self, images: torch.Tensor, targets: torch.Tensor):
        if not self.draw_applied(1).item():
            return images, targets
        height, width = images.shape[-2:]
        perm = self.draw_permutation(images.shape[0], images.device)
        h, w = height // 2, width // 2
        images[:, :, :h, :w] = images[perm, :, :h, :w]
        return images, mix_targets(targets, perm, 1.0 - (h * w) / (height * width))
