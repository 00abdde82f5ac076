"""Cost of this project's CutMix and Mixup against timm's and torchvision's, interleaved in one run.

    python bench/augment_cost.py [--batch 128] [--size 224] [--repeats 20] [--device cpu|cuda]

Every call gets the same float batch (restored outside the timed region, since in-place methods
overwrite it). Prints median times, each method's ratio to the faster peer, and CutMix's share of
one ResNet-50 training step (forward, backward, SGD) on the same batch.
"""
from __future__ import annotations

import argparse
import statistics
import time

import timm
import torch
from timm.data import Mixup
from torchvision.transforms import v2

from harness import augment


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


PEERS = {
    "CutMix": ("timm Mixup (cutmix mode)", "torchvision v2 CutMix"),
    "Mixup": ("timm Mixup (mixup mode)", "torchvision v2 MixUp"),
}


def peers(num_classes: int) -> dict[str, callable]:
    """Each method as ``fn(images, labels) -> (images, targets)``, all with alpha=1 and probability 1."""
    ours_cutmix = augment.build("cutmix", num_classes=num_classes, alpha=1.0, prob=1.0, seed=0)
    ours_mixup = augment.build("mixup", num_classes=num_classes, alpha=1.0, prob=1.0, seed=0)
    timm_cutmix = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, prob=1.0, label_smoothing=0.0, num_classes=num_classes)
    timm_mixup = Mixup(mixup_alpha=1.0, cutmix_alpha=0.0, prob=1.0, label_smoothing=0.0, num_classes=num_classes)
    tv_cutmix = v2.CutMix(num_classes=num_classes, alpha=1.0)
    tv_mixup = v2.MixUp(num_classes=num_classes, alpha=1.0)
    return {
        "mixbench CutMix": ours_cutmix, "timm Mixup (cutmix mode)": timm_cutmix, "torchvision v2 CutMix": tv_cutmix,
        "mixbench Mixup": ours_mixup, "timm Mixup (mixup mode)": timm_mixup, "torchvision v2 MixUp": tv_mixup,
    }


def time_methods(methods, source, labels, repeats, device) -> dict[str, float]:
    """Median seconds per call, the methods interleaved round by round."""
    batch = source.clone()
    times = {name: [] for name in methods}
    for round_index in range(repeats + 2):  # two warm-up rounds
        for name, fn in methods.items():
            batch.copy_(source)
            sync(device)
            start = time.perf_counter()
            fn(batch, labels)
            sync(device)
            if round_index >= 2:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def train_step_time(source, labels, num_classes, steps, device) -> float:
    model = timm.create_model("resnet50", num_classes=num_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    durations = []
    for step in range(steps + 1):
        sync(device)
        start = time.perf_counter()
        with autocast:
            loss = torch.nn.functional.cross_entropy(model(source), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sync(device)
        if step:
            durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--train-steps", type=int, default=2, help="ResNet-50 steps to time (0: skip)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(args.batch, 3, args.size, args.size, generator=generator).to(device)
    labels = torch.randint(0, args.classes, (args.batch,), generator=generator).to(device)
    print(f"device={device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} CPU threads'}), "
          f"batch {args.batch}x3x{args.size}x{args.size}, median of {args.repeats} interleaved calls")
    medians = time_methods(peers(args.classes), source, labels, args.repeats, device)
    for family in ("CutMix", "Mixup"):
        ours = medians[f"mixbench {family}"]
        others = {name: t for name, t in medians.items() if name in PEERS[family]}
        fastest = min(others.values())
        print(f"\n{family}:")
        for name, t in [(f"mixbench {family}", ours), *others.items()]:
            print(f"  {name:28s} {t * 1e3:9.2f} ms")
        print(f"  ratio mixbench / faster peer: {ours / fastest:.3f}")
    if args.train_steps:
        step = train_step_time(source, labels, args.classes, args.train_steps, device)
        share = medians["mixbench CutMix"] / step
        print(f"\nResNet-50 training step: {step * 1e3:.1f} ms; mixbench CutMix = {100 * share:.3f} % of it")


if __name__ == "__main__":
    main()
