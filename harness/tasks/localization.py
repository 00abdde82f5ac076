"""Weakly supervised localization (Table 9, Table 1's Loc row): train (or fine-tune) a classifier with
the row's augmentation, then score its class activation maps against ground-truth boxes."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from harness.data import build_datasets
from harness.data.localization import EVAL_TRANSFORMS, eval_sizes
from harness.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from harness.io import atomic_write_json, load_torch
from harness.localization import cam_boxes, class_activation_maps, localization_scores, normalize_maps
from harness.localization.metrics import PAPER_THRESHOLD
from harness.models import create_model
from harness.tasks.base import Unrunnable, saved_examples
from harness.tasks.classification import ClassificationTask
from harness.train import CHECKPOINT, RECORD, RunConfig, Trainer
from harness.train.provenance import git_commit, hardware, package_versions
from harness.train.trainer import resolve_device

METRICS = ("top1_loc", "gt_known_loc", "max_box_acc", "max_box_acc_v2", "top1_cls")


@torch.no_grad()
def cam_predictions(model: torch.nn.Module, dataset, device: torch.device, batch_size: int = 64):
    """Normalised CAMs of the true and of the predicted class, top-1 correctness, and the boxes, for a test set."""
    model.eval()
    fc = model.get_classifier()
    true_maps, predicted_maps, correct = [], [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        features = model.forward_features(images)
        logits = model.forward_head(features)
        predicted = logits.argmax(dim=1)
        size = images.shape[-2:]
        true_maps.append(normalize_maps(class_activation_maps(features, fc.weight, labels), size).cpu())
        predicted_maps.append(normalize_maps(class_activation_maps(features, fc.weight, predicted), size).cpu())
        correct.append((predicted == labels).cpu())
    boxes = [dataset.gt_boxes(i) for i in range(len(dataset))]
    return torch.cat(true_maps), torch.cat(predicted_maps), torch.cat(correct).numpy(), boxes


EXAMPLES = "cam_examples.npz"
EXAMPLE_COUNT = 6


def save_examples(path: Path, dataset, true_maps: torch.Tensor, threshold: float) -> None:
    """The first test images (uint8), their true-class CAMs, CAM boxes and ground-truth boxes, so that the
    report can draw the paper's Figure 4 from results alone."""
    count = min(EXAMPLE_COUNT, len(dataset))
    images = torch.stack([dataset[i][0] for i in range(count)])
    images = images * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    predicted = [boxes[0] for boxes in cam_boxes(true_maps[:count], threshold)]
    truth = [dataset.gt_boxes(i)[0] for i in range(count)]
    with open(path, "wb") as handle:
        np.savez_compressed(handle, images=(images.clamp(0, 1) * 255).byte().permute(0, 2, 3, 1).numpy(),
                            cams=true_maps[:count].numpy().astype(np.float16), cam_boxes=np.array(predicted),
                            gt_boxes=np.array(truth))


