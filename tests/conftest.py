"""Shared fixtures: generated data (made once per session) and the optional real subsets in ../shared/data."""
from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path

import pytest

# A data-parallel rank that waits longer than this for another fails with a stack instead of hanging the suite
# (inherited by the processes the tests start).
os.environ.setdefault("MIXBENCH_PG_TIMEOUT_S", "120")

SHARED_DATA = Path(os.environ.get("MIXBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A data root holding the embedded synthetic set at 32 px (generated once for the whole session)."""
    from harness.data import build_datasets

    root = tmp_path_factory.mktemp("data")
    build_datasets("synthetic", root, image_size=32)
    return root


def shared(subpath: str) -> Path:
    """A folder of ../shared/data, or skip the test where this machine does not have it."""
    path = SHARED_DATA / subpath
    if not path.exists():
        pytest.skip(f"{path} absent (small real data subsets are only on the project's machines)")
    return path


def cifar10_first_images(folder: Path, train_per_class: int, test_per_class: int) -> Path:
    """The first images of each class of the JPEG edition of CIFAR-10 (../shared, else skip), extracted under
    ``folder`` as class folders ``train/`` and ``test/``; the folder holding them."""
    archive = shared("cifar10_jpeg") / "cifar10_jpeg.tar.gz"
    wanted = {"train": train_per_class, "test": test_per_class}

    def early(name: str) -> bool:  # a member <split>/<class>/NNNN.jpg among its class's first images
        match = re.search(r"(train|test)/[^/]+/(\d+)\.jpg$", name)
        return bool(match) and int(match.group(2)) < wanted[match.group(1)]

    extracted = folder / "extracted"
    with tarfile.open(archive) as tar:
        tar.extractall(extracted, members=[m for m in tar.getmembers() if m.isfile() and early(m.name)],
                       filter="data")
    return extracted


def make_study(tables, protocols: dict, scale: str, results: Path, catalog: dict | None = None, **settings):
    """A :class:`~harness.study.Study` over ``tables`` (the catalog, unless given) with these run settings."""
    from harness.study import RunSettings, Study

    settings = {k: tuple(v) if k == "plugins" else v for k, v in settings.items()}
    return Study(scale, protocols, catalog or {t.id: t for t in tables}, Path(results), RunSettings(**settings))


def expand_tables(tables, protocols: dict, scale: str, results: Path, *, seeds=None, rows=None, catalog=None,
                  **settings):
    """The jobs and cells of ``tables`` at ``scale`` (:func:`harness.expand.expand` over :func:`make_study`)."""
    from harness.expand import expand

    return expand(make_study(tables, protocols, scale, results, catalog, **settings), list(tables), seeds=seeds,
                  rows=rows)
