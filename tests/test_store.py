"""A result is what produced it: code in each run's identity, stale records marked and rerun, one report per scale
over every record, the tidy results store and the comparison of two result sets."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from harness import augment
from harness.code_identity import changed_files, method_code, run_code, source_digest
from harness.experiments import load_protocols, load_tables, paper_values
from harness.report import build_report
from harness.report.compare import verdict
from harness.report.summary import format_measured
from harness.run_all import main
from harness.report.stored import with_stored_runs
from harness.store import executed_code, stale_reason, stored_runs

from conftest import expand_tables

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("T3_imagenet_r50", "T7_cifar10_pyr200")


def planned(results: Path, seeds=None, tables=TABLES, catalog=None):
    protocols = load_protocols()
    catalog = catalog or load_tables(protocols=protocols)
    chosen = [catalog[t] for t in tables]
    jobs, cells = expand_tables(chosen, protocols, "smoke", results, seeds=seeds, catalog=catalog)
    return chosen, jobs, cells


def record(job, top1: float, code: dict | None = None) -> None:
    """A finished record for ``job`` as its task writes one (``code``: the harness sources it names)."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    figures = {"epoch": 2, "top1_err": top1, "top5_err": top1 / 4}
    (job.run_dir / "job.json").write_text(json.dumps({"task": job.task, "config": job.config, "key": job.key,
                                                      "cells": job.cells}))
    (job.run_dir / "record.json").write_text(json.dumps({
        "status": "finished", "config": job.config, "best": figures, "last": {**figures, "top1_err": top1 + 1},
        "curve": [{"epoch": 2, "top1_err": top1, "top5_err": top1 / 4}], "wall_time_s": 1.0,
        "git": {"commit": "0123456789abcdef", "dirty": False}, "packages": {"torch": "2"},
        "hardware": {"device": "cpu", "cpu_count": 2},
        **({"harness_code": code} if code is not None else {})}))


def record_all(jobs, code=None, offset: float = 0.0) -> None:
    for index, job in enumerate(jobs):
        record(job, 40.0 + index + offset + job.config.get("seed", 0) * 0.5,
               executed_code("classification") if code is None else code)


