"""SaliencyMix (Uddin et al., ICLR 2021; not in the CutMix paper): CutMix whose box is centred on the
partner image's most salient pixel, so the pasted patch carries the partner's object.

Saliency is the spectral residual of Hou & Zhang (CVPR 2007) computed in torch on the partner's grey
image at full resolution (the original code uses OpenCV's implementation of the same method on a 64x64
copy): log-amplitude spectrum minus its 3x3 local mean, back-transformed with the original phase,
squared and Gaussian-smoothed. Box size and lambda as CutMix. In batch mode, as the official code, the
box follows the saliency of the first image's partner.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.augment.cutmix import CutMix
from harness.augment.registry import register


def spectral_residual_saliency(images: torch.Tensor, blur_sigma: float = 2.5) -> torch.Tensor:
    """Saliency maps ``[B, H, W]`` of a batch ``[B, C, H, W]``."""
    grey = images.float().mean(dim=1)
    spectrum = torch.fft.fft2(grey)
    log_amplitude = torch.log(spectrum.abs().clamp_min(1e-8))
    residual = log_amplitude - F.avg_pool2d(log_amplitude.unsqueeze(1), 3, stride=1, padding=1, count_include_pad=False).squeeze(1)
    saliency = torch.fft.ifft2(torch.exp(torch.complex(residual, torch.zeros_like(residual))) * torch.exp(1j * spectrum.angle())).abs() ** 2
    radius = max(1, int(3 * blur_sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32) / blur_sigma) ** 2)
    taps = (taps / taps.sum()).view(1, 1, -1)
    smoothed = saliency.unsqueeze(1)
    smoothed = F.conv2d(F.pad(smoothed, (radius, radius, 0, 0), mode="reflect"), taps.unsqueeze(2))
    smoothed = F.conv2d(F.pad(smoothed, (0, 0, radius, radius), mode="reflect"), taps.unsqueeze(3))
    return smoothed.squeeze(1)


@register("saliencymix")
class SaliencyMix(CutMix):
    def draw_centres(self, n, height, width, images, perm):
        partners = images[perm[:n]] if n > 1 else images[perm[:1]]
        peak = spectral_residual_saliency(partners).flatten(1).argmax(dim=1).cpu()
        return peak // width, peak % width
