"""Robustness and uncertainty (Section 4.4): evaluate the classifier of another table's run, without training,
under the white-box FGSM attack (Table 11) or as an out-of-distribution detector (Table 12, Table A2)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.fingerprint import data_fingerprint
from harness.io import read_json
from harness.identity import Identity
from harness.paths import data_root
from harness.robustness.sets import GENERATED, ODIN_FOLDERS
from harness.tasks.base import (BACKBONE_EXECUTION, BACKBONE_IDENTITY, Task, Unrunnable, backbone_fields, backbone_run,
                                backbone_weights, run_dependencies)
from harness.train.files import RECORD

EVALUATIONS = ("fgsm", "ood", "occlusion")
OOD_SETS = ("TinyImageNet_crop", "TinyImageNet_resize", "LSUN_crop", "LSUN_resize", "iSUN", "Uniform", "Gaussian")
OOD_METRICS = {"tnr_at_tpr95": "TNR at TPR 95% (%)", "auroc": "AUROC (%)", "detection_acc": "Detection acc. (%)"}


def ood_fingerprints(sets: dict[str, str], root: str | None) -> dict[str, str]:
    """The fingerprint of each out-of-distribution set's images: ODIN's folders by their files, generated sets
    by their generator (the noise sets are drawn from the seed, already part of the run)."""
    fingerprints = {}
    for name, source in sets.items():
        if source in ODIN_FOLDERS:
            fingerprints[name] = data_fingerprint(f"ood/{source}", root)
        elif source in GENERATED:
            fingerprints[name] = data_fingerprint("ood_generated", root)
    return fingerprints


class RobustnessTask(Task):
    name = "robustness"
    metrics = {"top1_acc": "Top-1 acc under FGSM (%)", "clean_top1_acc": "Top-1 acc, clean (%)",
               "centre_err": "Top-1 err, centre occlusion (%, mean over hole sizes)",
               "boundary_err": "Top-1 err, boundary occlusion (%, mean over hole sizes)",
               "mixup_neither": "Mixup in-between: neither class (%, mean over λ)",
               "cutmix_neither": "CutMix in-between: neither class (%, mean over hole sizes)",
               **OOD_METRICS, **{f"{s}.{m}": f"{s}: {label}" for s in OOD_SETS for m, label in OOD_METRICS.items()}}
    measured_note = ("Measured = the evaluated run's final model (best and last coincide), mean ± std over seeds; "
                     "Δ = measured − paper.")
    runtime_modules = ("harness.robustness.runner",)

    identity = Identity("robustness", fields={
        "evaluation": "evaluation", "seed": "seed", **BACKBONE_IDENTITY,
        **{name: name for name in ("epsilon", "ood_sets", "ood_data", "hole_steps", "pairs")},
    }, execution={"batch_size": "how many images a forward pass takes (evaluation only: the same figures)",
                  "data_root": "where the data are: ood_data and the evaluated run name what they hold",
                  "device": "where the job runs", **BACKBONE_EXECUTION})

    def configuration(self, study, run):
        protocol = run.protocol
        evaluation = protocol.get("evaluation")
        if evaluation not in EVALUATIONS:
            raise Unrunnable(f"evaluation must be one of {', '.join(EVALUATIONS)}, not {evaluation!r}")
        backbone = backbone_run(study, run)
        specific = {"fgsm": lambda: {"epsilon": protocol["epsilon"]},
                    "ood": lambda: {"ood_sets": dict(protocol["ood_sets"]),
                                    "ood_data": ood_fingerprints(protocol["ood_sets"], study.data_folder("ood"))},
                    "occlusion": lambda: {"hole_steps": protocol["hole_steps"], "pairs": protocol.get("pairs")}}[evaluation]()
        return {"evaluation": evaluation, "seed": run.seed, "method": run.row.method, **backbone_fields(backbone),
                **specific, "batch_size": protocol.get("batch_size", 100), "data_root": study.data_folder("ood"),
                "device": study.settings.device}

    def dependencies(self, config):
        return run_dependencies(config)

    def given_weights(self, config):
        return backbone_weights(config, with_head=True)

    def epochs(self, config):
        return 1  # one pass over the test set (and the OOD sets)

    def require_data(self, config):
        if config["evaluation"] != "ood":
            return  # the evaluated run's test set, checked with that run
        from harness.robustness.ood_data import locate_ood

        root = data_root(config.get("data_root"))
        for source in config["ood_sets"].values():
            if source in ODIN_FOLDERS:
                locate_ood(root, source)

    def section_note(self, configs: list[dict[str, Any]]) -> str:
        """Which images stood in for each out-of-distribution set (ODIN's folders, noise, or generated)."""
        sets = {tuple(sorted(c["ood_sets"].items())) for c in configs if c.get("evaluation") == "ood"}
        return "; ".join("Out-of-distribution sets: " + ", ".join(f"{name} = {source}" for name, source in s)
                         for s in sorted(sets))

    def run(self, config: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
        from harness.robustness.runner import run_robustness

        return run_robustness(config, run_dir, progress)

    def report_figures(self, table, cells, scale):
        """Figure 5's two panels, one line per method (mean over seeds): (a) top-1 error under centre (solid) and
        boundary (dashed) occlusion against the hole size; (b) in-between samples predicted as neither class,
        against Mixup's λ and CutMix's hole size."""
        curves = {}
        for row in table.rows:
            records = [read_json(c.job.run_dir / RECORD) for c in cells if c.table == table.id and c.row == row.name and c.job]
            records = [r["figure5"] for r in records if r and "figure5" in r]
            if records:
                curves[row.name] = {k: np.mean([r[k] for r in records], axis=0) for k in records[0]}
        if not curves:
            return {}
        from harness.plotting import figure_png, pyplot

        fig, (occlusion, between, blend) = pyplot().subplots(1, 3, figsize=(13, 3.6))
        for n, (name, c) in enumerate(curves.items()):
            colour = f"C{n}"
            occlusion.plot(c["hole_sizes"], c["centre_err"], color=colour, label=f"{name} centre")
            occlusion.plot(c["hole_sizes"], c["boundary_err"], color=colour, linestyle="--", label=f"{name} boundary")
            between.plot(c["hole_sizes"], c["cutmix_neither"], color=colour, label=name)
            blend.plot(c["lambdas"], c["mixup_neither"], color=colour, label=name)
        occlusion.set(xlabel="hole size (px)", ylabel="top-1 error (%)", title="(a) centre / boundary occlusion")
        between.set(xlabel="CutMix hole size (px)", ylabel="neither class (%)", title="(b) CutMix in-between samples")
        blend.set(xlabel="Mixup λ", ylabel="neither class (%)", title="(b) Mixup in-between samples")
        occlusion.legend(fontsize=6)
        between.legend(fontsize=7)
        fig.suptitle(f"{table.title} [{scale} scale]", fontsize=8)
        return {"figure5": figure_png(fig)}
