"""Writing a bundle: the finished runs of a plan, with a manifest that names each run's identity, the environment
it ran in and every file's SHA-256. Data are never exported; weights only where asked."""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness.bundles.layout import FORMAT, MANIFEST, RUN_FILES, VERSION, WEIGHTS, member_name, sha256_file
from harness.errors import HarnessError
from harness.jobs import Job
from harness.store import read_record
from harness.tasks import TASKS
from harness.train.provenance import git_commit


def _harness() -> dict[str, Any]:
    try:
        release = version("mixbench")
    except PackageNotFoundError:
        release = None
    return {"version": release, **git_commit()}


def run_entry(job: Job, files: dict[str, Path]) -> dict[str, Any]:
    """A run's manifest entry: where it goes, its identity and the environment it ran in, its files' digests."""
    record = read_record(job.run_dir)
    train = job.config.get("train", job.config)
    return {"scale": job.scale, "key": job.key, "task": job.task, "cells": [list(cell) for cell in job.cells],
            "identity": TASKS[job.task].identity_of(job.config),
            "data_fingerprint": record.get("data_fingerprint") or train.get("data_fingerprint"),
            "code": {"run": train.get("code"), "harness": record.get("harness_code")},
            "environment": {"packages": record.get("packages"), "hardware": record.get("hardware"),
                            "precision": train.get("precision", "fp32"), "commit": record.get("git")},
            "files": {name: sha256_file(path) for name, path in files.items()}}


def run_files(job: Job, with_weights: bool) -> dict[str, Path]:
    """The files of a finished run that a bundle carries."""
    names = RUN_FILES + ((WEIGHTS,) if with_weights else ())
    return {name: job.run_dir / name for name in names if (job.run_dir / name).is_file()}


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    archive.addfile(info, io.BytesIO(data))


ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


def _write_archive(destination: Path, manifest: dict[str, Any], members: list[tuple[str, Path]]) -> None:
    partial = destination.with_name(f".{destination.name}.partial")
    with tarfile.open(partial, "w:gz") as archive:
        _add(archive, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        for name, path in members:
            _add(archive, name, path.read_bytes())
    os.replace(partial, destination)


def _write_folder(destination: Path, manifest: dict[str, Any], members: list[tuple[str, Path]]) -> None:
    """The bundle as a folder (a repository can hold it, diffs and all): written beside, then swapped in."""
    partial = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for name, path in members:
        (partial / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, partial / name)
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    old = destination.with_name(f".{destination.name}.old")
    if destination.exists():
        os.replace(destination, old)
    os.replace(partial, destination)
    shutil.rmtree(old, ignore_errors=True)


def export_bundle(jobs: list[Job], destination: Path, with_weights: bool = False) -> int:
    """Write the finished ``jobs`` as one bundle at ``destination``: an archive where its name ends in
    ``.tar.gz`` or ``.tgz``, else a folder of the same layout (replacing one there). Atomic: written beside and
    renamed. The number of runs written; a HarnessError where none has finished."""
    finished = [job for job in jobs if job.status() == "finished"]
    if not finished:
        raise HarnessError(f"--export {destination}: no finished run in the selection (run it first, or check --scale "
                           "and --results)")
    entries, members = [], []
    for job in finished:
        files = run_files(job, with_weights)
        entries.append(run_entry(job, files))
        members += [(member_name(job.scale, job.key, name), path) for name, path in files.items()]
    manifest = {"format": FORMAT, "version": VERSION, "harness": _harness(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": entries}
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    archive = destination.name.endswith(ARCHIVE_SUFFIXES)
    (_write_archive if archive else _write_folder)(destination, manifest, members)
    return len(finished)
