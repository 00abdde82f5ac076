"""A robustness job: load the classifier of a finished run (its checkpoint, its network, its test set) and
evaluate it under the white-box FGSM attack (Table 11) or as an out-of-distribution detector (Tables 12, A2)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2
from tqdm import tqdm

from harness.data import build_datasets
from harness.io import atomic_write_json
from harness.models import create_model
from harness.paths import data_root
from harness.robustness.fgsm import Normalized, fgsm
from harness.robustness.occlusion import cutmix_between, draw_pairs, mixup_between, occlude
from harness.robustness.ood import max_softmax, ood_metrics
from harness.robustness.ood_data import ood_dataset
from harness.train import RECORD
from harness.train.config import backbone_train_config
from harness.train.provenance import code_provenance, hardware, package_versions
from harness.train.trainer import resolve_device
from harness.weights import load_checked

OOD_METRICS = ("tnr_at_tpr95", "auroc", "detection_acc")
FIGURE5_CURVES = ("centre_err", "boundary_err", "mixup_neither", "cutmix_neither")


def load_classifier(config: dict, device: torch.device):
    """(network in eval mode, the run's test set, its normalisation) of the network the job evaluates (its
    backbone run's checkpoint, or a file given in its place)."""
    train, checkpoint = backbone_train_config(config), config["backbone_checkpoint"]
    data = build_datasets(train.dataset, data_root(train.data_root), image_size=train.image_size,
                          test_subset=train.test_subset)  # its own test images
    network = create_model(train.model, data.num_classes, **train.model_kwargs)
    load_checked(network, Path(checkpoint), with_head=True)
    normalize = next(t for t in data.test.transform.transforms if isinstance(t, v2.Normalize))
    return network.to(device).eval(), data.test, normalize


def fgsm_accuracy(network, test, normalize: v2.Normalize, epsilon: float, device, batch_size: int,
                  progress: bool) -> dict[str, float]:
    """Top-1 accuracy (%) on the clean test images and on their FGSM versions (ε in [0, 1] pixels)."""
    model = Normalized(network, normalize.mean, normalize.std).to(device).eval()
    clean = attacked = total = 0
    for images, labels in tqdm(DataLoader(test, batch_size=batch_size), desc="fgsm", disable=not progress, leave=False):
        pixels, labels = model.to_pixels(images), labels.to(device)
        adversarial = fgsm(model, pixels, labels, epsilon)
        with torch.no_grad():
            clean += int((model(pixels).argmax(1) == labels).sum())
            attacked += int((model(adversarial).argmax(1) == labels).sum())
        total += len(labels)
    return {"top1_acc": 100.0 * attacked / total, "clean_top1_acc": 100.0 * clean / total}


@torch.no_grad()
def softmax_scores(network, dataset, device, batch_size: int) -> np.ndarray:
    return np.concatenate([max_softmax(network(images.to(device))) for images, _ in DataLoader(dataset, batch_size=batch_size)])


def ood_results(network, test, normalize, sets: dict[str, str], root: Path, seed: int, device, batch_size: int,
                progress: bool) -> dict[str, float]:
    """Per set ``<set>.<metric>`` and their means over the sets (``<metric>``), in-distribution = ``test``."""
    inside = softmax_scores(network, test, device, batch_size)
    results: dict[str, float] = {}
    for name, source in tqdm(sets.items(), desc="ood", disable=not progress, leave=False):
        outside = softmax_scores(network, ood_dataset(source, root, len(test), normalize, seed), device, batch_size)
        results.update({f"{name}.{k}": v for k, v in ood_metrics(inside, outside).items()})
    for metric in OOD_METRICS:
        results[metric] = float(np.mean([results[f"{name}.{metric}"] for name in sets]))
    return results


class Pairs(torch.utils.data.Dataset):
    """The two images and labels of each drawn pair."""

    def __init__(self, dataset, pairs: torch.Tensor) -> None:
        self.dataset, self.pairs = dataset, pairs.tolist()

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        (first, label_a), (second, label_b) = (self.dataset[i] for i in self.pairs[index])
        return first, second, label_a, label_b


@torch.no_grad()
def figure5_curves(network, test, normalize: v2.Normalize, steps: int, pair_count: int, seed: int, device,
                   batch_size: int, progress: bool) -> dict[str, list[float]]:
    """Figure 5: top-1 error (%) under centre and boundary occlusion for hole sizes 0..side in ``steps`` steps,
    and the share (%) of in-between samples of two classes predicted as neither, for Mixup's λ in 0, 0.1, .., 1
    and CutMix's centre patch of the same hole sizes; ``pair_count`` pairs drawn once from ``seed``."""
    model = Normalized(network, normalize.mean, normalize.std).to(device).eval()
    side = test[0][0].shape[-1]
    holes = [round(k * side / steps) for k in range(steps + 1)]
    lambdas = [k / 10 for k in range(11)]
    wrong = {where: [0] * len(holes) for where in ("centre", "boundary")}
    for images, labels in tqdm(DataLoader(test, batch_size=batch_size), desc="occlusion", disable=not progress, leave=False):
        pixels, labels = model.to_pixels(images), labels.to(device)
        for where, counts in wrong.items():
            for k, hole in enumerate(holes):
                counts[k] += int((model(occlude(pixels, hole, where)).argmax(1) != labels).sum())
    pairs = draw_pairs(torch.as_tensor(test.targets), pair_count, seed)  # the harness's test sets all list targets
    neither = {"mixup": [0] * len(lambdas), "cutmix": [0] * len(holes)}
    for first, second, label_a, label_b in tqdm(DataLoader(Pairs(test, pairs), batch_size=batch_size), desc="in-between",
                                                disable=not progress, leave=False):
        first, second = model.to_pixels(first), model.to_pixels(second)
        label_a, label_b = label_a.to(device), label_b.to(device)
        for mix, values, counts in (("mixup", lambdas, neither["mixup"]), ("cutmix", holes, neither["cutmix"])):
            for k, value in enumerate(values):
                mixed = mixup_between(first, second, value) if mix == "mixup" else cutmix_between(first, second, value)
                predicted = model(mixed).argmax(1)
                counts[k] += int(((predicted != label_a) & (predicted != label_b)).sum())
    return {"hole_sizes": holes, "lambdas": lambdas,
            "centre_err": [100.0 * n / len(test) for n in wrong["centre"]],
            "boundary_err": [100.0 * n / len(test) for n in wrong["boundary"]],
            "mixup_neither": [100.0 * n / pair_count for n in neither["mixup"]],
            "cutmix_neither": [100.0 * n / pair_count for n in neither["cutmix"]]}


def run_robustness(config: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
    """Evaluate the job's classifier and write its record (an evaluation is cheap: a rerun starts over)."""
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.get("device", "auto"))
    root = data_root(config.get("data_root"))
    torch.manual_seed(config["seed"])
    network, test, normalize = load_classifier(config, device)
    curves = None
    if config["evaluation"] == "fgsm":
        metrics = fgsm_accuracy(network, test, normalize, config["epsilon"], device, config["batch_size"], progress)
    elif config["evaluation"] == "occlusion":
        curves = figure5_curves(network, test, normalize, config["hole_steps"], config["pairs"] or len(test),
                                config["seed"], device, config["batch_size"], progress)
        metrics = {name: float(np.mean(curves[name])) for name in FIGURE5_CURVES}  # the area under each curve
    else:
        metrics = ood_results(network, test, normalize, config["ood_sets"], root, config["seed"], device,
                              config["batch_size"], progress)
    record = {
        "status": "finished", "task": "robustness", "config": config, "config_hash": run_dir.name,
        "test_images": len(test), "best": metrics, "last": metrics, **({"figure5": curves} if curves else {}),
        **code_provenance(), "packages": package_versions("robustness"), "hardware": hardware(device),
        "wall_time_s": time.perf_counter() - started,
    }
    atomic_write_json(run_dir / RECORD, record)
    return record
