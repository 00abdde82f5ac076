"""Image classification (Tables 3-8): train a timm model with an augmentation and report top-k error."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.code_identity import run_code
from harness.devices import resolve_precision
from harness.fingerprint import data_fingerprint
from harness.paths import job_data_root
from harness.tasks.base import Task, Unrunnable
from harness.train import RunConfig
from harness.train.config import default_pipeline


def method_params(method: str, row_params: dict[str, Any], defaults: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The scale's defaults for the method under the row's parameters; per component for ``a+b``."""
    if "+" not in method:
        return {**defaults.get(method, {}), **row_params}
    parts = method.split("+")
    params = {k: v for k, v in row_params.items() if k not in parts}
    for part in parts:
        params[part] = {**defaults.get(part, {}), **row_params.get(part, {})}
    return params


def milestone_epochs(fractions: list[float], epochs: int) -> list[int]:
    """Fractions of the schedule (0.5 -> half-way) as epochs after which the lr decays."""
    return sorted({min(epochs, max(1, round(f * epochs))) for f in fractions})


class ClassificationTask(Task):
    name = "classification"
    runtime_modules = ("harness.train.trainer",)
    metrics = {"top1_err": "Top-1 err (%)", "top5_err": "Top-5 err (%)"}
    measured_note = ("Measured = best epoch (the paper's figure), mean ± std over seeds, and the last epoch; "
                     "Δ = measured − paper.")

    def configure(self, table, row, scale, settings, seed, overrides):
        config = self.run_config(table, row, scale, settings, seed, overrides)
        return config.to_dict(), config.config_hash()

    def run_config(self, table, row, scale, settings, seed, overrides) -> RunConfig:
        """The training run of a row at a scale and seed."""
        paper_model = row.model or table.model
        model_map = settings.get("model_map", {})
        if settings.get("require_stand_in") and paper_model not in model_map:
            raise Unrunnable(f"no {scale}-scale stand-in for {paper_model}")
        epochs = overrides.get("epochs") or settings["epochs"]
        world_size = overrides.get("gpus_per_job") or settings.get("gpus", 1)
        model = model_map.get(paper_model, paper_model)
        root = job_data_root(settings["dataset"], overrides)  # the data set's own folder
        return RunConfig(
            dataset=settings["dataset"], image_size=settings.get("image_size"), model=model,
            model_kwargs=dict(row.model_kwargs), data_policy=row.data_policy, method=row.method,
            method_params=method_params(row.method, row.params, settings.get("method_defaults", {})), epochs=epochs, batch_size=settings["batch_size"],
            lr=settings["lr"], milestones=milestone_epochs(settings["milestones"], epochs),
            weight_decay=settings.get("weight_decay", 1e-4), seed=seed, data_root=root,
            device=overrides.get("device", "auto"), num_workers=overrides.get("num_workers", 0),
            plugins=list(overrides.get("plugins", [])), train_subset=settings.get("train_subset"),
            test_subset=settings.get("test_subset"),
            data_fingerprint=data_fingerprint(settings["dataset"], root),
            sync_bn=settings.get("sync_bn", False), code=run_code(row.method, model, overrides.get("plugins", [])),
            precision=resolve_precision(overrides.get("precision") or "auto", overrides.get("device", "auto")),
            world_size=world_size, compile=overrides.get("compile", False),
            input_pipeline=(overrides.get("input_pipeline") or settings.get("input_pipeline")
                            or default_pipeline(settings["dataset"], row.data_policy, world_size)),
        )

    def check_data(self, config):
        from harness.data import check_data

        check_data(config["dataset"], config.get("data_root"), config.get("download", False))

    def epochs(self, config):
        return config["epochs"]

    def run(self, config, run_dir: Path, progress: bool) -> dict[str, Any]:
        from harness.train import Trainer

        return Trainer(RunConfig.from_dict(config), run_dir, progress=progress).run()
