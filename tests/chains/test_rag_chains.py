"""RAG chain types over a real (hash-embedded) collection with scripted models."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.chains import RunTraces
from heron.chains.rag_chains import ChainAsker
from heron.errors import InputError
from heron.models.base import GenerateOptions
from heron.rag.answer import ABSTAIN_TEXT, Asker
from heron.rag.retrieve import Retriever
from heron.store import Store, open_store
from heron.testing.fakes import ScriptedLLM

DOCS = {
    "shlex": "shlex.split splits a shell command line into words, respecting quotes.",
    "sched": "sched runs a function at a later time with a scheduler.",
    "json": "json.dumps turns a Python object into JSON text.",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "home")
    col = store.create_collection("kb", embedder="hash:64", metric="cosine")
    col.add(list(DOCS), documents=list(DOCS.values()), metadatas=[{"title": k} for k in DOCS])
    yield store
    store.close()


def asker(store: Store, llm: ScriptedLLM, threshold: float = -1.0) -> Asker:
    retriever = Retriever(store.get_collection("kb"), k=3)
    return Asker(
        retriever, llm, abstain_threshold=threshold, options=GenerateOptions(max_tokens=60)
    )


def passage_title(prompt: str) -> str:
    match = re.search(r"### Passage\n(\w+)", prompt)
    return match.group(1) if match else ""


def test_map_reduce_asks_each_passage_then_combines_the_useful_answers(store: Store) -> None:
    def reply(prompt: str) -> str:
        if "Combine these answers" in prompt:
            return "combined"
        return "from " + passage_title(prompt) if passage_title(prompt) != "json" else "NONE"

    llm = ScriptedLLM(reply)
    answer = ChainAsker(asker(store, llm), "map_reduce").ask("split a shell command line")
    assert answer.text == "combined" and not answer.abstained
    assert len(llm.prompts) == 4  # three passages, one reduce
    reduce_prompt = llm.prompts[-1]
    assert "from shlex" in reduce_prompt and "from sched" in reduce_prompt
    assert "NONE" not in reduce_prompt
    assert {c.chunk_id for c in answer.citations} == {"shlex", "sched"}


def test_map_reduce_abstains_when_no_passage_answers(store: Store) -> None:
    answer = ChainAsker(asker(store, ScriptedLLM(["NONE"])), "map_reduce").ask("anything")
    assert answer.abstained and answer.text == ABSTAIN_TEXT and answer.citations == ()


def test_refine_passes_the_running_answer_through_every_passage(store: Store) -> None:
    llm = ScriptedLLM(lambda p: "v" + str(p.count("The answer so far")))
    answer = ChainAsker(asker(store, llm), "refine").ask("split a shell line")
    assert answer.text == "v1" and len(llm.prompts) == 3
    assert "The answer so far is: v0" in llm.prompts[1]


def test_map_rerank_keeps_the_best_scored_answer_and_cites_it_first(store: Store) -> None:
    scores = {"shlex": 95, "sched": 30, "json": 60}

    def reply(prompt: str) -> str:
        title = passage_title(prompt)
        return json.dumps({"answer": f"use {title}", "score": scores[title]})

    llm = ScriptedLLM(reply, accepts_grammar=True)
    answer = ChainAsker(asker(store, llm), "map_rerank").ask("split a shell line")
    assert answer.text == "use shlex"
    assert answer.citations[0].chunk_id == "shlex" and len(answer.citations) == 3
    assert all(g is not None and "score" in g for g in llm.grammars)


def test_map_rerank_tolerates_unparseable_replies_with_score_zero(store: Store) -> None:
    llm = ScriptedLLM(
        lambda p: "free text" if passage_title(p) == "shlex" else '{"answer": "x", "score": 10}'
    )
    answer = ChainAsker(asker(store, llm), "map_rerank").ask("split a shell line")
    assert answer.text == "x"


def test_chain_types_abstain_like_stuff_below_the_threshold(store: Store) -> None:
    llm = ScriptedLLM(["should not be called"])
    answer = ChainAsker(asker(store, llm, threshold=2.0), "refine").ask("split a shell line")
    assert answer.abstained and llm.prompts == []


def test_stuff_is_the_unchanged_asker(store: Store) -> None:
    llm = ScriptedLLM(["shlex.split does it"])
    answer = ChainAsker(asker(store, llm), "stuff").ask("split a shell command line")
    assert "shlex.split does it" in answer.text and len(llm.prompts) == 1


def test_runs_are_traced_with_every_model_call(store: Store, tmp_path: Path) -> None:
    traces = RunTraces(tmp_path / "t")
    llm = ScriptedLLM(["an answer"])
    answer = ChainAsker(asker(store, llm), "map_reduce", traces).ask("split a shell line")
    run = traces.find(answer.request_id)
    names = [c["name"] for c in run["root"]["children"]]
    assert run["name"] == "ask:map_reduce"
    assert names == ["retrieve", "map 1", "map 2", "map 3", "reduce"]


def test_unknown_chain_type() -> None:
    with pytest.raises(InputError, match="stuff, map_reduce, refine, map_rerank"):
        ChainAsker(None, "magic")  # type: ignore[arg-type]


@pytest.mark.slow
def test_every_chain_type_runs_on_smollm2(store: Store) -> None:
    from heron.models.registry import ModelRegistry

    llm = ModelRegistry(options={"threads": 1}).llm("bundled:smollm2")
    retriever = Retriever(store.get_collection("kb"), k=2)
    base = Asker(retriever, llm, abstain_threshold=-1.0, options=GenerateOptions(max_tokens=40))
    for chain_type in ("map_reduce", "refine", "map_rerank"):
        answer = ChainAsker(base, chain_type).ask("How do I split a shell command line?")
        assert answer.text and answer.timings["total_s"] > 0
