"""A record is what it says it is: the data a run read are part of its identity, and a damaged record is
reported and run again, never shown as pending."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.errors import HarnessError
from harness.experiments import load_table
from harness.fingerprint import data_fingerprint, forget_fingerprints
from harness.orchestrate import expand
from harness.run_all import main as run_all
from harness.train import RunConfig, Trainer

from test_orchestrate import TINY, tiny_experiments, write_table

CIFAR = {"tiny": {"smoke": dict(TINY["tiny"]["smoke"], dataset="cifar10", epochs=1, batch_size=20)}}


def save_cifar(folder: Path, train: int, test: int, seed: int = 0) -> Path:
    """A CIFAR-10-shaped ``.npz`` of random pixels (every class present)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "cifar10_subset.npz", x_train=rng.integers(0, 256, (train, 32, 32, 3), dtype=np.uint8),
             y_train=np.arange(train) % 10, x_test=rng.integers(0, 256, (test, 32, 32, 3), dtype=np.uint8),
             y_test=np.arange(test) % 10)
    return folder


def plan(tmp_path: Path, root: Path):
    forget_fingerprints()
    table = load_table(write_table(tmp_path, "  - {name: Baseline, method: none}\n"), CIFAR)
    return expand([table], CIFAR, "smoke", tmp_path / "results", overrides={"data_root": str(root), "device": "cpu"})[0]


def test_other_data_make_another_run_and_the_record_names_its_data(tmp_path):
    full = save_cifar(tmp_path / "full", 60, 30)
    subset = tmp_path / "subset"
    subset.mkdir()
    with np.load(full / "cifar10_subset.npz") as arrays:  # the first 40 training and 20 test images
        np.savez(subset / "cifar10_subset.npz", x_train=arrays["x_train"][:40], y_train=arrays["y_train"][:40],
                 x_test=arrays["x_test"][:20], y_test=arrays["y_test"][:20])
    on_full, on_subset = plan(tmp_path, full)[0], plan(tmp_path, subset)[0]
    assert on_full.key != on_subset.key and on_full.config["data_fingerprint"] != on_subset.config["data_fingerprint"]
    assert plan(tmp_path, full)[0].key == on_full.key  # the same data: the same run (cached)
    record = Trainer(RunConfig.from_dict(on_full.config), on_full.run_dir, progress=False).run()
    assert (record["train_size"], record["test_size"]) == (60, 30)
    assert record["data_fingerprint"] == on_full.config["data_fingerprint"]
    assert on_full.status() == "finished" and plan(tmp_path, subset)[0].status() == "pending"


def test_a_run_refuses_data_changed_since_it_was_planned(tmp_path):
    root = save_cifar(tmp_path / "data", 40, 20)
    job = plan(tmp_path, root)[0]
    save_cifar(root, 40, 20, seed=1)  # same shape, other pixels
    forget_fingerprints()
    with pytest.raises(HarnessError, match="not those this run was planned with"):
        Trainer(RunConfig.from_dict(job.config), job.run_dir, progress=False).run()


def test_fingerprints_see_content_names_and_sizes_without_decoding(tmp_path):
    root = save_cifar(tmp_path / "a", 20, 10)
    first = data_fingerprint("cifar10", root)
    assert first.startswith("cifar10:1:") and data_fingerprint("cifar10", tmp_path / "none") == "cifar10:missing"
    folder = tmp_path / "voc" / "VOCdevkit" / "VOC2007"
    (folder / "JPEGImages").mkdir(parents=True)
    (folder / "JPEGImages" / "a.jpg").write_bytes(b"x" * 10)
    (folder / "ImageSets.txt").write_text("a\n")
    before = data_fingerprint("voc", tmp_path / "voc")
    forget_fingerprints()
    (folder / "ImageSets.txt").write_text("b\n")  # an index file's content
    edited = data_fingerprint("voc", tmp_path / "voc")
    forget_fingerprints()
    (folder / "JPEGImages" / "a.jpg").write_bytes(b"x" * 11)  # an image's size
    resized = data_fingerprint("voc", tmp_path / "voc")
    assert len({before, edited, resized}) == 3
    assert data_fingerprint("synthetic", None) == data_fingerprint("synthetic", tmp_path)  # generated: by its code
    coco = tmp_path / "coco_root" / "coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "train2017").mkdir()
    (coco / "annotations" / "captions_train2017.json").write_text("{}")
    official = data_fingerprint("coco", tmp_path / "coco_root")
    forget_fingerprints()
    (coco / "dataset_coco.json").write_text("{}")  # Karpathy's split file: the loader then uses his split
    assert data_fingerprint("coco", tmp_path / "coco_root") != official


