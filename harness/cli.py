"""Shared command-line behaviour: user errors become one line on stderr and exit status 2."""
from __future__ import annotations

import sys
from typing import Callable, NoReturn

import yaml

from harness.errors import HarnessError


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
    sys.exit(status)


def parse_params(items: list[str]) -> dict[str, object]:
    """``["alpha=1.0", "mode=sample"]`` -> ``{"alpha": 1.0, "mode": "sample"}`` (values read as YAML)."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HarnessError(f"expected KEY=VALUE, got {item!r}")
        params[key] = yaml.safe_load(value)
    return params