def isolation(tmp_path: Path, *more: str) -> list[str]:
    return ["--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "--no-progress", *more]


def test_a_digest_ignores_comments_docstrings_and_layout_but_not_code(tmp_path):
    plain, commented, changed = (tmp_path / f"{n}.py" for n in ("a", "b", "c"))
    plain.write_text("def f(x):\n    return x * 2\n")
    commented.write_text('"""Doubles."""\n# a comment\ndef f(x):\n    """Twice x."""\n    return (x *\n            2)\n')
    changed.write_text("def f(x):\n    return x * 3\n")
    assert source_digest(plain) == source_digest(commented) != source_digest(changed)


def test_a_method_s_code_covers_the_helpers_it_imports_and_a_model_s_its_blocks():
    cutmix = method_code("cutmix")
    assert cutmix != method_code("mixup") and method_code("cutmix+mixup").startswith(cutmix + ";")
    assert run_code("cutmix", "resnet_tiny") != run_code("cutmix", "pyramidnet_tiny")
    assert "timm " in run_code("cutmix", "resnet50")  # timm's own model: named by timm's version


def test_editing_a_plugin_changes_the_run_s_identity_and_its_downstream_rows(tmp_path):
    plugin = tmp_path / "stripemix_test.py"
    body = textwrap.dedent('''
        from harness.augment import Augmentation, mix_targets, register

        @register("stripemix_test")
        class StripeMix(Augmentation):
            def apply(self, images, targets):
                perm = self.draw_permutation(images.shape[0], images.device)
                rows = images.shape[-2] // {share}
                images[..., :rows, :] = images[perm, ..., :rows, :]
                return images, mix_targets(targets, perm, 1.0 - rows / images.shape[-2])
    ''')
    from harness.candidate import add_candidates, parse_candidate

    protocols, keys = load_protocols(), []
    try:
        for share in (2, 4):
            plugin.write_text(body.format(share=share))
            augment.load_plugins([str(plugin)])
            catalog = add_candidates(load_tables(protocols=protocols), [parse_candidate("stripemix_test")], protocols, "smoke")
            _, _, cells = planned(tmp_path, tables=("T3_imagenet_r50", "T9_wsol_imagenet"), catalog=catalog)
            keys.append({(c.table, c.row): c.job.key for c in cells if c.job})
    finally:
        augment.registry._REGISTRY.pop("stripemix_test", None)
    before, after = keys
    assert before[("T3_imagenet_r50", "stripemix_test")] != after[("T3_imagenet_r50", "stripemix_test")]
    assert before[("T9_wsol_imagenet", "stripemix_test")] != after[("T9_wsol_imagenet", "stripemix_test")]
    assert before[("T3_imagenet_r50", "CutMix")] == after[("T3_imagenet_r50", "CutMix")]  # the others are the same runs


def test_a_record_made_by_other_harness_code_is_marked_with_the_files_changed_since():
    current = executed_code("classification")
    older = {**current, "harness/train/trainer.py": "0" * 16}
    assert changed_files(older, current) == ["harness/train/trainer.py"]
    assert stale_reason({"git": {"commit": "1d20990aaaa"}, "harness_code": current}) is None
    assert stale_reason({"git": {"commit": "1d20990aaaa"}, "harness_code": older}) == \
        "made by 1d20990; changed since: harness/train/trainer.py"
    assert "before records named their code" in stale_reason({"git": {"commit": "1d20990aaaa"}})


def edited(monkeypatch, path: str) -> None:
    """Make the code digest of one harness file read as if it had been edited since the records were made."""
    from harness import code_identity, store

    real = code_identity.source_digest
    monkeypatch.setattr(code_identity, "source_digest",
                        lambda file: "e" * 16 if Path(file).as_posix().endswith(path) else real(file))
    store._run_code.cache_clear()


def test_a_change_to_detection_marks_no_classification_run_stale_and_a_change_to_training_marks_both(monkeypatch):
    from harness import store

    made = {task: {"git": {"commit": "abc"}, "task": task, "harness_code": executed_code(task)}
            for task in ("classification", "detection")}
    made["classification"].pop("task")  # a training run's record names no task: it is a classification run
    assert "harness/detection/runner.py" not in made["classification"]["harness_code"]
    try:
        edited(monkeypatch, "harness/detection/runner.py")
        assert stale_reason(made["classification"]) is None
        assert stale_reason(made["detection"]) == "made by abc; changed since: harness/detection/runner.py"
        monkeypatch.undo()
        for planning_or_report in ("harness/expand.py", "harness/store.py", "harness/report/build.py"):
            edited(monkeypatch, planning_or_report)
            assert stale_reason(made["classification"]) is None and stale_reason(made["detection"]) is None
            monkeypatch.undo()
        edited(monkeypatch, "harness/train/trainer.py")
        assert all("harness/train/trainer.py" in stale_reason(record) for record in made.values())
    finally:
        store._run_code.cache_clear()


def test_another_table_s_command_keeps_every_table_in_the_scale_s_report(tmp_path):
    _, jobs, _ = planned(tmp_path / "results")
    record_all(jobs)
    assert main(isolation(tmp_path, "--tables", "7")) == 0
    markdown = (tmp_path / "reports" / "smoke" / "tables.md").read_text()
    t3 = next(j for j in jobs if ("T3_imagenet_r50", "Baseline", 0) in j.cells)
    assert "Table 3" in markdown and f"| Baseline | 23.68 | {40.0 + jobs.index(t3):.2f} (n=1) |" in markdown
    assert "pending" not in markdown.split("<a id=\"t3_imagenet_r50\">")[1].split("<a id=")[0]
    index = (tmp_path / "reports" / "index.html").read_text()
    assert 'href="smoke/index.html"' in index and "mini/" not in index


def test_a_smoke_report_leaves_the_mini_report_alone(tmp_path):
    mini = tmp_path / "reports" / "mini"
    mini.mkdir(parents=True)
    (mini / "index.html").write_text("a week of runs")
    assert main(isolation(tmp_path, "--tables", "3", "--report-only")) == 0
    assert (mini / "index.html").read_text() == "a week of runs"
    index = (tmp_path / "reports" / "index.html").read_text()
    assert 'href="smoke/index.html"' in index and 'href="mini/index.html"' in index


def test_stale_records_are_marked_planned_and_rerun_exactly(tmp_path, capsys):
    _, jobs, _ = planned(tmp_path / "results", tables=("T7_cifar10_pyr200",))
    record_all(jobs)
    stale = jobs[0]
    record(stale, 41.0, {**executed_code("classification"), "harness/train/trainer.py": "0" * 16})
    assert main(isolation(tmp_path, "--tables", "7", "--report-only")) == 0
    markdown = (tmp_path / "reports" / "smoke" / "tables.md").read_text()
    line = next(l for l in markdown.splitlines() if l.startswith(f"| {stale.cells[0][1]} |"))
    assert "41.00 (n=1) †" in line and "made by 0123456; changed since: harness/train/trainer.py" in line
    assert "1 of the runs shown were made by other harness code" in markdown
    assert sum(" † " in l for l in markdown.split("## Provenance")[0].splitlines()) == len(stale.cells)
    capsys.readouterr()
    assert main(isolation(tmp_path, "--tables", "7", "--plan", "--rerun-stale")) == 0
    assert "1 finished run(s) were made by other harness code: they run again" in capsys.readouterr().out


def test_a_stale_run_kept_aside_stands_in_until_its_rerun_finishes(tmp_path):
    from harness.store import set_aside

    tables, jobs, cells = planned(tmp_path / "results", tables=("T7_cifar10_pyr200",))
    record_all(jobs, code={})
    (aside_job, aside), = set_aside(jobs[:1], "stale")
    assert aside.name.startswith(f"{aside_job.key}.stale-") and aside_job.status() == "pending"
    _, merged = with_stored_runs(tables, cells, stored_runs(tmp_path / "results", "smoke"), "smoke")
    stand_in = next(c for c in merged if c.job and c.job.run_dir == aside)
    assert stand_in.note.startswith("other settings than this plan's run") and f"job {aside_job.key} is pending" in stand_in.note


def test_every_figure_of_tables_md_comes_from_results_csv(tmp_path):
    tables, jobs, cells = planned(tmp_path / "results", seeds=[0, 1])
    record_all(jobs)
    runs = stored_runs(tmp_path / "results", "smoke")
    out = tmp_path / "reports"
    build_report(tables, jobs, cells, paper_values(), "smoke", out, runs)
    results = pd.read_csv(out / "results.csv")
    shown = results[results.shown]
    assert len(shown) == sum(len(t.metrics) for t in tables for c in cells if c.table == t.id and c.job)
    markdown = (out / "tables.md").read_text()
    checked = 0
    for (table, row, metric), group in shown.groupby(["table", "row", "metric"]):
        expected = format_measured(group.best.mean(), group.best.std(), len(group))
        section = markdown.split(f'<a id="{table.lower()}">')[1].split("<a id=")[0]
        line = next(l for l in section.splitlines() if re.match(rf"\| {re.escape(row)}( \([a-z ]+\))? \|", l))
        assert f"| {expected} |" in line, (table, row, metric, line)
        checked += 1
    assert checked == len(shown) / 2  # two seeds a cell
    layout = pd.read_csv(out / "tables" / "T7_cifar10_pyr200.csv").set_index("row")
    baseline = shown[(shown.table == "T7_cifar10_pyr200") & (shown.row == "Baseline") & (shown.metric == "top1_err")]
    assert layout.loc["Baseline", "top1_err best"] == round(baseline.best.mean(), 2)
    assert layout.loc["Baseline", "top1_err paper"] == 3.85 and layout.loc["Baseline", "top1_err n"] == 2


def test_rows_of_a_candidate_profiled_earlier_stay_without_its_plugin(tmp_path):
    from harness.augment import Augmentation, register
    from harness.candidate import add_candidates, parse_candidate

    @register("keepme_test")
    class KeepMe(Augmentation):
        def apply(self, images, targets):
            return images, targets

    try:
        protocols = load_protocols()
        catalog = add_candidates(load_tables(protocols=protocols), [parse_candidate("keepme_test")], protocols, "smoke")
        _, jobs, _ = planned(tmp_path / "results", tables=("T7_cifar10_pyr200",), catalog=catalog)
        record_all(jobs)
    finally:
        augment.registry._REGISTRY.pop("keepme_test")
    assert main(isolation(tmp_path, "--report-only")) == 0
    markdown = (tmp_path / "reports" / "smoke" / "tables.md").read_text()
    assert "| keepme_test (candidate) |" in markdown and "## Candidate profile: keepme_test" in markdown


def test_the_comparison_tells_a_changed_cell_from_an_unchanged_one(tmp_path):
    _, jobs, _ = planned(tmp_path / "results", tables=("T7_cifar10_pyr200",), seeds=[0, 1])
    record_all(jobs)
    _, others, _ = planned(tmp_path / "other", tables=("T7_cifar10_pyr200",), seeds=[0, 1])
    record_all(others)
    for job in others:
        if job.cells[0][1] == "CutMix":
            record(job, 10.0 + job.config["seed"] * 0.2)
    assert main(isolation(tmp_path, "--tables", "7", "--seeds", "0", "1", "--report-only", "--compare",
                          str(tmp_path / "other"))) == 0
    compare = pd.read_csv(tmp_path / "reports" / "smoke" / "compare.csv")
    top1 = compare[compare.metric == "top1_err"].set_index("row")
    assert top1.loc["CutMix", "verdict"].startswith("differs") and top1.loc["Baseline", "verdict"] == "the same"
    assert float(top1.loc["CutMix", "difference"]) > 0
    assert "compare.md" in (tmp_path / "reports" / "smoke" / "tables.md").read_text()


def test_the_noise_verdict_by_hand():
    assert verdict((10.0, 1.0, 2), (11.0, 1.0, 2)) == "within noise (1.0 SE)"
    assert verdict((10.0, 0.1, 3), (12.0, 0.1, 3)).startswith("differs (")
    assert verdict((10.0, 0.0, 1), (float("nan"), float("nan"), 0)) == "only here"
    assert verdict((10.0, 0.0, 1), (11.0, 0.0, 1)) == "differs (one seed: noise unknown)"
    # one seed against three: the three seeds' spread stands for both, 1.0 x sqrt(1/3 + 1) = 1.155
    assert verdict((10.0, 1.0, 3), (12.0, float("nan"), 1)) == "within noise (1.7 SE, one side's spread)"
    assert verdict((13.0, 0.0, 1), (10.0, 1.0, 3)) == "differs (2.6 SE, one side's spread)"
