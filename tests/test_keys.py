"""Run keys never change by accident: every finished run, the evidence runs and every shared bundle are found by
them. The keys below were written down before the study refactor (tests/data/run_keys.json)."""
from __future__ import annotations

import json

from run_keys import SNAPSHOT, planned_keys


def test_every_planned_key_is_the_one_written_down(tmp_path):
    written = json.loads(SNAPSHOT.read_text())
    planned = planned_keys(tmp_path)
    assert set(planned) == set(written), "cells planned or dropped: " + ", ".join(sorted(set(planned) ^ set(written))[:5])
    changed = [cell for cell in written if planned[cell] != written[cell]]
    assert not changed, (f"{len(changed)} run key(s) changed, e.g. {changed[:3]}: finished runs would no longer be "
                         "found (regenerate with python tests/run_keys.py only where an issue says keys change)")


def test_the_mini_evidence_runs_keep_their_names(tmp_path):
    """Planned on the JPEG edition of CIFAR-10 (its fingerprint as the plan computes it from those files), the mini
    comparison's runs are named as the evidence runs were (docs/evidence.md: Baseline seed 0)."""
    jpeg = "60000:f32c1176d5ec0920"  # data_fingerprint("cifar10", <cifar10_jpeg.tar.gz extracted>)
    keys = planned_keys(tmp_path, jpeg, {"mini": [["--tables", "7", "--rows", "Baseline", "CutMix", "--seeds", "0"]]})
    assert keys["mini T7_cifar10_pyr200/Baseline seed 0"] == "68313d0a245114f5"
    assert keys["mini T7_cifar10_pyr200/CutMix seed 0"] == "30eade2a0300a339"
