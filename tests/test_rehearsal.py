"""The rehearsal scale end to end: every table the paper's way on the small real-format sets of ../shared/data
(skipped where that folder is absent), laid out as users keep their data, with symlinks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import ROOT
from tests.conftest import SHARED_DATA, cifar10_first_images

ODIN_NAMES = ("Imagenet", "Imagenet_resize", "LSUN", "LSUN_resize", "iSUN")


def link(target: Path, source: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=source.is_dir())


def imagenet_layout(source: Path, folder: Path) -> None:
    """``imagenet/``: a ``train/`` tree of class folders made of the validation images (one folder per label), a
    flat ``val/`` with ``val_labels.txt``, and wsolevaluation's ``metadata/`` (its paths start ``images/``)."""
    lines = (source / "val_labels.txt").read_text().splitlines()
    for line in lines:
        name, label = line.split()
        link(folder / "train" / f"n{int(label):08d}" / name, source / "images" / name)
        link(folder / "val" / name, source / "images" / name)
    (folder / "val_labels.txt").write_text("\n".join(lines) + "\n")
    link(folder / "images", source / "images")
    link(folder / "metadata", source / "metadata")


def rehearsal_layout(shared_data: Path, root: Path) -> list[str]:
    """Every data set of the rehearsal under ``root``, each in its own folder as users keep them; the
    ``--data`` arguments of those that are not in a conventional place."""
    cifar10 = cifar10_first_images(root / "cifar10-jpeg", train_per_class=10, test_per_class=10)
    link(root / "cifar100" / "cifar100_subset.npz", shared_data / "cifar100" / "cifar100_subset.npz")
    imagenet_layout(shared_data / "imagenet_val_loc", root / "imagenet")
    link(root / "CUB_200_2011", shared_data / "cub_like_birds" / "CUB_200_2011")
    for year in ("VOC2007", "VOC2012"):  # the set has VOC2007's files; the paper trains on 07+12
        link(root / "VOCdevkit" / year, shared_data / "voc_style_from_coco" / "VOCdevkit" / "VOC2007")
    link(root / "coco", shared_data / "coco_captions_mini")
    classes = sorted(p.name for p in (cifar10 / "test").iterdir())
    for name, cls in zip(ODIN_NAMES, classes):  # 32 px real photos in ODIN's flat folders
        link(root / "ood" / name, cifar10 / "test" / cls)
    return ["--data", f"cifar10={cifar10}", "--data", f"cifar100={root / 'cifar100'}"]


def rehearsal_tables() -> set[str]:
    """Every table whose protocol has a rehearsal."""
    from harness.experiments import REHEARSAL, load_protocols, load_tables

    protocols = load_protocols()
    return {t.id for t in load_tables(protocols=protocols).values() if REHEARSAL in protocols[t.protocol]}


@pytest.mark.long
@pytest.mark.shared_data
def test_rehearsal_runs_every_table_on_real_formats(tmp_path):
    """From an empty results folder: --check-data finds every data set; every table runs on the real formats with
    no failure; the report says REHEARSAL, names its stand-ins, and compares nothing with the paper."""
    import pandas as pd

    data = tmp_path / "data"
    extra = rehearsal_layout(SHARED_DATA, data)
    results, reports = tmp_path / "results", tmp_path / "reports"
    env = {**os.environ, "MIXBENCH_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "run_all.py", "--scale", "rehearsal", "--data-root", str(data), *extra,
               "--results", str(results), "--reports", str(reports), "--no-progress"]
    checked = subprocess.run(command + ["--check-data"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert finished.returncode in (0, 3), finished.stdout[-3000:] + finished.stderr[-3000:]  # 3: no Java here
    failures = [json.loads(f.read_text()).get("error") for f in results.rglob("failure.json")]
    assert not failures, failures
    without_java = {"T10_caption_nic", "TA1_caption", "T1_overview_caption"} if finished.returncode == 3 else set()
    figures = pd.read_csv(reports / "rehearsal" / "results.csv")
    shown = figures[figures["shown"] & figures["best"].notna()]
    assert set(shown["table"]) == rehearsal_tables() - without_java
    assert figures["paper"].isna().all()  # compared with no paper figure
    report = (reports / "rehearsal" / "tables.md").read_text()
    assert "REHEARSAL" in report and "Stand-in networks: resnet_tiny for resnet50." in report
    assert "Stand-in networks" not in report.split("## Table 6:")[1].split("\n## ")[0]  # the paper's nets ran
