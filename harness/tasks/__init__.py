"""Task kinds of the orchestrator. A task turns a table row into runnable jobs, runs one job in a worker
process, and reads its metrics back from the record. Add a task (localization, detection, captioning...)
with a module here and one entry in TASKS; nothing else changes."""
from __future__ import annotations

from harness.tasks.base import Task, Unrunnable
from harness.tasks.captioning import CaptioningTask
from harness.tasks.classification import ClassificationTask
from harness.tasks.detection import DetectionTask
from harness.tasks.localization import LocalizationTask
from harness.tasks.robustness import RobustnessTask

TASKS: dict[str, Task] = {task.name: task for task in (ClassificationTask(), LocalizationTask(), DetectionTask(), CaptioningTask(),
                                                        RobustnessTask())}

__all__ = ["TASKS", "Task", "Unrunnable"]
