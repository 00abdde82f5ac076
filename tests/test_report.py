"""The report: tables from records, the "what reproduced" summary, and cheap rebuilds while jobs finish."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.experiments import load_protocols, load_tables, paper_values
from harness.report import build_report
from harness.report.summary import format_summary_row, std_units, table_summary
from harness.store import executed_code

from conftest import expand_tables

REPORT_TABLES = ("T3_imagenet_r50", "T5_cifar100_pyr200", "T7_cifar10_pyr200", "F3a_cutmix_alpha")


def fixture_run(tmp_path: Path):
    protocols = load_protocols()
    tables = [t for t in load_tables(protocols=protocols).values() if t.id in REPORT_TABLES]
    jobs, cells = expand_tables(tables, protocols, "smoke", tmp_path / "results")
    return tables, jobs, cells


def write_record(job, index: int) -> None:
    curve = [{"epoch": e, "top1_err": 50.0 - e - index, "top5_err": 10.0 - e, "train_loss": 1.0, "test_loss": 1.0,
              "lr": 0.1, "epoch_time_s": 1.0} for e in (1, 2)]
    job.run_dir.mkdir(parents=True, exist_ok=True)
    (job.run_dir / "record.json").write_text(json.dumps({
        "status": "finished", "config": job.config, "curve": curve, "best": {k: curve[-1][k] for k in ("epoch", "top1_err", "top5_err")},
        "last": {k: curve[-1][k] for k in ("epoch", "top1_err", "top5_err")}, "wall_time_s": 3.0,
        "git": {"commit": "abc", "dirty": False}, "harness_code": executed_code("classification"), "packages": {"torch": "2"},
        "hardware": {"device": "cpu", "cpu_count": 2}}))


def recorded_run(tmp_path: Path):
    """The fixture tables with a record for every job: (tables, jobs, cells)."""
    tables, jobs, cells = fixture_run(tmp_path)
    for index, job in enumerate(jobs):
        write_record(job, index)
    return tables, jobs, cells


def test_report_renders_from_fixture_records(tmp_path):
    tables, jobs, cells = recorded_run(tmp_path)
    paths = build_report(tables, jobs, cells, paper_values(), "smoke", tmp_path / "reports")
    markdown = paths["markdown"].read_text()
    for table in tables:
        assert table.title in markdown
    assert "| Baseline | 23.68 | " in markdown  # Table 3's paper figure in place
    assert "| CutMix | 2.88 | " in markdown  # Table 7's
    baseline_measured = 50.0 - 2 - [j.cells[0][:2] for j in jobs].index(("T3_imagenet_r50", "Baseline"))
    # one seed: no "± std", no distance in std units
    assert f"| Baseline | 23.68 | {baseline_measured:.2f} (n=1) | {baseline_measured - 23.68:+.2f} | — |" in markdown
    html = paths["html"].read_text()
    assert html.count("<h2") == len(tables) + 2 and "Provenance" in html and "What reproduced" in html
    assert "figures/F3a_cutmix_alpha_smoke_sweep.png" in markdown  # the ablation's metric-vs-alpha plot
    for table in tables:  # a table of contents: the summary links every section
        assert f'href="#{table.id.lower()}"' in html and f'id="{table.id.lower()}"' in html
    assert "NOT comparable" in markdown and len(paths["html"].read_bytes()) < 200_000  # figures beside, not inlined


def test_a_rehearsal_report_compares_nothing_with_the_paper_and_names_its_stand_ins(tmp_path):
    protocols = load_protocols()
    tables = [t for t in load_tables(protocols=protocols).values() if t.id in ("T3_imagenet_r50", "T6_cifar100_light")]
    jobs, cells = expand_tables(tables, protocols, "rehearsal", tmp_path / "results")
    for index, job in enumerate(jobs):
        write_record(job, index)
    markdown = build_report(tables, jobs, cells, paper_values(), "rehearsal", tmp_path / "reports")["markdown"].read_text()
    assert "REHEARSAL" in markdown and "| 23.68 |" not in markdown  # Table 3's Baseline figure is not beside it
    assert markdown.count("| — (rehearsal) | — (rehearsal) | — (rehearsal) | — (rehearsal) |") == 2
    table3, table6 = markdown.split("## Table 3:")[1].split("## Table 6:")
    assert "Stand-in networks: resnet_tiny for resnet50." in table3
    assert "Stand-in networks" not in table6  # PyramidNet-110 and ResNet-110 run as the paper's


def test_a_rebuild_as_jobs_finish_equals_a_full_build_and_redraws_only_what_changed(tmp_path, monkeypatch):
    tables, jobs, cells = fixture_run(tmp_path)
    paper = paper_values()
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    build_report(tables, jobs, cells, paper, "smoke", incremental)  # before any job: every row pending
    assert "pending" in (incremental / "tables.md").read_text()
    for index, job in enumerate(jobs):
        write_record(job, index)
        if index in (0, len(jobs) // 2):
            build_report(tables, jobs, cells, paper, "smoke", incremental)
    build_report(tables, jobs, cells, paper, "smoke", incremental)
    build_report(tables, jobs, cells, paper, "smoke", full)
    assert (incremental / "tables.md").read_text() == (full / "tables.md").read_text()
    assert (incremental / "index.html").read_text() == (full / "index.html").read_text()
    drawn = sorted(p.name for p in (full / "figures").glob("*.png"))
    assert drawn == sorted(p.name for p in (incremental / "figures").glob("*.png"))
    for name in drawn:
        assert (incremental / "figures" / name).read_bytes() == (full / "figures" / name).read_bytes(), name
    # nothing changed since: a rebuild draws nothing
    import harness.report.build as build

    calls = []
    monkeypatch.setattr(build, "curves_figure", lambda *a: calls.append(a) or None)
    build_report(tables, jobs, cells, paper, "smoke", full)
    assert calls == []
    write_record(jobs[0], 99)  # one job's record changes: only its tables are redrawn
    build_report(tables, jobs, cells, paper, "smoke", full)
    assert sorted({args[0].id for args in calls}) == sorted({t for t, _, _ in jobs[0].cells})


HEAVY_PROBE = """import sys
from harness.run_all import main
code = main(sys.argv[1:])
print("heavy:", sorted(m for m in ("torch", "timm", "torchvision", "matplotlib", "mmdet", "cv2") if m in sys.modules))
sys.exit(code)"""


def test_a_cached_rerun_loads_neither_torch_nor_matplotlib(tmp_path):
    """What keeps a fully cached ``run_all.py`` within seconds: it reads records and rewrites the report, and the
    heavy libraries (torch, timm, matplotlib, mmdet) are never imported."""
    tables, jobs, cells = fixture_run(tmp_path)
    for index, job in enumerate(jobs):
        write_record(job, index)
    args = ["--tables", *REPORT_TABLES, "--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"),
            "--no-progress"]
    outputs = [subprocess.run([sys.executable, "-c", HEAVY_PROBE, *args], capture_output=True, text=True, timeout=120)
               for _ in range(2)]  # the first draws the figures, the second finds them drawn
    for result in outputs:
        assert result.returncode == 0, result.stderr
        assert f"jobs: {len(jobs)} cached, 0 run, 0 failed" in result.stdout, result.stdout
    assert "heavy: []" in outputs[1].stdout, outputs[1].stdout
    assert "matplotlib" in outputs[0].stdout  # the probe sees an import when there is one


def frame(measured, paper, std=None, n=1, rows=("Baseline", "A", "B", "C")) -> pd.DataFrame:
    return pd.DataFrame({"row": list(rows), "top1_err.best": measured, "top1_err.paper": paper,
                         "top1_err.best_std": std or [0.0] * len(rows), "top1_err.n": [n] * len(rows)})


def test_summary_counts_signs_ranks_and_std_units_by_hand():
    # paper: A and C beat the baseline, B is worse; measured: A and C beat it, B beats it too (wrong sign)
    summary = table_summary("top1_err", "Baseline", frame([30.0, 28.0, 29.0, 25.0], [20.0, 18.0, 21.0, 17.0],
                                                         std=[2.0, 1.0, 4.0, 0.5], n=3))
    assert (summary["sign_agree"], summary["sign_total"], summary["compared"]) == (2, 3, 4)
    # ranks measured (4, 2, 3, 1) vs paper (3, 2, 4, 1): rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert summary["rho"] == pytest.approx(0.8)
    # |measured - paper| / std: 5, 10, 2, 16 -> median 7.5
    assert summary["std_units"] == pytest.approx(7.5)
    assert format_summary_row(summary) == {"compared with paper": "4", "sign as paper": "2/3", "ρ": "+0.80", "distance (σ)": "7.5"}


def test_one_seed_gives_no_std_units_and_missing_rows_are_left_out():
    summary = table_summary("top1_err", "Baseline", frame([30.0, 28.0, None, None], [20.0, 18.0, 21.0, None]))
    assert (summary["compared"], summary["sign_agree"], summary["sign_total"]) == (2, 1, 1)
    assert summary["rho"] is None and summary["std_units"] is None  # two rows rank nothing; one seed has no spread
    assert format_summary_row(summary)["distance (σ)"] == "— (1 seed)"
    assert std_units(12.0, 0.5, 2, 11.0) == pytest.approx(2.0) and std_units(12.0, 0.5, 1, 11.0) is None


def test_provenance_says_a_data_parallel_run_mixed_within_each_process():
    from harness.report.build import _hardware

    cpu = {"device": "cpu", "cpu_count": 2}
    assert _hardware(cpu, {"batch_size": 64}) == "cpu (2 cores), fp32"
    assert _hardware({"gpu": "H100"}, {"batch_size": 256, "world_size": 8, "sync_bn": True, "precision": "bf16"}) == \
        "H100, bf16; data-parallel x8: mixing within each process's 32 images, SyncBN"


def test_the_html_renders_the_legend_keeps_to_the_window_and_marks_non_paper_figures(tmp_path):
    import re
    from html.parser import HTMLParser

    tables, jobs, cells = recorded_run(tmp_path)
    paths = build_report(tables, jobs, cells, paper_values(), "smoke", tmp_path / "reports")
    html = paths["html"].read_text()

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.text, self.open, self.tables_outside_scroll = [], [], 0

        def handle_starttag(self, tag, attrs):
            if tag == "table" and not any(t == "div" and ("class", "scroll") in a for t, a in self.open):
                self.tables_outside_scroll += 1
            if tag not in ("img", "meta", "br"):
                self.open.append((tag, attrs))

        def handle_endtag(self, tag):
            while self.open and self.open.pop()[0] != tag:
                pass

        def handle_data(self, data):
            self.text.append(data)

    page = Page()
    page.feed(html)
    assert "**" not in "".join(page.text) and "<strong>Sign</strong>" in html and "<strong>ρ</strong>" in html
    assert page.tables_outside_scroll == 0  # a wide table scrolls in its own box, not the page
    assert re.search(r"\.scroll \{ overflow-x: auto; max-width: 100%;", html)
    assert re.search(r"img \{ max-width: 100%;", html)  # no figure wider than the column
    # AutoAugment's 22.40 is the official README's, not the paper's: marked, and not in the scorecard
    markdown = paths["markdown"].read_text()
    assert "| AutoAugment | — [22.40 (not in the paper: official CutMix-PyTorch README" in markdown
    from harness.report.build import table_frame

    t3 = next(t for t in tables if t.id == "T3_imagenet_r50")
    frame = table_frame(t3, cells, paper_values())
    assert frame.loc[frame.row == "AutoAugment", "top1_err.paper"].isna().all()
    both = frame["top1_err.paper"].notna() & frame["top1_err.best"].notna()
    assert frame.loc[frame.row == "AutoAugment", "top1_err.best"].notna().all()  # measured, yet not compared
    assert table_summary("top1_err", t3.baseline, frame)["compared"] == both.sum()


def test_the_curves_show_whole_epochs(tmp_path, monkeypatch):
    from harness.report import build

    drawn = []
    monkeypatch.setattr(build, "figure_png", lambda fig: drawn.append(fig) or b"png")
    tables, jobs, cells = recorded_run(tmp_path)
    t7 = next(t for t in tables if t.id == "T7_cifar10_pyr200")
    build.curves_figure(t7, build.table_frame(t7, cells, paper_values()), "smoke")
    ticks = [t for t in drawn[0].axes[0].get_xticks() if 1 <= t <= 2]
    assert ticks and all(float(t).is_integer() for t in ticks)


@pytest.mark.skipif(not any(shutil.which(b) for b in ("chromium", "chromium-browser")), reason="needs Chromium (apt install chromium)")
def test_the_page_fits_a_1400_pixel_window_in_chromium(tmp_path):
    """Rendered by headless Chromium at 1,400 px: the page never scrolls sideways (wide tables scroll in their own
    box) and no figure is wider than the window."""
    tables, jobs, cells = recorded_run(tmp_path)
    paths = build_report(tables, jobs, cells, paper_values(), "smoke", tmp_path / "reports")
    probe = ("<script>const w = innerWidth; document.body.dataset.page = document.documentElement.scrollWidth;"
             "document.body.dataset.images = [...document.images].filter(i => i.getBoundingClientRect().right > w).length;"
             "</script></body>")
    (tmp_path / "reports" / "probe.html").write_text(paths["html"].read_text().replace("</body>", probe))
    browser = next(shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000", "--dump-dom",
                          (tmp_path / "reports" / "probe.html").as_uri()], capture_output=True, text=True, timeout=120).stdout
    import re

    page, images = int(re.search(r'data-page="(\d+)"', dom).group(1)), int(re.search(r'data-images="(\d+)"', dom).group(1))
    assert page <= 1400 and images == 0


def test_the_effect_against_the_baseline_has_its_standard_error_and_a_verdict_by_hand():
    from harness.report.summary import effect

    # difference -3, SE = sqrt(1/3 + 1/3) = 0.816: beyond 2 SE
    assert effect("top1_err", 38.0, 1.0, 3, 41.0, 1.0, 3) == "-3.00 ± 0.82 (shown)"
    assert effect("top1_acc", 38.0, 1.0, 3, 41.0, 1.0, 3) == "-3.00 ± 0.82 (reversed)"  # higher is better there
    assert effect("top1_err", 40.0, 1.0, 3, 41.0, 1.0, 3) == "-1.00 ± 0.82 (not shown)"
    assert effect("top1_err", 38.0, 0.0, 1, 41.0, 1.0, 3) == "—"  # one seed: no spread to judge by


def test_the_paired_effect_is_the_mean_of_the_seed_by_seed_differences_by_hand():
    from harness.report.summary import paired_effect

    # differences -1, -1.5, -0.5 (seed 3 has no baseline): mean -1, sd 0.5, SE 0.5 / sqrt(3) = 0.289
    assert paired_effect("top1_err", {0: 39.0, 1: 40.5, 2: 43.5, 3: 30.0}, {0: 40.0, 1: 42.0, 2: 44.0}) == \
        "-1.00 ± 0.29 (shown) (3 pairs)"
    assert paired_effect("top1_err", {0: 39.0, 1: 40.0}, {0: 40.0, 2: 42.0}) == "—"  # one seed in common


def test_a_mini_comparison_shows_each_seed_and_both_standard_errors(tmp_path):
    """Baseline and CutMix over 3 seeds at the mini scale: the pairing by seed removes the seeds' shared spread
    (unpaired: not shown; paired: shown), and each run's best, last and clean fit is listed."""
    protocols = load_protocols()
    table = load_tables(protocols=protocols)["T7_cifar10_pyr200"]
    jobs, cells = expand_tables([table], protocols, "mini", tmp_path / "results")
    best = {("Baseline", 0): 40.0, ("Baseline", 1): 42.0, ("Baseline", 2): 44.0,
            ("CutMix", 0): 39.0, ("CutMix", 1): 40.5, ("CutMix", 2): 43.5}
    for job in jobs:
        _, row, seed = job.cells[0]
        if (row, seed) in best:
            write_record(job, 0)
            record = json.loads((job.run_dir / "record.json").read_text())
            record["best"] = {"epoch": 70 + seed, "top1_err": best[row, seed], "top5_err": 5.0}
            record["last"] = {"epoch": 150, "top1_err": best[row, seed] + 0.5, "top5_err": 5.0}
            record["train_clean"] = {"top1_err": 0.1 * seed, "loss": 0.01 + 0.01 * seed}
            (job.run_dir / "record.json").write_text(json.dumps(record))
    markdown = build_report([table], jobs, cells, paper_values(), "mini", tmp_path / "reports")["markdown"].read_text()
    cutmix = next(line for line in markdown.splitlines() if line.startswith("| CutMix | 2.88 |"))
    # the paper's direction (2.88 - 3.85) beside the measured one, no distance to its figures; SE sqrt(4/3 + 5.25/3)
    assert cutmix.startswith("| CutMix | 2.88 | 41.00 ± 2.29 (n=3) | 41.50 ± 2.29 (n=3) | -0.97 | -1.00 ± 1.76 (not shown) "
                             "| -1.00 ± 0.29 (shown) (3 pairs) |")
    assert "top1_err Δ" not in markdown and "Δ = measured" not in markdown and "| — (mini) |" in markdown
    assert "| CutMix | 1 | 40.50 (epoch 71) | 41.00 | — | 0.10 / 0.020 |" in markdown.split("Seed by seed:")[1]
    assert "| Baseline | 2 | 44.00 (epoch 72) | 44.50 | — | 0.20 / 0.030 |" in markdown
    html = (tmp_path / "reports" / "index.html").read_text()
    assert "Seed by seed" in html and "<td>40.50 (epoch 71)</td>" in html


def test_the_report_gives_each_row_its_difference_to_the_baseline(tmp_path):
    tables, jobs, cells = recorded_run(tmp_path)
    markdown = build_report(tables, jobs, cells, paper_values(), "smoke", tmp_path / "reports")["markdown"].read_text()
    assert "top1_err − Baseline ± SE" in markdown and "<em>shown</em>" not in markdown  # markdown keeps its *
    html = (tmp_path / "reports" / "index.html").read_text()
    assert "<em>shown</em>" in html
