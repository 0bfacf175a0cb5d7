"""Per-key rate limits: a token bucket per API key, or per client address without one.

Each valid API key (by its id) has a bucket of ``burst`` requests that refills
at ``per_min`` a minute; a request that finds its bucket empty gets 429 with
``Retry-After`` (the seconds until the next token) before it is routed or
parsed, and is counted in ``/metrics`` (``heron_rate_limited_total``). Requests
without a valid key share one bucket per client address (per /64 for IPv6); a
wrong key counts against the address, never against the key it names, so
nobody can spend another key's allowance. ``/healthz``, ``/metrics``, the page
and CORS preflights are not limited.

Left out: buckets live in one process (``--workers N`` allows N times the
rate), and behind a proxy the client address is the proxy's unless uvicorn is
told to trust its ``X-Forwarded-For`` (``--forwarded-allow-ips``).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from heron.server.auth import request_key, verified_scope
from heron.server.errors import RateLimited, error_body
from heron.server.keys import key_id
from heron.server.limits import send_json
from heron.server.state import ServerState

#: at most this many buckets are kept; full ones (idle clients) are dropped first
MAX_BUCKETS = 10_000
EXEMPT_PATHS = frozenset({"/healthz", "/metrics", "/"})
_KEY_HEADERS = (b"authorization", b"x-api-key")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """Token buckets by name; ``take`` spends one token or says how long to wait."""

    def __init__(
        self,
        per_min: float,
        burst: int,
        *,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_s = per_min / 60.0
        self.burst = float(burst)
        self.max_buckets = max_buckets
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, name: str) -> float:
        """0.0 if ``name`` may send a request now (a token is spent), else seconds to wait."""
        now = self.clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._prune(now)
            bucket = self._buckets[name] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_s)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.per_s

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled (they would start full anyway); else the oldest half."""
        full = [
            name
            for name, b in self._buckets.items()
            if b.tokens + (now - b.at) * self.per_s >= self.burst
        ]
        if not full:
            full = list(self._buckets)[: len(self._buckets) // 2 + 1]
        for name in full:
            del self._buckets[name]


def client_address(scope: Scope) -> str:
    """The client's address as the bucket name (an IPv6 client by its /64)."""
    client = scope.get("client")
    host = str(client[0]) if client else "unknown"
    if ":" not in host:
        return host
    try:
        return f"{ipaddress.IPv6Network((host, 64), strict=False).network_address}/64"
    except ValueError:
        return host


class RateLimit:
    """ASGI middleware: 429 + ``Retry-After`` once a key or address spends its bucket."""

    def __init__(self, app: ASGIApp, state: ServerState, buckets: TokenBuckets) -> None:
        self.app = app
        self.state = state
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope):
            await self.app(scope, receive, send)
            return
        name, kind = self._bucket_of(scope)
        wait_s = self.buckets.take(name)
        if wait_s <= 0.0:
            await self.app(scope, receive, send)
            return
        self.state.metrics.count_rate_limited(kind)
        retry_after = max(1, math.ceil(wait_s))
        error = self._error(kind, retry_after)
        headers = [(b"retry-after", str(retry_after).encode())]
        await send_json(send, 429, error_body(str(error), "rate_limited", 429), headers)

    def _bucket_of(self, scope: Scope) -> tuple[str, str]:
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _KEY_HEADERS
        }
        key = request_key(headers)
        if key is not None:
            memo = scope.setdefault("state", {})
            if verified_scope(self.state, key, memo) is not None:
                return f"key:{key_id(key)}", "key"
        return f"address:{client_address(scope)}", "address"

    def _error(self, kind: str, retry_after: int) -> RateLimited:
        who = "this API key" if kind == "key" else "this client address (no API key)"
        per_min = self.buckets.per_s * 60.0
        return RateLimited(
            f"rate limit reached for {who}: {per_min:g} requests a minute, "
            f"{self.buckets.burst:g} at once",
            hint=f"retry after {retry_after} s (Retry-After)",
            retry_after_s=retry_after,
        )


def _exempt(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] == "OPTIONS" or path in EXEMPT_PATHS or path.startswith("/ui/")
