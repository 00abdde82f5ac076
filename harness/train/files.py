"""The files of a run folder, by name: what the orchestrator and the report read, without importing torch."""

RECORD = "record.json"  # a finished run's figures and provenance
FAILURE = "failure.json"  # why a run failed
STATUS = "status.json"  # the epoch a running job is at
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"  # the epoch before, kept in case the newest is damaged
BEST_MODEL = "best_model.pt"  # weights of the best epoch so far (for fine-tuning from "best")
DAMAGED_NOTE = "damaged.json"  # the record this folder replaces was damaged, and where that folder was kept
