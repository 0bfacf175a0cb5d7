"""OpenAI-compatible ``/v1/models``, ``/v1/chat/completions`` and ``/v1/embeddings``.

Enough of OpenAI's API for its clients (and Heron's own ``openai:`` backend) to
use Heron as their model server: chat with ``stream: true`` as SSE chunks ending
in ``data: [DONE]``, embeddings as float lists. Models are the served ones only.
Left out: tools, logprobs, ``n`` > 1, token-array inputs, base64 encoding.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from heron.errors import HeronError, HeronTimeout
from heron.models.base import GenerateOptions, approx_token_count
from heron.server.errors import error_body, scrub, status_of
from heron.server.routes._common import ERRORS, READ
from heron.server.settings import MAX_BATCH, MAX_DOCUMENT_CHARS, MAX_TOKENS
from heron.server.state import ServerState, StateDep
from heron.server.streaming import SSE_EVENT_SCHEMA, EventStreamResponse, ThreadStream, sse
from heron.types import Completion, Message

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERRORS, dependencies=READ)

Text = Annotated[str, Field(max_length=MAX_DOCUMENT_CHARS)]


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(Lenient):
    type: Literal["text"]
    text: Text


class ChatMessage(Lenient):
    role: Literal["system", "user", "assistant"]
    content: Text | Annotated[list[TextPart], Field(max_length=64)]

    def to_message(self) -> Message:
        text = (
            self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        )
        return Message(self.role, text)


class ChatRequest(Lenient):
    model: str | None = Field(default=None, max_length=200)
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_BATCH)]
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0, le=1000)
    repeat_penalty: float = Field(default=1.1, gt=0.0, le=10.0)
    stop: (
        Annotated[str, Field(max_length=100)]
        | Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=8)]
        | None
    ) = None
    seed: int | None = Field(default=0, ge=0, le=2**31 - 1)
    n: Literal[1] = 1
    stream: bool = False

    def options(self) -> GenerateOptions:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return GenerateOptions(
            max_tokens=self.max_completion_tokens or self.max_tokens or 256,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            repeat_penalty=self.repeat_penalty,
            stop=[s for s in stop if s],
            seed=self.seed,
        )


class ChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: ChoiceMessage
    finish_reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


class ChatResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class EmbeddingsRequest(Lenient):
    model: str | None = Field(default=None, max_length=200)
    input: Text | Annotated[list[Text], Field(min_length=1, max_length=MAX_BATCH)]
    encoding_format: Literal["float"] = "float"


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float]


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "heron"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


@router.get("/models", response_model=ModelList)
async def list_models(state: StateDep) -> ModelList:
    """The served LLMs and embedders, by the ids requests use."""
    ids = [*state.models.llm_specs, *state.models.embedder_specs]
    return ModelList(data=[ModelCard(id=i) for i in dict.fromkeys(ids)])


_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a chat completion, or with stream=true chat.completion.chunk events",
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
    }
}


@router.post("/chat/completions", response_model=ChatResponse, responses=_SSE_DOC)
async def chat_completions(body: ChatRequest, state: StateDep) -> Any:
    """OpenAI chat completions over a served LLM."""
    spec = state.models.llm_spec(body.model)
    messages = [m.to_message() for m in body.messages]
    if body.stream:
        return await _chat_stream(body, spec, messages, state)

    def run() -> ChatResponse:
        completion = state.models.llm(spec).generate(messages, body.options())
        return _chat_response(spec, completion, state)

    return await state.generate_pool.run(run, timeout_s=state.server.request_timeout_s)


def _chat_response(spec: str, completion: Completion, state: ServerState) -> ChatResponse:
    state.metrics.count_tokens(completion.prompt_tokens, completion.completion_tokens)
    usage = Usage(
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        total_tokens=completion.prompt_tokens + completion.completion_tokens,
    )
    return ChatResponse(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=spec,
        choices=[
            Choice(
                index=0,
                message=ChoiceMessage(content=completion.text),
                finish_reason=completion.finish_reason,
            )
        ],
        usage=usage,
    )


async def _chat_stream(
    body: ChatRequest, spec: str, messages: list[Message], state: ServerState
) -> EventStreamResponse:
    def pieces() -> Iterator[str]:
        count = 0
        for piece in state.models.llm(spec).stream(messages, body.options()):
            count += 1
            yield piece
        state.metrics.count_tokens(0, count)

    stream: ThreadStream[str] = ThreadStream(state.generate_pool, pieces)
    await stream.start(state.server.request_timeout_s)
    chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
    return EventStreamResponse(_chunks(stream, chunk_id, spec, state))


def _chunk(chunk_id: str, spec: str, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": spec,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def _chunks(
    stream: ThreadStream[str], chunk_id: str, spec: str, state: ServerState
) -> AsyncIterator[str]:
    yield sse(None, _chunk(chunk_id, spec, {"role": "assistant", "content": ""}, None))
    deadline = time.monotonic() + state.server.request_timeout_s
    try:
        async for piece in stream.items():
            if time.monotonic() > deadline:
                raise HeronTimeout(f"generation ran past {state.server.request_timeout_s:g} s")
            if piece is None:
                yield ": ping\n\n"
            elif piece:
                yield sse(None, _chunk(chunk_id, spec, {"content": piece}, None))
        yield sse(None, _chunk(chunk_id, spec, {}, "stop"))
    except HeronError as exc:
        status, kind = status_of(exc)
        yield sse(None, error_body(scrub(str(exc), state.settings.home), kind, status))
    except Exception:  # noqa: BLE001 - the stream has begun; report, never leak a trace
        yield sse(None, error_body("internal error", "internal_error", 500))
    yield "data: [DONE]\n\n"


@router.post("/embeddings", response_model=EmbeddingsResponse)
async def embeddings(body: EmbeddingsRequest, state: StateDep) -> Any:
    """OpenAI embeddings with a served embedder (default: the server's)."""
    texts = [body.input] if isinstance(body.input, str) else list(body.input)

    def run() -> EmbeddingsResponse:
        spec = state.models.embedder_spec(body.model, state.collection_embedders())
        vectors = np.asarray(state.registry.embedder(spec).embed_many(texts), dtype=np.float32)
        tokens = sum(approx_token_count(t) for t in texts)
        return EmbeddingsResponse(
            data=[EmbeddingItem(index=i, embedding=v.tolist()) for i, v in enumerate(vectors)],
            model=spec,
            usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
        )

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)
