"""Bounded concurrency for model work, and a cap on request bodies.

A ``WorkPool`` runs blocking model/store work on its own threads: at most
``concurrency`` jobs run, at most ``queue`` wait; one more is refused at once
with ``Overloaded`` (HTTP 429 + ``Retry-After``) instead of piling up latency.
A job's slot is freed when its thread finishes, not when the request gives up
(a timed-out request gets 504 but the slot stays taken until the model stops),
so the bound holds for the work actually running. The per-request budget covers
the wait for a slot too (503 when it runs out there, 504 once the job runs).
Jobs known to be very short (see ``heron.server.inline``) may run on the event
loop itself with ``run_inline``, under the same slots.

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
from heron.server.errors import Overloaded, SlotTimeout, error_body

T = TypeVar("T")


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

    def start(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn`` on a pool thread; call only after ``acquire``; frees the slot at the end."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()

        def finished(_: Future[T]) -> None:
            loop.call_soon_threadsafe(self._release, time.perf_counter() - started)

        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._release(0.0)
            raise
        future.add_done_callback(finished)
        return future

    def _release(self, seconds: float) -> None:
        self._mean_s = 0.8 * self._mean_s + 0.2 * seconds
        self.active -= 1
        self._semaphore().release()

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        """Acquire a slot, run ``fn`` there; the whole request waits at most ``timeout_s``.

        Waiting for a slot past the budget raises ``SlotTimeout`` (503: nothing ran,
        retry), running past it ``HeronTimeout`` (504); the job itself runs on.
        """
        deadline = asyncio.get_running_loop().time() + timeout_s
        await self.acquire_within(timeout_s, deadline)
        future = self.start(fn, *args)
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(asyncio.wrap_future(future))
        except TimeoutError as exc:
            raise HeronTimeout(
                f"the request took longer than {timeout_s:g} s",
                hint="retry later, ask for less (k, max_tokens), or raise --timeout",
            ) from exc

    async def acquire_within(self, timeout_s: float, deadline: float | None = None) -> None:
        """``acquire``, but ``SlotTimeout`` (503) if no slot comes free within ``timeout_s``."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                await self.acquire()
        except TimeoutError as exc:
            raise SlotTimeout(
                f"no {self.name} slot came free within {timeout_s:g} s",
                hint="retry after the number of seconds in Retry-After",
                retry_after_s=self.retry_after_s(),
            ) from exc

    async def run_inline(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        """Acquire a slot (waiting at most ``timeout_s``) and run a short ``fn`` on the loop.

        For jobs that take well under a millisecond (an exact vector search over a
        few thousand records), handing them to a pool thread and back costs more
        than the job, and the pool threads and the event loop then contend for the
        GIL. The slot counts as any other (429s, 503s, ``/metrics``). Nothing can
        stop a job once it runs on the event loop, so callers decide beforehand
        which jobs are short (``heron.server.inline.InlineLane``).
        """
        await self.acquire_within(timeout_s)
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self._release(time.perf_counter() - started)

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
                await send_json(
                    send,
                    429,
                    error_body(str(error), "overloaded", 429),
                    [(b"retry-after", str(error.retry_after_s).encode())],
                )
                return
        await self.app(scope, receive, send)


async def send_json(
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
        await send_json(send, 413, payload, [(b"connection", b"close")])
