"""``run_all.py --candidate``: a method's rows in every profiled table, its downstream rows on its own upstream
runs, the profile in the report (cells = records), packaging through the entry point, and bad input."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import augment
from harness.candidate import add_candidates, parse_candidate, restrict_to_profile, with_file_params
from harness.errors import HarnessError
from harness.experiments import load_protocols, load_tables, paper_values
from harness.report import build_report
from harness.store import executed_code

from conftest import expand_tables

ROOT = Path(__file__).resolve().parents[1]
PROFILED = {"T3_imagenet_r50", "T5_cifar100_pyr200", "T7_cifar10_pyr200", "T9_wsol_cub", "T9_wsol_imagenet",
            "T10_det_faster_rcnn", "T10_det_ssd", "T10_caption_nic", "T1_overview_caption", "T1_overview_det",
            "T1_overview_loc", "T11_fgsm", "T12_ood", "TA1_caption", "F5_occlusion",
            *(f"TA2_ood_{name}" for name in ("Gaussian", "Uniform", "iSUN", "LSUN_crop", "LSUN_resize",
                                              "TinyImageNet_crop", "TinyImageNet_resize"))}
UPSTREAM = {"T5_cifar100_pyr200": ("T12_ood", "TA2_"), "T3_imagenet_r50": ("T9_", "T10_", "T1_", "T11_", "TA1_", "F5_")}


@pytest.fixture(autouse=True, scope="module")
def halfswap():
    """A tiny method registered as a plugin would: swap the top half of each image with its partner's."""
    from harness.augment import Augmentation, mix_targets, register

    @register("halfswap_test")
    class HalfSwap(Augmentation):
        def __init__(self, num_classes: int, share: float = 0.5, **common):
            super().__init__(num_classes, **common)
            self.share = share

        def apply(self, images, targets):
            perm = self.draw_permutation(images.shape[0], images.device)
            rows = int(images.shape[-2] * self.share)
            images[..., :rows, :] = images[perm, ..., :rows, :]
            return images, mix_targets(targets, perm, 1.0 - rows / images.shape[-2])

    yield
    augment.registry._REGISTRY.pop("halfswap_test")


def plan(scale: str, *candidates: str, seeds=None, tmp_path: Path, restrict: bool = True):
    protocols = load_protocols()
    catalog = add_candidates(load_tables(protocols=protocols), [parse_candidate(c) for c in candidates], protocols, scale)
    tables = [t for t in catalog.values() if scale in protocols[t.protocol]]
    jobs, cells = expand_tables(tables, protocols, scale, tmp_path / "results", seeds=seeds, catalog=catalog)
    if restrict:
        jobs, cells, tables = restrict_to_profile(jobs, cells, tables)
    return tables, jobs, cells


@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_a_candidate_gets_a_row_in_every_profiled_table_and_only_there(tmp_path, scale):
    tables, jobs, cells = plan(scale, "halfswap_test", tmp_path=tmp_path)
    with_row = {c.table for c in cells if c.row == "halfswap_test" and c.job}
    assert with_row == PROFILED
    assert {t.id for t in tables if "halfswap_test" in [r.name for r in t.rows]} == PROFILED
    # only the profile runs: every job fills a candidate row or one of the four compared rows
    compared = {(t.id, name) for t in tables if t.candidate for name in t.candidate.compare.values()}
    for job in jobs:
        assert any(row == "halfswap_test" or (table, row) in compared for table, row, _ in job.cells), job.cells


def test_each_downstream_row_starts_from_the_candidates_own_upstream_run(tmp_path):
    tables, jobs, cells = plan("paper", "halfswap_test", tmp_path=tmp_path)
    # nothing cached: the report shows the profiled tables, and those sharing their runs (Table 5's Baseline and
    # CutMix are Table 8's and Figure 3's too); not Tables 4, 6 or the VGG-GAP backbones
    assert {t.id for t in tables} == PROFILED | {"T8_variants_cifar100", "F3a_cutmix_alpha", "F3b_feature_cutmix_layer"}
    own = {(c.table, c.seed): c.job for c in cells if c.row == "halfswap_test" and c.job}
    cutmix = {(c.table, c.seed): c.job for c in cells if c.row == "CutMix" and c.job}
    checked = set()
    for (table, seed), job in own.items():
        upstream = next((up for up, prefixes in UPSTREAM.items() if table.startswith(prefixes)), None)
        if upstream is None:
            continue
        assert job.depends_on == [own[upstream, seed].key], table
        assert job.config["backbone_key"] == own[upstream, seed].key != cutmix[upstream, seed].key
        assert own[upstream, seed].config["method"] == "halfswap_test"
        checked.add(table)
    assert checked == PROFILED - {"T3_imagenet_r50", "T5_cifar100_pyr200", "T7_cifar10_pyr200"}


