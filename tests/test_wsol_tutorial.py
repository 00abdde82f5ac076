"""Follows docs/adding_a_wsol_method.md literally: a WSOL method the harness has never seen, from its one file,
gets its Table 9 profile from one command at the smoke scale."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "adding_a_wsol_method.md"


def block(language: str) -> str:
    found, = re.findall(rf"```{language}\n(.*?)```", TUTORIAL.read_text(), flags=re.S)
    return found


def write_plugin(folder: Path) -> Path:
    python = block("python")
    path = folder / python.splitlines()[0].lstrip("# ").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(python)
    return path


def test_the_tutorials_method_adds_the_erased_features_cross_entropy_to_the_step(tmp_path):
    """Its step's loss is CE(features) + CE(erased features), through the network's own classifier."""
    import torch.nn.functional as F

    from harness import augment
    from harness.models import create_model

    augment.load_plugins([str(write_plugin(tmp_path))])
    torch.manual_seed(0)
    model = create_model("vgg_gap_tiny", 4).train()
    method = augment.build("eil", 4, threshold=0.8, seed=0)
    method.attach(model)
    images, labels = torch.randn(3, 3, 32, 32), torch.tensor([0, 3, 1])
    batch, targets = method(images, labels)
    torch.sum(-targets * F.log_softmax(model(batch), dim=-1), dim=-1).mean().backward()
    mine = model.fc.weight.grad.clone()
    model.zero_grad()
    features = model.forward_features(images)
    attention = features.mean(dim=1, keepdim=True)
    erased = features * (attention < 0.8 * attention.amax(dim=(2, 3), keepdim=True))
    logits, erased_logits = model.fc(features.mean(dim=(2, 3))), model.fc(erased.mean(dim=(2, 3)))
    (F.cross_entropy(logits, labels) + F.cross_entropy(erased_logits, labels)).backward()
    assert torch.allclose(mine, model.fc.weight.grad, atol=1e-6)


@pytest.mark.long  # minutes: run by make test and CI (-m long)
def test_the_tutorials_wsol_method_gets_its_table_9_profile_from_one_command(tmp_path):
    write_plugin(tmp_path)
    argv = shlex.split(block("bash").strip())
    assert argv[:2] == ["python", "run_all.py"]
    isolation = ["--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "--no-progress"]
    result = subprocess.run([sys.executable, str(ROOT / "run_all.py"), *argv[2:], *isolation], cwd=tmp_path,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0 and "0 failed" in result.stdout, result.stdout + result.stderr
    markdown = (tmp_path / "reports" / "smoke" / "tables.md").read_text()
    for section in ("## Table 9: weakly supervised localization on CUB-200-2011", "## Table 9: weakly supervised localization on ImageNet"):
        table = markdown.split(section)[1].split("\n## ")[0]
        row = next(line for line in table.splitlines() if line.startswith("| EIL (candidate) |"))
        assert row.count("(n=1)") >= 5 and row.rstrip().endswith("| ok |")  # the five metrics, best and last
    profile = markdown.split("## Candidate profile: EIL (smoke scale)")[1].split("\n## ")[0]
    assert "Top-1 Loc (%) ↑" in profile and "MaxBoxAccV2 (%) ↑" in profile
