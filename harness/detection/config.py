"""A detection job's MMDetection config: the experiment's config file as written, retargeted by the harness at
the job's data, classes, run folder, seed and (reduced scale) a fraction of the schedule. Everything else,
detector and protocol, is the file's."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from mmengine.config import Config

from harness.paths import experiment_file


def _walk(node: Any) -> Iterator[dict]:
    """Every mapping inside a config node, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _walk(value)


def voc_datasets(cfg: Config) -> Iterator[dict]:
    """The ``VOCDataset`` entries of the train and test data loaders (however nested)."""
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        for node in _walk(cfg.get(loader)):
            if str(node.get("type", "")).split(".")[-1] == "VOCDataset":
                yield node


def voc_splits(cfg: Config) -> dict[str, list[str]]:
    """``{"VOC2007": ["trainval", "test"], ...}``: the image sets the config reads."""
    splits: dict[str, list[str]] = {}
    for node in voc_datasets(cfg):
        year_set = node["data_prefix"]["sub_data_root"].strip("/")
        splits.setdefault(year_set, [])
        split = Path(node["ann_file"]).stem
        if split not in splits[year_set]:
            splits[year_set].append(split)
    return splits


def scale_schedule(cfg: Config, fraction: float) -> None:
    """Shorten the schedule to ``fraction`` of its length: iterations (or epochs), the lr steps, checkpoints.
    A warm-up keeps its length."""
    loop = cfg.train_cfg
    key = "max_iters" if "max_iters" in loop else "max_epochs"
    old = loop[key]
    new = max(1, round(old * fraction))
    loop[key] = new
    for scheduler in cfg.param_scheduler:
        if "milestones" in scheduler:
            scheduler["milestones"] = sorted({max(1, round(m * fraction)) for m in scheduler["milestones"]})
        if scheduler.get("end") == old:
            scheduler["end"] = new
    checkpoint = cfg.default_hooks.get("checkpoint")
    if checkpoint is not None:
        checkpoint["interval"] = min(checkpoint.get("interval", new), new)


def build_config(detector: str, *, devkit: Path, classes: tuple[str, ...], work_dir: Path, seed: int,
                 schedule_fraction: float = 1.0) -> Config:
    """The config of one job (see the module docstring)."""
    cfg = Config.fromfile(str(experiment_file(detector)))
    for node in voc_datasets(cfg):
        node["data_root"] = str(devkit) + "/"
        node["metainfo"] = dict(classes=tuple(classes))
    for node in _walk(cfg.model):  # every head that classifies (RoI head, SSD head)
        if "num_classes" in node:
            node["num_classes"] = len(classes)
    if schedule_fraction != 1.0:
        scale_schedule(cfg, schedule_fraction)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=seed)
    cfg.default_hooks.pop("visualization", None)  # drawing is the report's job
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None  # the job tests once, at the end
    cfg.train_cfg.pop("val_interval", None)
    return cfg
