"""Prometheus text metrics kept per app (never in module globals).

Request counts and latency histograms per route template and status, errors,
LLM tokens, and the work pools' queue depth, running jobs and rejections. The
exposition is written by hand (format 0.0.4), so no client library is needed.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron.server.limits import WorkPool

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Counters and histograms; thread-safe (tokens are counted on worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_counts: dict[str, list[int]] = {}
        self.latency_sums: dict[str, float] = defaultdict(float)
        self.tokens: dict[str, int] = defaultdict(int)
        #: requests refused by the per-key rate limit, by what they were counted against
        self.rate_limited: dict[str, int] = {"key": 0, "address": 0}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            counts = self.latency_counts.setdefault(route, [0] * (len(BUCKETS) + 1))
            index = next((i for i, b in enumerate(BUCKETS) if seconds <= b), len(BUCKETS))
            counts[index] += 1
            self.latency_sums[route] += seconds

    def count_tokens(self, prompt: int, completion: int) -> None:
        with self._lock:
            self.tokens["prompt"] += prompt
            self.tokens["completion"] += completion

    def count_rate_limited(self, kind: str) -> None:
        with self._lock:
            self.rate_limited[kind] = self.rate_limited.get(kind, 0) + 1

    def render(self, pools: Iterable[WorkPool], extra: Iterable[str] = ()) -> str:
        with self._lock:
            lines = [
                *self._request_lines(),
                *self._latency_lines(),
                *self._token_lines(),
                *self._rate_lines(),
            ]
        lines += _pool_lines(list(pools))
        lines += extra
        return "\n".join(lines) + "\n"

    def _rate_lines(self) -> list[str]:
        name = "heron_rate_limited_total"
        lines = [
            f"# HELP {name} Requests refused with 429 by the rate limit (per key or address).",
            f"# TYPE {name} counter",
        ]
        lines += [_sample(name, n, by=kind) for kind, n in sorted(self.rate_limited.items())]
        return lines

    def _request_lines(self) -> list[str]:
        lines = [
            "# HELP heron_requests_total HTTP requests by route template and status.",
            "# TYPE heron_requests_total counter",
        ]
        errors: dict[tuple[str, int], int] = defaultdict(int)
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(
                _sample("heron_requests_total", n, method=method, route=route, status=status)
            )
            if status >= 400:
                errors[(route, status)] += n
        lines += [
            "# HELP heron_request_errors_total Responses with status >= 400.",
            "# TYPE heron_request_errors_total counter",
        ]
        lines += [
            _sample("heron_request_errors_total", n, route=route, status=status)
            for (route, status), n in sorted(errors.items())
        ]
        return lines

    def _latency_lines(self) -> list[str]:
        name = "heron_request_duration_seconds"
        lines = [f"# HELP {name} Request latency.", f"# TYPE {name} histogram"]
        for route, counts in sorted(self.latency_counts.items()):
            running = 0
            for bound, n in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                running += n
                lines.append(_sample(f"{name}_bucket", running, route=route, le=bound))
            lines.append(_sample(f"{name}_sum", round(self.latency_sums[route], 6), route=route))
            lines.append(_sample(f"{name}_count", running, route=route))
        return lines

    def _token_lines(self) -> list[str]:
        lines = ["# HELP heron_tokens_total LLM tokens.", "# TYPE heron_tokens_total counter"]
        for kind in ("prompt", "completion"):
            lines.append(_sample("heron_tokens_total", self.tokens.get(kind, 0), kind=kind))
        return lines


def _pool_lines(pools: list[WorkPool]) -> list[str]:
    lines: list[str] = []
    for metric, kind, attr, text in (
        ("heron_queue_depth", "gauge", "waiting", "Requests waiting for a work slot."),
        ("heron_jobs_running", "gauge", "active", "Jobs running in a work pool."),
        ("heron_rejected_total", "counter", "rejected", "Requests refused with 429."),
    ):
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}"]
        lines += [_sample(metric, getattr(p, attr), pool=p.name) for p in pools]
    return lines


def _sample(name: str, value: Any, **labels: Any) -> str:
    text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return f"{name}{{{text}}} {value}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsMiddleware:
    """Times every HTTP request and counts it under its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - start)
