"""Every run key the harness plans, for the key test (``test_keys.py``): every table x scale x seed at the smoke
and mini scales and the paper's plan, with a fixed data fingerprint and timm version (so that the keys name the
harness's own identity rules, not this machine's data or packages).

``python tests/run_keys.py`` writes them to ``tests/data/run_keys.json``: only when a change is meant to give
runs new names (an issue says so), since every finished run and shared bundle is found by its key.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from unittest import mock

SNAPSHOT = Path(__file__).resolve().parent / "data" / "run_keys.json"
# The scales whose plans are written down, each with extra seeds where the evidence runs more than its default.
PLANS = {"smoke": [[]], "mini": [[], ["--tables", "7", "--rows", "Baseline", "CutMix", "Cutout", "Mixup a=1.0",
                                      "--seeds", *map(str, range(10))]], "paper": [[]]}


def planned_keys(results: Path, fingerprint: str = "fixed", plans: dict = PLANS) -> dict[str, str]:
    """``"<scale> <table>/<row> seed <n>" -> key`` for every cell of every plan (upstream runs included), every
    data set's fingerprint ``<name>:<fingerprint>``."""
    import harness.code_identity
    import harness.fingerprint
    from harness.plan import load_catalog, make_plan
    from harness.run_all import parse_args

    keys = {}
    with mock.patch.object(harness.fingerprint, "_fingerprint", lambda dataset, root: f"{dataset}:{fingerprint}"), \
            mock.patch.object(harness.code_identity, "version", lambda package: "fixed"):
        for scale, selections in plans.items():
            for selection in selections:
                args = parse_args(["--scale", scale, "--precision", "fp32", "--device", "cpu", "--results",
                                   str(results), *selection])
                protocols, catalog = load_catalog(args)
                for job in make_plan(args, protocols, catalog).jobs:
                    for table, row, seed in job.cells:
                        keys[f"{scale} {table}/{row} seed {seed}"] = job.key
    return dict(sorted(keys.items()))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        found = planned_keys(Path(folder))
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(found, indent=1) + "\n")
    print(f"{len(found)} keys written to {SNAPSHOT}", file=sys.stderr)
