"""Input pipeline: training images/s through the device-resident pipeline against today's DataLoader path, and
against the model's compute alone (a batch already on the device), same model, batch and steps.

    python bench/input_pipeline.py [--models resnet20_cifar_s2 pyramidnet110_a64] [--batch-size 64]
                                   [--steps 20] [--repeats 3] [--workers 0] [--device auto|cpu|cuda] [--json FILE]

Each measurement runs ``--steps`` training steps (the harness's ``train_step``: forward, backward, SGD) on CIFAR-
shaped images (32x32, 100 classes) fed by one of: ``loader`` (torchvision's RandomCrop(32, padding 4) + flip +
normalise per image in a DataLoader with ``--workers`` processes, then the copy to the device), ``device``
(:mod:`harness.data.device_pipeline`: the uint8 split on the device, crops and flips drawn per image and applied
to the batch), ``compute`` (one fixed batch on the device: the model alone, the ceiling). The three alternate,
``--repeats`` times after a warm-up; the medians are compared: ``device / loader`` (the speed-up) and
``device / compute`` (1.0: the input pipeline costs nothing).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from timm.loss import SoftTargetCrossEntropy
from torch.utils.data import DataLoader

from harness import augment
from harness.data.cifar import ArrayImageDataset
from harness.data.device_pipeline import DeviceBatches
from harness.data.transforms import cifar_transforms
from harness.models import create_model
from harness.models.cifar_net import CIFAR_MEAN, CIFAR_STD
from harness.train.trainer import resolve_device, train_step

CLASSES = 100


def feeds(images: np.ndarray, labels: np.ndarray, batch: int, workers: int, device: torch.device) -> dict:
    """The three ways of feeding the steps, each an endless iterator of (images, labels)."""
    dataset = ArrayImageDataset(images, labels, [str(i) for i in range(CLASSES)], cifar_transforms()[0])
    loader = DataLoader(dataset, batch, shuffle=True, drop_last=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(0))
    on_device = DeviceBatches(torch.from_numpy(images), torch.from_numpy(labels), batch, device, CIFAR_MEAN, CIFAR_STD,
                              augment=True, order=torch.Generator().manual_seed(0))
    fixed = next(iter(on_device))

    def endless(source):
        while True:
            yield from source

    return {"loader": endless(loader), "device": endless(on_device), "compute": endless([fixed])}


def measure(model, feed, steps: int, device: torch.device) -> float:
    """Images/s of ``steps`` training steps fed by ``feed``."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    aug = augment.build("none", CLASSES, seed=0)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext
    count = 0
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        images, labels = next(feed)
        train_step(model, images, labels, aug, optimizer, SoftTargetCrossEntropy(), autocast, device)
        count += len(labels)
    synchronize()
    return count / (time.perf_counter() - started)


def bench_model(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.batch_size * (args.steps + 2), 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, len(images)).astype(np.int64)
    model = create_model(name, CLASSES).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    model.train()
    sources = feeds(images, labels, args.batch_size, args.workers, device)
    for feed in sources.values():  # warm-up: kernels, allocator, loader processes
        measure(model, feed, 2, device)
    rates = {kind: [] for kind in sources}
    for _ in range(args.repeats):
        for kind, feed in sources.items():
            rates[kind].append(measure(model, feed, args.steps, device))
    medians = {kind: statistics.median(values) for kind, values in rates.items()}
    return {"model": name, "images_per_s": rates, "median": medians,
            "device_over_loader": medians["device"] / medians["loader"],
            "device_over_compute": medians["device"] / medians["compute"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet20_cifar_s2", "pyramidnet110_a64"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader processes of the loader path")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    device = resolve_device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'CPU'}, {torch.get_num_threads()} threads"
    print(f"input pipeline on {device} ({where}), batch {args.batch_size}, {args.steps} steps x {args.repeats} repeats, "
          f"loader workers {args.workers}")
    results = []
    for name in args.models:
        result = bench_model(name, args, device)
        results.append(result)
        m = result["median"]
        print(f"  {name:20s} loader {m['loader']:8.0f}  device {m['device']:8.0f}  compute {m['compute']:8.0f} img/s   "
              f"device/loader {result['device_over_loader']:.2f}x   device/compute {result['device_over_compute']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"device": str(device), "where": where, "args": vars(args) | {"json": str(args.json)},
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
