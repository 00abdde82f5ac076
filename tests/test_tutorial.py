"""Follows docs/adding_a_method.md literally: its file, its parameter file, its entry point, its two commands
(one table, then the whole profile) and what it says the report shows."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.augment.registry import ENTRY_POINT_GROUP

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "adding_a_method.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TUTORIAL.read_text(), flags=re.S)


def write_at_named_path(block: str, folder: Path) -> Path:
    """A block whose first line is ``# path``, written there under ``folder``."""
    path = folder / block.splitlines()[0].lstrip("# ").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block)
    return path


def run(command: str, folder: Path, data_root: Path) -> str:
    """The tutorial's command as written, kept off the project's folders and shortened to one epoch."""
    argv = shlex.split(command.strip())
    assert argv[:2] == ["python", "run_all.py"]
    isolation = ["--results", str(folder / "results"), "--reports", str(folder / "reports"),
                 "--data-root", str(data_root), "--epochs", "1", "--no-progress"]
    result = subprocess.run([sys.executable, str(ROOT / "run_all.py"), *argv[2:], *isolation],
                            cwd=folder, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout
    return (folder / "reports" / "smoke" / "tables.md").read_text()


def test_the_tutorials_file_parameters_and_entry_point_are_what_the_harness_reads(tmp_path):
    from harness.augment import load_plugins
    from harness.candidate import parse_candidate, with_file_params
    from harness.experiments import load_protocols

    python, = blocks("python")
    load_plugins([str(write_at_named_path(python, tmp_path))])
    params, = blocks("yaml")
    candidate, = with_file_params([parse_candidate("patchswap")], write_at_named_path(params, tmp_path), load_protocols())
    assert candidate.params_for("cifar10") == {"prob": 1.0} and candidate.params_for("imagenet") == {"prob": 0.5}
    toml, = blocks("toml")
    assert f'[project.entry-points."{ENTRY_POINT_GROUP}"]' in toml and '"my_methods.patchswap"' in toml


@pytest.mark.long
def test_the_tutorial_profiles_a_method_from_one_file_and_one_command(tmp_path, data_root):
    python, = blocks("python")
    write_at_named_path(python, tmp_path)
    one_table, profile = blocks("bash")
    # 2. one table: the candidate's row in Table 7, measured, and a profile of that table's one metric
    markdown = run(one_table, tmp_path, data_root)
    row = next(line for line in markdown.splitlines() if line.startswith("| patchswap (candidate) |"))
    assert "(n=1)" in row and row.rstrip().endswith("| ok |")
    assert "## Candidate profile: patchswap (smoke scale)" in markdown
    # 5. the whole profile: a line per metric the tutorial lists, every cell measured, CSV and JSON beside it
    markdown = run(profile, tmp_path, data_root)
    section = markdown.split("## Candidate profile: patchswap (smoke scale)")[1].split("## What reproduced")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ") and ("↓ |" in line or "↑ |" in line)]
    labels = {line.split(" | ")[0].lstrip("| ") for line in lines}
    for metric in ("Top-1 err (%) ↓", "Top-1 Loc (%) ↑", "MaxBoxAccV2 (%) ↑", "mAP (VOC07, %) ↑", "BLEU-4 ↑", "CIDEr ↑",
                   "Top-1 acc under FGSM (%) ↑", "AUROC (%) ↑", "TNR at TPR 95% (%) ↑"):
        assert metric in labels, (metric, labels)
    assert not any("| — |" in line for line in lines), section  # every method measured on every metric
    assert all(re.search(r"\| \d of 5 \|", line) for line in lines)
    profile_json = json.loads((tmp_path / "reports" / "smoke" / "profile_patchswap.json").read_text())
    assert len(profile_json["table"]) == len(lines) and (tmp_path / "reports" / "smoke" / "profile_patchswap.csv").is_file()
    assert "![profile of patchswap](figures/profile_patchswap_smoke.png)" in markdown


def test_the_readme_quick_starts_profile_command_runs_the_tutorials_method(tmp_path):
    """The README's one-line profile uses docs/examples/patchswap.py, the tutorial's file; planned here (the
    tutorial's test runs the same profile)."""
    example = (ROOT / "docs" / "examples" / "patchswap.py").read_text().splitlines()
    python, = blocks("python")
    assert example[1:] == python.splitlines()[1:]
    line = next(l for l in (ROOT / "README.md").read_text().splitlines() if "--candidate patchswap" in l and "run_all.py" in l)
    argv = shlex.split(line.split("#")[0])
    assert argv[0].endswith("python") and argv[1] == "run_all.py"
    result = subprocess.run([sys.executable, *argv[1:], "--plan", "--results", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "T3_imagenet_r50/patchswap" in result.stdout and "of which the candidates' own: 9 jobs" in result.stdout
