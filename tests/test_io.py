"""Atomic writes get the umask's permissions; checkpoint reads refuse code and report damage."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from harness.io import (CorruptFileError, UnsafeCheckpointError, atomic_directory, atomic_torch_save, atomic_write_bytes,
                        atomic_write_json, atomic_write_text, load_torch)


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it after."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)])
def test_written_files_get_the_umask_permissions_of_ordinary_files(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    written = [atomic_write_text(tmp_path / "a.md", "x"), atomic_write_bytes(tmp_path / "b.png", b"x"),
               atomic_write_json(tmp_path / "record.json", {"a": 1}), atomic_torch_save(tmp_path / "c.pt", {"w": torch.ones(1)})]
    for path in written:
        assert mode(path) == file_mode, path.name
    with atomic_directory(tmp_path / "generated") as staging:
        (staging / "f.txt").write_text("x")
    assert mode(tmp_path / "generated") == dir_mode
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert mode(plain) == file_mode  # the same as open() gives


class RunsCode:
    """A pickle whose loading would create a file: what a hostile checkpoint does."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.ones(1)}, "payload": RunsCode(target)}, path)
    with pytest.raises(UnsafeCheckpointError, match="evil.pt: refused to load"):
        load_torch(path)
    assert not target.exists()


def test_the_harness_checkpoint_types_load(tmp_path):
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 3])  # keeps a collections.Counter
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
             "rng": torch.get_rng_state(), "curve": [{"epoch": 1, "top1_err": 50.0}], "incidents": ["x"], "cuda_rng": None}
    atomic_torch_save(tmp_path / "c.pt", state)
    loaded = load_torch(tmp_path / "c.pt")
    assert loaded["schedule"]["milestones"] == schedule.state_dict()["milestones"]
    assert torch.equal(loaded["model"]["weight"], model.weight)


def test_a_truncated_checkpoint_is_reported_as_corrupt(tmp_path):
    path = atomic_torch_save(tmp_path / "c.pt", {"w": torch.ones(1000)})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match="c.pt: unreadable"):
        load_torch(path)
    with pytest.raises(FileNotFoundError):
        load_torch(tmp_path / "absent.pt")


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), RuntimeError("CUDA out of memory. Tried to allocate"),
                                   MemoryError()])
def test_a_transient_error_while_loading_is_not_corruption(tmp_path, monkeypatch, error):
    """Only a file that cannot be decoded is corrupt: an I/O or out-of-memory error propagates as it is."""
    path = atomic_torch_save(tmp_path / "c.pt", {"w": torch.ones(3)})

    def failing_load(*args, **kwargs):
        raise error

    monkeypatch.setattr(torch, "load", failing_load)
    with pytest.raises(type(error)) as raised:
        load_torch(path)
    assert not isinstance(raised.value, CorruptFileError)
