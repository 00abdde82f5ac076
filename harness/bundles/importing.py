"""``run_all.py --import BUNDLE``: every bundle checked whole first (:mod:`.verify`), then its runs added to the
results folder under their keys, each with where it came from (:func:`harness.store.import_run`)."""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from harness.bundles.layout import MANIFEST, Limits
from harness.bundles.verify import VerifiedBundle, VerifiedRun, read_bundle
from harness.store import import_run
from harness.tasks import TASKS


def recompute_key(task: str, config: dict) -> str:
    """The key the harness gives a run of this configuration (an imported run must carry it)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}")
    return TASKS[task].key(config)


def origin_of(bundle: VerifiedBundle, run: VerifiedRun) -> dict:
    """What an imported run's folder says of where it came from."""
    git = run.record.get("git") or {}
    return {"bundle": bundle.source.name, "bundle_sha256": bundle.sha256, "commit": git.get("commit"),
            "dirty": git.get("dirty"), "hardware": run.record.get("hardware"),
            "harness": bundle.manifest.get("harness"), "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def bundle_sources(paths: list[Path]) -> list[Path]:
    """The bundles ``--import`` names: each archive or bundle folder as it is, and for a folder of bundles (no
    manifest of its own) every ``*.tar.gz`` and bundle folder in it, by name."""
    sources = []
    for path in map(Path, paths):
        if path.is_dir() and not (path / MANIFEST).is_file():
            inside = sorted(p for p in path.iterdir() if p.name.endswith(".tar.gz") or (p / MANIFEST).is_file())
            sources += inside or [path]  # a folder with no bundle is refused by name when it is read
        else:
            sources.append(path)
    return sources


def import_bundles(sources: list[Path], results: Path, limits: Limits = Limits()) -> list[str]:
    """Check every bundle (``sources`` as :func:`bundle_sources` reads them), then add their runs to ``results``
    (nothing is written unless all pass); a line per bundle saying what became of its runs."""
    bundles = []
    try:
        for source in bundle_sources(sources):
            bundles.append(read_bundle(Path(source), recompute_key, limits))
        lines = []
        for bundle in bundles:
            outcome = Counter(import_run(run.folder, Path(results) / run.scale / run.key, origin_of(bundle, run),
                                         run.record) for run in bundle.runs)
            said = ", ".join(f"{count} {what}" for what, count in sorted(outcome.items())) or "no run"
            lines.append(f"import {bundle.source} (sha256 {bundle.sha256[:16]}): {said}")
        return lines
    finally:
        for bundle in bundles:
            bundle.close()
