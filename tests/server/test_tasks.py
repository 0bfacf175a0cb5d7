"""``POST /v1/tasks/{task}`` over real HTTP with the fake LLM."""

from __future__ import annotations

from tests.server.conftest import Serve


def test_tasks_run_on_the_served_llm(serve: Serve) -> None:
    live = serve(llms=("fake:positive",))
    with live.client() as http:
        generated = http.post("/v1/tasks/generate", json={"inputs": "Say something"})
        sentiment = http.post("/v1/tasks/sentiment", json={"inputs": ["great!", "fine"]})
        zero_shot = http.post(
            "/v1/tasks/zero_shot", json={"inputs": "a text", "labels": ["positive", "negative"]}
        )
        capped = http.post(
            "/v1/tasks/generate", json={"inputs": "x", "options": {"max_new_tokens": 5000}}
        )
        unknown = http.post("/v1/tasks/dance", json={"inputs": "x"})
        not_served = http.post("/v1/tasks/generate", json={"inputs": "x", "model": "hf:/etc"})
        wrong_param = http.post("/v1/tasks/generate", json={"inputs": "x", "labels": ["a"]})
    assert generated.status_code == 200, generated.text
    body = generated.json()
    assert body["task"] == "generate" and body["model"] == "fake:positive"
    assert body["result"]["text"] == "positive"
    labels = sentiment.json()["result"]
    assert [r["label"] for r in labels] == ["positive", "positive"]
    assert zero_shot.status_code == 200 and zero_shot.json()["task"] == "zero-shot"
    assert capped.status_code == 422
    assert unknown.status_code == 404 and "summarize" in unknown.json()["error"]["message"]
    assert not_served.status_code == 404
    assert wrong_param.status_code == 400
