"""Detection transfer (Table 10's Faster R-CNN and SSD columns, Table 1's Det row): fine-tune an MMDetection
detector from the harness's own ImageNet run of the row's method, on Pascal VOC, and report VOC07 mAP."""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.fingerprint import data_fingerprint
from harness.identity import Identity
from harness.paths import experiment_file
from harness.tasks.base import (BACKBONE_EXECUTION, BACKBONE_IDENTITY, Task, Unrunnable, backbone_fields, backbone_run,
                                backbone_weights, run_dependencies, saved_examples)

_BASE = re.compile(r"""^_base_\s*=\s*(\[[^\]]*\]|'[^']*'|"[^"]*")""", re.MULTILINE)


def config_files(path: Path) -> list[Path]:
    """An MMDetection config file and every file it inherits from, depth first (``_base_``, with ``mmdet::``
    bases found in the installed mmdet package, as mmengine finds them), read as text: no import needed."""
    match = _BASE.search(path.read_text())
    bases = ast.literal_eval(match.group(1)) if match else []
    files = [path]
    for base in [bases] if isinstance(bases, str) else bases:
        if base.startswith("mmdet::"):
            package = importlib.util.find_spec("mmdet").submodule_search_locations[0]
            files += config_files(Path(package) / ".mim" / "configs" / base.removeprefix("mmdet::"))
        else:
            files += config_files((path.parent / base).resolve())
    return files


@lru_cache(maxsize=None)
def detector_digest(detector: str) -> str:
    """A digest of the detector's config file and of every file it inherits from (so that editing any of them
    makes new runs), from their text: the plan is made without importing MMDetection."""
    digest = hashlib.sha256()
    for path in config_files(experiment_file(detector)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=None)
def detector_splits(detector: str) -> dict[str, list[str]]:
    """The VOC image sets a detector's config reads, read once a process (mmengine takes about 2 s a config,
    and a plan checks the data of every detection job)."""
    from harness.detection.config import voc_splits  # first: it quiets mmcv's import warnings
    from mmengine.config import Config

    return voc_splits(Config.fromfile(str(experiment_file(detector))))


SHOWN = 10  # predictions an example image shows


class DetectionTask(Task):
    name = "detection"
    runtime_modules = ("harness.detection.runner",)
    metrics = {"map": "mAP (VOC07, %)"}
    measured_note = "Measured = VOC07 11-point mAP at IoU 0.5 after the detector's schedule, mean ± std over seeds; Δ = measured − paper."

    identity = Identity("detection", fields={
        "detector": "detector_code", "dataset": "dataset", "data": "data_fingerprint", "seed": "seed",
        "schedule_fraction": "schedule_fraction", **BACKBONE_IDENTITY,
    }, execution={"detector": "the config file's name: detector_code is the digest of it and of its bases",
                  "data_root": "where the data are: data_fingerprint names what they hold", **BACKBONE_EXECUTION})

    def configuration(self, study, run):
        backbone = backbone_run(study, run)
        root = study.data_folder(run.protocol["dataset"])
        detector = run.protocol["detector"]
        if backbone.own_network:  # a released file where this scale's detector is built around a stand-in
            detector = run.protocol.get("file_detector")
            if detector is None:
                raise Unrunnable(f"{backbone.checkpoint} is a {backbone.model}, and the {study.scale} scale's detector "
                                 "is built around a stand-in: its protocol names no file_detector for the paper's")
        return {
            "detector": detector, "detector_code": detector_digest(detector),
            "dataset": run.protocol["dataset"], "seed": run.seed,
            "schedule_fraction": run.protocol.get("schedule_fraction", 1.0), "method": run.row.method,
            **backbone_fields(backbone), "data_root": root,
            "data_fingerprint": data_fingerprint(run.protocol["dataset"], root),
        }

    def require_data(self, config):
        if config["dataset"] == "synthetic_voc":  # generated when the job starts
            return
        from harness.detection.runner import locate_data

        from harness.data.voc import check_voc

        devkit, _ = locate_data(config["dataset"], config.get("data_root"))
        check_voc(devkit, detector_splits(config["detector"]))

    def dependencies(self, config):
        return run_dependencies(config)

    def given_weights(self, config):
        return backbone_weights(config, with_head=False)

    def epochs(self, config):
        return 1  # one detector schedule; protocols give its cost per job

    def run(self, config: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
        from harness.detection.runner import run_detection

        return run_detection(config, run_dir, progress)

    def report_figures(self, table, cells, scale):
        """Predicted boxes (red, with class and score; the ``SHOWN`` highest-scoring: an untrained detector
        gives a hundred an image) and ground truth (green; difficult dashed) on the same test images, one row per
        backbone method."""
        from harness.detection.runner import EXAMPLE_MIN_SCORE, EXAMPLES

        examples = saved_examples(table, cells, EXAMPLES)
        if not examples:
            return {}
        from harness.plotting import image_grid

        def draw(cell, data, c: int) -> None:
            cell.image(data[f"image_{c}"])
            for x1, y1, x2, y2, _, difficult in data[f"truth_{c}"]:
                cell.box(x1, y1, x2 - x1, y2 - y1, "lime", linestyle="--" if difficult else "-")
            predictions = data[f"pred_{c}"]
            for x1, y1, x2, y2, score, label in predictions[np.argsort(-predictions[:, 4], kind="stable")[:SHOWN]]:
                cell.box(x1, y1, x2 - x1, y2 - y1, "red")
                cell.label(x1, y1, f"{data['classes'][int(label)]} {score:.2f}", fontsize=5, color="white",
                           bbox=dict(facecolor="red", alpha=0.6, pad=0.5, linewidth=0))

        columns = sum(key.startswith("image_") for key in examples[0][1].files)
        title = (f"{table.title}: predictions (red: the {SHOWN} highest-scoring with score >= {EXAMPLE_MIN_SCORE}) "
                 f"and ground truth (green) [{scale} scale]")
        return {"boxes": image_grid(examples, columns, draw, (2.2, 2.3), title)}
