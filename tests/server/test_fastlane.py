"""The ``/v1/search`` fast lane answers exactly as the FastAPI route would."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import DOCS, Live, Serve, make_home

from heron.server.errors import SlotTimeout, status_of
from heron.server.fastlane import SearchFastLane
from heron.server.inline import INLINE_MAX_K, INLINE_MAX_S, InlineLane
from heron.server.keys import KeyStore
from heron.server.limits import WorkPool
from heron.server.schemas import SearchRequest
from heron.store import open_store
from heron.testing.fakes import HashEmbedder


def _vector(text: str, dim: int = 64) -> list[float]:
    return HashEmbedder(dim).embed(text).tolist()


def test_fast_and_routed_answers_are_the_same(live: Live) -> None:
    body = {"query": "split a shell command line", "k": 2, "where": {"module": "shlex"}}
    with live.client() as http:
        fast = http.post("/v1/search", json=body)
        # a content type the fast lane does not take: the FastAPI route answers
        routed = http.post(
            "/v1/search", json=body, headers={"content-type": "application/json; charset=utf-8"}
        )
    assert fast.status_code == routed.status_code == 200
    assert fast.headers["content-type"] == "application/json"
    assert fast.json() == routed.json()
    hit = fast.json()["hits"][0]
    assert set(hit) == {"id", "score", "text", "metadata", "distance"}
    assert hit["id"] == "shlex" and hit["metadata"]["module"] == "shlex"


def test_vector_searches_run_inline_once_warm_and_stay_correct(live: Live) -> None:
    state = live_state(live)
    lane: InlineLane = state.inline
    vector = _vector("runs a function at a later time")
    with live.client() as http:
        first = http.post("/v1/search", json={"vector": vector, "k": 1})
        assert lane.inline == 0 and lane.pooled == 1  # a collection's first search: a pool thread
        found = [http.post("/v1/search", json={"vector": vector, "k": 1}) for _ in range(11)]
        ids = [[h["id"] for h in f.json()["hits"]] for f in [first, *found]]
        metrics = http.get("/metrics").text
    assert ids == [["sched"]] * 12
    assert lane.inline > 0 and lane.inline + lane.pooled == 12
    assert state.search_pool.active == 0
    assert 'heron_requests_total{method="POST",route="/v1/search",status="200"} 12' in metrics
    assert f'heron_search_lane_total{{lane="inline"}} {lane.inline}' in metrics


def test_keys_are_checked_on_the_fast_lane(serve: Serve) -> None:
    live = serve(require_keys=True)
    keys = KeyStore(live.home)
    read, _ = keys.create("read")
    keys.close()
    body = {"query": "shell"}
    with live.client() as http:
        missing = http.post("/v1/search", json=body)
        wrong = http.post("/v1/search", json=body, headers={"Authorization": "Bearer hk_x_y"})
        bearer = http.post("/v1/search", json=body, headers={"Authorization": f"Bearer {read}"})
        header = http.post("/v1/search", json=body, headers={"X-API-Key": read})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert bearer.status_code == 200 and header.status_code == 200


def test_cors_headers_reach_fast_lane_answers(serve: Serve) -> None:
    live = serve(cors_origins=("https://ok.example",))
    with live.client() as http:
        allowed = http.post(
            "/v1/search", json={"query": "shell"}, headers={"Origin": "https://ok.example"}
        )
        other = http.post(
            "/v1/search", json={"query": "shell"}, headers={"Origin": "https://evil.example"}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://ok.example"
    assert "access-control-allow-origin" not in other.headers


def test_store_errors_keep_their_status_and_shape(live: Live) -> None:
    with live.client() as http:
        unknown = http.post("/v1/search", json={"query": "x", "collection": "nope"})
        dims = http.post("/v1/search", json={"vector": [0.5, 0.5]})
        bad_filter = http.post("/v1/search", json={"query": "x", "where": {"$bogus": 1}})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "collection_not_found"
    assert dims.status_code == 422 and dims.json()["error"]["type"] == "dimension_mismatch"
    assert bad_filter.status_code == 400
    for response in (unknown, dims, bad_filter):
        assert "\n" not in response.json()["error"]["message"]
        assert str(live.home) not in response.text


def test_a_collection_deleted_and_created_again_is_found_afresh(live: Live) -> None:
    with live.client() as http:
        before = http.post("/v1/search", json={"query": "shell", "k": 1})
    assert before.json()["hits"][0]["id"] == "shlex"
    with open_store(live.home) as store:  # as another process would
        store.delete_collection("kb")
        kb = store.create_collection("kb", embedder="hash:32")
        kb.add(["only"], documents=["a shell line, split"], metadatas=[{"module": "only"}])
    with live.client() as http:
        after = http.post("/v1/search", json={"query": "shell", "k": 1})
        vector = http.post("/v1/search", json={"vector": _vector("shell", 32), "k": 1})
    assert after.status_code == 200 and after.json()["hits"][0]["id"] == "only"
    assert vector.status_code == 200 and vector.json()["hits"][0]["id"] == "only"
    assert len(DOCS) > 1


def test_the_inline_lane_takes_only_cheap_warm_searches(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    lane = InlineLane(home)
    stamp = lane.stamp()
    lane.observe("kb", stamp, 0.0001)  # the first search at this stamp loaded the index
    assert not lane.allows("kb", stamp)
    for _ in range(3):
        lane.observe("kb", stamp, 0.0001)
    assert lane.allows("kb", stamp)
    with open_store(home) as store:  # a write, as another process would make it
        store.get_collection("kb").add(["new"], documents=["a new record"])
    assert lane.stamp() != stamp and not lane.allows("kb", lane.stamp())
    lane.observe("kb", stamp, 20 * INLINE_MAX_S)  # one slow search demotes the collection
    assert not lane.allows("kb", stamp)
    vector = _vector("x")
    assert lane.may_inline(SearchRequest(vector=vector, k=INLINE_MAX_K))
    for slow in (
        SearchRequest(query="x"),
        SearchRequest(vector=vector, k=INLINE_MAX_K + 1),
        SearchRequest(vector=vector, where={"module": "shlex"}),
    ):
        assert not lane.may_inline(slow)


def test_a_pool_slot_wait_past_the_budget_is_a_503() -> None:
    async def main() -> tuple[str, int]:
        pool = WorkPool("search", 1, 4)
        release = threading.Event()
        busy = asyncio.ensure_future(pool.run(release.wait, 5, timeout_s=5))
        await asyncio.sleep(0.05)
        try:
            await pool.run(lambda: None, timeout_s=0.1)
        except SlotTimeout as exc:
            return status_of(exc)[1], exc.retry_after_s
        finally:
            release.set()
            await busy
            pool.shutdown()
        raise AssertionError("no timeout")

    kind, retry_after = asyncio.run(main())
    assert kind == "busy" and retry_after >= 1


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"query": NaN}', b'{"query": "\xff"}'])
def test_bodies_the_fast_lane_cannot_take_fall_through(live: Live, body: bytes) -> None:
    with live.client() as http:
        response = http.post(
            "/v1/search", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code in (400, 422), response.text
    assert "\n" not in response.json()["error"]["message"]


def live_state(live: Live) -> Any:
    app = live.server.config.app
    assert any(m.cls is SearchFastLane for m in app.user_middleware)
    return app.state.heron
