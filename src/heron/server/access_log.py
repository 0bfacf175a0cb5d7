"""The access log (``heron serve --access-log``): one line per request, text or JSON.

Each line has the time the request arrived (UTC), method, path (no query
string), status, latency in milliseconds (until the response ended), the request
id and the id of the API key that was verified, if any. Never the body, the
query string, the ``Authorization`` or ``X-API-Key`` header or the key itself:
only the public id part of ``hk_<id>_<secret>``, and only once the key checked.

The request id is the client's ``X-Request-ID`` when it is a short token of safe
characters, else a new one; either way the response carries it back in
``X-Request-ID``. Lines go to the ``heron.access`` logger at INFO;
``configure_access_log`` (called by ``heron serve``) prints them on stdout.

Left out: the client address (the log is about requests, not people) and
per-line user agents; answers keep their own ``request_id`` (the ask's trace id),
which is not this one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron.server.auth import KEY_ID

LOGGER = "heron.access"
LogFormat = Literal["text", "json"]
_REQUEST_ID = b"x-request-id"
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def configure_access_log(logger: logging.Logger | None = None) -> logging.Logger:
    """Send the access log's lines, as they are, to stdout (once per process)."""
    logger = logger or logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not any(getattr(h, "heron_access", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.heron_access = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    return logger


def request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` if it is safe to log and echo, else a new id."""
    for name, value in scope["headers"]:
        if name == _REQUEST_ID:
            text = bytes(value).decode("latin-1")
            if _SAFE_ID.fullmatch(text):
                return text
            break
    return os.urandom(16).hex()


def format_line(fields: dict[str, Any], fmt: LogFormat) -> str:
    if fmt == "json":
        return json.dumps(fields, ensure_ascii=True, separators=(",", ":"))
    status = "-" if fields["status"] is None else fields["status"]
    return (
        f"{fields['time']} {fields['method']} {_printable(fields['path'])} {status} "
        f"{fields['latency_ms']}ms id={fields['request_id']} key={fields['key_id'] or '-'}"
    )


def _printable(path: str) -> str:
    """The path with spaces and control characters %-escaped (one line, one field)."""
    if path.isprintable() and " " not in path:
        return path
    return "".join(c if c.isprintable() and c != " " else quote(c) for c in path)


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class AccessLog:
    """ASGI middleware (outermost): gives each request an id and logs one line at the end."""

    def __init__(
        self, app: ASGIApp, fmt: LogFormat = "text", logger: logging.Logger | None = None
    ) -> None:
        self.app = app
        self.fmt = fmt
        self.logger = logger or logging.getLogger(LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.time()
        started = time.perf_counter()
        rid = request_id(scope)
        memo = scope.setdefault("state", {})
        status: int | None = None

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [*message.get("headers", ()), (_REQUEST_ID, rid.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            if self.logger.isEnabledFor(logging.INFO):
                self._log(scope, arrived, started, status, rid, memo.get(KEY_ID))

    def _log(
        self,
        scope: Scope,
        arrived: float,
        started: float,
        status: int | None,
        rid: str,
        key: str | None,
    ) -> None:
        fields = {
            "time": _timestamp(arrived),
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "request_id": rid,
            "key_id": key,
        }
        # ``logger.info`` would walk the stack for the caller's file and line (a fifth of
        # this middleware's cost, measured); the access log's lines do not need them
        line = format_line(fields, self.fmt)
        self.logger.handle(
            self.logger.makeRecord(LOGGER, logging.INFO, __file__, 0, line, (), None)
        )
