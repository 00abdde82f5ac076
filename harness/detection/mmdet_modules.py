"""Everything the harness registers into MMDetection; importing this module is enough (the experiment
configs name it in ``custom_imports``, so MMDetection's own tools can run them too)."""
from __future__ import annotations

from harness.detection import backbones, fixes, hooks, metric  # noqa: F401  (registration)
