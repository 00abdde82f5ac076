"""Errors a user can act on. Command-line entry points print them as one line and exit with status 2."""
from __future__ import annotations


class HarnessError(Exception):
    """Base class of errors caused by the user's input or environment, not by a bug."""

    exit_code = 2


class DataNotFoundError(HarnessError):
    """A data set is not where the harness looked; the message says what to put where."""


class UnknownNameError(HarnessError, KeyError):
    """A name (augmentation, model, data set, metric...) is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class SpecError(HarnessError):
    """An experiment spec file is invalid; the message names the file and the field."""


class NonFiniteLossError(HarnessError):
    """Training produced a NaN or infinite loss; the run stops and is recorded as failed."""
