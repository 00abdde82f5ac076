"""Data-parallel training (DDP) on the CPU with gloo: two ranks give what one process gives, and a killed
two-process run resumes to the same result as an uninterrupted one."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from timm.loss import SoftTargetCrossEntropy
from torch.multiprocessing import spawn
from torch.nn.parallel import DistributedDataParallel

from harness import augment
from harness.io import load_torch
from harness.locks import RUN_LOCK, lock_holder
from harness.models import create_model
from harness.train import RunConfig
from harness.train.distributed import Ranks, collective_timeout, process_group
from harness.train.trainer import train_step
from harness.worker import distributed_command

from test_trainer import assert_same_run, tiny

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")


def launch(config: RunConfig, run_dir: Path) -> subprocess.Popen:
    """The job's workers under torchrun, as the local executor starts them."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "job.json").write_text(json.dumps({"task": "classification", "config": config.to_dict()}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(run_dir / "job.log", "a") as log:
        return subprocess.Popen(distributed_command(run_dir, config.world_size), cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def finish(process: subprocess.Popen, run_dir: Path) -> dict:
    assert process.wait(timeout=300) == 0, (run_dir / "job.log").read_text()[-3000:]
    return json.loads((run_dir / "record.json").read_text())


def one_step(rank: int, world: int, store: str, images: torch.Tensor, labels: torch.Tensor, initial: dict, out: str) -> None:
    """The harness's training step, on rank ``rank``'s share of the batch (all of it for a world of one). The
    ranks meet through a file, not a TCP port picked in advance that another process could take meanwhile."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                                         timeout=collective_timeout())
    model = create_model("resnet_tiny", 10, norm_layer="groupnorm1")
    model.load_state_dict(initial)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    share = slice(rank * len(images) // world, (rank + 1) * len(images) // world)
    trained = DistributedDataParallel(model) if world > 1 else model
    train_step(trained, images[share], labels[share], augment.build("none", 10, seed=rank), optimizer,
               SoftTargetCrossEntropy(), nullcontext, torch.device("cpu"))
    if rank == 0:
        torch.save(model.state_dict(), out)
    torch.distributed.destroy_process_group()


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_two_ranks_take_the_step_one_process_takes_on_the_whole_batch(tmp_path):
    """A network without batch statistics (group norm): two ranks on half the batch each end the step with the
    weights one process gets on the whole batch (DDP averages the ranks' gradients); the lr is not rescaled."""
    torch.manual_seed(0)
    images, labels = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    initial = create_model("resnet_tiny", 10, norm_layer="groupnorm1").state_dict()
    for world in (1, 2):
        spawn(one_step, args=(world, str(tmp_path / f"store{world}"), images, labels, initial, str(tmp_path / f"world{world}.pt")),
              nprocs=world)
    one, two = torch.load(tmp_path / "world1.pt"), torch.load(tmp_path / "world2.pt")
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-6)
    assert max((one[k] - initial[k]).abs().max().item() for k in one) > 1e-3  # the step did move the weights


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_a_killed_two_process_run_resumes_to_the_uninterrupted_result(data_root, tmp_path):
    config = tiny(data_root, world_size=2, batch_size=50)
    straight = finish(launch(config, tmp_path / "straight"), tmp_path / "straight")
    run_dir = tmp_path / "killed"
    process = launch(config, run_dir)
    deadline = time.time() + 240
    while not (run_dir / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.1)
    for pid in [process.pid, *descendants(process.pid)]:  # torchrun and every rank, mid-run (a crashed node)
        os.kill(pid, signal.SIGKILL)
    process.wait()
    while lock_holder(run_dir / RUN_LOCK) and time.time() < deadline:  # the ranks are gone
        time.sleep(0.1)
    assert not (run_dir / "record.json").exists()
    assert len(load_torch(run_dir / "checkpoint.pt")["rank_states"]) == 2  # each rank's random streams are kept
    resumed = finish(launch(config, run_dir), run_dir)
    assert_same_run(resumed, straight, run_dir, tmp_path / "straight")


def test_a_rank_whose_peer_never_comes_fails_within_the_timeout(monkeypatch):
    """A missing rank is an error after $MIXBENCH_PG_TIMEOUT_S, never a hang (one suite run hung here once)."""
    monkeypatch.setenv("MIXBENCH_PG_TIMEOUT_S", "3")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "0")  # rank 0 serves the store on any free port
    started = time.monotonic()
    with pytest.raises(Exception):
        with process_group(Ranks(rank=0, world_size=2), torch.device("cpu")):
            pass
    assert time.monotonic() - started < 60
