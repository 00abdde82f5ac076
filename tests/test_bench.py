"""The benchmark scripts run and print their comparison (what they measure is not asserted: timings are for
the scripts, never for tests)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

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


def test_pipeline_agreement_builds_both_pipelines_batches_with_the_same_method_draws(data_root):
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "pipeline_agreement.py"), "--dataset", "synthetic",
                             "--data-root", str(data_root), "--train-subset", "200", "--model", "resnet_cifar_tiny",
                             "--batch-size", "16", "--epochs", "1"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rows = dict(re.findall(r"^  (batches|mixed batches)\s+(\d+\s+\d+)\s+\+0$", result.stdout, re.MULTILINE))
    batches, mixed = (list(map(int, rows[name].split())) for name in ("batches", "mixed batches"))
    assert batches[0] == batches[1] > 0 and mixed[0] == mixed[1]  # CutMix's own stream: the same in both pipelines
    assert 0 < mixed[0] < batches[0]  # p = 0.5 over the whole batch
    assert re.search(r"^  loss, mixed batches\s+\d+\.\d{4}\s+\d+\.\d{4}", result.stdout, re.MULTILINE)


def test_mixed_loss_split_recovers_the_plain_and_mixed_losses_a_curve_was_made_of(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from mixed_loss_split import mixed_shares, split
    finally:
        sys.path.remove(str(ROOT / "bench"))
    config = {"method": "cutmix", "method_params": {"alpha": 1.0, "prob": 0.5}, "seed": 3, "batch_size": 8,
              "train_subset": 80, "milestones": [6]}
    (tmp_path / "job.json").write_text(json.dumps({"config": config}))
    shares = mixed_shares(config, epochs=12, steps=10, image_size=16, classes=10)
    loss = np.where(np.arange(12) < 6, 1.5 + 0.5 * shares, 0.2 + 1.1 * shares)  # plain / mixed: 1.5 / 2.0, 0.2 / 1.3
    pd.DataFrame({"epoch": range(1, 13), "train_loss": loss}).to_csv(tmp_path / "log.csv", index=False)
    first, second = split(tmp_path, image_size=16, classes=10, train_size=None)
    assert (first["epochs"], second["epochs"]) == ("1-6", "7-12")
    assert abs(first["plain"] - 1.5) < 1e-9 and abs(first["mixed"] - 2.0) < 1e-9
    assert abs(second["plain"] - 0.2) < 1e-9 and abs(second["mixed"] - 1.3) < 1e-9 and second["residual sd"] < 1e-9
    assert 0 < shares.min() and shares.max() < 1 and len(set(shares)) > 1  # epochs mix different shares of batches
