"""The report, rebuilt from ``results/`` and the specs alone (no training): markdown and self-contained HTML."""
from harness.report.build import build_report

__all__ = ["build_report"]
