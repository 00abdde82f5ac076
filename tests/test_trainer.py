"""The trainer: learning, records, failure records and bit-exact resume."""
from __future__ import annotations

import csv
import json

import pytest
import torch

from harness.errors import NonFiniteLossError
from harness.train import RunConfig, Trainer
from harness.train.trainer import summarize


def tiny(data_root, **overrides) -> RunConfig:
    settings = dict(dataset="synthetic", image_size=32, model="resnet_tiny", method="cutmix",
                    method_params={"prob": 0.5}, epochs=3, milestones=[2], batch_size=100, lr=0.1,
                    data_root=str(data_root))
    settings.update(overrides)
    return RunConfig(**settings)


def test_resume_after_interruption_gives_identical_results(data_root, tmp_path):
    config = tiny(data_root)
    straight = Trainer(config, tmp_path / "straight", progress=False).run()
    assert Trainer(config, tmp_path / "resumed", progress=False).run(stop_after_epoch=1) is None
    assert not (tmp_path / "resumed" / "record.json").exists()
    assert len(torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["curve"]) == 1
    resumed = Trainer(config, tmp_path / "resumed", progress=False).run()
    strip = lambda curve: [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in curve]  # noqa: E731
    assert strip(resumed["curve"]) == strip(straight["curve"])
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_record_contents_and_learning(data_root, tmp_path):
    config = tiny(data_root, method="none", model="resnet_cifar_tiny", batch_size=32, lr=0.05)
    record = Trainer(config, tmp_path, progress=False).run()
    on_disk = json.loads((tmp_path / "record.json").read_text())
    assert on_disk["config_hash"] == record["config_hash"] == config.config_hash()
    for key in ("config", "git", "packages", "hardware", "wall_time_s", "curve", "best", "last"):
        assert key in on_disk
    assert on_disk["packages"]["torch"].startswith("2.")
    curve = on_disk["curve"]
    assert [row["epoch"] for row in curve] == [1, 2, 3]
    assert [row["lr"] for row in curve] == pytest.approx([0.05, 0.05, 0.005])  # milestone 2: decay after epoch 2
    assert curve[-1]["top1_err"] < 60  # chance is 90 %: the embedded data set is learnable
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [float(r["top1_err"]) for r in rows] == [row["top1_err"] for row in curve]
    assert any((tmp_path / "tb").iterdir())
    best = torch.load(tmp_path / "best_model.pt", weights_only=True)  # the weights a fine-tune may start from
    assert best["epoch"] == on_disk["best"]["epoch"]
    assert best["model"].keys() == torch.load(tmp_path / "checkpoint.pt", weights_only=False)["model"].keys()


def test_best_and_last_epoch():
    curve = [{"epoch": 1, "top1_err": 50.0, "top5_err": 9.0}, {"epoch": 2, "top1_err": 40.0, "top5_err": 8.0},
             {"epoch": 3, "top1_err": 45.0, "top5_err": 7.0}]
    assert summarize(curve) == {"best": {"epoch": 2, "top1_err": 40.0, "top5_err": 8.0},
                                "last": {"epoch": 3, "top1_err": 45.0, "top5_err": 7.0}}


def test_non_finite_loss_is_recorded_not_lost(data_root, tmp_path):
    config = tiny(data_root, method="none", lr=1e6, epochs=2, milestones=[2])
    with pytest.raises(NonFiniteLossError):
        Trainer(config, tmp_path, progress=False).run()
    failure = json.loads((tmp_path / "failure.json").read_text())
    assert failure["error_type"] == "NonFiniteLossError" and failure["config_hash"] == config.config_hash()
    assert not (tmp_path / "record.json").exists()


def test_config_hash_ignores_where_and_how_it_runs():
    a = RunConfig(device="cpu", data_root="/a", num_workers=0)
    b = RunConfig(device="cuda", data_root="/b", num_workers=4, labels={"table": "T5"})
    assert a.config_hash() == b.config_hash()
    assert a.config_hash() != RunConfig(seed=1).config_hash()
