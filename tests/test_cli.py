"""The commands a user types: bad input gives one line naming the problem and the fix, exit status 2, and
touches nothing; every installed console script starts."""
from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_all(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    isolation = ["--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "--no-progress"]
    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *args, *isolation], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)


def assert_refused(result: subprocess.CompletedProcess, tmp_path: Path, *fragments: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("mixbench: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "results").exists() and not (tmp_path / "reports").exists()


def test_unknown_method_is_refused(tmp_path):
    result = run_all(tmp_path, "--tables", "5", "--methods", "nosuchmethod")
    assert_refused(result, tmp_path, "--methods nosuchmethod", "cutmix")


@pytest.mark.parametrize("flag, value", [("--jobs", "0"), ("--jobs", "-3"), ("--epochs", "0"), ("--workers", "-1"),
                                         ("--gpus-per-job", "0")])
def test_impossible_counts_are_refused(tmp_path, flag, value):
    assert_refused(run_all(tmp_path, flag, value), tmp_path, f"{flag} must be at least")


def test_slurm_flags_are_checked_before_anything_is_written(tmp_path):
    assert_refused(run_all(tmp_path, "--tables", "7", "--slurm-local"), tmp_path, "--slurm-local goes with --executor slurm")
    profile = tmp_path / "cluster.yaml"
    profile.write_text("partition: gpu\ntime: 60\n")
    result = run_all(tmp_path, "--tables", "7", "--executor", "slurm", "--slurm-profile", str(profile))
    assert_refused(result, tmp_path, "cluster.yaml: unknown setting(s) time", "time_min")
    if shutil.which("srun") is None:  # this machine is no Slurm login node: the error says how to try it here
        assert_refused(run_all(tmp_path, "--tables", "7", "--executor", "slurm"), tmp_path, "--slurm-local")


def test_plugin_with_a_syntax_error_names_its_line(tmp_path):
    plugin = tmp_path / "broken_mix.py"
    plugin.write_text("from harness.augment import register\n\ndef oops(:\n    pass\n")
    result = run_all(tmp_path, "--plugin", str(plugin), "--tables", "7")
    assert_refused(result, tmp_path, "broken_mix.py, line 3", "fix the file")


def test_plugin_that_raises_on_import_names_its_line(tmp_path):
    plugin = tmp_path / "raising_mix.py"
    plugin.write_text("import harness\n\nraise ValueError('no such thing')\n")
    result = run_all(tmp_path, "--plugin", str(plugin), "--tables", "7")
    assert_refused(result, tmp_path, "raising_mix.py, line 3", "ValueError: no such thing")


def test_malformed_yaml_table_names_file_and_line(tmp_path):
    experiments = tmp_path / "experiments"
    shutil.copytree(ROOT / "experiments", experiments)
    (experiments / "tables" / "t7_cifar10_pyr200.yaml").write_text("id: T7_broken\nrows:\n  - {name: A, method: none\n  - x: [\n")
    result = run_all(tmp_path, "--experiments", str(experiments))
    assert_refused(result, tmp_path, "t7_cifar10_pyr200.yaml: line ", "invalid YAML")


def test_missing_real_data_stops_before_any_job(tmp_path):
    result = run_all(tmp_path, "--scale", "reduced", "--data-root", str(tmp_path / "nonexistent"), "--tables", "5")
    assert_refused(result, tmp_path, "cifar100 not found under", "nonexistent", "put torchvision's")


def console_scripts() -> dict[str, str]:
    """``[project.scripts]`` of pyproject.toml, read as text (no tomllib on Python 3.10, which is supported)."""
    import re

    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]+)"', section, re.MULTILINE))


@pytest.mark.parametrize("name", sorted(console_scripts()))
def test_every_console_script_resolves_and_starts(name):
    module, _, attribute = console_scripts()[name].partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    installed = Path(sys.executable).parent / name
    assert installed.is_file(), f"{installed} missing: run `make setup` (pip install -e .) after changing pyproject.toml"
    result = subprocess.run([str(installed), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr


def readme_lines() -> list[str]:
    """The lines of the README and of the docs pages beside it (the reference moved there from the README)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [line for page in pages for line in page.read_text().splitlines()]


def test_every_run_all_flag_the_readme_names_is_accepted():
    """Flags on README and docs lines about run_all.py (its command lines and its Flags: paragraphs)."""
    import re

    from harness.run_all import build_parser

    lines, named = readme_lines(), set()
    for index, line in enumerate(lines):
        about_run_all = "run_all.py" in line or any(l.startswith("Flags:") for l in lines[max(0, index - 2):index + 1])
        if about_run_all:
            named |= set(re.findall(r"(--[a-z][a-z0-9-]*[a-z0-9])(?![-*a-z])", line))
    known = set(build_parser()._option_string_actions)
    assert {"--download", "--gpus-per-job", "--slurm-local"} <= named  # the scan finds what it should
    assert named - known == set(), f"README names flags run_all.py does not take: {sorted(named - known)}"


def test_every_spec_key_the_readme_names_is_accepted_and_gpus_and_sync_bn_take_effect(tmp_path):
    import re

    from harness.experiments import ROW_KEYS, SCALE_KEYS, TABLE_KEYS, load_protocols, load_table
    from harness.orchestrate import expand
    from test_orchestrate import TINY, write_table

    named = {m.group(1) for line in readme_lines() for m in re.finditer(r"`([a-z_]+): [\w./]+`", line)}  # `key: value`
    assert {"gpus", "sync_bn", "backbone"} <= named
    assert named - (SCALE_KEYS | ROW_KEYS | TABLE_KEYS) == set()
    import yaml

    (tmp_path / "protocols.yaml").write_text(yaml.safe_dump({"tiny": {"smoke": dict(TINY["tiny"]["smoke"], gpus=2, sync_bn=True)}}))
    protocols = load_protocols(tmp_path / "protocols.yaml")
    table = load_table(write_table(tmp_path, "  - {name: Baseline, method: none}\n"), protocols)
    job = expand([table], protocols, "smoke", tmp_path / "results")[0][0]
    assert (job.config["world_size"], job.config["sync_bn"], job.processes) == (2, True, 2)


def test_the_main_job_benchmark_fails_on_a_run_that_failed(tmp_path):
    """A run that exits early (no Java, a bad flag) must not read as "within budget"."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "main_job.py"), "--keep", str(tmp_path), "--",
                             "--tables", "nosuchtable"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode != 0 and "main job FAILED: run_all.py exited {'from nothing': 2, 'cached': 2}" in result.stderr
    assert json.loads((tmp_path / "main_job.json").read_text())["exit_status"] == {"from nothing": 2, "cached": 2}