class LocalizationTask(ClassificationTask):
    name = "localization"
    metrics = {"top1_loc": "Top-1 Loc (%)", "gt_known_loc": "GT-known Loc (%)", "max_box_acc": "MaxBoxAcc (%)",
               "max_box_acc_v2": "MaxBoxAccV2 (%)", "top1_cls": "Top-1 Cls (%)"}
    measured_note = ("Measured = the final model's CAMs (best and last columns coincide), mean ± std over seeds; "
                     "Δ = measured − paper.")

    def configure(self, table, row, scale, settings, seed, overrides):
        train = self.run_config(table, row, scale, settings, seed, overrides)
        backbone_key = None
        if settings.get("init_from"):  # fine-tune the ImageNet run of the same method (the paper's protocol)
            if not row.backbone:
                raise Unrunnable("no ImageNet-trained backbone for this row in the harness (set the row's backbone)")
            backbone_key, backbone_dir = overrides["resolve_run"](row.backbone, seed)
            train = replace(train, init_from=str(backbone_dir / "checkpoint.pt"), head_lr=settings.get("head_lr"))
        eval_transform = settings.get("eval_transform", "paper")
        eval_sizes(eval_transform)  # a misspelt name fails here, before any job starts
        config = {"train": train.to_dict(), "threshold": settings.get("cam_threshold", PAPER_THRESHOLD),
                  "backbone_key": backbone_key, "eval_transform": eval_transform}
        hashed = {"task": self.name, "train": train.hashed_part(), "threshold": config["threshold"], "backbone": backbone_key,
                  "eval_transform": eval_transform, "boxes": "wsolevaluation"}
        return config, hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]

    def check_data(self, config):
        super().check_data(config["train"])

    def epochs(self, config):
        return config["train"]["epochs"]

    def dependencies(self, config):
        return [config["backbone_key"]] if config.get("backbone_key") else []

    def run(self, config: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
        train_config = RunConfig.from_dict(config["train"])
        train_record = Trainer(train_config, run_dir / "train", progress=progress).run()
        started = time.perf_counter()
        device = resolve_device(train_config.device)
        data = build_datasets(train_config.dataset, train_config.data_root, image_size=train_config.image_size,
                              eval_transform=config.get("eval_transform", "paper"))
        model = create_model(train_config.model, data.num_classes, **train_config.model_kwargs).to(device)
        model.load_state_dict(load_torch(run_dir / "train" / CHECKPOINT, map_location=device)["model"])
        true_maps, predicted_maps, correct, boxes = cam_predictions(model, data.test, device)
        scores = localization_scores(true_maps, predicted_maps, correct, boxes, threshold=config["threshold"])
        metrics = {k: getattr(scores, k) for k in METRICS}
        save_examples(run_dir / EXAMPLES, data.test, true_maps, config["threshold"])
        record = {
            "status": "finished", "task": self.name, "config": config, "config_hash": run_dir.name,
            "best_threshold": scores.best_threshold, "train": {k: train_record[k] for k in ("config_hash", "best", "last")},
            "curve": train_record["curve"], "incidents": train_record.get("incidents", []),
            "best": {"epoch": train_record["last"]["epoch"], **metrics},
            "last": {"epoch": train_record["last"]["epoch"], **metrics},
            "git": git_commit(), "packages": package_versions(), "hardware": hardware(device),
            "wall_time_s": train_record["wall_time_s"] + time.perf_counter() - started,
        }
        atomic_write_json(run_dir / RECORD, record)
        return record

    def section_note(self, configs: list[dict[str, Any]]) -> str:
        """Which evaluation transform the section's runs used (the paper's or wsolevaluation's)."""
        names = sorted({c.get("eval_transform", "paper") for c in configs})
        described = "; ".join(f"{n} (resize {EVAL_TRANSFORMS[n][0]}×{EVAL_TRANSFORMS[n][0]}"
                              + (f", centre crop {EVAL_TRANSFORMS[n][1]})" if EVAL_TRANSFORMS[n][1] != EVAL_TRANSFORMS[n][0] else ")")
                              for n in names)
        return (f"Evaluation transform: {described}. CAM boxes, MaxBoxAcc and MaxBoxAccV2 are computed as "
                "wsolevaluation computes them (OpenCV contours, IoU with inclusive corners).") if names else ""

    def report_figures(self, table, cells, scale):
        """The paper's Figure 4: for the same test images, each method's CAM with its box (red) and the
        ground truth (green), one row per method."""
        examples = saved_examples(table, cells, EXAMPLES)
        if not examples:
            return {}
        from matplotlib.patches import Rectangle

        from harness.plotting import image_grid

        def draw(ax, data, c: int) -> None:
            ax.imshow(data["images"][c])
            ax.imshow(data["cams"][c].astype(np.float32), cmap="jet", alpha=0.45, vmin=0, vmax=1)
            for box, colour in ((data["gt_boxes"][c], "lime"), (data["cam_boxes"][c], "red")):
                x0, y0, x1, y1 = box  # corner-inclusive pixels
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, edgecolor=colour, linewidth=1.2))

        columns = len(examples[0][1]["images"])
        return {"cams": image_grid(examples, columns, draw, (1.6, 1.7),
                                   f"CAMs, CAM boxes (red) and ground truth (green) [{scale} scale]")}
