"""Follows docs/adding_a_method.md literally: its file, its spec line, its command, its report row."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "adding_a_method.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TUTORIAL.read_text(), flags=re.S)


def test_tutorial_adds_a_method_that_reaches_the_report(tmp_path, data_root):
    python, = blocks("python")
    spec_line, = blocks("yaml")
    command, = blocks("bash")
    # 1. the user's own file, at the path its first line names
    relative = python.splitlines()[0].lstrip("# ").strip()
    (tmp_path / relative).parent.mkdir(parents=True)
    (tmp_path / relative).write_text(python)
    # 2. the spec line appended to the table the tutorial names (in a copy of experiments/)
    experiments = tmp_path / "experiments"
    shutil.copytree(ROOT / "experiments", experiments)
    table = experiments / "tables" / "t5_cifar100_pyr200.yaml"
    table.write_text(table.read_text() + spec_line)
    # 3. the command as written, kept off the project's folders and shortened to one epoch
    argv = shlex.split(command.strip())
    assert argv[:2] == ["python", "run_all.py"]
    isolation = ["--experiments", str(experiments), "--results", str(tmp_path / "results"),
                 "--reports", str(tmp_path / "reports"), "--data-root", str(data_root), "--epochs", "1", "--no-progress"]
    result = subprocess.run([sys.executable, str(ROOT / "run_all.py"), *argv[2:], *isolation],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout
    # 4. the report shows the new row, measured
    markdown = (tmp_path / "reports" / "tables.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| PatchSwap (not in paper) |"))
    assert "(n=1)" in row and row.rstrip().endswith("| ok |")
