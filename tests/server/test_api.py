"""Ask, stream, search, collections and documents CRUD, feedback and metrics over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.server.conftest import REPLY, Live, Serve

from heron.cli.main import main


def sse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        kind, data = "message", None
        for line in block.splitlines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
        if data is not None:
            events.append((kind, data if data == "[DONE]" else json.loads(data)))
    return events


def test_healthz_says_what_is_served(live: Live) -> None:
    with live.client() as http:
        body = http.get("/healthz").json()
    assert body == {"status": "ok", "collection": "kb", "llm": body["llm"], "auth": "writes"}
    assert body["llm"].startswith("fake:")


def test_search_returns_ranked_hits_with_filters(live: Live) -> None:
    with live.client() as http:
        found = http.post("/v1/search", json={"query": "split a shell command line", "k": 2})
        filtered = http.post(
            "/v1/search", json={"query": "split a shell line", "where": {"module": "json"}}
        )
    assert found.status_code == 200
    hits = found.json()["hits"]
    assert len(hits) == 2 and hits[0]["id"] == "shlex"
    assert hits[0]["metadata"]["module"] == "shlex" and "quotes" in hits[0]["text"]
    assert [h["id"] for h in filtered.json()["hits"]] == ["json"]


def test_search_by_vector_is_dense_only(live: Live) -> None:
    from heron.testing.fakes import HashEmbedder

    vector = HashEmbedder(64).embed("runs a function at a later time").tolist()
    with live.client() as http:
        found = http.post("/v1/search", json={"vector": vector, "k": 1})
        wrong_size = http.post("/v1/search", json={"vector": [0.5, 0.5], "k": 1})
        both = http.post("/v1/search", json={"vector": vector, "query": "x"})
    assert [h["id"] for h in found.json()["hits"]] == ["sched"]
    assert wrong_size.status_code == 422 and both.status_code == 422


def test_ask_answers_with_citations_and_request_id(live: Live) -> None:
    with live.client() as http:
        response = http.post("/v1/ask", json={"question": "How do I split a shell line?"})
    assert response.status_code == 200
    answer = response.json()
    assert len(answer["request_id"]) == 32 and not answer["abstained"]
    assert answer["citations"][0]["chunk_id"] == "shlex"
    assert answer["text"].startswith("shlex docs:") and REPLY in answer["text"]


def test_ask_stream_sends_citations_lead_tokens_then_done(live: Live) -> None:
    with live.client() as http:
        response = http.post("/v1/ask", json={"question": "split a shell line", "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["citations", "lead"] and kinds[-1] == "done"
    assert "token" in kinds
    tokens = "".join(data["text"] for kind, data in events if kind == "token")
    assert tokens.strip() == REPLY
    done = events[-1][1]
    assert done["citations"][0]["chunk_id"] == "shlex" and len(done["request_id"]) == 32


def test_unknown_collection_is_404_with_one_line_error(live: Live) -> None:
    with live.client() as http:
        for path, body in (
            ("/v1/search", {"query": "x", "collection": "nope"}),
            ("/v1/ask", {"question": "x", "collection": "nope"}),
            ("/v1/ask", {"question": "x", "collection": "nope", "stream": True}),
        ):
            response = http.post(path, json=body)
            assert response.status_code == 404, path
            error = response.json()["error"]
            assert error["type"] == "collection_not_found" and "'nope'" in error["message"]
            assert "\n" not in error["message"] and str(live.home) not in error["message"]


def test_collections_and_documents_crud(live: Live, write_key: str) -> None:
    with live.client(write_key) as http:
        created = http.post("/v1/collections", json={"name": "notes", "embedder": "hash:32"})
        assert created.status_code == 201 and created.json()["dimension"] == 32
        assert http.post("/v1/collections", json={"name": "notes"}).status_code == 409
        names = [c["name"] for c in http.get("/v1/collections").json()["collections"]]
        assert names == ["kb", "notes"]
        added = http.post(
            "/v1/collections/notes/documents",
            json={
                "ids": ["a", "b"],
                "documents": ["red apples", "green pears"],
                "metadatas": [{"color": "red"}, {"color": "green"}],
            },
        )
        assert added.status_code == 201 and added.json()["count"] == 2
        again = http.post(
            "/v1/collections/notes/documents", json={"ids": ["a"], "documents": ["x"]}
        )
        assert again.status_code == 400  # add refuses existing ids, nothing written
        assert "already in collection" in again.json()["error"]["message"]
        upsert = http.put(
            "/v1/collections/notes/documents",
            json={"ids": ["a", "c"], "documents": ["ripe apples", "blue plums"]},
        )
        assert upsert.status_code == 200 and upsert.json()["count"] == 3
        patch = http.patch(
            "/v1/collections/notes/documents",
            json={"ids": ["b"], "metadatas": [{"color": "yellow"}]},
        )
        assert patch.status_code == 200
        missing = http.patch(
            "/v1/collections/notes/documents", json={"ids": ["zz"], "documents": ["?"]}
        )
        assert missing.status_code in (400, 404, 409)
        got = http.post(
            "/v1/collections/notes/documents/get", json={"where": {"color": {"$in": ["yellow"]}}}
        ).json()
        assert [d["id"] for d in got["documents"]] == ["b"]
        one = http.get("/v1/collections/notes/documents/a", params={"embedding": True}).json()
        assert one["document"] == "ripe apples" and len(one["embedding"]) == 32
        assert http.get("/v1/collections/notes/documents/zz").status_code == 404
        bad_filter = http.post("/v1/collections/notes/documents/get", json={"where": {"$bad": 1}})
        assert bad_filter.status_code == 400
        assert bad_filter.json()["error"]["type"] == "filter_error"
        deleted = http.post(
            "/v1/collections/notes/documents/delete", json={"where": {"color": "red"}}
        )
        assert deleted.json() == {"deleted": 1}
        assert http.delete("/v1/collections/notes/documents/c").json() == {"deleted": 1}
        assert http.get("/v1/collections/notes").json()["count"] == 1
        # deleting a collection needs admin
        assert http.delete("/v1/collections/notes").status_code == 403


def test_feedback_is_stored_by_request_id_and_listed_by_the_cli(
    live: Live, admin_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with live.client() as http:
        answer = http.post("/v1/ask", json={"question": "split a shell line"}).json()
        given = http.post(
            "/v1/feedback",
            json={"request_id": answer["request_id"], "rating": "down", "comment": "too short"},
        )
        assert given.status_code == 201 and given.json()["rating"] == "down"
        unknown = http.post("/v1/feedback", json={"request_id": "0" * 32, "rating": "up"})
        assert unknown.status_code == 404
        assert (
            http.post(
                "/v1/feedback", json={"request_id": answer["request_id"], "rating": "meh"}
            ).status_code
            == 422
        )
        assert http.get("/v1/feedback").status_code == 401
    with live.client(admin_key) as http:
        listed = http.get("/v1/feedback").json()["feedback"]
    assert [(f["rating"], f["comment"]) for f in listed] == [("down", "too short")]
    capsys.readouterr()
    assert main(["--home", str(live.home), "feedback", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["request_id"] == answer["request_id"]
    assert rows[0]["question"] == "split a shell line" and rows[0]["collection"] == "kb"


def test_metrics_count_requests_errors_and_queues(live: Live) -> None:
    with live.client() as http:
        http.post("/v1/search", json={"query": "shell"})
        http.post("/v1/search", json={"query": "shell", "collection": "nope"})
        http.post("/v1/ask", json={"question": "split a shell line"})
        text = http.get("/metrics").text
    assert 'heron_requests_total{method="POST",route="/v1/search",status="200"} 1' in text
    assert 'heron_request_errors_total{route="/v1/search",status="404"} 1' in text
    assert 'heron_request_duration_seconds_count{route="/v1/search"} 2' in text
    assert 'heron_queue_depth{pool="generate"} 0' in text
    completion = [
        line
        for line in text.splitlines()
        if line.startswith('heron_tokens_total{kind="completion"}')
    ]
    assert completion and int(completion[0].split()[-1]) > 0


def test_web_page_and_assets_are_served(live: Live) -> None:
    with live.client() as http:
        page = http.get("/")
        script = http.get("/ui/app.js")
        assert http.get("/ui/../keys.db").status_code == 404
        assert http.get("/ui/keys.db").status_code == 404
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/ui/app.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert script.status_code == 200 and "/v1/feedback" in script.text


def test_cors_is_closed_by_default(live: Live, serve: Serve) -> None:
    with live.client() as http:
        pre = http.options(
            "/v1/search",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in pre.headers
    opened = serve(cors_origins=("https://ok.example",))
    with opened.client() as http:
        pre = http.options(
            "/v1/search",
            headers={"Origin": "https://ok.example", "Access-Control-Request-Method": "POST"},
        )
    assert pre.headers["access-control-allow-origin"] == "https://ok.example"


def test_server_keeps_serving_after_errors(live: Live) -> None:
    with live.client() as http:
        for _ in range(3):
            http.post(
                "/v1/search", content=b"{not json", headers={"content-type": "application/json"}
            )
        assert http.post("/v1/search", json={"query": "shell"}).status_code == 200


@pytest.fixture
def write_key(live: Live) -> str:
    from heron.server.keys import KeyStore

    keys = KeyStore(live.home)
    key, _ = keys.create("write", "tests")
    keys.close()
    return key


@pytest.fixture
def admin_key(live: Live) -> str:
    from heron.server.keys import KeyStore

    keys = KeyStore(live.home)
    key, _ = keys.create("admin", "tests")
    keys.close()
    return key
