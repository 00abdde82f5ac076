"""A mixing run's training loss split into its plain and its mixed batches, epoch by epoch.

    python bench/mixed_loss_split.py RUN_DIR [RUN_DIR ...] [--image-size 32]

A method that mixes a whole batch with probability p (CutMix on CIFAR: p = 0.5) makes each epoch's training loss
depend on how many of its batches it mixed, a count that varies by several batches from epoch to epoch. That count
comes from the method's own seeded stream, so two runs of one seed (two input pipelines, say) share it, and their
augmented losses should be compared as the same mixture. For each run folder (``job.json`` and ``log.csv``) this
replays the method's draws, on a placeholder batch of the run's shape, to find the share of each epoch's batches it
mixed, then fits, per phase of the step schedule, loss = plain + (mixed - plain) x share by least squares. It
prints each phase's mean share, the fitted plain and mixed batch losses and the residual spread.
Only for methods whose draws do not depend on the pixels (CutMix, Cutout, Mixup), as the replay cannot see them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from harness import augment
from harness.train.distributed import rank_seed


def run_config(run_dir: Path) -> dict:
    """The training configuration a run folder's ``job.json`` planned."""
    config = json.loads((run_dir / "job.json").read_text())["config"]
    return config.get("train", config)


def mixed_shares(config: dict, epochs: int, steps: int, image_size: int, classes: int) -> np.ndarray:
    """Per epoch, the share of its ``steps`` batches that the run's method changed, replayed from its seed."""
    method = augment.build(config["method"], classes, seed=rank_seed(config["seed"], 0), **config["method_params"])
    batch = config["batch_size"]
    placeholder = torch.arange(float(batch)).view(batch, 1, 1, 1).expand(batch, 3, image_size, image_size)
    placeholder = placeholder.contiguous(memory_format=torch.channels_last)  # image i is all i: any paste shows
    labels = torch.arange(batch) % classes
    shares = []
    for _ in range(epochs):
        changed = sum(not torch.equal(method(placeholder.clone(), labels)[0], placeholder) for _ in range(steps))
        shares.append(changed / steps)
    return np.array(shares)


def phases(config: dict, epochs: int) -> list[tuple[int, int]]:
    """(first, last) epoch of each constant-learning-rate phase that the run has reached."""
    bounds = [0, *[m for m in config.get("milestones", []) if m < epochs], epochs]
    return [(lo + 1, hi) for lo, hi in zip(bounds, bounds[1:])]


def split(run_dir: Path, image_size: int, classes: int, train_size: int | None) -> list[dict]:
    """One line per phase: the mean share mixed, the fitted plain and mixed losses and the residual spread."""
    config = run_config(run_dir)
    loss = pd.read_csv(run_dir / "log.csv")["train_loss"].to_numpy()
    size = train_size or config.get("train_subset")
    if not size:
        raise SystemExit(f"{run_dir}: its training set size is not in job.json: give --train-size")
    shares = mixed_shares(config, len(loss), size // config["batch_size"], image_size, classes)
    lines = []
    for first, last in phases(config, len(loss)):
        share, phase_loss = shares[first - 1:last], loss[first - 1:last]
        design = np.c_[np.ones_like(share), share]
        if np.linalg.matrix_rank(design) < 2:
            lines.append({"epochs": f"{first}-{last}", "share mixed": share.mean()})
            continue
        (plain, slope), *_ = np.linalg.lstsq(design, phase_loss, rcond=None)
        residual = phase_loss - design @ (plain, slope)
        lines.append({"epochs": f"{first}-{last}", "share mixed": share.mean(), "plain": plain, "mixed": plain + slope,
                      "residual sd": residual.std()})
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (job.json, log.csv)")
    parser.add_argument("--image-size", type=int, default=32, help="the training crops' side (CIFAR: 32)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--train-size", type=int, help="training images per epoch, where job.json has no train_subset")
    args = parser.parse_args()
    for run_dir in args.runs:
        config = run_config(run_dir)
        print(f"{run_dir.name}: {config['method']} {config['method_params']}, seed {config['seed']}, "
              f"pipeline {config.get('input_pipeline')}")
        frame = pd.DataFrame(split(run_dir, args.image_size, args.classes, args.train_size))
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
