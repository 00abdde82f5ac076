"""Atomic file writes (a reader never sees a half-written result, checkpoint or report) with the permissions
the user's umask gives ordinary files, and checkpoint reads that cannot run code."""
from __future__ import annotations

import collections
import json
import os
import pickle
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, IO, Iterator

from harness.errors import HarnessError


def current_umask() -> int:
    """The process's umask (read without changing it where Linux allows, else set and restored at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish_mode(path: Path | str, directory: bool = False) -> None:
    """Give a file made by ``mkstemp``/``mkdtemp`` (mode 0600/0700) the mode ``open``/``mkdir`` would have given."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def _atomic(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write through ``write`` into a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        _publish_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return _atomic(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return _atomic(path, lambda f: f.write(data))


def atomic_write_npz(path: Path, **arrays: Any) -> Path:
    """Arrays as a compressed ``.npz``, atomically: the report may read a job's examples while it runs."""
    import numpy as np

    return _atomic(path, lambda f: np.savez_compressed(f, **arrays))


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or None where it is missing or not readable yet (the report reads records and
    failures of jobs that may be running)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def atomic_torch_save(path: Path, obj: Any) -> Path:
    import torch

    return _atomic(path, lambda f: torch.save(obj, f))


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Build a folder in a staging folder beside ``target`` (yielded), then rename it to ``target``: readers
    see a finished folder or none. If another process finished ``target`` first, theirs is kept."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        yield staging
        _publish_mode(staging, directory=True)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


CHECKPOINT_TYPES = [collections.Counter]  # what the harness's checkpoints hold besides tensors and plain data
                                          # (MultiStepLR keeps its milestones in a Counter)


class UnsafeCheckpointError(HarnessError):
    """A checkpoint holds objects that ``weights_only`` loading refuses (it could run code)."""


class CorruptFileError(HarnessError):
    """A file cannot be read back (truncated, partly copied, not a checkpoint at all)."""


def load_torch(path: Path, map_location: Any = "cpu", allowed: list | None = None) -> Any:
    """``torch.load`` with ``weights_only=True``: only tensors, plain Python data and the types the harness
    saves (plus ``allowed``) are rebuilt, so a checkpoint given by path cannot run code.

    Raises :class:`UnsafeCheckpointError` for a file holding anything else, :class:`CorruptFileError` for one
    that cannot be decoded (a truncated copy), ``FileNotFoundError`` for none; an out-of-memory or I/O error
    propagates as it is (the file may be sound: it is for the caller to retry, not to discard it).
    """
    import torch

    with torch.serialization.safe_globals(CHECKPOINT_TYPES + list(allowed or [])):
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except FileNotFoundError:
            raise
        except pickle.UnpicklingError as err:
            if "weights only load failed" in str(err).lower():
                unsupported = next((line.strip() for line in str(err).splitlines() if "Unsupported global" in line), "")
                raise UnsafeCheckpointError(
                    f"{path}: refused to load: it holds objects other than weights and the harness's own types "
                    f"({unsupported or 'see torch.load'}); only load files you trust, with torch.load yourself") from None
            raise CorruptFileError(f"{path}: unreadable ({err})") from err
        except (MemoryError, OSError):
            raise  # a transient failure (out of memory, an I/O error): the file may be fine, never sent aside
        except (RuntimeError, EOFError, ValueError) as err:
            if isinstance(err, RuntimeError) and "out of memory" in str(err).lower():
                raise  # transient, as above
            raise CorruptFileError(f"{path}: unreadable ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err
