"""Bounded concurrency for model work, and a cap on request bodies.

A ``WorkPool`` runs blocking model/store work on its own threads: at most
``concurrency`` jobs run, at most ``queue`` wait; one more is refused at once
with ``Overloaded`` (HTTP 429 + ``Retry-After``) instead of piling up latency.
A job's slot is freed when its thread finishes, not when the request gives up
(a timed-out request gets 504 but the slot stays taken until the model stops),
so the bound holds for the work actually running. Jobs known to be very short
(vector searches, while they average under ``INLINE_MAX_S``) may run on the
event loop itself with ``run_inline``, under the same slots.

``BodyLimit`` is a pure ASGI middleware: a declared ``Content-Length`` over the
cap gets 413 before any byte is read; a chunked body is counted as it arrives.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron.errors import HeronTimeout
from heron.server.errors import Overloaded, error_body

T = TypeVar("T")

#: a short job runs on the event loop itself while short jobs average at most this
INLINE_MAX_S = 0.002


class WorkPool:
    """A bounded set of worker threads with a short admission queue."""

    def __init__(self, name: str, concurrency: int, queue: int) -> None:
        self.name = name
        self.concurrency = concurrency
        self.queue = queue
        self.active = 0
        self.waiting = 0
        self.rejected = 0
        self._sem: asyncio.Semaphore | None = None
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix=f"heron-{name}")
        #: moving average of job seconds, for Retry-After
        self._mean_s = 0.5
        #: moving average of "short" jobs' seconds (vector searches), starting high so
        #: the first ones (which may load an index) run on pool threads
        self._short_mean_s = 4 * INLINE_MAX_S

    def _semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:  # bound to the running loop on first use
            self._sem = asyncio.Semaphore(self.concurrency)
        return self._sem

    def retry_after_s(self) -> int:
        backlog = self.waiting + self.active + 1
        return max(1, math.ceil(self._mean_s * backlog / self.concurrency))

    def full(self) -> bool:
        return self.active >= self.concurrency and self.waiting >= self.queue

    def overloaded(self) -> Overloaded:
        """Count a refusal and describe it."""
        self.rejected += 1
        return Overloaded(
            f"the server is busy ({self.active} {self.name} jobs running, {self.waiting} waiting)",
            hint="retry after the number of seconds in Retry-After",
            retry_after_s=self.retry_after_s(),
        )

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue; ``Overloaded`` when the queue is full."""
        sem = self._semaphore()
        if self.full():
            raise self.overloaded()
        self.waiting += 1
        try:
            await sem.acquire()
        finally:
            self.waiting -= 1
        self.active += 1

    def start(self, fn: Callable[..., T], *args: Any, short: bool = False) -> Future[T]:
        """Run ``fn`` on a pool thread; call only after ``acquire``; frees the slot at the end."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()

        def finished(_: Future[T]) -> None:
            loop.call_soon_threadsafe(self._release, time.perf_counter() - started, short)

        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._release(0.0)
            raise
        future.add_done_callback(finished)
        return future

    def _release(self, seconds: float, short: bool = False) -> None:
        self._mean_s = 0.8 * self._mean_s + 0.2 * seconds
        if short:
            self._short_mean_s = 0.8 * self._short_mean_s + 0.2 * seconds
        self.active -= 1
        self._semaphore().release()

    async def run(
        self, fn: Callable[..., T], *args: Any, timeout_s: float, short: bool = False
    ) -> T:
        """Acquire a slot, run ``fn`` there and wait at most ``timeout_s`` for it.

        ``short`` marks a job of the kind ``run_inline`` may take (its time feeds
        ``short_jobs``).
        """
        await self.acquire()
        future = self.start(fn, *args, short=short)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout_s)
        except TimeoutError as exc:
            raise HeronTimeout(
                f"the request took longer than {timeout_s:g} s",
                hint="retry later, ask for less (k, max_tokens), or raise --timeout",
            ) from exc

    def short_jobs(self) -> bool:
        """Whether short jobs lately took at most ``INLINE_MAX_S`` (then run them inline)."""
        return self._short_mean_s <= INLINE_MAX_S

    async def run_inline(self, fn: Callable[..., T], *args: Any) -> T:
        """Acquire a slot and run a short ``fn`` on the event loop's own thread.

        For jobs that take well under a millisecond (an exact vector search over a
        few thousand records), handing them to a pool thread and back costs more
        than the job, and the pool threads and the event loop then contend for the
        GIL. The slot counts as any other (429s, ``/metrics``); there is no
        timeout, so callers use it only while ``short_jobs()`` holds: a job that
        turns out slow raises the average, and the next ones go to pool threads.
        """
        await self.acquire()
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self._release(time.perf_counter() - started, short=True)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class ShedLoad:
    """Refuse at the door: a request for a full pool gets 429 before it is parsed.

    Under heavy overload, routing, validating and authenticating requests that
    will be refused anyway costs the CPU the accepted ones need; this answers
    them from the path alone (the route still checks again when it gets a slot).
    """

    def __init__(self, app: ASGIApp, routes: Sequence[tuple[str, WorkPool]]) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            pool = next((p for prefix, p in self.routes if path.startswith(prefix)), None)
            if pool is not None and pool.full():
                error = pool.overloaded()
                await _send_json(
                    send,
                    429,
                    error_body(str(error), "overloaded", 429),
                    [(b"retry-after", str(error.retry_after_s).encode())],
                )
                return
        await self.app(scope, receive, send)


async def _send_json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for request bodies over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"

    async def _refuse(self, send: Send) -> None:
        payload = error_body(self._message(), "payload_too_large", 413)
        await _send_json(send, 413, payload, [(b"connection", b"close")])
