"""The hot path of ``POST /v1/search``, answered without FastAPI's per-request machinery.

Profiling one server process under the closed-loop load of ``bench/serve.py``
showed that, next to the store's own work (exact search and record fetch), most
of a vector search's time went to FastAPI: solving the route's six dependencies
(auth, its two security schemes, the state), parsing the body with the stdlib
``json`` (384 floats), and building the response. ``SearchFastLane`` is a pure
ASGI middleware that answers a plain, valid search itself: it reads the body,
parses it with ``orjson`` (when installed), validates it with the route's own
``SearchRequest`` model, checks the key exactly as the route does, runs the same
``search_payload`` in the same bounded search pool and writes the JSON bytes.

Anything else falls through to the FastAPI route with the body replayed, so
every refusal keeps one implementation: a body that is not valid UTF-8 JSON, a
schema violation or cap (422), a missing, wrong or under-scoped key (401/403),
an over-size body (413, raised while reading and re-raised to the route). Store
and pool errors (unknown collection, dimension mismatch, bad filter, 429, 504)
are answered here with the same one-line JSON and headers as the app's handler.
The route template is recorded on the scope, so ``/metrics`` counts these
requests under ``/v1/search`` like any other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron.errors import HeronError
from heron.server.auth import authorize, request_key
from heron.server.errors import error_body, scrub, status_of
from heron.server.schemas import SearchRequest
from heron.server.state import ServerState

try:  # a fast JSON codec when installed (it is in the lock file); stdlib json otherwise
    import orjson

    def loads(data: bytes) -> Any:
        return orjson.loads(data)

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

except ImportError:  # pragma: no cover - orjson is installed with the serve extra's lock

    def loads(data: bytes) -> Any:
        return json.loads(data.decode("utf-8"))

    def dumps(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


PATH = "/v1/search"
_JSON = b"application/json"


class _RouteLabel:
    """Stands for the route on the scope: ``MetricsMiddleware`` reads its ``path``."""

    path = PATH


ROUTE = _RouteLabel()


def error_headers(exc: HeronError, status: int) -> dict[str, str]:
    """The headers an error response carries (shared with the app's exception handler)."""
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after_s", None)  # Overloaded, RateLimited, SlotTimeout
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    elif status == 503:
        headers["Retry-After"] = "1"
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return headers


class SearchFastLane:
    """Answers valid ``POST /v1/search`` requests directly; the rest go to the app."""

    def __init__(
        self,
        app: ASGIApp,
        state: ServerState,
        search: Callable[[SearchRequest, ServerState], Any],
    ) -> None:
        self.app = app
        self.state = state
        self.search = search
        self.home: Path = state.settings.home

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        body, replay = await _read_body(receive)
        request = None if body is None else self._parse(scope, body)
        if request is None:
            await self.app(scope, replay, send)
            return
        scope["route"] = ROUTE  # for the metrics' route label
        try:
            payload = await self.search(request, self.state)
            status, headers, data = 200, {}, dumps(payload)
        except HeronError as exc:
            status, kind = status_of(exc)
            headers = error_headers(exc, status)
            data = dumps(error_body(scrub(str(exc), self.home), kind, status))
        raw = [(b"content-type", _JSON), (b"content-length", str(len(data)).encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": data})

    def _parse(self, scope: Scope, body: bytes) -> SearchRequest | None:
        """The request, or None to let the route answer (and refuse) it."""
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in (b"content-type", b"authorization", b"x-api-key"):
                headers[name.decode("latin-1")] = value.decode("latin-1")
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return None
        try:
            memo = scope.setdefault("state", {})
            granted = authorize(self.state, "read", request_key(headers), memo)
            data = loads(body)
            if not isinstance(data, dict):
                return None
            request = SearchRequest.model_validate(data)
        except (HeronError, ValidationError, ValueError, TypeError):
            return None
        if granted is not None:
            memo["scope"] = granted
        return request


async def _read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole body (None if it could not be read) and a ``receive`` that replays it."""
    chunks: list[bytes] = []
    pending: list[Message] = []
    failure: Exception | None = None
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                pending.append(message)
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
    except HTTPException as exc:  # e.g. BodyLimit's 413 for a streamed body
        failure = exc
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if failure is not None:
            raise failure
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        if pending:
            return pending.pop(0)
        return await receive()

    if failure is not None or pending:
        return None, replay
    return body, replay