def write_records(jobs, seed_shift: float = 0.0) -> dict[str, float]:
    """A record for every job with a distinct figure for every metric; job key -> that figure."""
    from harness.tasks import TASKS

    figures = {}
    for index, job in enumerate(jobs):
        value = 10.0 + index * 1.25 + seed_shift * job.config.get("seed", job.config.get("train", {}).get("seed", 0))
        figures[job.key] = value
        metrics = {m: value for m in TASKS[job.task].metrics}
        job.run_dir.mkdir(parents=True, exist_ok=True)
        (job.run_dir / "record.json").write_text(json.dumps({
            "status": "finished", "task": job.task, "config": job.config, "best": metrics, "last": metrics,
            "wall_time_s": 1.0, "git": {"commit": "abc", "dirty": False}, "harness_code": executed_code("classification"), "packages": {},
            "hardware": {"device": "cpu", "cpu_count": 2}}))
    return figures


def test_the_profile_table_shows_the_records_figures(tmp_path):
    tables, jobs, cells = plan("smoke", "halfswap_test", tmp_path=tmp_path)
    figures = write_records(jobs)
    shown = list({c.job.key: c.job for c in cells if c.job}.values())
    build_report(tables, shown, cells, paper_values(), "smoke", tmp_path / "reports")
    profile = json.loads((tmp_path / "reports" / "profile_halfswap_test.json").read_text())
    records = profile["records"]
    assert {(r["table"], r["metric"]) for r in records} == {
        (t.id, m) for t in tables if t.candidate for m in t.candidate.profile}
    for record in records:
        assert record["n"] == 1 and record["mean"] == figures[record["runs"]]
        row = record["row"]
        table = next(t for t in tables if t.id == record["table"])
        assert row == (record["method"] if record["method"] == "halfswap_test" else table.candidate.compare[record["method"]])
    markdown = (tmp_path / "reports" / "tables.md").read_text()
    assert markdown.index("## Candidate profile: halfswap_test (smoke scale)") < markdown.index("## What reproduced")
    t3 = {r["method"]: r for r in records if r["table"] == "T3_imagenet_r50" and r["metric"] == "top1_err"}
    line = next(l for l in markdown.splitlines() if l.startswith("| Top-1 err (%) ↓ | T3_imagenet_r50 |"))
    assert f"| {t3['halfswap_test']['mean']:.2f} (n=1) |" in line and f"| {t3['CutMix']['mean']:.2f} (n=1) |" in line
    assert f"{t3['halfswap_test']['mean'] - t3['CutMix']['mean']:+.2f} (σ: needs 2 seeds)" in line
    assert (tmp_path / "reports" / "figures" / "profile_halfswap_test_smoke.png").is_file()
    csv = (tmp_path / "reports" / "profile_halfswap_test.csv").read_text().splitlines()
    assert len(csv) == len(records) + 1 and csv[0].startswith("candidate,table,metric")
    html = (tmp_path / "reports" / "index.html").read_text()
    assert "Candidate profile: halfswap_test" in html and "profile_halfswap_test.csv" in html
    assert "halfswap_test (candidate)" in markdown  # its rows in the tables below are marked


