"""The training loop of the paper's classification experiments, resumable and recorded.

Per epoch: train with the augmentation applied on the training device, evaluate top-1/top-5 error,
write the curve (CSV and TensorBoard), and checkpoint everything needed to continue bit-for-bit
(model, optimiser, schedule, augmentation and data-order random states). A finished run writes
``record.json``; a failed one writes ``failure.json``; both atomically.

With ``world_size`` N > 1 the run is data-parallel over N processes (DDP, launched by torchrun or submitit): each
rank trains on its share of every global batch (``batch_size / N``) through a ``DistributedSampler``, mixes
within that share with its own augmentation stream, and evaluates its share of the test set; rank 0 alone
writes. The learning rate is the configuration's, for the global batch: it is never rescaled.
"""
from __future__ import annotations

import csv
import io
import os
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from timm.loss import SoftTargetCrossEntropy
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from harness import augment
from harness.data import build_datasets
from harness.data.device_pipeline import DeviceBatches, uint8_images
from harness.devices import loader_workers
from harness.errors import DataNotFoundError, HarnessError, NonFiniteLossError
from harness.fingerprint import data_fingerprint
from harness.io import CorruptFileError, atomic_torch_save, atomic_write_json, atomic_write_text, load_torch
from harness.models import count_parameters, create_model
from harness.train.config import RunConfig
from harness.train.distributed import Ranks, all_sum, gather_to_all, process_group, rank_seed, ranks_from_env, shard
from harness.train.files import BEST_MODEL, CHECKPOINT, FAILURE, PREVIOUS_CHECKPOINT, RECORD, STATUS
from harness.train.provenance import code_provenance, hardware, package_versions

CURVE_FIELDS = ("epoch", "train_loss", "test_loss", "top1_err", "top5_err", "lr", "epoch_time_s")
NONFINITE_CHECK_EVERY = 20  # steps between loss checks (each one synchronises a GPU)


def resolve_device(name: str, ranks: Ranks = Ranks()) -> torch.device:
    """``auto`` -> the GPU where there is one, else the CPU. A data-parallel rank takes visible GPU ``LOCAL_RANK``
    (or, where the cluster shows each task only its own GPU, that one)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if ranks.distributed and device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank % torch.cuda.device_count())
    return device


def loaders(data, cfg: RunConfig, order: torch.Generator, sampler, ranks: Ranks, cuda: bool) -> tuple[DataLoader, DataLoader]:
    """Training and test DataLoaders through the data set's transforms. Training loader processes start anew
    each epoch, seeded from the data-order stream (or, data-parallel, the rank's torch stream) that the checkpoint
    keeps: a resumed run draws what the uninterrupted one drew. The test loader's deterministic transforms need
    no seed; its own generator keeps it off the torch stream."""
    train = DataLoader(data.train, cfg.batch_size // ranks.world_size, shuffle=sampler is None, sampler=sampler,
                       drop_last=True, generator=order if sampler is None else None,
                       num_workers=loader_workers(cfg.num_workers), pin_memory=cuda)
    return train, evaluation_loader(data.test, cfg, ranks, cuda)


def evaluation_loader(dataset, cfg: RunConfig, ranks: Ranks, cuda: bool) -> DataLoader:
    """In order, this rank's share, persistent workers; its own generator keeps it off the torch stream."""
    workers = loader_workers(cfg.num_workers)
    return DataLoader(shard(dataset, ranks), max(cfg.batch_size, 128), shuffle=False,
                      generator=torch.Generator().manual_seed(cfg.seed), num_workers=workers, pin_memory=cuda,
                      persistent_workers=workers > 0)


def device_batches(data, cfg: RunConfig, order: torch.Generator, device: torch.device) -> tuple[DeviceBatches, DeviceBatches]:
    """Training and test batches from the splits held on ``device`` (:mod:`harness.data.device_pipeline`)."""
    splits = [uint8_images(split) for split in (data.train, data.test)]
    if any(split is None for split in splits):
        raise HarnessError(f"the device input pipeline needs {cfg.dataset} as image arrays: use input_pipeline loader")
    (train_images, train_labels), (test_images, test_labels) = splits
    train = DeviceBatches(train_images, train_labels, cfg.batch_size, device, data.mean, data.std, augment=True,
                          order=order, seed=cfg.seed)
    test = DeviceBatches(test_images, test_labels, max(cfg.batch_size, 128), device, data.mean, data.std, augment=False)
    return train, test


def build_network(cfg: RunConfig, num_classes: int, device: torch.device, ranks: Ranks):
    """(model, what trains it: the model, its DDP wrapper and/or compiled form, the augmentation attached to it).
    Data-parallel: the same initial weights (DDP broadcasts rank 0's), then each rank its own data-side draws."""
    cuda = device.type == "cuda"
    model = create_model(cfg.model, num_classes, **cfg.model_kwargs)
    if cfg.sync_bn and ranks.distributed:
        if not cuda:
            raise HarnessError("sync_bn needs GPUs: SyncBatchNorm does not run on the CPU")
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device).to(memory_format=torch.channels_last)  # faster convolutions on GPUs and CPUs alike
    aug = augment.build(cfg.method, num_classes, seed=rank_seed(cfg.seed, ranks.rank), **cfg.method_params)
    aug.attach(model)
    if cfg.init_from:
        load_backbone(model, Path(cfg.init_from))
    trained = model
    if ranks.distributed:
        trained = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
        torch.manual_seed(rank_seed(cfg.seed, ranks.rank))
    if cfg.compile:
        trained = torch.compile(trained)
    return model, trained, aug


