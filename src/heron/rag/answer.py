"""Ask a question over a collection: retrieve, build the prompt, generate, cite.

The flow is a generator of events so the CLI (and later the server) can show
the citations and the evidence-led first line at once and then stream the
model's words. ``Asker.ask`` consumes the same generator and returns one
``Answer``. Every answer has a request id and is appended to a trace log.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Literal

from heron.errors import HeronTimeout, InputError
from heron.models.base import LLM, Embedder, GenerateOptions
from heron.rag.grounding import supporting_sentence, ungrounded_terms
from heron.rag.prompt import DELIMITER_STOPS, ECHO_FRAGMENTS, build_prompt, passage_label
from heron.rag.retrieve import Retrieval, Retriever
from heron.rag.traces import TraceSink
from heron.types import Answer, Citation, Hit

ABSTAIN_TEXT = "I don't have that information."
#: A line such as "[2] shlex.quote": the model is copying passages back, not answering.
_PASSAGE_HEADER = re.compile(r"^\[\d+\] \S+$", re.MULTILINE)
#: How many of the best passages the evidence-led first line may quote from.
LEAD_PASSAGES = 3

EventKind = Literal["citations", "lead", "token", "done"]


@dataclass(frozen=True)
class AskEvent:
    kind: EventKind
    text: str = ""
    citations: tuple[Citation, ...] = ()
    answer: Answer | None = None


@dataclass
class Asker:
    """Answers questions from one retriever with one LLM."""

    retriever: Retriever
    llm: LLM
    embedder: Embedder | None = None
    abstain_threshold: float = 0.0
    options: GenerateOptions = field(default_factory=lambda: GenerateOptions(max_tokens=160))
    retrieval_timeout_s: float = 30.0
    generation_timeout_s: float = 120.0
    traces: TraceSink | None = None

    def ask(self, question: str, where: Mapping[str, Any] | None = None) -> Answer:
        for event in self.stream(question, where):
            if event.answer is not None:
                return event.answer
        raise AssertionError("stream ended without an answer")  # pragma: no cover

    def stream(self, question: str, where: Mapping[str, Any] | None = None) -> Iterator[AskEvent]:
        request_id = uuid.uuid4().hex
        timings: dict[str, float] = {}
        start = time.perf_counter()
        retrieval = self._retrieve(question, where)
        timings["retrieve_s"] = time.perf_counter() - start
        if not retrieval.hits or retrieval.best_dense_score < self.abstain_threshold:
            answer = Answer(ABSTAIN_TEXT, (), True, request_id, _total(timings, start))
            self._trace(question, answer, retrieval)
            yield AskEvent("done", ABSTAIN_TEXT, answer=answer)
            return
        yield from self._answer(question, retrieval, request_id, timings, start)

    def _retrieve(self, question: str, where: Mapping[str, Any] | None) -> Retrieval:
        # Not a `with` block: leaving it would wait for a retrieval that overran.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heron-retrieve")
        future = pool.submit(self.retriever.retrieve, question, where)
        try:
            return future.result(timeout=self.retrieval_timeout_s)
        except FutureTimeout as exc:
            raise HeronTimeout(
                f"retrieval took longer than {self.retrieval_timeout_s:g} s",
                hint="raise retrieval_timeout_s or use a smaller k",
            ) from exc
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _answer(
        self,
        question: str,
        retrieval: Retrieval,
        request_id: str,
        timings: dict[str, float],
        start: float,
    ) -> Iterator[AskEvent]:
        mark = time.perf_counter()
        budget = self.llm.context_window - self.options.max_tokens
        built = build_prompt(question, retrieval.hits, self.llm.count_tokens, budget)
        if not built.used:
            raise InputError(
                f"no passage fits: the model's context window is {self.llm.context_window} "
                f"tokens and max_tokens takes {self.options.max_tokens} of them",
                hint="lower max_tokens (e.g. --max-tokens 160) or use a model with a larger window",
            )
        citations = tuple(_citation(hit, retrieval) for hit in built.used)
        lead = self._lead(question, built.used)
        timings["prompt_s"] = time.perf_counter() - mark
        yield AskEvent("citations", citations=citations)
        yield AskEvent("lead", lead)
        mark = time.perf_counter()
        pieces: list[str] = []
        for piece in self._generate(built.messages):
            pieces.append(piece)
            yield AskEvent("token", piece)
        timings["generate_s"] = time.perf_counter() - mark
        model_text = "".join(pieces).strip()
        note = _withhold_reason(model_text, [h.document or "" for h in built.used])
        text = _answer_text(lead, model_text, note)
        answer = Answer(
            text, citations, False, request_id, _total(timings, start), model_text, note
        )
        self._trace(question, answer, retrieval)
        yield AskEvent("done", text, citations, answer)

    def _lead(self, question: str, used: list[Hit]) -> str:
        """The evidence first: the best-matching sentence of the top passages, cited."""
        top = used[:LEAD_PASSAGES]
        index, sentence = supporting_sentence(
            question,
            [h.document or "" for h in top],
            self.embedder,
            [passage_label(h) for h in top],
        )
        return f"{passage_label(top[index])}: {sentence} [{index + 1}]"

    def _generate(self, messages: Any) -> Iterator[str]:
        """Stream the model's words, stopping at the generation time budget."""
        deadline = time.monotonic() + self.generation_timeout_s
        stops = list(dict.fromkeys([*self.options.stop, *DELIMITER_STOPS]))
        options = self.options.model_copy(update={"stop": stops})
        for piece in self.llm.stream(messages, options):
            yield piece
            if time.monotonic() > deadline:
                yield " …[stopped: generation time budget reached]"
                return

    def _trace(self, question: str, answer: Answer, retrieval: Retrieval) -> None:
        if self.traces is not None:
            self.traces.record(
                "ask",
                answer.request_id,
                {
                    "question": question,
                    "answer": answer.to_dict(),
                    "best_dense_score": retrieval.best_dense_score,
                    "retrieved": [h.id for h in retrieval.hits],
                },
            )


def _citation(hit: Hit, retrieval: Retrieval) -> Citation:
    meta = hit.metadata or {}
    score = retrieval.dense_scores.get(hit.id, hit.score)
    snippet = " ".join((hit.document or "").split())[:200]
    return Citation(
        str(meta.get("source", hit.id)), hit.id, float(score), snippet, passage_label(hit)
    )


def _answer_text(lead: str, model_text: str, note: str) -> str:
    """The evidence line, then the model's words, or why they were left out.

    A model that abstains although retrieval was confident adds nothing to the lead.
    """
    if note:
        return f"{lead}\n\n({note})"
    if not model_text or model_text.startswith(ABSTAIN_TEXT.rstrip(".")):
        return lead
    return f"{lead}\n\n{model_text}"


def _withhold_reason(model_text: str, passages: list[str]) -> str:
    """Why the model's words must not be shown as the answer ("" when they may be).

    The answer always leads with the evidence; the model's words follow only when
    they stay grounded in the cited passages.
    """
    if any(fragment in model_text for fragment in ECHO_FRAGMENTS) or _PASSAGE_HEADER.search(
        model_text
    ):
        return "The model's reply repeated the prompt and was withheld."
    missing = ungrounded_terms(model_text, passages)
    if missing:
        return (
            f"The model's own wording was withheld: it named {', '.join(missing[:3])}, "
            "which the cited passages do not mention."
        )
    return ""


def _total(timings: dict[str, float], start: float) -> dict[str, float]:
    timings["total_s"] = time.perf_counter() - start
    return dict(timings)
