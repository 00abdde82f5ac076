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
from harness.run_all import main as run_all
from harness.train import RunConfig, Trainer

from test_orchestrate import TINY, tiny_experiments, write_table
from conftest import expand_tables

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
    return expand_tables([table], CIFAR, "smoke", tmp_path / "results", data_root=str(root), device="cpu")[0]


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
    jobs = expand_tables(tables, protocols, scale, tmp_path, catalog=catalog, data_root=str(tmp_path))[0]
    backbones = {j.key: j for j in expand_tables(list(catalog.values()), protocols, scale, tmp_path, catalog=catalog,
                                          data_root=str(tmp_path))[0]}
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


def every_task_s_jobs(tmp_path: Path) -> dict[str, list]:
    """The smoke plan of every table, by task: at least one job of each task (Table 12 and Figure 5 add the OOD
    and occlusion evaluations to FGSM)."""
    from harness.experiments import load_protocols, load_tables

    protocols = load_protocols()
    catalog = load_tables(protocols=protocols)
    jobs = expand_tables(list(catalog.values()), protocols, "smoke", tmp_path, catalog=catalog)[0]
    by_task: dict[str, list] = {}
    for job in jobs:
        by_task.setdefault(job.task, []).append(job)
    assert set(by_task) == {"classification", "localization", "detection", "captioning", "robustness"}
    assert {j.config["evaluation"] for j in by_task["robustness"]} == {"fgsm", "ood", "occlusion"}
    return by_task


def identity_of(job) -> tuple[dict, bool]:
    """(what the job's key is the digest of, whether compactly): a training run's RunConfig, else its task's
    declared identity."""
    from harness.tasks import TASKS

    if job.task == "classification":
        return RunConfig.from_dict(job.config).hashed_part(), True
    return TASKS[job.task].identity.part(job.config), False


def test_every_task_names_its_runs_through_the_one_key_helper(tmp_path):
    from harness.identity import run_key

    for task, jobs in every_task_s_jobs(tmp_path).items():
        for job in jobs:
            part, compact = identity_of(job)
            assert job.key == run_key(part, compact=compact), (task, job.cells)
    sources = "".join(path.read_text() for path in (Path(__file__).parents[1] / "harness" / "tasks").glob("*.py"))
    assert "json.dumps" not in sources and "sort_keys" not in sources  # no task hashes a configuration by hand


def changed(value):
    """Another value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return "best" if value == "last" else value + "-other"
    if isinstance(value, list):
        return value + [value[-1] if value else 1]
    if isinstance(value, dict):  # a training run's configuration: another seed
        return {**value, "seed": value["seed"] + 1} if "seed" in value else {**value, "other": 1}
    return "other"


def test_each_field_a_task_s_identity_reads_changes_its_key_and_a_field_declared_nowhere_stops_the_plan(tmp_path):
    from harness.identity import Derived, UndeclaredField
    from harness.tasks import TASKS

    for task, jobs in every_task_s_jobs(tmp_path).items():
        if task == "classification":
            continue  # RunConfig: tests/test_trainer.py and the key snapshot
        identity = TASKS[task].identity
        for job in jobs:
            for name, entry in identity.fields.items():
                for source in entry.sources if isinstance(entry, Derived) else (entry,):
                    if source not in job.config:
                        continue
                    other = {**job.config, source: changed(job.config[source])}
                    if isinstance(entry, Derived) and entry.compute(other) == entry.compute(job.config):
                        continue  # a source that counts only in some cases (a file backbone's planned run)
                    assert identity.key(other) != job.key, (task, name, source)
            with pytest.raises(UndeclaredField, match="new_setting"):
                identity.key({**job.config, "new_setting": 1})


@pytest.mark.parametrize("table", ["T11_fgsm", "T12_ood", "T10_det_ssd", "T10_caption_nic"])
def test_an_evaluation_from_a_given_file_is_named_by_the_data_it_reads(table, tmp_path, monkeypatch):
    """A network given as a file (--backbone) is named by the file's digest: the data the job reads and the network
    it builds must be in its key too, or a rerun on other data reports the first data's figures."""
    import torch

    import harness.fingerprint
    from harness.data import NUM_CLASSES
    from harness.experiments import load_protocols, load_tables
    from harness.models import create_model

    protocols = load_protocols()
    catalog = load_tables(protocols=protocols)
    chosen = [t for t in catalog.values() if t.id.startswith(table)]
    planned = next(job.config["backbone_train"] for job in expand_tables(chosen, protocols, "smoke", tmp_path,
                                                                        catalog=catalog)[0]
                   if job.cells[0][1] == "CutMix")
    weights = tmp_path / "cutmix.pth"  # the network the smoke scale plans, as a file (it is checked when planned)
    torch.save(create_model(planned["model"], NUM_CLASSES[planned["dataset"]]).state_dict(), weights)

    def keys(data: str) -> dict:
        monkeypatch.setattr(harness.fingerprint, "_fingerprint", lambda dataset, root: f"{dataset}:{data}")
        jobs = expand_tables(chosen, protocols, "smoke", tmp_path, catalog=catalog,
                             backbones={"CutMix": str(weights)})[0]
        return {job.cells[0][1]: job.key for job in jobs if job.config.get("backbone_file")}

    full, half = keys("full"), keys("half of the validation images")
    assert set(full) == {"CutMix"} and full["CutMix"] != half["CutMix"]
    assert keys("full") == full  # the same file on the same data: the same run