def build_optimizer(model: torch.nn.Module, cfg: RunConfig):
    """SGD (the classifier at ``head_lr`` when fine-tuning) and its step schedule."""
    head = {id(p) for p in model.get_classifier().parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in head]},
              {"params": [p for p in model.parameters() if id(p) in head], "lr": cfg.head_lr or cfg.lr}]
    optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                weight_decay=cfg.weight_decay)
    return optimizer, torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=cfg.milestones, gamma=cfg.gamma)


def check_fingerprint(config: RunConfig) -> str:
    """The fingerprint of the data under ``data_root`` (:mod:`harness.fingerprint`); an error where they are not
    those the run was planned with (changed since): its record would name data it did not see."""
    now = data_fingerprint(config.dataset, config.data_root)
    if config.data_fingerprint is not None and now != config.data_fingerprint:
        raise HarnessError(f"the {config.dataset} data under {config.data_root or 'the default data root'} are not "
                           f"those this run was planned with ({config.data_fingerprint}; now {now}): run run_all.py again")
    return now


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device, autocast,
             ranks: Ranks = Ranks()) -> dict[str, float]:
    """Top-1 / top-5 error (%) and mean cross-entropy on a labelled loader (summed over the ranks' shards)."""
    model.eval()
    wrong1 = wrong5 = loss_sum = 0.0
    count = 0
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast():
            logits = model(images.contiguous(memory_format=torch.channels_last)).float()
        loss_sum += torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = top == labels.unsqueeze(1)
        wrong1 += (~hits[:, 0]).sum().item()
        wrong5 += (~hits.any(dim=1)).sum().item()
        count += labels.numel()
    wrong1, wrong5, loss_sum, count = all_sum([wrong1, wrong5, loss_sum, count], device, ranks)
    return {"top1_err": 100.0 * wrong1 / count, "top5_err": 100.0 * wrong5 / count, "test_loss": loss_sum / count}


