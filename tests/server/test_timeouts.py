"""Every search is bounded: a slow one times out (504) while the server keeps answering others.

``Collection.query`` is patched to block until released, as a pathological
query (an expensive filter, a cold index rebuild) would. The inline lane must
never take such a search onto the event loop, or ``/healthz`` would wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.server.conftest import Live, Serve

from heron.store import Collection, open_store
from heron.testing.fakes import HashEmbedder

TIMEOUT_S = 3.0

Gate = Callable[[dict[str, Any]], bool]


Block = Callable[[Gate], threading.Event]


@pytest.fixture
def block(monkeypatch: pytest.MonkeyPatch) -> Iterator[Block]:
    """``block(when)``: queries whose keyword arguments satisfy ``when`` block (20 s at most).

    Returns an event set once such a query has begun blocking."""
    releases: list[threading.Event] = []
    original = Collection.query

    def install(when: Gate) -> threading.Event:
        entered, release = threading.Event(), threading.Event()
        releases.append(release)

        def query(self: Collection, *args: Any, **kwargs: Any) -> Any:
            if when(kwargs):
                entered.set()
                release.wait(20)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Collection, "query", query)
        return entered

    yield install
    for release in releases:  # let the blocked pool threads finish before the server stops
        release.set()


def _vector(text: str) -> list[float]:
    return HashEmbedder(64).embed(text).tolist()


def _warm(live: Live) -> None:
    """Enough fast vector searches that the collection's searches run inline."""
    with live.client() as http:
        for _ in range(6):
            assert http.post("/v1/search", json={"vector": _vector("x"), "k": 1}).is_success
    state = live.server.config.app.state.heron
    assert state.inline.inline > 0


def _in_background(live: Live, body: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def send() -> None:
        with live.client() as http:
            out.append(http.post("/v1/search", json=body))

    thread = threading.Thread(target=send)
    thread.start()
    return thread, out


def _others_are_served(live: Live, entered: threading.Event, pending: list[Any]) -> None:
    assert entered.wait(10), "the slow search never began"
    with live.client() as http:
        health = http.get("/healthz")
        other = http.post("/v1/search", json={"vector": _vector("sched"), "k": 2})
    assert health.status_code == 200 and other.status_code == 200
    assert not pending, "the slow search should still be running"


def _assert_timed_out(response: httpx.Response) -> None:
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["type"] == "timeout" and error["code"] == 504
    assert f"{TIMEOUT_S:g} s" in error["message"] and "\n" not in error["message"]


def test_an_expensive_filter_runs_on_the_pool_and_times_out(serve: Serve, block: Block) -> None:
    live = serve(request_timeout_s=TIMEOUT_S)
    _warm(live)
    entered = block(lambda kw: kw.get("where") is not None)
    slow = {"vector": _vector("x"), "k": 1, "where": {"module": "shlex"}}
    thread, out = _in_background(live, slow)
    _others_are_served(live, entered, out)
    thread.join(30)
    _assert_timed_out(out[0])


def test_a_big_k_runs_on_the_pool_and_times_out(serve: Serve, block: Block) -> None:
    live = serve(request_timeout_s=TIMEOUT_S)
    _warm(live)
    entered = block(lambda kw: kw.get("k", 0) > 10)
    thread, out = _in_background(live, {"vector": _vector("x"), "k": 50})
    _others_are_served(live, entered, out)
    thread.join(30)
    _assert_timed_out(out[0])


def test_after_a_write_elsewhere_the_next_search_leaves_the_event_loop(
    serve: Serve, block: Block
) -> None:
    live = serve(request_timeout_s=TIMEOUT_S)
    _warm(live)
    with open_store(live.home) as store:  # another process writes: the index must catch up
        store.get_collection("kb").add(["new"], documents=["a new record about shells"])
    left = [1]
    lock = threading.Lock()

    def first_only(_: dict[str, Any]) -> bool:  # the query that would reload the index
        with lock:
            left[0] -= 1
            return left[0] == 0

    entered = block(first_only)
    thread, out = _in_background(live, {"vector": _vector("x"), "k": 1})
    _others_are_served(live, entered, out)
    thread.join(30)
    _assert_timed_out(out[0])


def test_a_cheap_search_waiting_for_a_busy_pool_gets_503(serve: Serve, block: Block) -> None:
    live = serve(request_timeout_s=TIMEOUT_S, search_concurrency=1)
    _warm(live)
    entered = block(lambda kw: kw.get("where") is not None)
    thread, out = _in_background(live, {"query": "x", "where": {"module": "shlex"}})
    assert entered.wait(10)
    with live.client() as http:  # the only slot is taken: an inline search waits too, boundedly
        waited = http.post("/v1/search", json={"vector": _vector("sched"), "k": 1})
        health = http.get("/healthz")
    thread.join(30)
    assert health.status_code == 200
    assert waited.status_code == 503, waited.text
    assert waited.json()["error"]["type"] == "busy" and int(waited.headers["retry-after"]) >= 1
    assert "\n" not in waited.json()["error"]["message"]
    _assert_timed_out(out[0])
