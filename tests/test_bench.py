"""The benchmark scripts run and print their comparison (what they measure is not asserted: timings are for
the scripts, never for tests)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_train_throughput_compares_the_harness_step_with_the_official_loop():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "train_throughput.py"), "--model", "resnet_cifar_tiny",
                             "--batch-size", "8", "--classes", "10", "--steps", "2", "--repeats", "1", "--device", "cpu"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rates = re.findall(r"^\s+(harness|reference \(official train.py\))\s+([\d.]+) images/s", result.stdout, re.MULTILINE)
    assert [name for name, _ in rates] == ["harness", "reference (official train.py)"] and all(float(v) > 0 for _, v in rates)
    assert re.search(r"ratio harness / reference: \d+\.\d\d", result.stdout)


def test_decode_throughput_measures_the_input_pipeline_per_core():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "decode_throughput.py"), "--count", "6", "--repeats", "1",
                             "--gpu-rate", "1000", "--gpus", "2"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rates = [float(v) for v in re.findall(r"([\d.]+) images/s per core", result.stdout)]
    cores = int(re.search(r"cores to feed 2 GPUs at 1000 images/s each: (\d+)", result.stdout).group(1))
    assert len(rates) == 2 and rates[0] > rates[1] > 0  # decoding alone is faster than decoding and transforming
    assert abs(cores - 2000 / rates[1]) < 1  # rounded up from the unrounded rate
