"""Run a blocking generator on a work-pool thread and read it from async code.

The worker pushes items into an asyncio queue; the reader turns them into
server-sent events. When the reader stops early (the client went away, or the
server is shutting down) it sets ``cancel``: the worker stops at the next item
and closes the source generator, which releases the model at once. The work
pool slot is held until the worker ends.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from heron.server.limits import WorkPool

T = TypeVar("T")
#: A comment line sent when nothing happened for this long, so proxies keep the
#: connection open and a vanished client is noticed.
HEARTBEAT_S = 10.0


class _End:
    pass


_END = _End()


class ThreadStream(Generic[T]):
    """Items of ``make()`` (a generator built on the worker thread), read asynchronously."""

    def __init__(self, pool: WorkPool, make: Callable[[], Iterator[T]]) -> None:
        self._pool = pool
        self._make = make
        self._queue: asyncio.Queue[T | BaseException | _End] = asyncio.Queue()
        self.cancel = threading.Event()

    async def start(self, timeout_s: float) -> None:
        """Take a pool slot (429 when full, 503 after ``timeout_s``) and start the worker."""
        await self._pool.acquire_within(timeout_s)
        loop = asyncio.get_running_loop()
        self._pool.start(self._work, loop)

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        def put(item: T | BaseException | _End) -> None:
            loop.call_soon_threadsafe(self._queue.put_nowait, item)

        try:
            source = self._make()
            try:
                for item in source:
                    if self.cancel.is_set():
                        break
                    put(item)
            finally:
                close = getattr(source, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, which reports it
            put(exc)
        put(_END)

    async def next(self, timeout_s: float | None = None) -> T | None:
        """The next item; None at the end; raises what the worker raised."""
        item = await asyncio.wait_for(self._queue.get(), timeout_s)
        if isinstance(item, _End):
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def items(self) -> AsyncIterator[T | None]:
        """Items as they come; None marks a heartbeat (nothing new for a while)."""
        try:
            while True:
                try:
                    item = await self.next(HEARTBEAT_S)
                except TimeoutError:
                    yield None
                    continue
                if item is None:
                    return
                yield item
        finally:
            self.cancel.set()


#: OpenAPI schema of one server-sent event (its ``data`` is a JSON document).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
    "required": ["data"],
}


def sse(event: str | None, data: Any) -> str:
    """One server-sent event (``event:`` line optional)."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


class EventStreamResponse(StreamingResponse):
    """``text/event-stream`` whose body generator is always closed when the response ends.

    Starlette leaves an unfinished generator to the garbage collector when the
    client disconnects; closing it here stops the model at once.
    """

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str]) -> None:
        super().__init__(content, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._source = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self._source, "aclose", None)
            if close is not None:
                await close()
