"""``pip install .`` (not editable) works anywhere: a wheel built from the project's files, installed into a
folder of its own, carries experiments/, the report's templates and the detector configs, and runs from another
folder, whose results/ and reports/ it fills."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("pyproject.toml", "README.md", "harness", "experiments")  # what a wheel is built from


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def packages_under(folder: Path) -> set[str]:
    return {p.parent.relative_to(folder).as_posix() for p in folder.rglob("__init__.py") if "__pycache__" not in p.parts}


def install_wheel(tmp_path: Path) -> Path:
    """The project built as a wheel (from a copy of its files, so the checkout gets no build/) and installed with
    ``pip install --target``: the folder it went to."""
    source, wheels, target = tmp_path / "source", tmp_path / "wheels", tmp_path / "site"
    source.mkdir()
    for name in PROJECT:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source))
    pip("install", "--no-deps", "--no-index", "--target", str(target), *map(str, wheels.glob("*.whl")))
    return target


def pip(*command: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *command],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
@pytest.mark.slow
def test_the_installed_wheel_lists_plans_and_runs_a_table_from_another_folder(tmp_path, data_root):
    target = install_wheel(tmp_path)
    assert packages_under(target / "harness") >= packages_under(ROOT / "harness"), "a package missing from pyproject.toml"
    assert files_under(target / "harness" / "experiments_data") >= files_under(ROOT / "experiments")
    assert files_under(target / "harness" / "report" / "templates") == files_under(ROOT / "harness" / "report" / "templates")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}  # before the editable checkout that this venv also has

    def installed(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(command), capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300)

    where = installed(sys.executable, "-c", "import harness.paths as p; print(p.__file__); print(p.EXPERIMENTS)")
    assert where.stdout.splitlines() == [str(target / "harness" / "paths.py"), str(target / "harness" / "experiments_data")]
    command = str(target / "bin" / "mixbench-run-all")
    listed = installed(command, "--list", "tables")
    assert listed.returncode == 0 and "T7_cifar10_pyr200  Table 7: CIFAR-10" in listed.stdout, listed.stderr
    plan = installed(command, "--tables", "7", "10", "--plan")  # Table 10's detector configs are read to plan it
    assert plan.returncode == 0 and "T10_det_ssd/CutMix" in plan.stdout, plan.stdout + plan.stderr
    assert not any(elsewhere.iterdir())  # --list and --plan write nothing
    run = installed(command, "--tables", "7", "--epochs", "1", "--seeds", "0", "--methods", "none",
                    "--data-root", str(data_root), "--no-progress")
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(list((elsewhere / "results" / "smoke").glob("*/record.json"))) == 1
    tables = next((elsewhere / "reports").rglob("tables.md")).read_text()
    assert "## Table 7: CIFAR-10 classification" in tables and "| Baseline | 3.85 |" in tables
