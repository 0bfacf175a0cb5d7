"""HTTP errors: every ``HeronError`` subclass maps to one status and one-line JSON.

The body is OpenAI-shaped so OpenAI clients (and Heron's own ``openai:`` backend)
can read it: ``{"error": {"message": "...", "type": "not_found", "code": 404}}``.
Messages never carry a stack trace, and absolute paths are replaced by ``<path>``
(the store home by ``<home>``) so a response does not describe the server's disk.
Unexpected exceptions become a 500 whose message names only the request id.
"""

from __future__ import annotations

import re
from pathlib import Path

from heron.errors import (
    CollectionNotFound,
    ConfigError,
    DimensionMismatch,
    FilterError,
    HeronError,
    HeronTimeout,
    IngestError,
    InputError,
    ModelError,
    StoreError,
)
from heron.store import StoreLocked


class Unauthorized(HeronError):
    """No API key, or one the server does not know."""


class Forbidden(HeronError):
    """A valid API key whose scope does not allow the operation."""


class NotFound(InputError):
    """A named thing (model, request id, record) does not exist."""


class PayloadTooLarge(InputError):
    """The request body is larger than the server accepts."""


class Overloaded(HeronError):
    """Every model slot is busy and the queue is full; retry after ``retry_after_s``."""

    def __init__(self, message: str, *, hint: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class SlotTimeout(HeronTimeout):
    """No work slot came free within the request's time budget (nothing ran)."""

    def __init__(self, message: str, *, hint: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class RateLimited(HeronError):
    """The API key (or client address) sent more requests than its rate allows."""

    def __init__(self, message: str, *, hint: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


#: Most specific first: the first class an error is an instance of decides.
STATUS: tuple[tuple[type[HeronError], int, str], ...] = (
    (Unauthorized, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (CollectionNotFound, 404, "collection_not_found"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (Overloaded, 429, "overloaded"),
    (RateLimited, 429, "rate_limited"),
    (StoreLocked, 503, "store_locked"),
    (SlotTimeout, 503, "busy"),
    (DimensionMismatch, 422, "dimension_mismatch"),
    (FilterError, 400, "filter_error"),
    (InputError, 400, "input_error"),
    (ConfigError, 400, "config_error"),
    (IngestError, 422, "ingest_error"),
    (StoreError, 409, "store_error"),
    (ModelError, 502, "model_error"),
    (HeronTimeout, 504, "timeout"),
    (HeronError, 500, "error"),
)

#: A token that looks like an absolute POSIX path with at least two parts.
_PATH = re.compile(r"(?<![\w:/.])/(?:[\w.@+-]+/)+[\w.@+-]*")


def status_of(error: HeronError) -> tuple[int, str]:
    """The HTTP status and error type for a Heron error."""
    for cls, status, kind in STATUS:
        if isinstance(error, cls):
            return status, kind
    return 500, "error"  # pragma: no cover - HeronError is the last row


def scrub(message: str, home: Path | None = None) -> str:
    """One line, with the store home and other absolute paths hidden."""
    text = " ".join(message.split())
    if home is not None:
        text = text.replace(str(home), "<home>")
    return _PATH.sub("<path>", text)


def error_body(message: str, kind: str, status: int) -> dict[str, dict[str, object]]:
    return {"error": {"message": message, "type": kind, "code": status}}
