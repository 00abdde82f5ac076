"""Advisory locks (``flock``) that say who holds them: one orchestrator per results folder, one process per run
folder. The kernel releases a lock when its holder dies, however it dies, so a stale lock cannot outlive a crash."""
from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from harness.errors import HarnessError


class LockBusyError(HarnessError):
    """Another live process holds the lock."""


@contextmanager
def hold_lock(path: Path, owner: str, busy_hint: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` while the block runs, with ``owner`` (and this pid and host) written
    into it; :class:`LockBusyError` saying who holds it, then ``busy_hint``, if another process does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise LockBusyError(f"{path.parent} is in use by {holder}; {busy_hint}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{owner} (pid {os.getpid()} on {socket.gethostname()})")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def lock_holder(path: Path) -> str | None:
    """Who holds the lock on ``path`` (its text), or None when nobody does (without taking it)."""
    try:
        handle = open(path)
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "another process"
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


RUN_LOCK = ".owner"  # in a run folder: held by the worker running its job, for the whole job


def run_lock(run_dir: Path):
    """One process per run folder (the worker that runs the job holds it)."""
    return hold_lock(Path(run_dir) / RUN_LOCK, "a worker", "a job's folder is written by one process at a time")
