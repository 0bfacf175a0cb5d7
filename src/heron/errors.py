"""One error root for everything Heron raises on purpose.

Every error carries a message that says what went wrong and a ``hint`` that says
what to do about it. The CLI prints ``str(error)`` as one line and exits with
``error.exit_code``; it never shows a traceback for a ``HeronError``.
"""

from __future__ import annotations


class HeronError(Exception):
    """Root of all deliberate Heron errors."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}" if self.hint else self.message


class ConfigError(HeronError):
    """Bad settings, a missing optional dependency or an unresolvable model spec."""

    exit_code = 2


class InputError(HeronError):
    """The caller passed something unusable (empty query, bad JSON, wrong shape)."""

    exit_code = 2


class ModelError(HeronError):
    """A model failed to load or to run."""

    exit_code = 3


class StoreError(HeronError):
    """The vector store refused an operation or found itself inconsistent."""

    exit_code = 4


class CollectionNotFound(StoreError):
    """A named collection does not exist."""


class DimensionMismatch(StoreError):
    """Vectors do not have the dimension the collection was created with."""


class FilterError(InputError):
    """A metadata filter is malformed or uses an unknown operator."""


class IngestError(HeronError):
    """A file or corpus could not be read into documents."""

    exit_code = 5


class HeronTimeout(HeronError):
    """An operation ran past its time budget."""

    exit_code = 6


def missing_extra(package: str, extra: str) -> ConfigError:
    """The error raised when a lazily imported dependency is not installed."""
    return ConfigError(
        f"the optional dependency '{package}' is not installed",
        hint=f"install it with `pip install 'heron[{extra}]'`",
    )
