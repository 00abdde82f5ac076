"""mixbench: reproduce the CutMix paper's tables and compare new augmentation baselines.

The package follows the pipeline: ``data`` -> ``augment`` -> ``models`` / ``train`` -> ``tasks`` -> records ->
``report``. Subpackages are imported when used (planning and reporting never load torch);
``import harness.models`` registers the project's models into timm's registry.
"""
from harness.errors import HarnessError

__all__ = ["HarnessError"]
__version__ = "0.1.0"
