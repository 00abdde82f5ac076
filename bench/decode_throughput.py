"""ImageNet input pipeline throughput per CPU core: JPEG decode, and decode + the paper's training transforms.

    python bench/decode_throughput.py [--images DIR] [--count 300] [--gpu-rate 3000 --gpus 8]

One process, one thread (the rate of one data-loading worker). ``--images``: a folder of JPEGs (any depth), such
as ImageNet's ``train/`` or ``val/``; without it, ``--count`` JPEGs of ImageNet's typical size (500x375, quality
90) are generated in a temporary folder. The pipeline is the harness's own (``harness.data.transforms``:
RandomResizedCrop 224, flip, ColorJitter 0.4, PCA lighting 0.1, normalise). Prints images/s per core and the
cores that keep ``--gpus`` GPUs fed at ``--gpu-rate`` training images/s each (a figure you measure on your GPU,
e.g. with bench/train_throughput.py).
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.data.transforms import imagenet_transforms


def generated_jpegs(folder: Path, count: int) -> list[Path]:
    """Smooth random colour fields with noise (JPEG-compressible like photographs), 500x375."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        base = rng.uniform(0, 255, (15, 20, 3))
        image = Image.fromarray(base.astype(np.uint8)).resize((500, 375), Image.BICUBIC)
        noisy = np.clip(np.asarray(image, np.float32) + rng.normal(0, 8, (375, 500, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{i:05d}.JPEG"
        Image.fromarray(noisy).save(path, quality=90)
        paths.append(path)
    return paths


def rate(paths: list[Path], work, repeats: int) -> float:
    """Median images/s of ``work(path)`` over the paths, ``repeats`` times."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for path in paths:
            work(path)
        rates.append(len(paths) / (time.perf_counter() - started))
    return statistics.median(rates)


def decode(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="a folder of JPEGs (default: generated ones)")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu-rate", type=float, default=3000.0, help="training images/s of one GPU")
    parser.add_argument("--gpus", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, _ = imagenet_transforms(224)
    with tempfile.TemporaryDirectory() as scratch:
        if args.images:
            paths = sorted(p for p in args.images.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg"))[:args.count]
            source = f"{len(paths)} JPEGs from {args.images}"
        else:
            paths = generated_jpegs(Path(scratch), args.count)
            source = f"{len(paths)} generated 500x375 JPEGs (quality 90)"
        if not paths:
            raise SystemExit(f"no JPEGs under {args.images}")
        decoded = rate(paths, decode, args.repeats)
        full = rate(paths, lambda p: train(decode(p)), args.repeats)
    needed = args.gpu_rate * args.gpus / full
    print(f"{source}; one process, one thread; median of {args.repeats} passes")
    print(f"  decode only                      {decoded:8.1f} images/s per core")
    print(f"  decode + training transforms     {full:8.1f} images/s per core")
    print(f"  cores to feed {args.gpus} GPUs at {args.gpu_rate:.0f} images/s each: {math.ceil(needed)}")


if __name__ == "__main__":
    main()
