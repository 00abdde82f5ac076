#!/usr/bin/env python
"""Reproduce the CutMix paper's tables: ``python run_all.py --help``."""
from harness.cli import run_cli
from harness.run_all import main

if __name__ == "__main__":
    run_cli(main)
