"""One command on a machine with one GPU: the GPU tests, the training-throughput benchmark (harness step against
the official-style loop, bf16 + channels_last), the input-pipeline benchmark, and a short real-data run on the
full CIFAR-10 (Baseline against CutMix, the mini scale's CIFAR ResNet, as many epochs as the time left allows),
whose table it prints. Within ``--budget-s`` (8 minutes) in all.

    python bench/gpu_check.py --cifar10 PATH [--budget-s 480] [--out DIR] [--device cuda]
    python bench/gpu_check.py --cifar10 PATH --device cpu --dry-run     # every step, smallest settings, on a CPU

``PATH``: the JPEG edition of CIFAR-10 (``cifar10_jpeg.tar.gz``, or the folder it unpacks to), or any CIFAR-10
the harness reads. It needs nothing else than the repository (the device tool sends no ``../shared``: copy the
archive into a git-ignored folder of the checkout). Each step's output goes to ``DIR/<step>.log``; a summary,
``DIR/gpu_check.json``, lists each step's status, seconds and its figures' lines. Exit status 1 if any step
failed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECONDS_PER_EPOCH_GUESS = 4.0  # a Baseline + CutMix pair's epoch on one GPU before the first one is timed


def unpack(archive: Path, into: Path) -> Path:
    """The data root of ``archive`` (a folder as it is; a ``.tar.gz`` unpacked into ``into``)."""
    if archive.is_dir():
        return archive
    if not archive.is_file():
        sys.exit(f"gpu_check: {archive} not found: give the CIFAR-10 archive (cifar10_jpeg.tar.gz) or its folder")
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def steps(args: argparse.Namespace, data: Path, work: Path) -> list[tuple[str, list[str], float]]:
    """(name, command, share of the budget) of each step; the dry run takes the smallest settings."""
    python, dry = sys.executable, args.dry_run
    tiny = ["--steps", "1", "--repeats", "1"] if dry else []
    throughput = ["--model", "resnet20_cifar_s2", "--image-size", "32", "--batch-size", "8"] if dry else \
        ["--model", "resnet50", "--image-size", "224", "--batch-size", "256", "--steps", "10", "--repeats", "3"]
    pipeline = ["--models", "resnet20_cifar_s2"] if dry else ["--models", "resnet20_cifar_s2", "pyramidnet110_a64"]
    return [
        ("gpu_tests", [python, "-m", "pytest", "-q", "-rs", "-m", "gpu", str(ROOT / "tests")], 0.15),
        ("train_throughput", [python, str(ROOT / "bench" / "train_throughput.py"), "--device", args.device, *throughput, *tiny], 0.15),
        ("input_pipeline", [python, str(ROOT / "bench" / "input_pipeline.py"), "--device", args.device, *pipeline, *tiny,
                            "--json", str(work / "input_pipeline.json")], 0.15),
        ("cifar10_run", [python, str(ROOT / "run_all.py"), "--scale", "mini", "--tables", "7", "--methods", "none", "cutmix",
                         "--seeds", "0", "--data-root", str(data), "--device", args.device, "--jobs", "2",
                         "--results", str(work / "results"), "--reports", str(work / "reports"), "--no-progress"], 0.55),
    ]


def epochs_that_fit(seconds: float, dry: bool) -> int:
    """Epochs of the Baseline + CutMix pair (running side by side) that fit in ``seconds``."""
    return 1 if dry else max(1, int(seconds / SECONDS_PER_EPOCH_GUESS))


def run_step(name: str, command: list[str], limit: float, work: Path) -> dict:
    """Run one step with a time limit, its output in ``work/<name>.log``; its status and seconds."""
    started = time.perf_counter()
    with open(work / f"{name}.log", "w") as log:
        try:
            status = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=max(limit, 10)).returncode
        except subprocess.TimeoutExpired:
            status = "timed out"
    seconds = time.perf_counter() - started
    lines = (work / f"{name}.log").read_text(errors="replace").splitlines()
    print(f"== {name}: {'ok' if status == 0 else f'FAILED ({status})'} in {seconds:.0f} s", flush=True)
    print("\n".join(lines[-12:]), flush=True)
    return {"step": name, "status": status, "seconds": seconds, "command": command, "tail": lines[-12:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar10", type=Path, required=True, help="cifar10_jpeg.tar.gz or a folder of CIFAR-10")
    parser.add_argument("--budget-s", type=float, default=480)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, help="logs and summary (default: a temporary folder)")
    parser.add_argument("--dry-run", action="store_true", help="every step with its smallest settings (a CPU check)")
    args = parser.parse_args()
    started = time.perf_counter()
    work = args.out or Path(tempfile.mkdtemp(prefix="mixbench-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    data = unpack(args.cifar10, work / "cifar10")
    results = []
    for name, command, share in steps(args, data, work):
        left = args.budget_s - (time.perf_counter() - started)
        if name == "cifar10_run":
            command += ["--epochs", str(epochs_that_fit(left - 30, args.dry_run))]
            if (work / "reports" / "mini" / "tables.md").exists():
                (work / "reports" / "mini" / "tables.md").unlink()
        results.append(run_step(name, command, left if name == "cifar10_run" else share * args.budget_s, work))
        if name == "cifar10_run" and (work / "reports" / "mini" / "tables.md").is_file():
            table = [line for line in (work / "reports" / "mini" / "tables.md").read_text().splitlines()
                     if line.startswith("| Baseline |") or line.startswith("| CutMix |") or line.startswith("| Row |")]
            print("\n".join(table[:3]), flush=True)
    (work / "gpu_check.json").write_text(json.dumps({"results": results, "seconds": time.perf_counter() - started,
                                                      "dry_run": args.dry_run, "device": args.device}, indent=2))
    failed = [r["step"] for r in results if r["status"] != 0]
    print(f"gpu_check: {len(results) - len(failed)}/{len(results)} steps ok in {time.perf_counter() - started:.0f} s; "
          f"logs in {work}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
