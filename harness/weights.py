"""Network weights given as files (``--backbone ROW=FILE``): their tensors' names and shapes checked against the
network a job will build when the plan is made, so that a misfit stops the command before anything is queued,
and the same check when a job loads them.

A checkpoint is read with ``weights_only`` (nothing in it can run code) and memory-mapped where torch allows
(the zip format of ``torch.save``), so that the plan reads its tensors' shapes without reading the whole file.
It may be the harness's (``model``), the official CutMix-PyTorch release's (``state_dict``, names prefixed by
DataParallel's ``module.``) or a bare state dict (torchvision's, timm's).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from harness.errors import HarnessError
from harness.io import CHECKPOINT_TYPES, load_torch
from harness.models import create_model

SHOWN = 5  # tensors named per kind of misfit


class MisfitWeights(HarnessError):
    """A given file's tensors do not fit the network a job builds."""


def unwrap_state(state: Any) -> dict[str, torch.Tensor]:
    """The model's tensors in a checkpoint of any of the accepted layouts."""
    if isinstance(state, dict):
        state = state.get("model", state.get("state_dict", state))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HarnessError("not a checkpoint of network weights (no state dict under 'model', 'state_dict' or at "
                           "its top level)")
    if state and all(name.startswith("module.") for name in state):
        state = {name.removeprefix("module."): tensor for name, tensor in state.items()}
    return state


def _mapped(path: Path) -> Any:
    """The checkpoint memory-mapped (its tensors read only where used), or None where its format does not allow
    it (torch's legacy format) or it does not load: the harness's checked reading then says what is wrong."""
    try:
        with torch.serialization.safe_globals(CHECKPOINT_TYPES):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return None


def read_weights(path: Path, mmap: bool = True) -> dict[str, torch.Tensor]:
    """A checkpoint's model tensors (memory-mapped where ``mmap`` and the file's format allow: reading shapes
    then costs little)."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: no such file")
    state = _mapped(path) if mmap else None
    if state is None:
        state = load_torch(path)
    try:
        return unwrap_state(state)
    except HarnessError as err:
        raise HarnessError(f"{path}: {err}") from None


def _head_names(network: torch.nn.Module) -> set[str]:
    head = {id(p) for p in network.get_classifier().parameters()} if hasattr(network, "get_classifier") else set()
    return {name for name, p in network.named_parameters() if id(p) in head}


def misfits(given: dict[str, torch.Tensor], network: torch.nn.Module, with_head: bool) -> list[str]:
    """What in ``given`` does not fit ``network`` (empty: it fits): the tensors the network needs that the file
    lacks, and those of another shape (with both shapes); without ``with_head`` the classifier is left out."""
    skipped = set() if with_head else _head_names(network)
    wanted = {name: tensor.shape for name, tensor in network.state_dict().items() if name not in skipped}
    missing = sorted(name for name in set(wanted) - set(given)
                     if not name.endswith("num_batches_tracked"))  # a counter older files lack, not a weight
    other = sorted(name for name in wanted.keys() & given.keys() if tuple(given[name].shape) != tuple(wanted[name]))
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing: {', '.join(missing[:SHOWN])}"
                        + (" ..." if len(missing) > SHOWN else ""))
    if other:
        problems.append(f"{len(other)} tensor(s) of another shape: " + ", ".join(
            f"{name} {tuple(given[name].shape)} (the network's {tuple(wanted[name])})" for name in other[:SHOWN])
            + (" ..." if len(other) > SHOWN else ""))
    return problems


def planned_network(model: str, num_classes: int, model_kwargs: dict[str, Any] | None = None) -> torch.nn.Module:
    """The network a job will build, without memory for its weights (on the meta device): only names and shapes."""
    from harness.models.catalog import import_model_files

    import_model_files()
    with torch.device("meta"):
        return create_model(model, num_classes, **(model_kwargs or {}))


def check_fits(path: Path, model: str, num_classes: int, model_kwargs: dict[str, Any] | None = None,
               with_head: bool = False, what: str = "") -> None:
    """:class:`MisfitWeights` naming the tensors where the file at ``path`` does not fit the network ``model``."""
    problems = misfits(read_weights(path), planned_network(model, num_classes, model_kwargs), with_head)
    if problems:
        raise MisfitWeights(f"{path} does not fit {model}{f' ({what})' if what else ''}: " + "; ".join(problems))


def load_checked(network: torch.nn.Module, path: Path, with_head: bool) -> torch.nn.Module:
    """``network`` with the file's tensors loaded, after the same check as the plan's (the head too where
    ``with_head``); the network's own head stays where it is not."""
    given = read_weights(path, mmap=False)
    problems = misfits(given, network, with_head)
    if problems:
        raise MisfitWeights(f"{path} does not fit {type(network).__name__}: " + "; ".join(problems))
    skipped = set() if with_head else _head_names(network)
    network.load_state_dict({k: v for k, v in given.items() if k in network.state_dict() and k not in skipped},
                            strict=False)  # every tensor the network needs is there: checked above
    return network
