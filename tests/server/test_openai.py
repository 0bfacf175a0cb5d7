"""The OpenAI-compatible endpoints, and Heron's own ``openai:`` backend talking to them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.server.conftest import REPLY, Live

from heron.errors import ModelError
from heron.models.base import GenerateOptions
from heron.models.openai_compat import OpenAICompatLLM
from heron.testing.fakes import HashEmbedder
from heron.types import Message

HI = [{"role": "user", "content": "Say something"}]


def test_chat_completion_has_openai_shape(live: Live) -> None:
    with live.client() as http:
        body = http.post(
            "/v1/chat/completions",
            json={"messages": HI, "max_tokens": 32, "logprobs": None, "user": "x"},
        ).json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {"role": "assistant", "content": REPLY}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


def test_chat_stream_sends_chunks_then_done(live: Live) -> None:
    with live.client() as http:
        text = http.post("/v1/chat/completions", json={"messages": HI, "stream": True}).text
    payloads = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert content.strip() == REPLY


def test_content_parts_and_unknown_model(live: Live) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "Say"}]}]
    with live.client() as http:
        ok = http.post("/v1/chat/completions", json={"messages": parts})
        missing = http.post("/v1/chat/completions", json={"messages": HI, "model": "gpt-9"})
        models = http.get("/v1/models").json()
    assert ok.status_code == 200
    assert missing.status_code == 404 and "gpt-9" in missing.json()["error"]["message"]
    assert [m["id"] for m in models["data"]] == [f"fake:{REPLY.replace(' ', '_')}", "hash:64"]


def test_embeddings_match_the_embedder(live: Live) -> None:
    with live.client() as http:
        body = http.post("/v1/embeddings", json={"input": ["red apples", "shell"]}).json()
        single = http.post("/v1/embeddings", json={"input": "red apples", "model": "hash:16"})
        refused = http.post("/v1/embeddings", json={"input": "x", "model": "st:/etc"})
        huge = http.post("/v1/embeddings", json={"input": "x", "model": "hash:100000000"})
    assert body["object"] == "list" and body["model"] == "hash:64"
    expected = HashEmbedder(64).embed_batch(["red apples", "shell"])
    got = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    assert np.allclose(got, expected, atol=1e-6)
    assert len(single.json()["data"][0]["embedding"]) == 16
    assert refused.status_code == 404 and huge.status_code == 404


def test_herons_openai_backend_uses_the_server(live: Live) -> None:
    spec_model = f"fake:{REPLY.replace(' ', '_')}"
    llm = OpenAICompatLLM(f"{live.url}/v1#{spec_model}", timeout_s=10)
    messages = [Message("user", "Say something")]
    completion = llm.generate(messages, GenerateOptions(max_tokens=16))
    assert completion.text == REPLY and completion.finish_reason == "stop"
    assert "".join(llm.stream(messages, GenerateOptions(max_tokens=16))).strip() == REPLY
    wrong = OpenAICompatLLM(f"{live.url}/v1#nope", timeout_s=10)
    with pytest.raises(ModelError, match="404.*not served"):
        wrong.generate(messages)
