"""One detection job: fine-tune an MMDetection detector from a harness ImageNet checkpoint, test it with the
VOC07 metric, save a few predictions for the report, and write the record.

The job lives in its run folder: ``mmdet/`` is mmengine's work_dir (its checkpoints make the job resumable:
a rerun continues from the last one), ``backbone.pth`` the converted backbone, ``detection_examples.npz`` the
predictions the report draws, ``record.json`` the result.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from harness.data.synthetic import CLASSES as SYNTHETIC_CLASSES
from harness.data.voc import VOC_CLASSES, check_voc, read_annotation
from harness.data.voc_synthetic import generate_voc
from harness.errors import HarnessError, UnknownNameError
from harness.io import atomic_write_json, atomic_write_npz
from harness.paths import data_root
from harness.train import RECORD, STATUS
from harness.train.provenance import code_provenance, hardware, package_versions

EXAMPLES = "detection_examples.npz"
EXAMPLE_COUNT = 4
EXAMPLE_MAX_SIDE = 320
EXAMPLE_MIN_SCORE = 0.3
DATASETS = ("voc", "synthetic_voc")


def checkpoint_globals() -> list:
    """What mmengine's resume checkpoints hold besides tensors (its log history, numpy scalars). torch >= 2.6
    loads with ``weights_only=True``; these are allowed while the job reads its own checkpoints, rather than
    turning the check off. (``getattr`` rebuilds the history buffers' bound statistics methods; the
    unpickler still refuses to call anything not on the list.)"""
    import codecs
    import collections

    from mmengine.logging import HistoryBuffer

    return [HistoryBuffer, np.ndarray, np.dtype, np._core.multiarray.scalar, np._core.multiarray._reconstruct,
            codecs.encode, collections.Counter, getattr,
            *(getattr(np.dtypes, name) for name in np.dtypes.__all__)]


def locate_data(dataset: str, root: Path | None) -> tuple[Path, tuple[str, ...]]:
    """The ``VOCdevkit`` folder and the class names of a detection data set (generating the embedded one)."""
    root = data_root(root)
    if dataset == "synthetic_voc":
        return generate_voc(root), SYNTHETIC_CLASSES
    if dataset == "voc":
        return root / "VOCdevkit", VOC_CLASSES
    raise UnknownNameError(f"unknown detection data set {dataset!r}; known: {', '.join(DATASETS)}")


def _examples(model: torch.nn.Module, dataset, count: int) -> dict[str, np.ndarray]:
    """Predictions (score >= EXAMPLE_MIN_SCORE) and ground truth of the first test images, in image pixels."""
    from mmengine.dataset import pseudo_collate

    arrays: dict[str, np.ndarray] = {}
    classes = dataset.metainfo["classes"]
    model.eval()
    for i in range(min(count, len(dataset))):
        sample = dataset[i]
        with torch.no_grad():
            pred = model.test_step(pseudo_collate([sample]))[0].pred_instances
        keep = pred.scores >= EXAMPLE_MIN_SCORE
        path = Path(sample["data_samples"].img_path)
        image = Image.open(path).convert("RGB")
        scale = min(1.0, EXAMPLE_MAX_SIDE / max(image.size))
        image = image.resize((round(image.width * scale), round(image.height * scale)))
        _, objects = read_annotation(path.parent.parent / "Annotations" / f"{path.stem}.xml")
        truth = [[(o.box[0] - 1) * scale, (o.box[1] - 1) * scale, o.box[2] * scale, o.box[3] * scale,
                  classes.index(o.name), o.difficult] for o in objects if o.name in classes]
        arrays[f"image_{i}"] = np.asarray(image)
        arrays[f"pred_{i}"] = np.concatenate([pred.bboxes[keep].cpu().numpy() * scale, pred.scores[keep, None].cpu().numpy(),
                                              pred.labels[keep, None].cpu().numpy()], axis=1).reshape(-1, 6)
        arrays[f"truth_{i}"] = np.asarray(truth, dtype=np.float32).reshape(-1, 6)
    return arrays


def run_detection(config: dict[str, Any], run_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) one detection job; returns its record."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.runner import Runner

    import harness.detection.mmdet_modules  # noqa: F401  (registration)
    from harness.detection.config import build_config, voc_splits
    from harness.detection.convert import write_detector_checkpoint

    started = time.perf_counter()
    register_all_modules()
    devkit, classes = locate_data(config["dataset"], config.get("data_root"))
    work_dir = run_dir / "mmdet"
    cfg = build_config(config["detector"], devkit=devkit, classes=classes, work_dir=work_dir, seed=config["seed"],
                       schedule_fraction=config.get("schedule_fraction", 1.0))
    check_voc(devkit, voc_splits(cfg))
    converted = run_dir / "backbone.pth"
    cfg.custom_hooks = list(cfg.get("custom_hooks", [])) + [dict(type="HarnessStatusHook", path=str(run_dir / STATUS))]
    if (work_dir / "last_checkpoint").is_file():  # interrupted: continue from mmengine's last checkpoint
        cfg.resume, cfg.load_from = True, None
    else:
        tensors = write_detector_checkpoint(Path(config["backbone_checkpoint"]), MODELS.build(cfg.model), converted)
        print(f"backbone: {tensors} tensors from {config['backbone_checkpoint']}")
        cfg.resume, cfg.load_from = False, str(converted)
        cfg.custom_hooks.append(dict(type="BackboneLoadedHook", checkpoint=str(converted)))
    if not progress:
        cfg.log_level = "WARNING"
    runner = Runner.from_cfg(cfg)
    with torch.serialization.safe_globals(checkpoint_globals()):
        runner.train()
    metrics = runner.test()
    if "pascal_voc/mAP" not in metrics:
        raise HarnessError(f"the test metric returned no mAP: {metrics}")
    per_class = {k.split("/AP_", 1)[1]: v for k, v in metrics.items() if "/AP_" in k}
    examples = _examples(runner.model, runner.test_dataloader.dataset, EXAMPLE_COUNT)
    examples["classes"] = np.asarray(classes)
    atomic_write_npz(run_dir / EXAMPLES, **examples)
    result = {"epoch": runner.iter, "map": metrics["pascal_voc/mAP"]}
    record = {
        "status": "finished", "task": "detection", "config": config, "config_hash": run_dir.name,
        "detector_config": cfg.pretty_text, "per_class_ap": per_class, "best": result, "last": result,
        "iterations": runner.iter, "test_images": len(runner.test_dataloader.dataset),
        **code_provenance(), "packages": package_versions("detection"), "hardware": hardware(next(runner.model.parameters()).device),
        "wall_time_s": time.perf_counter() - started,
    }
    atomic_write_json(run_dir / RECORD, record)
    return record
