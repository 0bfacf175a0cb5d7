"""``POST /v1/search`` and ``POST /v1/ask`` (JSON, or server-sent events with ``stream``).

The SSE stream sends ``citations``, ``lead``, then ``token`` events as the model
writes, and ends with ``done`` carrying the whole answer (as the JSON response
would), or ``error`` if something failed after the stream began. Errors found
before the first event (unknown collection, bad filter, overload) are ordinary
HTTP errors.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from heron.errors import CollectionNotFound, HeronError, HeronTimeout
from heron.rag.answer import Asker, AskEvent
from heron.rag.app import AppConfig, build_asker
from heron.rag.retrieve import Retriever
from heron.server.errors import error_body, scrub, status_of
from heron.server.fastlane import dumps
from heron.server.routes._common import ERRORS, READ
from heron.server.schemas import AskRequest, AskResponse, SearchRequest, SearchResponse
from heron.server.state import ServerState, StateDep
from heron.server.streaming import SSE_EVENT_SCHEMA, EventStreamResponse, ThreadStream, sse
from heron.store import Collection
from heron.types import Answer, Hit

router = APIRouter(prefix="/v1", tags=["rag"], responses=ERRORS, dependencies=READ)

_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the answer (JSON), or with stream=true a text/event-stream of "
        "citations, lead, token… and done events",
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
    }
}


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, state: StateDep) -> Response:
    """The best passages for a text query (hybrid dense + BM25 by default) or a vector."""
    # Built here, not re-validated by FastAPI: the hot path of the server (the schema
    # above still documents it, and the schema tests check it). Valid requests
    # usually never reach this route: ``SearchFastLane`` answers them first.
    payload = await search_payload(body, state)
    return Response(dumps(payload), media_type="application/json")


async def search_payload(body: SearchRequest, state: ServerState) -> dict[str, Any]:
    """The search response body, computed under the search pool's slots.

    On a pool thread with the per-request timeout, or on the event loop when
    ``state.inline`` predicts a cheap search (see ``heron.server.inline``)."""
    name = body.collection or state.default_collection

    def find(collection: Collection) -> list[Hit]:
        if body.vector is not None:
            return collection.query(embeddings=[body.vector], k=body.k, where=body.where)[0]
        retriever = Retriever(collection, k=body.k, hybrid=body.hybrid)
        return retriever.retrieve(body.query or "", body.where).hits

    def run() -> dict[str, Any]:
        try:
            hits = find(state.collection(name))
        except CollectionNotFound:  # deleted (and maybe created again) since it was cached
            state.forget_collection(name)
            hits = find(state.collection(name))
        return {"collection": name, "hits": [h.to_dict() for h in hits]}

    pool, lane, timeout_s = state.search_pool, state.inline, state.server.request_timeout_s
    if not lane.may_inline(body):
        return await pool.run(run, timeout_s=timeout_s)
    stamp = lane.stamp()

    def measured() -> dict[str, Any]:
        started = time.perf_counter()
        payload = run()
        lane.observe(name, stamp, time.perf_counter() - started)
        return payload

    if lane.allows(name, stamp):  # predicted cheap: no thread hop (and no timeout)
        return await pool.run_inline(measured, timeout_s=timeout_s)
    return await pool.run(measured, timeout_s=timeout_s)


@router.post("/ask", response_model=AskResponse, responses=_SSE_DOC)
async def ask(body: AskRequest, state: StateDep) -> Any:
    """Answer a question from a collection, citing the passages used."""
    if body.stream:
        return await _stream(body, state)

    def run() -> AskResponse:
        answer = _asker(body, state).ask(body.question, body.where)
        _record(state, body, answer)
        return _response(answer)

    return await state.generate_pool.run(run, timeout_s=state.server.request_timeout_s)


def _asker(body: AskRequest, state: ServerState) -> Asker:
    config = AppConfig(
        collection=body.collection or state.default_collection,
        llm=state.models.llm_spec(body.model),
        k=body.k or state.settings.k,
        max_tokens=body.max_tokens,
        retrieval_timeout_s=min(state.settings.retrieval_timeout_s, state.server.request_timeout_s),
        generation_timeout_s=min(
            state.settings.generation_timeout_s, state.server.request_timeout_s
        ),
    )
    asker = build_asker(config, state.store, state.registry, state.traces)
    return dataclasses.replace(asker, llm=state.models.llm(body.model))


def _record(state: ServerState, body: AskRequest, answer: Answer) -> None:
    state.feedback.record_answer(
        answer.request_id, body.collection or state.default_collection, body.question
    )
    if answer.model_text:
        state.metrics.count_tokens(0, state.models.llm(body.model).count_tokens(answer.model_text))


def _response(answer: Answer) -> AskResponse:
    return AskResponse.model_validate(answer.to_dict())


async def _stream(body: AskRequest, state: ServerState) -> EventStreamResponse:
    def events() -> Iterator[AskEvent]:
        for event in _asker(body, state).stream(body.question, body.where):
            if event.answer is not None:
                _record(state, body, event.answer)
            yield event

    stream: ThreadStream[AskEvent] = ThreadStream(state.generate_pool, events)
    await stream.start(state.server.request_timeout_s)
    try:  # errors before the first event are plain HTTP errors
        first = await stream.next(state.server.request_timeout_s)
    except TimeoutError as exc:
        stream.cancel.set()
        raise HeronTimeout(
            f"no answer began within {state.server.request_timeout_s:g} s",
            hint="retry later or raise the server's request timeout",
        ) from exc
    return EventStreamResponse(_sse_events(first, stream, state))


async def _sse_events(
    first: AskEvent | None, stream: ThreadStream[AskEvent], state: ServerState
) -> AsyncIterator[str]:
    if first is None:  # pragma: no cover - an ask stream always ends with "done"
        stream.cancel.set()
        return
    yield _event_text(first)
    try:
        async for event in stream.items():
            yield ": ping\n\n" if event is None else _event_text(event)
    except HeronError as exc:
        status, kind = status_of(exc)
        yield sse("error", error_body(scrub(str(exc), state.settings.home), kind, status))
    except Exception:  # noqa: BLE001 - the stream has begun; report, never leak a trace
        yield sse("error", error_body("internal error", "internal_error", 500))


def _event_text(event: AskEvent) -> str:
    if event.kind == "citations":
        return sse("citations", {"citations": [dataclasses.asdict(c) for c in event.citations]})
    if event.kind == "done" and event.answer is not None:
        return sse("done", event.answer.to_dict())
    return sse(event.kind, {"text": event.text})
