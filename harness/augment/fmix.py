"""FMix (Harris et al., 2020; not in the CutMix paper): masks from thresholded low-frequency noise.

Fourier noise with amplitude 1/f^decay_power (default 3) is transformed back to the image plane; the
``round(lambda * H * W)`` highest values form the binary mask of pixels kept from the original image,
lambda ~ Beta(alpha, alpha). The original's target weight is the mask's exact mean. One mask per batch.
"""
from __future__ import annotations

import torch

from harness.augment.base import BetaMixing, mix_targets
from harness.augment.registry import register
from harness.augment.sampling import sample_beta


def low_frequency_noise(height: int, width: int, decay_power: float, generator: torch.Generator) -> torch.Tensor:
    """A ``height x width`` real field whose spectrum decays as 1 / frequency^decay_power."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64).view(1, -1)
    freq = torch.sqrt(fy**2 + fx**2).clamp_min(1.0 / max(height, width))
    scale = 1.0 / freq**decay_power
    spectrum = torch.complex(torch.randn(scale.shape, generator=generator, dtype=torch.float64),
                             torch.randn(scale.shape, generator=generator, dtype=torch.float64)) * scale
    return torch.fft.irfft2(spectrum, s=(height, width))


def binary_mask(noise: torch.Tensor, lam: float) -> torch.Tensor:
    """True at the ``round(lam * N)`` largest values of ``noise``."""
    flat = noise.flatten()
    keep = int(round(lam * flat.numel()))
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    mask[flat.argsort(descending=True)[:keep]] = True
    return mask.view(noise.shape)


@register("fmix")
class FMix(BetaMixing):
    def __init__(self, num_classes: int, *, decay_power: float = 3.0, **kwargs) -> None:
        super().__init__(num_classes, **kwargs)
        if self.mode != "batch":
            raise ValueError("FMix draws one mask per batch: mode must be 'batch'")
        self.decay_power = decay_power

    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, _, height, width = images.shape
        if not self.draw_applied(1).item():
            return images, targets
        lam = sample_beta(self.alpha, 1, self.generator).item()
        mask = binary_mask(low_frequency_noise(height, width, self.decay_power, self.generator), lam)
        perm = self.draw_permutation(batch, images.device)
        mixed = torch.where(mask.to(images.device), images, images[perm])
        return mixed, mix_targets(targets, perm, mask.double().mean().item())
