"""Out-of-distribution image sets: ODIN's folders (Liang et al. 2018: TinyImageNet and LSUN, cropped or resized
to 32x32, and iSUN), ODIN's two noise sets, and the smoke scale's generated stand-ins (what the smoke
classifier never saw: clutter without an object, and textures without a shape)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, TensorDataset

from harness.errors import DataNotFoundError, UnknownNameError
from harness.io import atomic_directory
from harness.robustness.sets import GENERATED, NOISE, ODIN_FOLDERS, ood_folder_candidates

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
SIDE = 32
GENERATED_VERSION = 1


class ImageFolderFlat(Dataset):
    """Every image under a folder (any depth, sorted), transformed; the label is a constant -1."""

    def __init__(self, folder: Path, transform: Callable) -> None:
        self.paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise DataNotFoundError(f"no images in {folder}")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB")), -1


def noise_images(kind: str, count: int, seed: int) -> torch.Tensor:
    """ODIN's noise sets in [0, 1] pixels, ``[count, 3, 32, 32]``: uniform U(0, 1) per pixel, or Gaussian
    N(0.5, 1) per pixel clipped to [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "uniform_noise":
        return torch.rand(count, 3, SIDE, SIDE, generator=generator)
    if kind == "gaussian_noise":
        return (torch.randn(count, 3, SIDE, SIDE, generator=generator) + 0.5).clamp(0.0, 1.0)
    raise UnknownNameError(f"unknown noise set {kind!r}; known: {', '.join(NOISE)}")


def _generated_image(rng: np.random.Generator, name: str) -> Image.Image:
    from harness.data.synthetic import CLASS_TEXTURES, COLOURS, background, texture_pattern, to_image

    source = SIDE if name == "clutter_small" else 2 * SIDE
    if name.startswith("clutter"):
        canvas = background(rng, source)
    else:  # a whole frame of one class's texture in one colour: the smoke classes' cue, without their shape
        colour = np.asarray(list(COLOURS.values())[rng.integers(len(COLOURS))], np.float32)
        texture = texture_pattern(rng, CLASS_TEXTURES[rng.integers(len(CLASS_TEXTURES))], source, source / 2, source / 2)
        canvas = colour[None, None, :] * texture[..., None]
    image = to_image(canvas)
    if name.endswith("_crop"):
        offset = (source - SIDE) // 2
        return image.crop((offset, offset, offset + SIDE, offset + SIDE))
    return image.resize((SIDE, SIDE), Image.BILINEAR)


def generate_ood_sets(root: Path, count: int, seed: int = 0) -> Path:
    """The smoke stand-ins, written once in ODIN's layout (``<name>/images/*.png``, 32x32) under ``root``."""
    target = Path(root) / f"ood-synthetic-v{GENERATED_VERSION}-n{count}-seed{seed}"
    if all((target / name).is_dir() for name in GENERATED):
        return target
    with atomic_directory(target) as staging:
        for index, name in enumerate(GENERATED):
            rng = np.random.default_rng([seed, index])
            (staging / name / "images").mkdir(parents=True)
            for i in range(count):
                _generated_image(rng, name).save(staging / name / "images" / f"{i:05d}.png")
    return target


def locate_ood(root: Path, folder: str) -> Path:
    """ODIN's folder ``folder`` under ``root/ood`` (or ``root``); a one-line error naming the archive otherwise."""
    for candidate in ood_folder_candidates(root, folder):
        if candidate.is_dir():
            return candidate
    raise DataNotFoundError(f"out-of-distribution set {folder!r} not found: unpack ODIN's {folder}.tar.gz "
                            f"(github.com/facebookresearch/odin) into {Path(root) / 'ood'}")


def ood_dataset(source: str, root: Path, count: int, normalize: Callable[[torch.Tensor], torch.Tensor],
                seed: int) -> Dataset:
    """The images of one out-of-distribution set, normalised as the in-distribution test set: an ODIN folder, a
    noise set (``count`` images), or a generated stand-in (``count`` images)."""
    from torchvision.transforms import v2

    to_input = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), normalize])
    if source in NOISE:
        images = noise_images(source, count, seed)
        return TensorDataset(normalize(images), torch.full((count,), -1))
    if source in GENERATED:
        return ImageFolderFlat(generate_ood_sets(root, count) / source, to_input)
    if source in ODIN_FOLDERS:
        return ImageFolderFlat(locate_ood(root, source), to_input)
    raise UnknownNameError(f"unknown out-of-distribution set {source!r}; known: "
                           f"{', '.join(ODIN_FOLDERS + NOISE + GENERATED)}")
