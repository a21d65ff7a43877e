"""Errors a user can cause, with messages written for that user.

Every error that reaches the command line or the UI is a :class:`KtuiError`: its
``str()`` is a complete sentence that says what went wrong, where, and what to do.
Anything else that escapes is a bug in ktui and is reported with a traceback in the
log, never in the user's face.
"""

from __future__ import annotations


class KtuiError(Exception):
    """Base class for errors whose message is meant for the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  {hint}")


class PresetError(KtuiError):
    """A preset file cannot be used: names the file, the key path and what was expected."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class DataError(KtuiError):
    """A data set is missing, corrupt or of the wrong shape."""


class TrainingError(KtuiError):
    """Training could not start (for example a model that cannot be built)."""


class StoreError(KtuiError):
    """The run store cannot be used: corrupt, from a newer ktui, busy, or an unknown run."""


class StoreUnavailable(StoreError):
    """The run store cannot take a write *for now*: another process holds its lock, or
    its disk is full. Trying the same write again later can succeed, so the recorder
    keeps it and retries instead of dropping it."""


class StoreReadOnly(StoreError):
    """The store may be read but not written by this user (a PostgreSQL role with only
    SELECT): commands that only read open it ``read_only`` and work."""
