"""A device-resident input pipeline for small images (CIFAR-sized): the whole split as one uint8 tensor on the
training device, the paper's CIFAR augmentation (zero-pad ``size/8`` and random crop, horizontal flip,
normalisation) drawn per image and applied to the batch at once. No PIL, no loader processes.

It draws what torchvision's ``RandomCrop(size, padding=size // 8)`` + ``RandomHorizontalFlip()`` draw (a crop
offset uniform over the ``(2 pad + 1)²`` positions, a flip with probability ½) from its own generator, kept in
the checkpoint so that a resumed run draws what the uninterrupted one drew; the order of the images comes from
the run's data-order generator, as the loader's sampler takes it. For fixed offsets and flips the pixels are
those of the PIL path (a test).
"""
from __future__ import annotations

import copy
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset


def uint8_images(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``([N, H, W, 3] uint8, [N] int64)`` of a data set held as arrays (the CIFAR loaders' ``data``, a Subset of
    one) or as an ImageFolder of small images (decoded here, once); None for anything else."""
    if isinstance(dataset, Subset):
        inner = uint8_images(dataset.dataset)
        if inner is None:
            return None
        index = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.int64)
        return inner[0][index], inner[1][index]
    labels = getattr(dataset, "targets", None)
    if labels is None:
        return None
    data = getattr(dataset, "data", None)
    if isinstance(data, np.ndarray) and data.ndim == 4 and data.dtype == np.uint8:
        return torch.from_numpy(data), torch.as_tensor(labels, dtype=torch.int64)
    samples, loader = getattr(dataset, "samples", None), getattr(dataset, "loader", None)
    if samples is not None and loader is not None:  # ImageFolder (the generated set)
        images = np.stack([np.asarray(loader(path).convert("RGB")) for path, _ in samples])
        return torch.from_numpy(images), torch.as_tensor(labels, dtype=torch.int64)
    return None


def crop_flip_normalize(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int,
                        mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``[B, 3, H, W]`` uint8 -> float: zero-pad by ``pad``, crop ``H x W`` at ``offsets`` ``[B, 2]`` (top, left),
    mirror where ``flips`` ``[B]``, then ``(x / 255 - mean) / std``; one gather for the whole batch."""
    batch, channels, height, width = images.shape
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad)) if pad else images
    rows = offsets[:, :1].to(device) + torch.arange(height, device=device)  # [B, H]
    cols = offsets[:, 1:].to(device) + torch.arange(width, device=device)  # [B, W]
    cols = torch.where(flips.to(device).unsqueeze(1), cols.flip(1), cols)
    crops = padded[torch.arange(batch, device=device).view(-1, 1, 1, 1), torch.arange(channels, device=device).view(1, -1, 1, 1),
                   rows.view(batch, 1, height, 1), cols.view(batch, 1, 1, width)]
    return normalize(crops, mean, std)


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``[B, 3, H, W]`` uint8 -> float ``(x / 255 - mean) / std``, as ``ToDtype(scale=True)`` + ``Normalize``."""
    mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean_t) / std_t


class DeviceBatches:
    """Batches of a split held on ``device``: shuffled by ``order`` and augmented (training), or in order and
    only normalised (``augment=False``, evaluation). Iterate once per epoch, like a DataLoader."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device,
                 mean: Sequence[float], std: Sequence[float], *, augment: bool, order: torch.Generator | None = None,
                 seed: int = 0) -> None:
        self.images = images.permute(0, 3, 1, 2).contiguous().to(device)  # uint8 [N, 3, H, W]
        self.labels = labels.to(device)
        self.batch_size, self.mean, self.std, self.augment = batch_size, tuple(mean), tuple(std), augment
        self.order = order
        self.pad = self.images.shape[-1] // 8
        self.generator = torch.Generator().manual_seed(seed)  # crops and flips (on the CPU: the same on any device)

    def unaugmented(self) -> "DeviceBatches":
        """The same images in order, only normalised: the training set as the model sees a test set."""
        clean = copy.copy(self)
        clean.augment = False
        return clean

    def __len__(self) -> int:
        count = len(self.labels)
        return count // self.batch_size if self.augment else -(-count // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        count = len(self.labels)
        if not self.augment:
            for start in range(0, count, self.batch_size):
                batch = slice(start, start + self.batch_size)
                yield normalize(self.images[batch], self.mean, self.std), self.labels[batch]
            return
        permutation = torch.randperm(count, generator=self.order)  # as the loader's RandomSampler draws it
        for step in range(len(self)):
            index = permutation[step * self.batch_size:(step + 1) * self.batch_size].to(self.images.device)
            offsets = torch.randint(0, 2 * self.pad + 1, (len(index), 2), generator=self.generator)
            flips = torch.rand(len(index), generator=self.generator) < 0.5
            yield crop_flip_normalize(self.images[index], offsets, flips, self.pad, self.mean, self.std), self.labels[index]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])
