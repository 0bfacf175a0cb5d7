"""RAG chain types: how retrieved passages reach the model.

- ``stuff``: every passage in one prompt (``heron.rag.answer.Asker``, unchanged).
- ``map_reduce``: each passage is asked the question alone; the answers that are
  not "NONE" are combined in one last call.
- ``refine``: the answer from the first passage is refined with each next one.
- ``map_rerank``: each passage is asked for an answer and a 0-100 score of how
  well the passage answers (JSON, grammar-constrained on llama.cpp); the best
  scored answer wins and its passage is cited first.

All four retrieve and abstain the way ``Asker`` does (same retriever, threshold
and answer type), so ``heron ask --chain-type`` changes only how the answer is
made. The non-stuff types record a trace (kind ``chain``) with every model call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from heron.chains.grammar import parse_json_reply, schema_errors, schema_to_gbnf, supports_grammar
from heron.chains.longdoc import NO_ANSWER
from heron.chains.steps import call_llm
from heron.chains.tracing import RunTraces, Span, new_run_id
from heron.errors import InputError
from heron.rag.answer import ABSTAIN_TEXT, Asker
from heron.rag.prompt import neutralise, passage_label
from heron.types import Answer, Citation, Hit, Message

CHAIN_TYPES = ("stuff", "map_reduce", "refine", "map_rerank")

MAP_PROMPT = (
    "Answer the question in one or two sentences using only the passage. If the passage "
    f"does not contain the answer, reply {NO_ANSWER}.\n\n### Passage\n{{passage}}\n"
    "### End of passage\n\nQuestion: {question}"
)
REDUCE_PROMPT = (
    "Combine these answers, each from a different passage, into one answer of one or two "
    "sentences.\n\n### Answers\n{answers}\n### End of answers\n\nQuestion: {question}"
)
REFINE_PROMPT = (
    "The answer so far is: {answer}\n\nImprove it if the passage helps; otherwise repeat it. "
    "Reply with the answer only.\n\n### Passage\n{passage}\n### End of passage\n\n"
    "Question: {question}"
)
RERANK_PROMPT = (
    "Answer the question using only the passage, and score from 0 to 100 how well the "
    'passage answers it. Reply as JSON: {{"answer": "...", "score": N}}.\n\n'
    "### Passage\n{passage}\n### End of passage\n\nQuestion: {question}"
)
RERANK_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 1, "maxLength": 300},
        "score": {"type": "integer"},
    },
    "required": ["answer", "score"],
}


def check_chain_type(chain_type: str) -> str:
    if chain_type not in CHAIN_TYPES:
        raise InputError(
            f"unknown chain type '{chain_type}'", hint=f"use one of {', '.join(CHAIN_TYPES)}"
        )
    return chain_type


def _passage(hit: Hit) -> str:
    return f"{neutralise(passage_label(hit))}\n{neutralise(hit.document or '')}"


def _citation(hit: Hit, dense: Mapping[str, float]) -> Citation:
    meta = hit.metadata or {}
    snippet = " ".join((hit.document or "").split())[:200]
    score = float(dense.get(hit.id, hit.score))
    return Citation(str(meta.get("source", hit.id)), hit.id, score, snippet, passage_label(hit))


class ChainAsker:
    """Answers with one of the RAG chain types, reusing an ``Asker``'s parts."""

    def __init__(self, asker: Asker, chain_type: str, traces: RunTraces | None = None) -> None:
        self.asker = asker
        self.chain_type = check_chain_type(chain_type)
        self.traces = traces

    def ask(self, question: str, where: Mapping[str, Any] | None = None) -> Answer:
        if self.chain_type == "stuff":
            return self.asker.ask(question, where)
        run_id = new_run_id()
        root = Span(f"ask:{self.chain_type}", "chain", inputs={"question": question})
        try:
            answer = self._answer(question, where, run_id, root)
        except BaseException as exc:
            root.finish(error=exc)
            self._record(run_id, root, "error")
            raise
        root.finish({"answer": answer.text, "abstained": answer.abstained})
        self._record(run_id, root, "ok")
        return answer

    def _record(self, run_id: str, root: Span, status: str) -> None:
        if self.traces is not None:
            self.traces.record("chain", run_id, root, status)

    def _answer(
        self, question: str, where: Mapping[str, Any] | None, run_id: str, root: Span
    ) -> Answer:
        start = time.perf_counter()
        retrieve = root.child("retrieve", "retrieve", {"question": question})
        retrieval = self.asker.retriever.retrieve(question, where)
        retrieve.finish({"hits": [h.id for h in retrieval.hits]})
        timings = {"retrieve_s": time.perf_counter() - start}
        if not retrieval.hits or retrieval.best_dense_score < self.asker.abstain_threshold:
            timings["total_s"] = time.perf_counter() - start
            return Answer(ABSTAIN_TEXT, (), True, run_id, timings)
        mark = time.perf_counter()
        hits = list(retrieval.hits)
        if self.chain_type == "map_reduce":
            text, used = self._map_reduce(question, hits, root)
        elif self.chain_type == "refine":
            text, used = self._refine(question, hits, root), hits
        else:
            text, used = self._map_rerank(question, hits, root)
        timings["generate_s"] = time.perf_counter() - mark
        timings["total_s"] = time.perf_counter() - start
        if not text or text.upper().startswith(NO_ANSWER):
            return Answer(ABSTAIN_TEXT, (), True, run_id, timings, text)
        citations = tuple(_citation(h, retrieval.dense_scores) for h in used)
        return Answer(text, citations, False, run_id, timings, text)

    def _map_reduce(self, question: str, hits: list[Hit], root: Span) -> tuple[str, list[Hit]]:
        q = neutralise(question)
        answers: list[tuple[Hit, str]] = []
        for n, hit in enumerate(hits, 1):
            text = self._call(
                root, f"map {n}", MAP_PROMPT.format(passage=_passage(hit), question=q)
            )
            if text and not text.upper().startswith(NO_ANSWER):
                answers.append((hit, text))
        if not answers:
            return NO_ANSWER, []
        if len(answers) == 1:
            return answers[0][1], [answers[0][0]]
        joined = "\n".join(f"[{n}] {neutralise(a)}" for n, (_, a) in enumerate(answers, 1))
        final = self._call(root, "reduce", REDUCE_PROMPT.format(answers=joined, question=q))
        return final, [hit for hit, _ in answers]

    def _refine(self, question: str, hits: list[Hit], root: Span) -> str:
        q = neutralise(question)
        answer = self._call(
            root, "refine 1", MAP_PROMPT.format(passage=_passage(hits[0]), question=q)
        )
        for n, hit in enumerate(hits[1:], 2):
            prompt = REFINE_PROMPT.format(
                answer=neutralise(answer), passage=_passage(hit), question=q
            )
            answer = self._call(root, f"refine {n}", prompt)
        return answer

    def _map_rerank(self, question: str, hits: list[Hit], root: Span) -> tuple[str, list[Hit]]:
        q = neutralise(question)
        scored: list[tuple[int, int, str]] = []
        for n, hit in enumerate(hits, 1):
            prompt = RERANK_PROMPT.format(passage=_passage(hit), question=q)
            answer, score = self._scored(root, f"score {n}", prompt)
            if not answer.upper().startswith(NO_ANSWER):
                scored.append((score, -n, answer))
        if not scored:
            return NO_ANSWER, []
        score, negative_rank, answer = max(scored)
        best = hits[-negative_rank - 1]
        return answer, [best, *[h for h in hits if h is not best]]

    def _scored(self, root: Span, label: str, prompt: str) -> tuple[str, int]:
        span = root.child(label, "llm")
        llm = self.asker.llm
        options = self.asker.options
        kwargs: dict[str, Any] = {}
        if supports_grammar(llm):
            kwargs["grammar"] = schema_to_gbnf(RERANK_SCHEMA)
        reply = call_llm(llm, [Message("user", prompt)], options, span, **kwargs).text
        try:
            value = parse_json_reply(reply)
            errors = schema_errors(value, RERANK_SCHEMA)
        except InputError as exc:
            span.finish({"reply": reply}, error=exc)
            return reply.strip(), 0
        if errors:
            span.finish({"reply": reply}, error=InputError("; ".join(errors)))
            return reply.strip(), 0
        score = max(0, min(100, int(value["score"])))
        span.finish({"answer": value["answer"], "score": score})
        return str(value["answer"]).strip(), score

    def _call(self, root: Span, label: str, prompt: str) -> str:
        span = root.child(label, "llm")
        try:
            reply = call_llm(self.asker.llm, [Message("user", prompt)], self.asker.options, span)
        except Exception as exc:
            span.finish(error=exc)
            raise
        span.finish({"text": reply.text.strip()})
        return reply.text.strip()
