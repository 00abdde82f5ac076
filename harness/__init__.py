"""mixbench: reproduce the CutMix paper's tables and compare new augmentation baselines.

The package follows the pipeline: ``data`` -> ``augment`` -> ``models`` / ``train`` -> records.
Importing ``harness`` registers the project's models into timm's registry.
"""
from harness import augment, models  # noqa: F401  (models registers into timm)
from harness.errors import HarnessError

__all__ = ["augment", "models", "HarnessError"]
__version__ = "0.1.0"
