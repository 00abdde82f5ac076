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
