"""Released weights as backbones: ``--backbone ROW=PATH`` starts a transfer row from a checkpoint file in the
official CutMix-PyTorch format, torchvision's, timm's or the harness's own, instead of the harness's run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.errors import HarnessError
from harness.models import create_model
from harness.run_all import main
from harness.train.trainer import load_backbone, read_model_state

FORMATS = {  # how each source saves a network's weights
    "official": lambda state: {"epoch": 300, "arch": "resnet", "best_err1": 21.4,
                               "state_dict": {f"module.{name}": tensor for name, tensor in state.items()}},
    "torchvision": lambda state: dict(state),
    "timm": lambda state: dict(state),
    "harness": lambda state: {"model": dict(state), "curve": []},
}


def checkpoints(folder: Path, model: str = "resnet_tiny", classes: int = 10) -> dict[str, tuple[Path, dict]]:
    """A file per format, each of another randomly initialised ``model`` (name -> (path, its weights))."""
    written = {}
    for index, (kind, pack) in enumerate(FORMATS.items()):
        torch.manual_seed(index)
        state = create_model(model, classes).state_dict()
        path = folder / f"{kind}.pth"
        torch.save(pack(state), path)
        written[kind] = (path, state)
    return written


def test_every_format_reads_back_as_the_network_s_weights(tmp_path):
    for kind, (path, state) in checkpoints(tmp_path).items():
        read = read_model_state(path)
        assert set(read) == set(state) and all(torch.equal(read[k], state[k]) for k in state), kind


def test_torchvision_s_resnet50_loads_into_the_harness_s_resnet50_tensor_for_tensor(tmp_path):
    import torchvision

    weights = torchvision.models.resnet50().state_dict()
    torch.save(weights, tmp_path / "resnet50-torchvision.pth")
    model = create_model("resnet50", 1000)
    load_backbone(model, tmp_path / "resnet50-torchvision.pth")
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in weights.items() if not k.startswith("fc."))


def test_a_file_that_does_not_fit_names_the_tensors(tmp_path):
    torch.save(create_model("resnet_cifar_tiny", 10).state_dict(), tmp_path / "other.pth")
    with pytest.raises(HarnessError, match="does not fit .* missing \\['"):
        load_backbone(create_model("resnet_tiny", 10), tmp_path / "other.pth")


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_transfer_rows_run_from_files_of_each_format_and_say_so(tmp_path):
    files = checkpoints(tmp_path)
    rows = {"Baseline": "official", "Mixup": "torchvision", "Cutout": "timm", "CutMix": "harness"}
    given = [f"--backbone={row}={files[kind][0]}" for row, kind in rows.items()]
    isolation = ["--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "--no-progress"]
    assert main(["--tables", "11", *given, *isolation]) == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "smoke").glob("*/record.json")]
    assert len(records) == 4  # the four FGSM evaluations, and no ImageNet training
    digests = {r["config"]["backbone_file"]["sha256"] for r in records}
    assert len(digests) == 4 and all(r["config"]["backbone_key"] == f"file-{r['config']['backbone_file']['sha256'][:16]}"
                                     for r in records)
    markdown = (tmp_path / "reports" / "smoke" / "tables.md").read_text()
    assert markdown.count("not trained here") >= 4 and str(files["official"][0]) in markdown


def test_a_backbone_for_no_selected_row_is_refused(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"")
    with pytest.raises(HarnessError, match="no selected row starts from such a row"):
        main(["--tables", "7", "--backbone", f"CutMix={tmp_path / 'w.pth'}", "--plan"])
    with pytest.raises(HarnessError, match="no such file"):
        main(["--tables", "11", "--backbone", f"CutMix={tmp_path / 'none.pth'}", "--plan"])


def test_a_backbone_no_job_starts_from_at_the_scale_is_refused(tmp_path):
    """At the smoke scale Table 9's rows train from scratch: a file given for them would go unused."""
    torch.save(create_model("resnet_tiny", 10).state_dict(), tmp_path / "w.pth")
    with pytest.raises(HarnessError, match="no selected job starts from it at the smoke scale"):
        main(["--tables", "9", "--backbone", f"T3_imagenet_r50/CutMix={tmp_path / 'w.pth'}", "--plan",
              "--results", str(tmp_path / "results")])
