"""Image classification (Tables 3-8): train a timm model with an augmentation and report top-k error."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.code_identity import run_code
from harness.devices import resolve_precision
from harness.fingerprint import data_fingerprint
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

    def configure(self, study, run):
        config = self.run_config(study, run)
        return config.to_dict(), config.config_hash()

    def identity_of(self, config):
        return RunConfig.from_dict(config).hashed_part()

    def key(self, config):
        return RunConfig.from_dict(config).config_hash()

    def run_config(self, study, run) -> RunConfig:
        """The training run of a row at the study's scale and a seed (:class:`RunConfig` declares its identity)."""
        protocol, settings, row = run.protocol, study.settings, run.row
        paper_model = row.model or run.table.model
        model_map = protocol.get("model_map", {})
        if protocol.get("require_stand_in") and paper_model not in model_map:
            raise Unrunnable(f"no {study.scale}-scale stand-in for {paper_model}")
        epochs = settings.epochs or protocol["epochs"]
        world_size = settings.gpus_per_job or protocol.get("gpus", 1)
        model = model_map.get(paper_model, paper_model)
        root = study.data_folder(protocol["dataset"])  # the data set's own folder
        return RunConfig(
            dataset=protocol["dataset"], image_size=protocol.get("image_size"), model=model,
            model_kwargs=dict(row.model_kwargs), data_policy=row.data_policy, method=row.method,
            method_params=method_params(row.method, row.params, protocol.get("method_defaults", {})), epochs=epochs,
            batch_size=protocol["batch_size"], lr=protocol["lr"], milestones=milestone_epochs(protocol["milestones"], epochs),
            weight_decay=protocol.get("weight_decay", 1e-4), seed=run.seed, data_root=root, device=settings.device,
            num_workers=settings.num_workers, plugins=list(settings.plugins), train_subset=protocol.get("train_subset"),
            test_subset=protocol.get("test_subset"), data_fingerprint=data_fingerprint(protocol["dataset"], root),
            sync_bn=protocol.get("sync_bn", False), code=run_code(row.method, model, settings.plugins),
            precision=resolve_precision(settings.precision, settings.device), world_size=world_size,
            compile=settings.compile,
            input_pipeline=(settings.input_pipeline or protocol.get("input_pipeline")
                            or default_pipeline(protocol["dataset"], row.data_policy, world_size)),
        )

    def require_data(self, config):
        from harness.data import check_data

        check_data(config["dataset"], config.get("data_root"), config.get("download", False))

    def epochs(self, config):
        return config["epochs"]

    def run(self, config, run_dir: Path, progress: bool) -> dict[str, Any]:
        from harness.train import Trainer

        return Trainer(RunConfig.from_dict(config), run_dir, progress=progress).run()
