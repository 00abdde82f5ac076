"""Released weights given with --backbone: checked against the network each job builds when the plan is made
(a misfit stops the command before anything is queued, naming the tensors), loaded through the same check, and
built as the file's own network where the scale trains a stand-in."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.models import create_model
from harness.weights import MisfitWeights, load_checked, misfits, read_weights

ROOT = Path(__file__).resolve().parents[1]


def official_checkpoint(path: Path, model: str = "resnet50", num_classes: int = 1000, edit=None) -> Path:
    """A checkpoint as CutMix-PyTorch's train.py saves it (random weights): DataParallel's ``module.`` names under
    ``state_dict``, beside the epoch, the architecture, the best errors and the optimizer's state."""
    network = create_model(model, num_classes)
    state = {f"module.{name}": tensor for name, tensor in network.state_dict().items()}
    if edit:
        edit(state)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9)
    torch.save({"epoch": 300, "arch": model, "state_dict": state, "best_err1": 21.4, "best_err5": 5.92,
                "optimizer": optimizer.state_dict()}, path)
    return path


def test_a_misfit_names_each_missing_tensor_and_each_tensor_of_another_shape(tmp_path):
    def damage(state):
        state["module.layer3.0.conv2.weight"] = torch.zeros(3, 3, 3, 3)
        del state["module.layer2.0.bn1.bias"]
        del state["module.bn1.num_batches_tracked"]  # older files lack the counter: never a misfit

    path = official_checkpoint(tmp_path / "r.pth", "resnet_tiny", 10, damage)
    given = read_weights(path)
    assert not any(name.startswith("module.") for name in given) and "fc.weight" in given
    problems = misfits(given, create_model("resnet_tiny", 10), with_head=True)
    assert problems[0] == "1 tensor(s) missing: layer2.0.bn1.bias"
    assert problems[1].startswith("1 tensor(s) of another shape: layer3.0.conv2.weight (3, 3, 3, 3) (the network's (")
    assert misfits(given, create_model("resnet_tiny", 5), with_head=False) == problems  # the head is left out
    assert "fc.weight" in misfits(read_weights(official_checkpoint(tmp_path / "ok.pth", "resnet_tiny", 10)),
                                  create_model("resnet_tiny", 5), with_head=True)[0]


def test_loading_checks_first_and_then_holds_the_files_tensors(tmp_path):
    path = official_checkpoint(tmp_path / "r.pth", "resnet_tiny", 10)
    network = load_checked(create_model("resnet_tiny", 10), path, with_head=True)
    given = read_weights(path)
    assert all(torch.equal(tensor, given[name]) for name, tensor in network.state_dict().items())
    head = create_model("resnet_tiny", 7)
    before = head.get_classifier().weight.clone()
    load_checked(head, path, with_head=False)  # a new classifier stays as it was built
    assert torch.equal(head.get_classifier().weight, before)
    with pytest.raises(MisfitWeights, match="fc.weight"):
        load_checked(create_model("resnet_tiny", 7), path, with_head=True)


def test_a_released_file_with_one_wrong_tensor_stops_the_plan_naming_it(tmp_path):
    def damage(state):
        state["module.layer3.2.conv2.weight"] = torch.zeros(256, 256, 1, 1)

    from harness.errors import HarnessError
    from harness.run_all import main

    path = official_checkpoint(tmp_path / "cutmix_r50.pth", edit=damage)
    with pytest.raises(HarnessError) as refused:  # the command line prints it as one error and exits 2
        main(["--scale", "reduced", "--tables", "11", "--rows", "CutMix", "--backbone", f"CutMix={path}", "--plan",
              "--results", str(tmp_path / "results")])
    assert "layer3.2.conv2.weight (256, 256, 1, 1) (the network's (256, 256, 3, 3))" in str(refused.value)
    assert not (tmp_path / "results").exists()


def test_a_released_file_is_planned_as_its_own_network_where_the_scale_trains_a_stand_in(tmp_path):
    from conftest import expand_tables
    from harness.experiments import load_protocols, load_tables

    protocols = load_protocols()
    catalog = load_tables(protocols=protocols)
    tables = [catalog[t] for t in ("T11_fgsm", "T10_det_faster_rcnn")]

    def planned(path: Path) -> dict[str, dict]:
        jobs, _ = expand_tables(tables, protocols, "rehearsal", tmp_path, rows={(t.id, "CutMix") for t in tables},
                                catalog=catalog, backbones={"CutMix": str(path)})
        return {job.task: job.config for job in jobs if job.config.get("backbone_file")}

    released = planned(official_checkpoint(tmp_path / "cutmix_r50.pth"))
    assert released["robustness"]["backbone_train"]["model"] == "resnet50" == released["robustness"]["model"]
    assert released["detection"]["detector"] == "detection/rehearsal/faster-rcnn_r50-c4_voc0712.py"
    made_here = planned(official_checkpoint(tmp_path / "tiny.pth", "resnet_tiny", 1000))  # a rehearsal checkpoint
    assert {config["model"] for config in made_here.values()} == {"resnet_tiny"}
    assert made_here["detection"]["detector"] == "detection/rehearsal/faster-rcnn_tiny-c4_voc0712.py"


@pytest.mark.long
@pytest.mark.shared_data
def test_a_released_resnet50_rehearses_tables_10_and_11_as_it_will_run(tmp_path):
    """An official-format ResNet-50 given for CutMix: FGSM, both detectors and NIC run on the real-format sets
    around a ResNet-50 (not the rehearsal's stand-in), and the report names the file's network."""
    import json
    import os

    from test_rehearsal import SHARED_DATA, rehearsal_layout

    path = official_checkpoint(tmp_path / "cutmix_r50.pth")
    data = tmp_path / "data"
    extra = rehearsal_layout(SHARED_DATA, data)
    results, reports = tmp_path / "results", tmp_path / "reports"
    env = {**os.environ, "MIXBENCH_CACHE": str(tmp_path / "cache")}
    finished = subprocess.run(
        [sys.executable, "run_all.py", "--scale", "rehearsal", "--tables", "10", "11", "--rows", "CutMix",
         "--backbone", f"CutMix={path}", "--data-root", str(data), *extra, "--results", str(results), "--reports",
         str(reports), "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert finished.returncode in (0, 3), finished.stdout[-3000:] + finished.stderr[-3000:]  # 3: no Java here
    records = [json.loads(p.read_text()) for p in results.rglob("record.json")]
    tasks = {record["task"] for record in records}
    assert {"robustness", "detection"} <= tasks and (finished.returncode == 3 or "captioning" in tasks)
    assert all(record["config"]["model"] == "resnet50" for record in records)
    assert "resnet50" in (reports / "rehearsal" / "tables.md").read_text()
