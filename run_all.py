#!/usr/bin/env python
"""Reproduce the CutMix paper's tables: ``python run_all.py --help``."""
from harness.run_all import cli

if __name__ == "__main__":
    cli()