def test_a_damaged_record_is_reported_set_aside_and_run_again(tmp_path, data_root, capsys):
    experiments = tiny_experiments(tmp_path, "  - {name: Baseline, method: none}\n", epochs=1)
    args = ["--experiments", str(experiments), "--results", str(tmp_path / "results"), "--reports",
            str(tmp_path / "reports"), "--data-root", str(data_root), "--device", "cpu", "--no-progress"]
    assert run_all(args) == 0
    record = next((tmp_path / "results" / "smoke").glob("*/record.json"))
    record.write_text(record.read_text()[:40])  # truncated
    assert run_all(args + ["--report-only"]) == 1
    assert f"damaged: {record}" in capsys.readouterr().out
    assert f"damaged: {record}" in (tmp_path / "reports" / "smoke" / "tables.md").read_text()
    assert run_all(args) == 1  # found damaged: said, set aside, run again
    out = capsys.readouterr().out
    assert f"damaged: {record}" in out and "jobs: 0 cached, 1 run, 0 failed" in out
    assert json.loads(record.read_text())["status"] == "finished"
    aside = list(record.parent.parent.glob(f"{record.parent.name}.damaged-*"))
    assert len(aside) == 1 and len((aside[0] / "record.json").read_text()) == 40  # kept as it was
    assert "earlier record was damaged" in (tmp_path / "reports" / "smoke" / "tables.md").read_text()
    assert run_all(args) == 0 and "jobs: 1 cached, 0 run" in capsys.readouterr().out


@pytest.mark.parametrize("scale", ["smoke", "reduced"])
def test_transfer_rows_name_the_network_that_ran_not_the_papers(scale, tmp_path):
    """Detection, captioning, FGSM and OOD rows start from another table's run: they name its network (the
    scale's stand-in), and the data fingerprint of their own data is part of their identity."""
    from harness.experiments import load_protocols, load_tables

    protocols = load_protocols()
    catalog = load_tables(protocols=protocols)
    tables = [t for t in catalog.values() if t.task in ("detection", "captioning", "robustness") and scale in protocols[t.protocol]]
    jobs = expand(tables, protocols, scale, tmp_path, catalog=catalog, overrides={"data_root": str(tmp_path)})[0]
    backbones = {j.key: j for j in expand(list(catalog.values()), protocols, scale, tmp_path, catalog=catalog,
                                          overrides={"data_root": str(tmp_path)})[0]}
    assert jobs and {j.task for j in jobs} == {"detection", "captioning", "robustness"}
    for job in jobs:
        ran = backbones[job.config["backbone_key"]].config
        assert job.config["model"] == ran.get("train", ran)["model"], job.cells
    if scale == "reduced":  # the paper's PyramidNet-200 is replaced by PyramidNet-110 there
        ood = [j for j in jobs if j.config.get("evaluation") == "ood"]
        assert ood and {j.config["model"] for j in ood} == {"pyramidnet110_a64"}
    else:
        assert "resnet50" not in {j.config["model"] for j in jobs}


def test_records_name_the_packages_that_compute_their_metrics_and_the_report_says_how_captions_were_encoded():
    from harness.tasks import TASKS
    from harness.train.provenance import package_versions

    assert {"mmdet", "mmcv", "mmengine"} <= set(package_versions("detection"))
    assert package_versions("detection")["mmdet"] == "3.3.0"
    assert "pycocoevalcap" in package_versions("captioning") and "opencv-python" in package_versions("localization")
    assert "mmdet" not in package_versions()  # a classification record lists the training stack only
    note = TASKS["captioning"].measured_note
    assert "FROZEN" in note and "stevehuanghe/image_captioning" in note
