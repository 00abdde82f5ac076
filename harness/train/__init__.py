"""Training: a run's configuration, the resumable trainer, and the provenance its record carries."""
from harness.train.config import RunConfig
from harness.train.trainer import CHECKPOINT, FAILURE, RECORD, STATUS, Trainer, evaluate, summarize

__all__ = ["RunConfig", "Trainer", "evaluate", "summarize", "RECORD", "FAILURE", "CHECKPOINT", "STATUS"]
