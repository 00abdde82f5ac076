"""One leaderboard over many bundles: two users' bundles of the same candidate (other parameters, so other keys)
give one report where each user's runs are a row of their own, never averaged together, with a leaderboard.csv
and the candidates' profiles side by side; a row name from a bundle is escaped in the HTML report."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.experiments import Row, Table
from harness.report.leaderboard import leaderboard_frame
from harness.report.stored import unplanned_cells
from harness.run_all import main as run_all
from harness.store import StoredRun

from test_bundles import repacked, unpacked, with_digests
from test_orchestrate import tiny_experiments

TABLE = """id: TX_test
title: test table
task: classification
protocol: tiny
model: m
metrics: [top1_err, top5_err]
baseline: Baseline
candidate:
  compare: {Baseline: Baseline, Mixup: Mixup, Cutout: Cutout, CutMix: CutMix}
  profile: [top1_err]
rows:
  - {name: Baseline, method: none}
  - {name: Mixup, method: mixup}
  - {name: Cutout, method: cutout}
  - {name: CutMix, method: cutmix}
"""


def stored(tmp_path: Path, name: str, origin: str, row: str, seed: int, top1: float) -> StoredRun:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "record.json").write_text(json.dumps({"best": {"top1_err": top1}, "last": {"top1_err": top1 + 1}}))
    return StoredRun(folder, "classification", {}, (("T", row, seed),), 0.0, origin)


def test_each_origins_runs_of_a_row_are_a_line_of_their_own_ranked_in_the_metrics_direction(tmp_path):
    runs = [stored(tmp_path, "a0", "here", "X", 0, 10.0), stored(tmp_path, "a1", "here", "X", 1, 12.0),
            stored(tmp_path, "b0", "b.tar.gz 1234", "X", 0, 30.0), stored(tmp_path, "c0", "here", "Base", 0, 20.0),
            stored(tmp_path, "a1new", "here", "X", 1, 14.0)]  # the newer run of seed 1 replaces the older
    table = Table("T", "t", "classification", "p", "m", ("top1_err",), "Base", (Row("Base", "none", {}),), Path("t.yaml"))
    board = leaderboard_frame([table], runs).set_index(["row", "origin"])
    assert board.loc[("X", "here"), "n"] == 2 and board.loc[("X", "here"), "best"] == pytest.approx(12.0)
    assert board.loc[("X", "here"), "best_std"] == pytest.approx(2 ** 0.5 * 2) and board.loc[("X", "here"), "last"] == 13.0
    assert board.loc[("X", "b.tar.gz 1234"), "best"] == 30.0 and board.loc[("X", "b.tar.gz 1234"), "n"] == 1
    assert list(board.sort_values("rank").index.get_level_values("origin")) == ["here", "here", "b.tar.gz 1234"]
    assert board.loc[("X", "here"), "rank"] == 1  # lower error ranks first

    cells = unplanned_cells(runs, planned={("T", "Base", 0)})
    assert {(row, seed) for _, row, seed in cells} == {("X [here]", 0), ("X [here]", 1), ("X [b.tar.gz 1234]", 0)}
    assert cells[("T", "X [here]", 1)][0].folder.name == "a1new"


@pytest.fixture(scope="module")
def two_bundles(tmp_path_factory) -> dict:
    """User A ran the four compared rows and candidate X (CutMix at prob 0.3); user B imported A's bundle and ran
    X at prob 0.9. Each exported what they hold."""
    folder = tmp_path_factory.mktemp("users")
    experiments = tiny_experiments(folder, "", epochs=1)
    (experiments / "tables" / "t.yaml").write_text(TABLE)
    common = ["--experiments", str(experiments), "--device", "cpu", "--no-progress", "--jobs", "1"]
    bundles = {}
    for user, prob, imports in (("a", 0.3, []), ("b", 0.9, ["--import", str(folder / "a.tar.gz")])):
        where = ["--results", str(folder / user / "results"), "--reports", str(folder / user / "reports")]
        candidate = ["--candidate", f"X=cutmix:prob={prob}"]
        assert run_all([*common, *where, *candidate, *imports]) == 0
        bundles[user] = folder / f"{user}.tar.gz"
        assert run_all([*common, *where, *candidate, "--export", str(bundles[user])]) == 0
    return {"common": common, **bundles}


@pytest.mark.long
def test_two_users_bundles_of_one_candidate_give_one_leaderboard_with_a_row_each(two_bundles, tmp_path, capsys):
    reports = tmp_path / "reports"
    args = [*two_bundles["common"], "--results", str(tmp_path / "results"), "--reports", str(reports),
            "--report-only", "--import", str(two_bundles["a"].parent)]  # a folder of bundles: each of them
    assert run_all(args) == 0
    out = capsys.readouterr().out
    assert "5 imported" in out and "4 already here, 1 imported" in out  # A's compared runs are B's: one run each

    board = pd.read_csv(reports / "smoke" / "leaderboard.csv")
    top1 = board[board["metric"] == "top1_err"]
    assert len(top1) == 6 and set(top1["n"]) == {1}
    origins = top1.set_index("row").loc["X", "origin"].tolist()
    assert sorted(o.split()[0] for o in origins) == ["a.tar.gz", "b.tar.gz"]
    assert sorted(top1["rank"].astype(int)) == sorted(top1["best"].rank(method="min").astype(int))

    markdown = (reports / "smoke" / "tables.md").read_text()
    x_rows = [line for line in markdown.splitlines() if line.startswith("| X")]
    named = {line.split("|")[1].strip() for line in x_rows}
    assert {name.split("[")[1].split()[0] for name in named if "[" in name} == {"a.tar.gz", "b.tar.gz"}
    assert "X" not in named  # no row averages the two users' X
    side_by_side = markdown.split("## Candidate profiles side by side")[1].split("##")[0]
    assert side_by_side.count("| X [") == 2 and "| CutMix |" in side_by_side
    assert "## Leaderboard: every origin's runs" in markdown


@pytest.mark.long
def test_a_row_name_from_a_bundle_is_escaped_in_the_report(two_bundles, tmp_path):
    files = unpacked(two_bundles["b"])
    manifest = json.loads(files["manifest.json"])
    candidate = next(run for run in manifest["runs"] if any(cell[1] == "X" for cell in run["cells"]))
    name = f"runs/{candidate['scale']}/{candidate['key']}/job.json"
    job = json.loads(files[name])
    job["cells"] = [[table, "<script>alert(1)</script>", seed] for table, _, seed in job["cells"]]
    hostile = repacked(tmp_path, with_digests({**files, name: json.dumps(job).encode()}))

    reports = tmp_path / "reports"
    assert run_all([*two_bundles["common"], "--results", str(tmp_path / "results"), "--reports", str(reports),
                    "--report-only", "--import", str(hostile)]) == 0
    for page in ("index.html", "tables.md"):
        text = (reports / "smoke" / page).read_text()
        assert "<script>" not in text and "&lt;script&gt;alert(1)" in text, page
