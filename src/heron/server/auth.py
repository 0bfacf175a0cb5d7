"""Who may call what: API keys checked per route, by scope.

Rules: writes need a ``write`` key (deleting a collection and reading feedback
need ``admin``); reads need any valid key when the server is bound to a
non-loopback address (or ``require_keys`` is set), and none on loopback. A key
that is sent is always checked: a wrong one is a 401 even where none is needed.
Keys come as ``Authorization: Bearer KEY`` (what OpenAI clients send) or
``X-API-Key: KEY``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from heron.server.errors import Forbidden, Unauthorized
from heron.server.keys import Scope, allows, key_id
from heron.server.state import ServerState, StateDep

_bearer = HTTPBearer(auto_error=False, description="an API key from `heron keys create`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)

#: where a request's verified key id is kept (in ``scope["state"]``), for the access log
KEY_ID = "heron_key_id"
_VERIFIED = "heron_verified_key"

_CREATE = (
    "create one with `heron keys create --scope {scope}` and send it as 'Authorization: Bearer KEY'"
)


def require(scope: Scope) -> Callable[..., Awaitable[None]]:
    """A route dependency that enforces ``scope``."""

    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_header)],
        state: StateDep,
    ) -> None:
        key = bearer.credentials if bearer is not None else header
        granted = authorize(state, scope, key, request.scope.setdefault("state", {}))
        if granted is not None:
            request.state.scope = granted

    return check


def verified_scope(state: ServerState, key: str, memo: dict[str, Any]) -> str | None:
    """``state.keys.verify(key)``, once per request: the result is kept in ``memo``.

    ``memo`` is the request's ``scope["state"]``; the rate limit may have verified
    the key before the route does. A valid key's id goes to ``memo["key_id"]``
    (for the access log); the key itself is never written anywhere.
    """
    seen = memo.get(_VERIFIED)
    if seen is not None and seen[0] == key:  # the same request's own key
        granted: str | None = seen[1]
        return granted
    granted = state.keys.verify(key)
    memo[_VERIFIED] = (key, granted)
    if granted is not None:
        memo[KEY_ID] = key_id(key)
    return granted


def authorize(
    state: ServerState, scope: Scope, key: str | None, memo: dict[str, Any] | None = None
) -> str | None:
    """The scope ``key`` grants if it allows ``scope`` (None: no key, none needed).

    Raises ``Unauthorized`` (missing, unknown or revoked key) or ``Forbidden``.
    ``memo`` (the request's ``scope["state"]``) saves verifying a key twice.
    """
    needed = scope != "read" or state.server.keys_for_everything
    if key is None:
        if needed:
            raise Unauthorized(
                f"this endpoint needs an API key with scope '{scope}'",
                hint=_CREATE.format(scope=scope),
            )
        return None
    granted = verified_scope(state, key, {} if memo is None else memo)
    if granted is None:
        raise Unauthorized(
            "the API key is not valid (unknown or revoked)", hint=_CREATE.format(scope=scope)
        )
    if not allows(granted, scope):
        raise Forbidden(
            f"this endpoint needs scope '{scope}'; the key has '{granted}'",
            hint=_CREATE.format(scope=scope),
        )
    return granted


def request_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request sends, read as the route dependencies read it."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme and credentials and scheme.lower() == "bearer":
            return credentials
    return headers.get("x-api-key") or None
