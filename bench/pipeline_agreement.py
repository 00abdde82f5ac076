"""Do the two input pipelines hand the network the same training batches, after the method has mixed them?

    python bench/pipeline_agreement.py --dataset cifar10 --data-root DATA --train-subset 2000 --model resnet20_cifar
                                       --method cutmix [--checkpoint RUN/best_model.pt] [--seed 0] [--epochs 3]

Builds a run's training batches both ways, as the trainer does at ``--seed`` (the same data, order generator,
model initialisation and method stream): ``device`` (:mod:`harness.data.device_pipeline`) and ``loader``
(torchvision's transforms in a DataLoader, 0 workers). For ``--epochs`` epochs of batches (no training) it applies
the method and prints, per pipeline: how many batches it mixed, the augmented pixels' mean and standard deviation
(before mixing), the share of mixed images whose partner has their own class, and the loss of one fixed network
(``--checkpoint``, a harness checkpoint; else the seed's initial weights) on the mixed and on the plain batches.
Equal figures, within their sampling noise, say the pipelines differ only in their random draws.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from timm.loss import SoftTargetCrossEntropy

from harness.data import build_datasets
from harness.train.config import RunConfig
from harness.train.distributed import Ranks
from harness.train.trainer import build_network, device_batches, loaders, read_model_state

PIPELINES = ("device", "loader")


def training_batches(cfg: RunConfig, pipeline: str):
    """(the training batches through ``pipeline``, the seed's initial network, the method), built in the trainer's
    order of draws: the global seed, the data, the order generator, then the network and the method."""
    torch.manual_seed(cfg.seed)
    data = build_datasets(cfg.dataset, cfg.data_root, train_subset=cfg.train_subset)
    order = torch.Generator().manual_seed(cfg.seed)
    if pipeline == "device":
        train, _ = device_batches(data, cfg, order, torch.device("cpu"))
    else:
        train, _ = loaders(data, cfg, order, None, Ranks(), False)
    model, _, method = build_network(cfg, data.num_classes, torch.device("cpu"), Ranks())
    return train, model, method


@torch.no_grad()
def measure(cfg: RunConfig, pipeline: str, epochs: int, checkpoint: Path | None) -> dict[str, float]:
    """The figures of one pipeline's batches over ``epochs`` epochs (see the module's docstring)."""
    train, model, method = training_batches(cfg, pipeline)
    if checkpoint is not None:
        model.load_state_dict(read_model_state(checkpoint))
    model.eval()
    loss_fn = SoftTargetCrossEntropy()
    pixels = torch.zeros(3, dtype=torch.float64)  # count, sum, sum of squares
    losses: dict[bool, list[float]] = {True: [], False: []}
    same_class = mixed_images = 0
    for _ in range(epochs):
        for images, labels in train:
            images = images.contiguous(memory_format=torch.channels_last)
            pixels += torch.tensor([images.numel(), images.sum().item(), images.double().square().sum().item()])
            before = images.clone()
            images, targets = method(images, labels)
            mixed = not torch.equal(before, images)
            losses[mixed].append(loss_fn(model(images), targets).item())
            if mixed:
                same_class += int(((targets > 0).sum(1) == 1).sum())
                mixed_images += len(labels)
    count, total, squares = pixels.tolist()
    mean = total / count
    return {"batches": len(losses[True]) + len(losses[False]), "mixed batches": len(losses[True]),
            "pixel mean": mean, "pixel std": (squares / count - mean ** 2) ** 0.5,
            "same-class partners": same_class / max(mixed_images, 1),
            "loss, mixed batches": sum(losses[True]) / max(len(losses[True]), 1),
            "loss, plain batches": sum(losses[False]) / max(len(losses[False]), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--model", default="resnet20_cifar")
    parser.add_argument("--method", default="cutmix")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--prob", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, help="a harness checkpoint (default: the seed's initial weights)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = RunConfig(dataset=args.dataset, model=args.model, method=args.method, data_root=str(args.data_root),
                    method_params={"alpha": args.alpha, "prob": args.prob}, train_subset=args.train_subset,
                    seed=args.seed, batch_size=args.batch_size, num_workers=0)
    print(f"{args.method} on {args.dataset} (train subset {args.train_subset}), seed {args.seed}, {args.epochs} epochs "
          f"of batches, network {args.checkpoint or 'at its initial weights'}")
    figures = {pipeline: measure(cfg, pipeline, args.epochs, args.checkpoint) for pipeline in PIPELINES}
    print(f"  {'':22s}" + "".join(f"{pipeline:>12s}" for pipeline in PIPELINES) + f"{'loader - device':>18s}")
    for name in figures["device"]:
        device, loader = figures["device"][name], figures["loader"][name]
        shape = "d" if isinstance(device, int) else ".4f"
        print(f"  {name:22s}{device:12{shape}}{loader:12{shape}}{loader - device:+18{shape}}")


if __name__ == "__main__":
    main()
