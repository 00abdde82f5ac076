"""Where the project's own folders are (a module of its own so that every layer can import it)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"  # protocols.yaml, tables/, detection/ configs, the paper's figures


def experiment_file(name: str) -> Path:
    """A file of the experiments folder by its relative path (``detection/ssd300_r50_voc0712.py``), or an
    absolute path as it is."""
    path = Path(name)
    return path if path.is_absolute() else EXPERIMENTS / path
