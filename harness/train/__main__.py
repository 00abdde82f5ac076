"""``python -m harness.train``: train one configuration into a run folder (resumes if it exists)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import NoReturn

from harness import augment
from harness.cli import INPUT_PIPELINE_CHOICES, INPUT_PIPELINE_HELP, PRECISION_HELP, HelpFormatter, parse_params, run_cli
from harness.code_identity import run_code
from harness.devices import AUTO_WORKERS, PRECISIONS, parse_workers, resolve_precision
from harness.models.catalog import import_model_files
from harness.train.config import RunConfig, default_pipeline
from harness.train.trainer import Trainer

EXAMPLES = """\
examples:
  python -m harness.train --epochs 2                                      # generated data, seconds on a CPU
  python -m harness.train --dataset cifar10 --model resnet20_cifar_s2 --method cutmix --param prob=0.5 --download
  torchrun --nproc-per-node 2 -m harness.train --dataset cifar100 --world-size 2 --sync-bn --device cuda
"""


def build_parser() -> argparse.ArgumentParser:
    """``python -m harness.train``'s command line (the flags it shares with run_all.py mean the same there)."""
    defaults = RunConfig()
    parser = argparse.ArgumentParser(prog="python -m harness.train", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--dataset", default=defaults.dataset, help="synthetic | cifar10 | cifar100 | imagenet")
    parser.add_argument("--data-root", help="folder of the data set (default: $MIXBENCH_DATA or ~/.cache/mixbench)")
    parser.add_argument("--download", action="store_true", help="let torchvision download CIFAR (needs internet)")
    parser.add_argument("--model", default=defaults.model, help="any timm model name, e.g. pyramidnet200_a240")
    parser.add_argument("--method", default=defaults.method, help="registered augmentation name (run_all.py --list "
                        "methods)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="augmentation parameter "
                        "(repeatable), e.g. --param alpha=1.0 --param prob=0.5")
    parser.add_argument("--plugin", action="append", default=[], help="a .py file or module registering methods "
                        "(repeatable)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="epochs to train")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="the global batch (over every "
                        "process)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="SGD learning rate, for the global batch")
    parser.add_argument("--milestones", type=int, nargs="*", help="epochs after which lr is multiplied by 0.1 (default: 50%% and 75%%)")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="SGD weight decay")
    parser.add_argument("--train-subset", type=int, help="train on a fixed class-balanced subset of this many images "
                        "(as the mini scale)")
    parser.add_argument("--image-size", type=int, help="the side images are trained at (default: the data set's)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the seed of the run (initialisation, data "
                        "order, augmentation)")
    parser.add_argument("--device", default=defaults.device, help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--world-size", type=int, default=int(os.environ.get("WORLD_SIZE", 1)),
                        help="data-parallel processes (default: torchrun's WORLD_SIZE, else 1); --lr is for the global "
                        "batch")
    parser.add_argument("--sync-bn", action="store_true", help="batch norm over the global batch (GPUs)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training forward")
    parser.add_argument("--workers", type=parse_workers, default=AUTO_WORKERS, metavar="auto|N", help="data-loading "
                        "processes (loader pipeline); auto: this process's CPUs less one")
    parser.add_argument("--input-pipeline", choices=INPUT_PIPELINE_CHOICES, default="auto", help=INPUT_PIPELINE_HELP)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    parser.add_argument("--out", type=Path, default=Path("results/manual"), help="run folder (default: results/manual/<hash>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    augment.load_plugins(args.plugin)  # its method's code is part of the run's identity
    import_model_files()
    milestones = args.milestones if args.milestones is not None else [max(1, args.epochs // 2), max(1, args.epochs * 3 // 4)]
    config = RunConfig(
        dataset=args.dataset, data_root=args.data_root, download=args.download, model=args.model,
        method=args.method, method_params=parse_params(args.param), plugins=args.plugin, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, milestones=sorted(set(milestones)), weight_decay=args.weight_decay,
        image_size=args.image_size, train_subset=args.train_subset, seed=args.seed, device=args.device, num_workers=args.workers,
        world_size=args.world_size, sync_bn=args.sync_bn, compile=args.compile,
        precision=resolve_precision(args.precision, args.device), code=run_code(args.method, args.model, args.plugin),
        input_pipeline=default_pipeline(args.dataset, None, args.world_size) if args.input_pipeline == "auto" else args.input_pipeline,
    )
    run_dir = args.out / config.config_hash() if args.out == Path("results/manual") else args.out
    record = Trainer(config, run_dir, progress=not args.no_progress).run()
    if record is not None:  # rank 0
        print(json.dumps({"run_dir": str(run_dir), "best": record["best"], "last": record["last"]}))
    return 0


def cli() -> NoReturn:
    """The ``mixbench-train`` command."""
    run_cli(main)


if __name__ == "__main__":
    cli()
