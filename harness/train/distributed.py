"""Data-parallel training over several processes (``torch.distributed``, DDP): which process this is, the
process group, and the few collectives the trainer needs. One process is a world of one and uses none of them.

Ranks come from the environment that torchrun sets, and that submitit's ``TorchDistributedEnvironment``
exports on Slurm (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Subset

RANK_SEED_STRIDE = 7919  # rank r's augmentation draws from seed + 1 + r * stride (rank 0: the single-process stream)


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes records, checkpoints and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def ranks_from_env() -> Ranks:
    """The ranks torchrun (or submitit's ``TorchDistributedEnvironment().export()``) put in the environment."""
    env = os.environ
    return Ranks(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s augmentation stream in a run seeded ``seed``."""
    return seed + 1 + rank * RANK_SEED_STRIDE


def collective_timeout() -> timedelta:
    """How long a rank waits for the others (joining the group, any collective) before it fails with an error
    instead of hanging: ``$MIXBENCH_PG_TIMEOUT_S`` seconds, 30 minutes by default (the tests set 120 s)."""
    return timedelta(seconds=float(os.environ.get("MIXBENCH_PG_TIMEOUT_S", 1800)))


@contextmanager
def process_group(ranks: Ranks, device: torch.device) -> Iterator[None]:
    """The default process group for the block (NCCL on GPUs, gloo on CPUs); nothing for a single process."""
    if not ranks.distributed:
        yield
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ranks.rank, world_size=ranks.world_size,
                            timeout=collective_timeout())
    try:
        yield
    finally:
        dist.destroy_process_group()


def all_sum(values: list[float], device: torch.device, ranks: Ranks) -> list[float]:
    """Element-wise sums of ``values`` over the ranks (the values themselves in a single process)."""
    if not ranks.distributed:
        return list(values)
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def gather_to_all(value: Any, ranks: Ranks) -> list[Any]:
    """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
    if not ranks.distributed:
        return [value]
    gathered: list[Any] = [None] * ranks.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def shard(dataset: Dataset, ranks: Ranks) -> Dataset:
    """Rank ``r``'s share of an evaluation set: items r, r + world, r + 2 world... (every item once over the ranks,
    unlike ``DistributedSampler``, which pads with repeats)."""
    if not ranks.distributed:
        return dataset
    return Subset(dataset, range(ranks.rank, len(dataset), ranks.world_size))
