"""The paper's input pipelines (official CutMix code), per data-set family."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

from harness.models.cifar_net import CIFAR_MEAN, CIFAR_STD

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# PCA of ImageNet's RGB pixels (AlexNet's "lighting" noise), as the official code.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))


class Lighting(nn.Module):
    """AlexNet-style PCA lighting noise: add ``eigvec @ (alpha * eigval)`` to every pixel, alpha ~ N(0, std)."""

    def __init__(self, alphastd: float = 0.1, eigval=IMAGENET_EIGVAL, eigvec=IMAGENET_EIGVEC) -> None:
        super().__init__()
        self.alphastd = alphastd
        self.register_buffer("eigval", torch.tensor(eigval))
        self.register_buffer("eigvec", torch.tensor(eigvec))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if self.alphastd == 0:
            return img
        alpha = torch.randn(3) * self.alphastd
        rgb = (self.eigvec * alpha.view(1, 3) * self.eigval.view(1, 3)).sum(1)
        return img + rgb.view(3, 1, 1)


def _to_float() -> list[nn.Module]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]


def cifar_transforms(size: int = 32, mean=CIFAR_MEAN, std=CIFAR_STD) -> tuple[v2.Compose, v2.Compose]:
    """Train: random crop with padding size/8 (4 at 32 px), horizontal flip, normalize. Test: normalize."""
    train = v2.Compose([v2.RandomCrop(size, padding=size // 8), v2.RandomHorizontalFlip(), *_to_float(), v2.Normalize(mean, std)])
    test = v2.Compose([*_to_float(), v2.Normalize(mean, std)])
    return train, test


def imagenet_transforms(size: int = 224, resize: int = 256) -> tuple[v2.Compose, v2.Compose]:
    """Train: RandomResizedCrop, flip, ColorJitter(0.4, 0.4, 0.4), PCA lighting 0.1, normalize.
    Test: Resize 256 + CenterCrop 224."""
    train = v2.Compose([
        v2.RandomResizedCrop(size), v2.RandomHorizontalFlip(), *_to_float(),
        v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4), Lighting(0.1),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    test = v2.Compose([v2.Resize(resize), v2.CenterCrop(size), *_to_float(), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return train, test


POLICIES = {"autoaugment": lambda: v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)}


def to_uint8_images(normalized: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """Normalised images ``[B, 3, H, W]`` back to 8-bit ``[B, H, W, 3]`` (the examples runs save for the report)."""
    pixels = normalized * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    return (pixels.clamp(0, 1) * 255).byte().permute(0, 2, 3, 1).numpy()


def with_policy(train: v2.Compose, policy: str | None) -> v2.Compose:
    """Insert a data-augmentation policy (``autoaugment``: the ImageNet policy of Cubuk et al.) after the
    train transform's crop and flip, on the uint8 image, as timm does."""
    if policy is None:
        return train
    if policy not in POLICIES:
        from harness.errors import UnknownNameError

        raise UnknownNameError(f"unknown data policy {policy!r}; known: {', '.join(POLICIES)}")
    steps = list(train.transforms)
    return v2.Compose(steps[:2] + [POLICIES[policy]()] + steps[2:])
