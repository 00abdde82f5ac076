"""bench/gpu_check.py, the one-command GPU check, runs every step end to end on a CPU (--dry-run) from an
archive laid out as the JPEG edition of CIFAR-10."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def small_cifar_archive(folder: Path) -> Path:
    """``train/<class>/NNNN.jpg`` (12 a class) and ``test/<class>/`` (4 a class) of random 32x32 images, gzipped."""
    rng = np.random.default_rng(0)
    tree = folder / "tree"
    for split, count in (("train", 12), ("test", 4)):
        for name in CLASSES:
            (tree / split / name).mkdir(parents=True)
            for index in range(count):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tree / split / name / f"{index:04d}.jpg")
    archive = folder / "cifar10_jpeg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(tree / split, arcname=split)
    return archive


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
@pytest.mark.slow
def test_the_dry_run_runs_every_step_and_prints_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXBENCH_CACHE", str(tmp_path / "cache"))
    archive = small_cifar_archive(tmp_path)
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--cifar10", str(archive), "--device",
                             "cpu", "--dry-run", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                            cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert [r["step"] for r in summary["results"]] == ["gpu_tests", "train_throughput", "input_pipeline", "cifar10_run"]
    assert all(r["status"] == 0 for r in summary["results"])
    assert "ratio harness / reference" in result.stdout and "device/loader" in result.stdout
    assert "| Baseline |" in result.stdout and "| CutMix |" in result.stdout  # the real-data run's table
    record = json.loads(next((tmp_path / "out" / "results" / "mini").glob("*/record.json")).read_text())
    assert (record["train_size"], record["test_size"]) == (120, 40)
    assert record["config"]["input_pipeline"] == "device"


def test_a_missing_archive_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--cifar10", str(tmp_path / "none.tar.gz"),
                             "--dry-run", "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1 and "not found: give the CIFAR-10 archive" in result.stderr
