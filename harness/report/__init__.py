"""The report, rebuilt from ``results/`` and the specs alone (no training): markdown and self-contained HTML."""
from harness.report.build import build_report, write_scales_index

__all__ = ["build_report", "write_scales_index"]
