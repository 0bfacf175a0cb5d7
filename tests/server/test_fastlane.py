"""The ``/v1/search`` fast lane answers exactly as the FastAPI route would."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tests.server.conftest import DOCS, Live, Serve

from heron.server.fastlane import SearchFastLane
from heron.server.keys import KeyStore
from heron.server.limits import INLINE_MAX_S, WorkPool
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


def test_vector_searches_run_inline_once_short_and_stay_correct(live: Live) -> None:
    pool: WorkPool = live_state(live).search_pool
    assert not pool.short_jobs()  # the first vector searches run on pool threads
    vector = _vector("runs a function at a later time")
    with live.client() as http:
        found = [http.post("/v1/search", json={"vector": vector, "k": 1}) for _ in range(12)]
        ids = [[h["id"] for h in f.json()["hits"]] for f in found]
        metrics = http.get("/metrics").text
    assert ids == [["sched"]] * 12
    assert pool.short_jobs() and pool.active == 0
    assert 'heron_requests_total{method="POST",route="/v1/search",status="200"} 12' in metrics


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


def test_slow_short_jobs_go_back_to_pool_threads() -> None:
    async def main() -> tuple[bool, bool, int]:
        pool = WorkPool("search", 2, 4)
        for _ in range(20):
            await pool.run_inline(lambda: None)
        fast = pool.short_jobs()
        await pool.run_inline(time.sleep, 20 * INLINE_MAX_S)
        slow = pool.short_jobs()
        pool.shutdown()
        return fast, slow, pool.active

    assert asyncio.run(main()) == (True, False, 0)


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
