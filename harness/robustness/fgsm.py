"""The Fast Gradient Sign Method (Goodfellow et al. 2015), white box, in pixel space.

``x_adv = clip(x + eps * sign(grad_x CE(f(normalize(x)), y)), 0, 1)`` with ``x`` in [0, 1] before the data
set's normalisation (so ε = 8/255 means 8 grey levels), one step, the true label."""
from __future__ import annotations

import torch
from torch import nn


class Normalized(nn.Module):
    """A classifier that takes [0, 1] pixels: the data set's normalisation, then the network."""

    def __init__(self, network: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.network((pixels - self.mean) / self.std)

    def to_pixels(self, normalized: torch.Tensor) -> torch.Tensor:
        """A data loader's normalised images back to [0, 1] pixels (the inverse of the normalisation)."""
        return (normalized.to(self.mean.device) * self.std + self.mean).clamp(0.0, 1.0)


def fgsm(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Adversarial pixels for ``model`` (which takes [0, 1] pixels): one signed-gradient step of size
    ``epsilon`` up the cross-entropy of the true labels, clipped to [0, 1]. The model's mode is left as is."""
    pixels = pixels.detach().clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(pixels), labels)
    (gradient,) = torch.autograd.grad(loss, pixels)
    return (pixels + epsilon * gradient.sign()).clamp(0.0, 1.0).detach()
