"""The server with the real bundled models (MiniLM on ONNX Runtime, SmolLM2 on llama.cpp)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.server.conftest import DOCS, Live, start

from heron.config import Settings
from heron.models.registry import ModelRegistry
from heron.server import ServerSettings, create_app
from heron.store import open_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundled_live(tmp_path_factory: pytest.TempPathFactory) -> Live:
    home = tmp_path_factory.mktemp("bundled") / "home"
    cache = Path.home() / ".cache" / "heron"
    registry = ModelRegistry(
        options={"threads": 2, "model_cache": cache / "models", "onnx_cache": cache / "onnx"}
    )
    with open_store(home, registry=registry) as store:
        kb = store.create_collection("kb", embedder="bundled:minilm")
        kb.add(
            list(DOCS),
            documents=list(DOCS.values()),
            metadatas=[{"title": f"{n} docs"} for n in DOCS],
        )
    settings = Settings(home=home, collection="kb", cache=cache, threads=2)
    server = ServerSettings(llms=("bundled:smollm2",), embedders=("bundled:minilm",))
    live = start(create_app(settings, server, registry=registry), home, registry)
    yield live  # type: ignore[misc]
    live.stop()


def test_ask_streams_a_grounded_answer_from_smollm2(bundled_live: Live) -> None:
    body = {"question": "How do I split a shell command line?", "max_tokens": 32, "stream": True}
    with bundled_live.client() as http:
        text = http.post("/v1/ask", json=body, timeout=120).text
    events = [b for b in text.split("\n\n") if b.startswith("event:")]
    assert events[0].startswith("event: citations") and events[-1].startswith("event: done")
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert done["citations"][0]["chunk_id"] == "shlex" and not done["abstained"]
    assert done["text"].startswith("shlex docs:")


def test_embeddings_endpoint_returns_minilm_vectors(bundled_live: Live) -> None:
    with bundled_live.client() as http:
        body = http.post("/v1/embeddings", json={"input": ["split a shell line"]}).json()
    vector = np.array(body["data"][0]["embedding"], dtype=np.float32)
    expected = bundled_live.registry.embedder("bundled:minilm").embed("split a shell line")
    assert vector.shape == (384,) and float(vector @ expected) > 0.9999
