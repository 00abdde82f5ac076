"""Training: a run's configuration, the resumable trainer, and the provenance its record carries.

The trainer (and with it torch) is imported on first use, so that planning and reporting stay light.
"""
from harness.lazy import lazy_exports
from harness.train.config import RunConfig
from harness.train.files import CHECKPOINT, FAILURE, RECORD, STATUS

__all__ = ["RunConfig", "Trainer", "evaluate", "summarize", "RECORD", "FAILURE", "CHECKPOINT", "STATUS"]
__getattr__ = lazy_exports(__name__, {"Trainer": "trainer", "evaluate": "trainer", "summarize": "trainer"})
