"""A run's identity: the part of its configuration that decides what it computes, and the key that names it.

Every task declares, once, how its configuration names its run (:class:`Identity`): each field of the
configuration is either part of the identity or declared to change only where or how the run executes. A field
declared as neither stops the plan (:class:`UndeclaredField`), so that a new setting can never be forgotten in the
key and silently reuse a stale run. One function computes every key (:func:`run_key`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from harness.errors import HarnessError


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (a given checkpoint's identity; a bundle's files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """A job's configuration with a nested training run (``train``) lifted to the top level."""
    return {**{k: v for k, v in config.items() if k != "train"}, **config.get("train", {})}


WHERE_AND_HOW = {"data_root", "device", "num_workers", "plugins", "labels", "compile", "download", "init_from",
                 "backbone_checkpoint"}  # where and how a run executed: never a difference in what it computed


def settings_difference(stored: dict[str, Any], planned: dict[str, Any]) -> list[str]:
    """The settings in which a stored run differs from the planned one (``code`` where its method or model code
    does; ``backbone_key`` where it starts from another run)."""
    stored, planned = _flat(stored), _flat(planned)
    return sorted(k for k in set(stored) | set(planned)
                  if k not in WHERE_AND_HOW and json.dumps(stored.get(k), sort_keys=True, default=str)
                  != json.dumps(planned.get(k), sort_keys=True, default=str))


class UndeclaredField(HarnessError):
    """A configuration field that its task's identity declares neither part of the identity nor execution-only."""


def run_key(identity: dict[str, Any], *, compact: bool = False) -> str:
    """16 hex digits of the SHA-256 of ``identity`` as canonical JSON (sorted keys). Training runs have always
    been named from compact JSON (``{"a":1}``) and the jobs that start from them from spaced JSON (``{"a": 1}``):
    both are kept, so that no finished run's key changes."""
    separators = (",", ":") if compact else (", ", ": ")
    canonical = json.dumps(identity, sort_keys=True, separators=separators)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Derived:
    """An identity entry computed from configuration fields (``sources``); None leaves it out of the identity."""

    sources: tuple[str, ...]
    compute: Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Identity:
    """How one task's configuration names its run, declared once.

    ``fields``: identity name -> the configuration field it holds (the names are those the first records were
    hashed by, so they can differ from the configuration's), or a :class:`Derived` entry. A field the
    configuration does not hold is left out (a setting used by one evaluation only, or added after the first
    records). ``execution``: the fields that change only where or how a run executes, or that another identity
    entry already stands for (a checkpoint's path, for the key of the run that wrote it), each with why.
    """

    task: str
    fields: Mapping[str, str | Derived]
    execution: Mapping[str, str]
    constants: Mapping[str, Any] = field(default_factory=dict)

    def declared(self) -> set[str]:
        """Every configuration field this identity reads or declares execution-only."""
        read = {source for entry in self.fields.values()
                for source in (entry.sources if isinstance(entry, Derived) else (entry,))}
        return read | set(self.execution)

    def part(self, config: dict[str, Any]) -> dict[str, Any]:
        """The identity of a run of this task: what its key is the digest of."""
        undeclared = sorted(set(config) - self.declared())
        if undeclared:
            raise UndeclaredField(f"{self.task}: configuration field(s) {', '.join(undeclared)} declared neither part "
                                  "of the run's identity nor execution-only (harness.tasks: the task's identity)")
        identity: dict[str, Any] = {"task": self.task, **self.constants}
        for name, entry in self.fields.items():
            if isinstance(entry, Derived):
                value = entry.compute(config)
                if value is not None:
                    identity[name] = value
            elif entry in config:
                identity[name] = config[entry]
        return identity

    def key(self, config: dict[str, Any]) -> str:
        """The run's key: :func:`run_key` of :meth:`part`."""
        return run_key(self.part(config))
