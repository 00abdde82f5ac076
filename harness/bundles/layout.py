"""The bundle format, version 1: a ``.tar.gz`` archive, or a folder of the same layout (the shipped baselines).

    manifest.json                      format and version, the harness that wrote it, and per run: its scale, key,
                                       task, identity (configuration, data fingerprint, code digests), the
                                       environment it ran in, and the SHA-256 of each of its files
    runs/<scale>/<key>/record.json     the run's record (figures, configuration, provenance)
    runs/<scale>/<key>/job.json        what the run was asked (task, configuration, table cells)
    runs/<scale>/<key>/log.csv         its per-epoch curve, where it has one
    runs/<scale>/<key>/job.log         its output, where it has one
    runs/<scale>/<key>/best.pt         only in a bundle exported --with-weights

Nothing else may stand in a bundle: a member of another name is refused.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.identity import sha256_file  # noqa: F401  (the bundle format's digest)

FORMAT = "mixbench-results-bundle"
VERSION = 1
MANIFEST = "manifest.json"
RUN_FILES = ("record.json", "job.json", "log.csv", "job.log")  # what a run folder gives a bundle, where it has it
WEIGHTS = "best.pt"
MEMBER = re.compile(r"^runs/(?P<scale>[a-z]+)/(?P<key>[0-9a-f]{16})/(?P<file>record\.json|job\.json|log\.csv|"
                    r"job\.log|best\.pt)$")
MIB = 1 << 20


class BundleRefused(HarnessError):
    """A bundle failed its checks: nothing of it was written. ``reasons``: one line each."""

    def __init__(self, source: str, reasons: list[str]):
        self.reasons = reasons
        super().__init__(f"{source}: bundle refused, nothing written:\n" + "\n".join(f"  {r}" for r in reasons))


@dataclass(frozen=True)
class Limits:
    """What an import accepts at most; ``--import-max-file-mb`` and ``--import-max-total-mb`` raise them."""

    file_bytes: int = 64 * MIB  # one file (a ResNet-50's weights are about 100 MiB: raise it for those)
    total_bytes: int = 1024 * MIB  # the whole bundle, unpacked
    files: int = 20_000


def member_name(scale: str, key: str, file: str) -> str:
    return f"runs/{scale}/{key}/{file}"


def _refuse_constant(constant: str) -> None:
    raise ValueError(f"a non-finite number ({constant})")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("a key appears twice")
    return dict(pairs)


def strict_json(data: bytes) -> Any:
    """JSON as the record format has it: finite numbers only (no NaN or Infinity), each key once."""
    return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)


def finite(value: Any) -> bool:
    """Whether every number in a JSON value is finite (a float written as 1e999 reads as infinity)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(map(finite, value.values()))
    if isinstance(value, list):
        return all(map(finite, value))
    return True


RECORD_FIELDS = {"status": str, "config": dict, "best": dict, "last": dict, "git": dict, "harness_code": dict,
                 "packages": dict, "hardware": dict, "wall_time_s": (int, float)}


def record_problems(record: Any) -> list[str]:
    """What in a record breaks the record format (empty: none): its fields and their types, a finished status,
    figures that are numbers or null."""
    if not isinstance(record, dict):
        return ["record.json is not a JSON object"]
    problems = [f"record.json: {name} {'missing' if name not in record else 'is not a ' + getattr(kind, '__name__', 'number')}"
                for name, kind in RECORD_FIELDS.items() if not isinstance(record.get(name), kind)]
    if record.get("status") != "finished":
        problems.append(f"record.json: status {record.get('status')!r}, not 'finished'")
    for which in ("best", "last"):
        figures = record.get(which) if isinstance(record.get(which), dict) else {}
        if any(not (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))) for v in figures.values()):
            problems.append(f"record.json: {which} holds a figure that is not a number")
    return problems

