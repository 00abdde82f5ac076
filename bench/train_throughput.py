"""Training throughput: the harness's training step against a loop that behaves like the official CutMix train.py.

    python bench/train_throughput.py [--model resnet20_cifar_s2] [--image-size 32] [--batch-size 64]
                                     [--classes 100] [--steps 10] [--repeats 5] [--device auto|cpu|cuda]
                                     [--precision auto|fp32|bf16]

The reference is the official loop: the model in ``torch.nn.DataParallel``, fp32, NCHW, the batch copied to the
device each step, CutMix's box and permutation drawn with NumPy on the host, the two-target cross-entropy.
The harness runs :func:`harness.train.trainer.train_step`, the step its trainer runs (non-blocking copies from
pinned memory, channels_last, the run's precision: bf16 autocast on a GPU and on a CPU that computes bf16 natively,
CutMix on the device, soft-target cross-entropy).
Same model (same initial weights), batch, data, optimiser and CutMix settings (α = 1, probability 1). The two
loops alternate, ``--repeats`` times ``--steps`` timed steps each after a warm-up, and the medians of their
images/s are compared: the ratio printed is harness / reference.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import numpy as np
import torch
from timm.loss import SoftTargetCrossEntropy

from harness import augment
from harness.models import create_model
from harness.devices import PRECISIONS, resolve_precision
from harness.train.trainer import precision_context, resolve_device, train_step


def reference_bbox(size: torch.Size, lam: float) -> tuple[int, int, int, int]:
    """The official ``rand_bbox``: a box of area (1 - λ) of the image, centre uniform, clipped."""
    width, height = size[2], size[3]
    cut_ratio = np.sqrt(1.0 - lam)
    cut_w, cut_h = int(width * cut_ratio), int(height * cut_ratio)
    cx, cy = np.random.randint(width), np.random.randint(height)
    return (int(np.clip(cx - cut_w // 2, 0, width)), int(np.clip(cy - cut_h // 2, 0, height)),
            int(np.clip(cx + cut_w // 2, 0, width)), int(np.clip(cy + cut_h // 2, 0, height)))


def reference_step(model, images, labels, optimizer, criterion, device) -> None:
    """One step of the official train.py with CutMix (beta 1.0, cutmix_prob 1.0)."""
    images, labels = images.to(device), labels.to(device)
    lam = np.random.beta(1.0, 1.0)
    index = torch.randperm(images.size(0)).to(device)
    x1, y1, x2, y2 = reference_bbox(images.size(), lam)
    images[:, :, x1:x2, y1:y2] = images[index, :, x1:x2, y1:y2]
    lam = 1 - ((x2 - x1) * (y2 - y1) / (images.size(-1) * images.size(-2)))
    output = model(images)
    loss = criterion(output, labels) * lam + criterion(output, labels[index]) * (1.0 - lam)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20_cifar_s2")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="the harness loop's (as run_all.py)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    precision = resolve_precision(args.precision, device.type)
    torch.manual_seed(0)
    np.random.seed(0)
    base = create_model(args.model, args.classes)
    batches = [(torch.randn(args.batch_size, 3, args.image_size, args.image_size), torch.randint(args.classes, (args.batch_size,)))
               for _ in range(4)]
    pinned = [(x.pin_memory(), y.pin_memory()) for x, y in batches] if cuda else batches

    ours = copy.deepcopy(base).to(device).to(memory_format=torch.channels_last)
    cutmix = augment.build("cutmix", num_classes=args.classes, alpha=1.0, prob=1.0, seed=0)
    cutmix.attach(ours)
    ours_optimizer, soft_ce = sgd(ours), SoftTargetCrossEntropy()
    autocast = precision_context(precision, device)
    theirs = torch.nn.DataParallel(copy.deepcopy(base).to(device))
    theirs_optimizer, ce = sgd(theirs), torch.nn.CrossEntropyLoss()

    def harness_steps(n: int) -> None:
        for i in range(n):
            images, labels = pinned[i % len(pinned)]
            train_step(ours, images, labels, cutmix, ours_optimizer, soft_ce, autocast, device)

    def reference_steps(n: int) -> None:
        for i in range(n):
            images, labels = batches[i % len(batches)]
            reference_step(theirs, images.clone(), labels, theirs_optimizer, ce, device)

    loops = {"harness": harness_steps, "reference (official train.py)": reference_steps}
    rates: dict[str, list[float]] = {name: [] for name in loops}
    ours.train()
    theirs.train()
    for step in loops.values():  # warm-up (allocator, cuDNN autotuning, first-call overheads)
        step(3)
    for _ in range(args.repeats):
        for name, step in loops.items():
            if cuda:
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            step(args.steps)
            if cuda:
                torch.cuda.synchronize(device)
            rates[name].append(args.steps * args.batch_size / (time.perf_counter() - started))
    hardware = torch.cuda.get_device_name(device) if cuda else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"{args.model}, batch {args.batch_size} x 3 x {args.image_size} x {args.image_size}, {args.classes} classes, "
          f"CutMix α=1 p=1, on {device} ({hardware}), harness in {precision}; median of {args.repeats} interleaved repeats of {args.steps} steps")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, value in medians.items():
        print(f"  {name:32s} {value:9.1f} images/s   (repeats: {', '.join(f'{v:.0f}' for v in rates[name])})")
    print(f"  ratio harness / reference: {medians['harness'] / medians['reference (official train.py)']:.2f}")


if __name__ == "__main__":
    main()