def test_a_candidate_with_two_seeds_gets_its_sigma_to_cutmix(tmp_path):
    tables, jobs, cells = plan("smoke", "halfswap_test", seeds=[0, 1], tmp_path=tmp_path)
    figures = write_records(jobs, seed_shift=0.5)
    shown = list({c.job.key: c.job for c in cells if c.job}.values())
    build_report(tables, shown, cells, paper_values(), "smoke", tmp_path / "reports")
    records = json.loads((tmp_path / "reports" / "profile_halfswap_test.json").read_text())["records"]
    t7 = {r["method"]: r for r in records if r["table"] == "T7_cifar10_pyr200"}
    mine, cutmix = t7["halfswap_test"], t7["CutMix"]
    values = [figures[key] for key in mine["runs"].split(";")]
    assert mine["n"] == 2 and mine["mean"] == pytest.approx(sum(values) / 2)
    assert mine["std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    sigma = math.sqrt((mine["std"] ** 2 + cutmix["std"] ** 2) / 2)
    difference = mine["mean"] - cutmix["mean"]
    line = next(l for l in (tmp_path / "reports" / "tables.md").read_text().splitlines()
                if l.startswith("| Top-1 err (%) ↓ | T7_cifar10_pyr200 |"))
    assert f"{difference:+.2f} ({difference / sigma:+.1f} σ)" in line
    assert f"{mine['mean']:.2f} ± {mine['std']:.2f} (n=2)" in line
    ranks = sorted(r["rank"] for r in t7.values())
    assert ranks[0] == 1 and len(ranks) == 5


def test_parameters_from_the_command_line_and_per_protocol_file(tmp_path):
    candidate = parse_candidate("wide=halfswap_test:share=0.75,prob=[0.5]")
    assert (candidate.label, candidate.method, candidate.params) == ("wide", "halfswap_test", {"share": 0.75, "prob": [0.5]})
    (tmp_path / "params.yaml").write_text("wide:\n  share: 0.25\n  label_smoothing: 0.1\n  cifar10: {share: 0.5}\n")
    candidate, = with_file_params([parse_candidate("wide=halfswap_test:prob=0.5")], tmp_path / "params.yaml", load_protocols())
    assert candidate.params_for("cifar10") == {"share": 0.5, "label_smoothing": 0.1, "prob": 0.5}
    assert candidate.params_for("imagenet") == {"share": 0.25, "label_smoothing": 0.1, "prob": 0.5}
    protocols = load_protocols()
    catalog = add_candidates(load_tables(protocols=protocols), [candidate], protocols, "smoke")
    row = {t: next(r for r in catalog[t].rows if r.candidate) for t in ("T7_cifar10_pyr200", "T3_imagenet_r50")}
    assert row["T7_cifar10_pyr200"].params["share"] == 0.5 and row["T3_imagenet_r50"].params["share"] == 0.25
    with pytest.raises(HarnessError, match="no --candidate label"):
        with_file_params([parse_candidate("other=halfswap_test")], tmp_path / "params.yaml", protocols)


def run_all(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("candidate, message", [
    ("nosuchmethod", "--candidate nosuchmethod: unknown method 'nosuchmethod'"),
    ("mycut=cutout:sise=8", "'sise'"),
    ("cutmix", "--candidate cutmix: the name collides with the row 'CutMix' of "),
    ("manifold-mixup=mixup", "collides with the row 'Manifold Mixup'"),
    ("a/b=cutmix", "cannot contain '/'"),
    ("x=cutmix:alpha", "cannot read the parameters"),
])
def test_bad_candidates_get_one_line_and_exit_status_2(tmp_path, candidate, message):
    result = run_all("--candidate", candidate, "--plan", "--results", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_an_installed_package_is_a_candidate_without_plugin(tmp_path, data_root):
    """A package declaring its method under the ``mixbench.augmentations`` entry point, found through its
    dist-info as pip installs it: planned, checked and trained by a worker without --plugin."""
    site = tmp_path / "site"
    (site / "rowmix").mkdir(parents=True)
    (site / "rowmix" / "__init__.py").write_text(textwrap.dedent('''
        from harness.augment import Augmentation, mix_targets, register

        @register("rowmix")
        class RowMix(Augmentation):
            def apply(self, images, targets):
                perm = self.draw_permutation(images.shape[0], images.device)
                images[..., ::2, :] = images[perm, ..., ::2, :]
                return images, mix_targets(targets, perm, 0.5)
    '''))
    dist = site / "rowmix-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rowmix\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mixbench.augmentations]\nrowmix = rowmix\n")
    env = {**__import__("os").environ, "PYTHONPATH": f"{site}:{ROOT}"}
    result = run_all("--candidate", "rowmix", "--tables", "7", "--methods", "rowmix", "--epochs", "1",
                     "--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"),
                     "--data-root", str(data_root), "--no-progress", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jobs: 0 cached, 1 run, 0 failed" in result.stdout
    assert "| rowmix (candidate) |" in (tmp_path / "reports" / "smoke" / "tables.md").read_text()


def test_two_candidates_get_a_row_each_and_a_profile_each(tmp_path):
    tables, jobs, cells = plan("smoke", "halfswap_test", "wide=halfswap_test:share=0.75", tmp_path=tmp_path)
    t3 = next(t for t in tables if t.id == "T3_imagenet_r50")
    assert [r.name for r in t3.rows if r.candidate] == ["halfswap_test", "wide"]
    own = {c.row: c.job for c in cells if c.table == "T3_imagenet_r50" and c.row in ("halfswap_test", "wide")}
    assert own["halfswap_test"].key != own["wide"].key and own["wide"].config["method_params"]["share"] == 0.75
    write_records(jobs)
    shown = list({c.job.key: c.job for c in cells if c.job}.values())
    build_report(tables, shown, cells, paper_values(), "smoke", tmp_path / "reports")
    markdown = (tmp_path / "reports" / "tables.md").read_text()
    assert "## Candidate profile: halfswap_test" in markdown and "## Candidate profile: wide" in markdown
    assert all((tmp_path / "reports" / f"profile_{label}.{kind}").is_file() for label in ("halfswap_test", "wide")
               for kind in ("csv", "json"))
    with pytest.raises(HarnessError, match="labels must be unique"):
        plan("smoke", "halfswap_test", "halfswap_test:share=0.25", tmp_path=tmp_path)
