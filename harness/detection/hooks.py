"""mmengine hooks the harness adds to a detection run: a progress file for the orchestrator, and the check
that the converted backbone really is in the detector when training starts."""
from __future__ import annotations

from pathlib import Path

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from harness.detection.convert import assert_loaded
from harness.io import atomic_write_json


@HOOKS.register_module()
class HarnessStatusHook(Hook):
    """Writes ``status.json`` (iterations done / planned) every ``interval`` iterations."""

    priority = "VERY_LOW"

    def __init__(self, path: str, interval: int = 10):
        self.path = Path(path)
        self.interval = interval

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        done = runner.iter + 1
        if done % self.interval == 0 or done == runner.max_iters:
            atomic_write_json(self.path, {"epoch": done, "epochs": runner.max_iters, "unit": "iteration"})


@HOOKS.register_module()
class BackboneLoadedHook(Hook):
    """Before the first step (after ``load_from``), checks that every converted backbone tensor is loaded."""

    def __init__(self, checkpoint: str):
        self.checkpoint = Path(checkpoint)

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        assert_loaded(model, self.checkpoint)