def train_step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, aug, optimizer: torch.optim.Optimizer,
               loss_fn, autocast, device: torch.device) -> torch.Tensor:
    """One optimisation step on a batch: non-blocking transfer, channels_last, the augmentation on the training
    device, the forward under ``autocast`` (the run's precision), backward and update; the detached loss."""
    images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
    images = images.contiguous(memory_format=torch.channels_last)
    images, targets = aug(images, labels)
    with autocast():
        loss = loss_fn(model(images), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach().float()


def precision_context(precision: str, device: torch.device):
    """What a forward runs under: bf16 autocast on ``device`` for ``bf16``, nothing for ``fp32``."""
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext


def read_model_state(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The model weights in a checkpoint: the harness's (``checkpoint.pt``/``best_model.pt``: under ``model``),
    the official CutMix-PyTorch release's (under ``state_dict``, names prefixed ``module.`` by DataParallel), or
    a bare state dict (torchvision's, timm's). Read with ``weights_only``: a file that would run code is refused."""
    if not Path(checkpoint).is_file():
        raise DataNotFoundError(f"backbone checkpoint {checkpoint} not found: run its ImageNet job first "
                                "(run_all.py runs it before the jobs that fine-tune it)")
    state = load_torch(checkpoint)
    state = state.get("model", state.get("state_dict", state))
    if state and all(name.startswith("module.") for name in state):
        state = {name.removeprefix("module."): tensor for name, tensor in state.items()}
    return state


def load_backbone(model: torch.nn.Module, checkpoint: Path) -> None:
    """Load every backbone tensor of a harness checkpoint into ``model``; the classifier stays new.

    Fails loudly, naming the keys, if any backbone tensor is missing or does not fit.
    """
    state = read_model_state(checkpoint)
    head_ids = {id(p) for p in model.get_classifier().parameters()}
    head = {name for name, p in model.named_parameters() if id(p) in head_ids}
    wanted = {k: v for k, v in model.state_dict().items() if k not in head}
    given = {k: v for k, v in state.items() if k in wanted}
    missing = sorted(set(wanted) - set(given))
    mismatched = sorted(k for k in given if given[k].shape != wanted[k].shape)
    if missing or mismatched:
        raise HarnessError(f"{checkpoint} does not fit {type(model).__name__}: missing {missing[:5]}"
                           f"{'...' if len(missing) > 5 else ''}, shape mismatch {mismatched[:5]}")
    model.load_state_dict(given, strict=False)


def summarize(curve: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Best epoch (lowest top-1 error, the paper's figure) and last epoch metrics."""
    best = min(curve, key=lambda row: (row["top1_err"], row["epoch"]))
    pick = lambda row: {k: row[k] for k in ("epoch", "top1_err", "top5_err")}  # noqa: E731
    return {"best": pick(best), "last": pick(curve[-1])}


def _write_curve(run_dir: Path, curve: list[dict[str, float]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CURVE_FIELDS)
    writer.writeheader()
    writer.writerows(curve)
    atomic_write_text(run_dir / "log.csv", buffer.getvalue())


class Trainer:
    """Trains one :class:`RunConfig` in ``run_dir``, continuing from its checkpoint if one exists."""

    def __init__(self, config: RunConfig, run_dir: Path, *, progress: bool = True) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.ranks = ranks_from_env()
        self.progress = progress and self.ranks.is_main
        self.device = resolve_device(config.device, self.ranks)

    def run(self, stop_after_epoch: int | None = None) -> dict[str, Any] | None:
        """Train to the end (or through ``stop_after_epoch``, to simulate an interruption).

        Returns the run record (on rank 0), or None when stopped early or on other ranks. An exception is
        recorded in ``failure.json`` before it propagates (not an interruption: Ctrl-C, or the exit of a Slurm
        job that is requeued).
        """
        if self.ranks.world_size != self.config.world_size:
            raise HarnessError(f"this run trains on {self.config.world_size} process(es) (world_size) but "
                               f"{self.ranks.world_size} were launched: start it through run_all.py, or with "
                               f"torchrun --nproc-per-node {self.config.world_size}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.ranks.is_main:
            (self.run_dir / FAILURE).unlink(missing_ok=True)
        self._epoch = 0
        self.incidents: list[str] = []  # recoveries (a damaged checkpoint...), kept in the record and the report
        try:
            with process_group(self.ranks, self.device):
                return self._run(stop_after_epoch)
        except BaseException as err:
            if self.ranks.is_main and not isinstance(err, (KeyboardInterrupt, SystemExit)):
                atomic_write_json(self.run_dir / FAILURE, {
                    "status": "failed", "error_type": type(err).__name__, "error": str(err),
                    "epoch": self._epoch, "traceback": traceback.format_exc(),
                    "config": self.config.to_dict(), "config_hash": self.config.config_hash(),
                })
            raise

    def _run(self, stop_after_epoch: int | None) -> dict[str, Any] | None:
        cfg, device, ranks = self.config, self.device, self.ranks
        main = ranks.is_main
        augment.load_plugins(cfg.plugins)
        torch.manual_seed(cfg.seed)
        data = build_datasets(cfg.dataset, cfg.data_root, download=cfg.download, image_size=cfg.image_size,
                              policy=cfg.data_policy, train_subset=cfg.train_subset, test_subset=cfg.test_subset)
        fingerprint = check_fingerprint(cfg)
        order = torch.Generator().manual_seed(cfg.seed)
        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.set_device(device)
        sampler, train_loader, test_loader = self._batches(data, order)
        model, trained, aug = build_network(cfg, data.num_classes, device, ranks)
        optimizer, schedule = build_optimizer(model, cfg)
        loss_fn = SoftTargetCrossEntropy()
        autocast = precision_context(cfg.precision, device)

        curve: list[dict[str, float]] = []
        wall_time = 0.0
        state = self._restore()
        if state is not None:
            curve, wall_time = self._resume(state, (model, optimizer, schedule, aug), order, train_loader)

        from torch.utils.tensorboard import SummaryWriter  # slow import: only once training starts

        writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=len(curve) + 1) if main else None
        try:
            for epoch in range(len(curve) + 1, cfg.epochs + 1):
                self._epoch = epoch
                started = time.perf_counter()
                lr = optimizer.param_groups[0]["lr"]
                if sampler is not None:
                    sampler.set_epoch(epoch)
                train_loss = self._train_epoch(trained, train_loader, aug, optimizer, loss_fn, autocast, epoch)
                schedule.step()
                row = {"epoch": epoch, "train_loss": train_loss, **evaluate(model, test_loader, device, autocast, ranks), "lr": lr}
                row["epoch_time_s"] = time.perf_counter() - started
                wall_time += row["epoch_time_s"]
                curve.append(row)
                streams = {"augment": aug.state_dict(), "torch_rng": torch.get_rng_state(),
                           "cuda_rng": torch.cuda.get_rng_state(device) if cuda else None}
                rank_states = gather_to_all(streams, ranks)
                if main:
                    self._save(epoch, curve, writer, row, {
                        "config_hash": cfg.config_hash(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(), "data_order": order.get_state(), **streams,
                        **({"input_rng": train_loader.state_dict()} if cfg.input_pipeline == "device" else {}),
                        **({"rank_states": rank_states} if ranks.distributed else {}),
                        "curve": curve, "wall_time_s": wall_time, "incidents": self.incidents,
                    })
                if stop_after_epoch is not None and epoch >= stop_after_epoch and epoch < cfg.epochs:
                    return None
        finally:
            if writer is not None:
                writer.close()
        clean = self._clean_train(data, train_loader, model, autocast)
        if not main:
            return None

        record = {
            "status": "finished", "config": cfg.to_dict(), "config_hash": cfg.config_hash(),
            "model_parameters": count_parameters(model), "num_classes": data.num_classes,
            "train_size": len(data.train), "test_size": len(data.test), "data_fingerprint": fingerprint,
            **code_provenance(), "packages": package_versions(), "hardware": hardware(device),
            "wall_time_s": wall_time, "curve": curve, **summarize(curve), "incidents": self.incidents,
            **({"train_clean": clean} if clean else {}),
        }
        atomic_write_json(self.run_dir / RECORD, record)
        return record

    def _clean_train(self, data, train_loader, model, autocast) -> dict[str, float] | None:
        """Top-1 error (%) and loss on the run's own training images, unaugmented, in eval mode, at the end: a
        network that memorised them (the paper's regime) has both near 0. None where the set has no such view."""
        cfg, device = self.config, self.device
        if cfg.input_pipeline == "device":
            batches = train_loader.unaugmented()
        else:
            clean = data.clean_train()
            if clean is None:
                return None
            batches = evaluation_loader(clean, cfg, self.ranks, device.type == "cuda")
        figures = evaluate(model, batches, device, autocast, self.ranks)
        return {"top1_err": figures["top1_err"], "loss": figures["test_loss"]}

    def _batches(self, data, order: torch.Generator):
        """(the distributed sampler or None, training batches, test batches) through the configured pipeline."""
        cfg, ranks = self.config, self.ranks
        if cfg.input_pipeline == "device":
            return (None, *device_batches(data, cfg, order, self.device))
        sampler = (DistributedSampler(data.train, ranks.world_size, ranks.rank, shuffle=True, seed=cfg.seed,
                                      drop_last=True) if ranks.distributed else None)
        return (sampler, *loaders(data, cfg, order, sampler, ranks, self.device.type == "cuda"))

    def _resume(self, state: dict[str, Any], trained: tuple, order: torch.Generator, train_loader) -> tuple[list, float]:
        """Load a checkpoint into (model, optimizer, schedule, augmentation) and the random streams (this rank's);
        the curve so far and its wall time."""
        model, optimizer, schedule, aug = trained
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        order.set_state(state["data_order"])
        if "input_rng" in state:
            train_loader.load_state_dict(state["input_rng"])
        mine = state.get("rank_states", [state])[self.ranks.rank]  # each rank's random streams (rank 0's at the top)
        aug.load_state_dict(mine["augment"])
        torch.set_rng_state(mine["torch_rng"])
        if self.device.type == "cuda" and mine.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(mine["cuda_rng"], self.device)
        self.incidents = state.get("incidents", []) + self.incidents
        return state["curve"], state["wall_time_s"]

    def _save(self, epoch: int, curve: list[dict[str, float]], writer, row: dict[str, float], checkpoint: dict[str, Any]) -> None:
        """Rank 0's writes after an epoch: best model, checkpoint (the previous one kept until the new one is
        complete), curve, TensorBoard, status, and the epoch's line in the log."""
        cfg = self.config
        if row["top1_err"] < min((r["top1_err"] for r in curve[:-1]), default=float("inf")):
            atomic_torch_save(self.run_dir / BEST_MODEL, {"model": checkpoint["model"], "epoch": epoch})
        checkpoint_path = self.run_dir / CHECKPOINT
        if checkpoint_path.is_file():
            os.replace(checkpoint_path, self.run_dir / PREVIOUS_CHECKPOINT)
        atomic_torch_save(checkpoint_path, checkpoint)
        _write_curve(self.run_dir, curve)
        for key in ("train_loss", "test_loss", "top1_err", "top5_err", "lr"):
            writer.add_scalar(key, row[key], epoch)
        writer.flush()
        atomic_write_json(self.run_dir / STATUS, {"epoch": epoch, "epochs": cfg.epochs, "top1_err": row["top1_err"]})
        tqdm.write(f"epoch {epoch}/{cfg.epochs} train_loss {row['train_loss']:.4f} top1_err {row['top1_err']:.2f} "
                   f"top5_err {row['top5_err']:.2f} lr {row['lr']:.4g} ({row['epoch_time_s']:.1f} s)")

    def _restore(self) -> dict[str, Any] | None:
        """The newest readable checkpoint of this run (``checkpoint.pt``, else the one before it), or None to
        start from epoch 1. An unreadable file (truncated by a full disk, partly copied) is renamed aside,
        never deleted, and the recovery is logged and kept in ``self.incidents``. Rank 0 chooses the file;
        every other rank loads the one it chose."""
        if not self.ranks.is_main:
            chosen = gather_to_all(None, self.ranks)[0]
            return load_torch(self.run_dir / chosen, map_location=self.device) if chosen else None
        state = self._choose_checkpoint()
        gather_to_all(state and state["file"], self.ranks)
        return state

    def _choose_checkpoint(self) -> dict[str, Any] | None:
        for path in (self.run_dir / CHECKPOINT, self.run_dir / PREVIOUS_CHECKPOINT):
            if not path.is_file():
                continue
            try:
                state = load_torch(path, map_location=self.device)
            except CorruptFileError as err:
                aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
                os.replace(path, aside)
                self._incident(f"{path.name} was unreadable and is kept aside as {aside.name} ({err})")
                continue
            if state["config_hash"] != self.config.config_hash():
                raise HarnessError(f"{path} belongs to another configuration; remove it or use another folder")
            if self.incidents:
                self._incident(f"resumed from {path.name} (after epoch {len(state['curve'])})")
            return {**state, "file": path.name}
        if self.incidents:
            self._incident("no readable checkpoint left: the run restarts from epoch 1")
        return None

    def _incident(self, message: str) -> None:
        self.incidents.append(message)
        tqdm.write(f"mixbench: warning: {message}")

    def _train_epoch(self, model, loader, aug, optimizer, loss_fn, autocast, epoch: int) -> float:
        model.train()
        device = self.device
        total = torch.zeros((), device=device)
        nonfinite = torch.zeros((), dtype=torch.bool, device=device)
        steps = 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{self.config.epochs}", leave=False, disable=not self.progress, dynamic_ncols=True)
        steps_per_epoch = len(loader)
        for step, (images, labels) in enumerate(bar, 1):
            aug.set_progress(((epoch - 1) * steps_per_epoch + step - 1) / (self.config.epochs * steps_per_epoch))
            loss = train_step(model, images, labels, aug, optimizer, loss_fn, autocast, device)
            nonfinite |= ~torch.isfinite(loss)
            total += loss
            steps = step
            if step % NONFINITE_CHECK_EVERY == 0 or step == steps_per_epoch:
                if nonfinite.item():
                    raise NonFiniteLossError(f"non-finite training loss at epoch {epoch}, by step {step}; run stopped")
                bar.set_postfix(loss=f"{total.item() / step:.3f}")
        loss_sum, steps = all_sum([total.item(), steps], device, self.ranks)
        return loss_sum / max(steps, 1)
