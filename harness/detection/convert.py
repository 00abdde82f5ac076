"""The harness's timm ResNet checkpoints as MMDetection detector weights, checked key by key.

timm and mmdet name a ResNet's tensors alike (``conv1``, ``bn1``, ``layerN.i.convK``, ``downsample.0/1``), so
the conversion is a placement: every stage goes under ``backbone.``, except that a C4 detector runs
``layer4`` as its RoI head (``roi_head.shared_head.layer4``); the classifier (``fc``) is dropped. Nothing is
left to chance: a tensor that finds no place, a place that gets no tensor, or a shape that differs is an error.
"""
from __future__ import annotations

from pathlib import Path

import torch

from harness.errors import HarnessError
from harness.io import atomic_torch_save
from harness.weights import read_weights

CLASSIFIER_PREFIXES = ("fc.",)
BACKBONE_PREFIX = "backbone."
SHARED_HEAD_PREFIX = "roi_head.shared_head."


def backbone_keys(detector_state: dict[str, torch.Tensor]) -> set[str]:
    """The detector's tensors that come from an ImageNet backbone (backbone and C4 RoI stage)."""
    return {k for k in detector_state if k.startswith((BACKBONE_PREFIX, SHARED_HEAD_PREFIX))}


def timm_to_detector(timm_state: dict[str, torch.Tensor], detector_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Place a timm ResNet state dict into a detector's names (``detector_state`` gives names and shapes).

    Raises :class:`HarnessError` naming the first mismatches unless every backbone tensor of the
    detector receives exactly one tensor of the same shape and every non-classifier tensor is placed.
    """
    wanted = backbone_keys(detector_state)
    placed: dict[str, torch.Tensor] = {}
    unplaced = []
    for key, tensor in timm_state.items():
        if key.startswith(CLASSIFIER_PREFIXES):
            continue
        target = next((prefix + key for prefix in (BACKBONE_PREFIX, SHARED_HEAD_PREFIX) if prefix + key in wanted), None)
        if target is None:
            unplaced.append(key)
            continue
        if detector_state[target].shape != tensor.shape:
            raise HarnessError(f"backbone tensor {key} has shape {tuple(tensor.shape)} but the detector's {target} "
                               f"has {tuple(detector_state[target].shape)}: the checkpoint is of another architecture")
        placed[target] = tensor
    missing = sorted(wanted - placed.keys())
    if unplaced or missing:
        raise HarnessError(f"the checkpoint does not fit the detector's backbone: {len(unplaced)} checkpoint tensors "
                           f"without a place (e.g. {unplaced[:3]}), {len(missing)} detector tensors without weights "
                           f"(e.g. {missing[:3]})")
    return placed


def write_detector_checkpoint(timm_checkpoint: Path, detector: torch.nn.Module, out: Path) -> int:
    """Convert ``timm_checkpoint`` for ``detector`` and save it as an mmengine checkpoint (``load_from``);
    returns the number of tensors placed."""
    placed = timm_to_detector(read_weights(timm_checkpoint, mmap=False), detector.state_dict())
    atomic_torch_save(out, {"state_dict": placed, "meta": {"converted_from": str(timm_checkpoint)}})
    return len(placed)


def assert_loaded(detector: torch.nn.Module, converted: Path) -> None:
    """Check after loading that every converted tensor is in the detector, bit for bit."""
    placed = torch.load(converted, map_location="cpu", weights_only=True)["state_dict"]
    state = detector.state_dict()
    differing = [k for k, v in placed.items() if not torch.equal(state[k].cpu(), v)]
    if differing:
        raise HarnessError(f"{len(differing)} backbone tensors did not load into the detector (e.g. {differing[:3]})")
