"""Shared command-line behaviour: user errors become one line on stderr and exit status 2."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, NoReturn

import yaml

from harness.errors import HarnessError
from harness.train.config import INPUT_PIPELINES

INPUT_PIPELINE_CHOICES = ("auto", *INPUT_PIPELINES)  # --input-pipeline of run_all.py and python -m harness.train
PRECISION_HELP = ("auto: bf16 autocast on a GPU and on a CPU that computes bf16 natively (AMX, AVX-512 BF16), "
                  "else fp32; fp32 or bf16 to choose. channels_last either way. Part of the runs' identity")
INPUT_PIPELINE_HELP = ("auto: the device-resident pipeline for CIFAR and generated data on one process, else "
                       "torchvision's transforms in a DataLoader; device: the device-resident pipeline (an error where "
                       "a run cannot use it: other data sets, a data policy, several processes); loader: the DataLoader "
                       "everywhere. Part of the runs' identity")


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> NoReturn:
    """Call ``main`` and exit with its status; a :class:`HarnessError` prints ``mixbench: error: ...`` and exits 2."""
    try:
        status = main(argv)
    except HarnessError as err:
        print(f"mixbench: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("mixbench: interrupted (finished epochs are checkpointed; run again to resume)", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # the output piped into a reader that stopped (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush writes nowhere
        sys.exit(141)
    sys.exit(status)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` with each flag's default after its help, where it has one its help does not already say, and
    the description and the epilog (examples) as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default in ([], argparse.SUPPRESS)
        if unset or "(default" in text:
            return text
        return f"{text} (default: %(default)s)"


def parse_params(items: list[str]) -> dict[str, object]:
    """``["alpha=1.0", "mode=sample"]`` -> ``{"alpha": 1.0, "mode": "sample"}`` (values read as YAML)."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HarnessError(f"expected KEY=VALUE, got {item!r}")
        params[key] = yaml.safe_load(value)
    return params
