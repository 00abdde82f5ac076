"""Where the project's own folders are (a module of its own so that every layer can import it)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"  # protocols.yaml, tables/, detection/ configs, the paper's figures
