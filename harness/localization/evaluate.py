"""Evaluate a localization run: train (or fine-tune) its classifier, then score the class activation maps of
the test set against the ground-truth boxes and save a few examples for the report's figure."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from harness.data import build_datasets
from harness.data.transforms import to_uint8_images
from harness.io import atomic_write_json, atomic_write_npz, load_torch
from harness.localization.boxes import cam_boxes
from harness.localization.cam import classifier_maps, normalize_maps
from harness.localization.metrics import localization_scores
from harness.localization.protocol import EXAMPLES
from harness.models import create_model
from harness.train import CHECKPOINT, RECORD, RunConfig, Trainer
from harness.train.provenance import code_provenance, hardware, package_versions
from harness.train.trainer import resolve_device

METRICS = ("top1_loc", "gt_known_loc", "max_box_acc", "max_box_acc_v2", "top1_cls")


def trained_network(config: RunConfig, num_classes: int, device: torch.device) -> tuple[torch.nn.Module, Any]:
    """The network as it was trained, its final weights loaded, and the method that localizes with it where the
    method changes the network (:class:`~harness.augment.network_method.NetworkMethod`: attached, as in training;
    None: the CAM of the network's classifier)."""
    from harness import augment
    from harness.augment.network_method import NetworkMethod

    model = create_model(config.model, num_classes, **config.model_kwargs)
    method = augment.build(config.method, num_classes, seed=config.seed, **config.method_params)
    method = method if isinstance(method, NetworkMethod) else None
    if method is not None:
        method.attach(model)
    return model.to(device), method


@torch.no_grad()
def cam_predictions(model: torch.nn.Module, dataset, device: torch.device, method=None, batch_size: int = 64):
    """Normalised maps (CAMs, or ``method``'s own) of the true and of the predicted class, top-1 correctness, and
    the boxes, for a test set."""
    model.eval()
    maps = method.localization_maps if method is not None else classifier_maps
    true_maps, predicted_maps, correct = [], [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        features = model.forward_features(images)
        logits = model.forward_head(features)
        predicted = logits.argmax(dim=1)
        size = images.shape[-2:]
        true_maps.append(normalize_maps(maps(model, features, labels), size).cpu())
        predicted_maps.append(normalize_maps(maps(model, features, predicted), size).cpu())
        correct.append((predicted == labels).cpu())
    boxes = [dataset.gt_boxes(i) for i in range(len(dataset))]
    return torch.cat(true_maps), torch.cat(predicted_maps), torch.cat(correct).numpy(), boxes


EXAMPLE_COUNT = 6


def save_examples(path: Path, dataset, true_maps: torch.Tensor, threshold: float) -> None:
    """The first test images (uint8), their true-class CAMs, CAM boxes and ground-truth boxes, so that the
    report can draw the paper's Figure 4 from results alone."""
    count = min(EXAMPLE_COUNT, len(dataset))
    images = to_uint8_images(torch.stack([dataset[i][0] for i in range(count)]))
    predicted = [boxes[0] for boxes in cam_boxes(true_maps[:count], threshold)]
    truth = [dataset.gt_boxes(i)[0] for i in range(count)]
    atomic_write_npz(path, images=images, cams=true_maps[:count].numpy().astype(np.float16),
                     cam_boxes=np.array(predicted), gt_boxes=np.array(truth))


def run_localization(config: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
    """Train the job's classifier (resumable), evaluate its CAMs and write the record."""
    train_config = RunConfig.from_dict(config["train"])
    train_record = Trainer(train_config, run_dir / "train", progress=progress).run()
    started = time.perf_counter()
    device = resolve_device(train_config.device)
    data = build_datasets(train_config.dataset, train_config.data_root, image_size=train_config.image_size,
                          eval_transform=config.get("eval_transform", "paper"), test_subset=train_config.test_subset)
    model, method = trained_network(train_config, data.num_classes, device)
    model.load_state_dict(load_torch(run_dir / "train" / CHECKPOINT, map_location=device)["model"])
    true_maps, predicted_maps, correct, boxes = cam_predictions(model, data.test, device, method)
    scores = localization_scores(true_maps, predicted_maps, correct, boxes, threshold=config["threshold"])
    metrics = {k: getattr(scores, k) for k in METRICS}
    save_examples(run_dir / EXAMPLES, data.test, true_maps, config["threshold"])
    record = {
        "status": "finished", "task": "localization", "config": config, "config_hash": run_dir.name,
        "best_threshold": scores.best_threshold, "train": {k: train_record[k] for k in ("config_hash", "best", "last")},
        "curve": train_record["curve"], "incidents": train_record.get("incidents", []),
        "best": {"epoch": train_record["last"]["epoch"], **metrics},
        "last": {"epoch": train_record["last"]["epoch"], **metrics},
        **code_provenance(), "packages": package_versions("localization"), "hardware": hardware(device),
        "wall_time_s": train_record["wall_time_s"] + time.perf_counter() - started,
    }
    atomic_write_json(run_dir / RECORD, record)
    return record
