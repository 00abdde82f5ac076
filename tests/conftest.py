"""Shared fixtures: generated data (made once per session) and the optional real subsets in ../shared/data."""
from __future__ import annotations

import os
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
