"""End-to-end RAG mechanics on the real embedded store with deterministic fakes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.errors import HeronTimeout, InputError
from heron.models.base import GenerateOptions, Prompt
from heron.models.registry import ModelRegistry
from heron.rag import ABSTAIN_TEXT, Asker, Retriever
from heron.rag.app import AppConfig, build_asker
from heron.rag.traces import TraceSink
from heron.store import Collection, open_store
from heron.testing import HashEmbedder, ScriptedLLM

DOCS = {
    "shlex": "shlex.split: Split the string s using shell-like syntax, respecting quotes.",
    "sched": "sched.scheduler: A general purpose event scheduler to run a function later.",
    "json": "json.dumps: Serialize an object to a JSON formatted string.",
    "csv": "csv.reader: Return a reader object which will iterate over lines in a CSV file.",
}


@pytest.fixture
def collection(tmp_path: Path) -> Iterator[Collection]:
    with open_store(tmp_path / "home") as store:
        col = store.create_collection("docs", embedder="hash:256")
        col.add(
            list(DOCS),
            documents=list(DOCS.values()),
            metadatas=[{"module": m, "source": f"stdlib:{m}"} for m in DOCS],
        )
        yield col


def make_asker(col: Collection, reply: str, threshold: float = 0.2, **kw: object) -> Asker:
    return Asker(
        Retriever(col, k=2),
        ScriptedLLM([reply]),
        HashEmbedder(256),
        threshold,
        **kw,  # type: ignore[arg-type]
    )


def test_answer_leads_with_evidence_and_cites(collection: Collection) -> None:
    asker = make_asker(collection, "Use shlex.split on the command line.")
    answer = asker.ask("split a shell command line respecting quotes")
    assert not answer.abstained
    assert answer.citations[0].chunk_id == "shlex"
    assert answer.citations[0].source == "stdlib:shlex"
    assert answer.text.startswith("shlex: ")
    assert "Use shlex.split on the command line." in answer.text
    assert set(answer.timings) >= {"retrieve_s", "prompt_s", "generate_s", "total_s"}


def test_ungrounded_model_text_is_withheld(collection: Collection) -> None:
    answer = make_asker(collection, "You should call str.split() instead.").ask(
        "split a shell command line respecting quotes"
    )
    assert "withheld" in answer.text
    assert "str.split" in answer.text
    assert answer.model_text == "You should call str.split() instead."
    assert "str.split" in answer.note
    good = make_asker(collection, "Use shlex.split.").ask("split a shell line")
    assert good.note == "" and good.text.endswith("Use shlex.split.")


def test_abstains_below_threshold(collection: Collection) -> None:
    llm = ScriptedLLM(["should never be called"])
    asker = Asker(Retriever(collection, k=2), llm, HashEmbedder(256), abstain_threshold=0.9)
    answer = asker.ask("who won the football world cup in 2018")
    assert answer.abstained
    assert answer.text == ABSTAIN_TEXT
    assert answer.citations == ()
    assert llm.prompts == []


def test_stream_order(collection: Collection) -> None:
    events = list(make_asker(collection, "one two three").stream("run a function at a later time"))
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["citations", "lead"]
    assert kinds[-1] == "done"
    assert "".join(e.text for e in events if e.kind == "token") == "one two three"


def test_where_filter_restricts_retrieval(collection: Collection) -> None:
    answer = make_asker(collection, "ok", threshold=-1).ask(
        "split a shell command line", where={"module": "json"}
    )
    assert [c.chunk_id for c in answer.citations] == ["json"]


def test_empty_question_is_refused(collection: Collection) -> None:
    with pytest.raises(InputError, match="empty"):
        make_asker(collection, "x").ask("   ")


class SlowLLM(ScriptedLLM):
    def stream(self, prompt: Prompt, options: GenerateOptions | None = None) -> Iterator[str]:
        for _ in range(100):
            time.sleep(0.02)
            yield "word "


def test_generation_budget_stops_the_stream(collection: Collection) -> None:
    asker = Asker(Retriever(collection, k=1), SlowLLM(), None, -1.0, generation_timeout_s=0.1)
    answer = asker.ask("json")
    assert "time budget" in answer.text
    assert answer.model_text is not None and answer.model_text.count("word") < 20


def test_retrieval_timeout(collection: Collection) -> None:
    class SlowRetriever(Retriever):
        def retrieve(self, question, where=None):  # type: ignore[no-untyped-def]
            time.sleep(0.5)
            return super().retrieve(question, where)

    asker = Asker(SlowRetriever(collection), ScriptedLLM(), retrieval_timeout_s=0.05)
    started = time.perf_counter()
    with pytest.raises(HeronTimeout, match="retrieval took longer"):
        asker.ask("json")
    assert time.perf_counter() - started < 0.4  # does not wait for the overrunning retrieval


def test_max_tokens_that_leave_no_room_for_passages(collection: Collection) -> None:
    llm = ScriptedLLM(context_window=300)
    asker = Asker(Retriever(collection, k=2), llm, None, -1.0, GenerateOptions(max_tokens=290))
    with pytest.raises(InputError, match="no passage fits"):
        asker.ask("json")


def test_build_asker_from_app_config_records_trace(tmp_path: Path, collection: Collection) -> None:
    registry = ModelRegistry()
    traces = TraceSink(tmp_path / "home")
    config = AppConfig(collection="docs", llm="fake:see_the_passages", abstain_threshold=0.1)
    assert AppConfig.model_validate_json(config.model_dump_json()) == config
    with open_store(tmp_path / "home", registry=registry) as store:
        answer = build_asker(config, store, registry, traces).ask("serialize to JSON")
    record = traces.find(answer.request_id)
    assert record is not None
    assert record["question"] == "serialize to JSON"
    assert record["answer"]["citations"][0]["chunk_id"] == "json"
    assert answer.text.endswith("see the passages")


def test_hybrid_finds_exact_identifier_dense_misses(tmp_path: Path) -> None:
    with open_store(tmp_path / "h") as store:
        col = store.create_collection("c", embedder="hash:16")
        filler = [f"general text about topic number {i} and other things" for i in range(40)]
        col.add([f"f{i}" for i in range(40)], documents=filler)
        col.add(
            ["target"], documents=["zzyzx_commonprefix returns the longest common leading part"]
        )
        dense = Retriever(col, k=3, hybrid=False).retrieve("zzyzx_commonprefix").hits
        retrieval = Retriever(col, k=3, hybrid=True).retrieve("zzyzx_commonprefix")
        hybrid = retrieval.hits
        stored = col.get(ids=[h.id for h in hybrid], include=("embeddings",))
    query = HashEmbedder(16).embed("zzyzx_commonprefix")
    for hit_id, vector in zip(stored.ids, stored.embeddings, strict=True):
        assert retrieval.dense_scores[hit_id] == pytest.approx(float(vector @ query), abs=1e-5)
    assert "target" in [h.id for h in hybrid]
    assert hybrid[0].id == "target" or "target" not in [h.id for h in dense]


def test_prompt_echo_is_cut_and_withheld(collection: Collection) -> None:
    answer = make_asker(collection, "Use shlex.split.\n### Passages\njunk").ask(
        "split a shell line"
    )
    assert answer.model_text == "Use shlex.split."
    from heron.rag.prompt import QUESTION_LEAD

    echo = make_asker(collection, f"{QUESTION_LEAD} split").ask("split a shell line")
    assert "repeated the prompt" in echo.text
    copied = make_asker(collection, "[1] shlex\nshlex.split: Split the string").ask(
        "split a shell line"
    )
    assert "repeated the prompt" in copied.note


def test_calibrated_threshold_applies_to_every_engine_of_a_model() -> None:
    config = AppConfig(collection="c")
    assert config.threshold_for("bundled:minilm") == 0.40
    assert config.threshold_for("bundled:minilm#st") == 0.40
    assert config.threshold_for("hash:64") == float("-inf")
    assert AppConfig(collection="c", abstain_threshold=0.1).threshold_for("bundled:minilm") == 0.1
