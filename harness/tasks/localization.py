"""Weakly supervised localization (Table 9, Table 1's Loc row): train (or fine-tune) a classifier with
the row's augmentation, then score its class activation maps against ground-truth boxes."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.localization.protocol import EXAMPLES, PAPER_THRESHOLD, describe_transform, eval_sizes
from harness.identity import Derived, Identity
from harness.code_identity import run_code
from harness.tasks.base import Task, backbone_run, backbone_weights, file_network, run_dependencies, saved_examples
from harness.tasks.classification import ClassificationTask
from harness.train import RunConfig


class LocalizationTask(ClassificationTask):
    name = "localization"
    runtime_modules = ("harness.train.trainer", "harness.localization.evaluate")
    metrics = {"top1_loc": "Top-1 Loc (%)", "gt_known_loc": "GT-known Loc (%)", "max_box_acc": "MaxBoxAcc (%)",
               "max_box_acc_v2": "MaxBoxAccV2 (%)", "top1_cls": "Top-1 Cls (%)"}
    measured_note = ("Measured = the final model's CAMs (best and last columns coincide), mean ± std over seeds; "
                     "Δ = measured − paper.")

    identity = Identity("localization", fields={
        "train": Derived(("train",), lambda config: RunConfig.from_dict(config["train"]).hashed_part()),
        "threshold": "threshold", "backbone": "backbone_key", "eval_transform": "eval_transform",
        # the backbone run's best checkpoint rather than its last (the default, hashed as nothing: earlier keys)
        "backbone_checkpoint": Derived(("backbone_which",), lambda config: config["backbone_which"]
                                       if config["backbone_which"] == "best" else None),
    }, execution={"backbone_file": "a given file: its digest is the backbone key, and train holds the data"},
        constants={"boxes": "wsolevaluation"})

    configure, identity_of, key = Task.configure, Task.identity_of, Task.key  # its identity, not a training run's

    def configuration(self, study, run):
        train = self.run_config(study, run)
        backbone_key = backbone_file = backbone_which = None
        if run.protocol.get("init_from"):  # fine-tune the ImageNet run of the same method (the paper's protocol)
            backbone = backbone_run(study, run)
            backbone_key, backbone_file, backbone_which = backbone.key, backbone.file, backbone.which
            train = replace(train, init_from=str(backbone.checkpoint), head_lr=run.protocol.get("head_lr"))
            if backbone.file:  # the file's own network where it is not the scale's stand-in
                model = file_network(backbone.checkpoint, train.model, run.row.model or run.table.model, train.to_dict())
                train = replace(train, model=model, code=run_code(train.method, model, study.settings.plugins))
        eval_transform = run.protocol.get("eval_transform", "paper")
        eval_sizes(eval_transform)  # a misspelt name fails here, before any job starts
        return {"train": train.to_dict(), "threshold": run.protocol.get("cam_threshold", PAPER_THRESHOLD),
                "backbone_key": backbone_key, "backbone_which": backbone_which, "backbone_file": backbone_file,
                "eval_transform": eval_transform}

    def require_data(self, config):
        super().require_data(config["train"])

    def epochs(self, config):
        return config["train"]["epochs"]

    def dependencies(self, config):
        return run_dependencies(config)

    def given_weights(self, config):
        return backbone_weights(config, with_head=False, network="train")  # the file fine-tunes its own network

    def run(self, config: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
        from harness.localization.evaluate import run_localization

        return run_localization(config, run_dir, progress)

    def section_note(self, configs: list[dict[str, Any]]) -> str:
        """Which evaluation transform the section's runs used (the paper's or wsolevaluation's)."""
        names = sorted({c.get("eval_transform", "paper") for c in configs})
        described = "; ".join(describe_transform(n) for n in names)
        return (f"Evaluation transform: {described}. CAM boxes, MaxBoxAcc and MaxBoxAccV2 are computed as "
                "wsolevaluation computes them (OpenCV contours, IoU with inclusive corners).") if names else ""

    def report_figures(self, table, cells, scale):
        """The paper's Figure 4: for the same test images, each method's CAM with its box (red) and the
        ground truth (green), one row per method."""
        examples = saved_examples(table, cells, EXAMPLES)
        if not examples:
            return {}
        from harness.plotting import image_grid

        def draw(cell, data, c: int) -> None:
            cell.image(data["images"][c])
            cell.image(data["cams"][c].astype(np.float32), cmap="jet", alpha=0.45, vmin=0, vmax=1)
            for box, colour in ((data["gt_boxes"][c], "lime"), (data["cam_boxes"][c], "red")):
                x0, y0, x1, y1 = box  # corner-inclusive pixels
                cell.box(x0 - 0.5, y0 - 0.5, x1 - x0 + 1, y1 - y0 + 1, colour, linewidth=1.2)

        columns = len(examples[0][1]["images"])
        return {"cams": image_grid(examples, columns, draw, (1.6, 1.7),
                                   f"CAMs, CAM boxes (red) and ground truth (green) [{scale} scale]")}
