"""The harness's models by file: every module of ``harness/models`` that registers a model into timm, found by
reading the files (:func:`harness.code_identity.harness_model_files`), as the augmentations' registry finds its
built-in methods. A new network is one file here: whatever builds a network by name imports them first."""
from __future__ import annotations

import importlib

from harness.code_identity import harness_model_files


def import_model_files() -> None:
    """Import every harness file that registers a model (timm's registry then knows each by name)."""
    for module in sorted({f"harness.models.{path.stem}" for path in harness_model_files().values()}):
        importlib.import_module(module)
