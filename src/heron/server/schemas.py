"""Typed request and response bodies; their bounds are the server's hard caps.

Requests forbid unknown fields (a typo is a 422, not a silent default), except
the OpenAI-compatible ones, which ignore fields this server does not implement
because OpenAI clients send many optional ones.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from heron.server.settings import (
    MAX_BATCH,
    MAX_COMMENT_CHARS,
    MAX_DOCUMENT_CHARS,
    MAX_K,
    MAX_QUERY_CHARS,
    MAX_TOKENS,
)

#: Deepest nesting accepted in free-form JSON (filters, task schemas): deeper
#: structures would only exhaust the recursion of whatever walks them.
MAX_JSON_DEPTH = 16


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether dicts/lists nest deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children and depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def shallow(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse JSON nested deeper than ``MAX_JSON_DEPTH`` (a 422, not a crash)."""
    if too_deep(value):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


Query = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]
JsonObject = Annotated[dict[str, Any], AfterValidator(shallow)]
Where = JsonObject | None
Name = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
RecordId = Annotated[str, Field(min_length=1, max_length=512)]
DocText = Annotated[str, Field(max_length=MAX_DOCUMENT_CHARS)]
RequestId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
MetaValue = str | int | float | bool | None | list[str | int | float]
Metadata = dict[str, MetaValue]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: int


class ErrorResponse(BaseModel):
    error: ErrorDetail


# ------------------------------------------------------------------ search / ask


class SearchRequest(Strict):
    query: Query | None = Field(default=None, description="text to search for")
    vector: Annotated[list[float], Field(min_length=1, max_length=8192)] | None = Field(
        default=None, description="a query vector instead of text (dense search only)"
    )
    collection: Name | None = None
    k: int = Field(default=4, ge=1, le=MAX_K)
    where: Where = Field(default=None, description='metadata filter, e.g. {"topic": "db"}')
    hybrid: bool = Field(default=True, description="fuse BM25 keyword ranking with vectors")

    @model_validator(mode="after")
    def _one_query(self) -> SearchRequest:
        if (self.query is None) == (self.vector is None):
            raise ValueError("give exactly one of query (text) or vector")
        return self


class HitOut(BaseModel):
    id: str
    score: float
    text: str | None = None
    metadata: dict[str, Any] | None = None
    distance: float | None = None


class SearchResponse(BaseModel):
    collection: str
    hits: list[HitOut]


class AskRequest(Strict):
    question: Query
    collection: Name | None = None
    k: int | None = Field(default=None, ge=1, le=MAX_K)
    where: Where = None
    max_tokens: int = Field(default=160, ge=1, le=MAX_TOKENS)
    model: str | None = Field(default=None, max_length=200, description="a served LLM")
    stream: bool = Field(default=False, description="answer as server-sent events")


class CitationOut(BaseModel):
    source: str
    chunk_id: str
    score: float
    snippet: str = ""
    title: str | None = None


class AskResponse(BaseModel):
    request_id: str
    text: str
    citations: list[CitationOut]
    abstained: bool
    timings: dict[str, float]
    model_text: str | None = None
    note: str = ""


# ------------------------------------------------------------------ collections


class CollectionCreate(Strict):
    name: Name
    embedder: str | None = Field(default=None, max_length=200, description="default: served")
    metric: Literal["cosine", "l2", "ip"] = "cosine"
    dimension: int | None = Field(default=None, ge=1, le=65_536)
    metadata: Metadata | None = None


class CollectionOut(BaseModel):
    name: str
    count: int
    dimension: int | None
    metric: str
    embedder: str | None
    created_at: str
    last_seq: int
    metadata: dict[str, Any]


class CollectionList(BaseModel):
    collections: list[CollectionOut]


class Deleted(BaseModel):
    deleted: int


# ------------------------------------------------------------------ documents


class DocumentsWrite(Strict):
    ids: Annotated[list[RecordId], Field(min_length=1, max_length=MAX_BATCH)]
    documents: Annotated[list[DocText | None], Field(max_length=MAX_BATCH)] | None = None
    embeddings: Annotated[list[list[float]], Field(max_length=MAX_BATCH)] | None = None
    metadatas: Annotated[list[Metadata | None], Field(max_length=MAX_BATCH)] | None = None


class WriteResult(BaseModel):
    collection: str
    ids: list[str]
    count: int


class DocumentsGet(Strict):
    ids: Annotated[list[RecordId], Field(max_length=MAX_BATCH)] | None = None
    where: Where = None
    limit: int = Field(default=100, ge=0, le=1_000)
    offset: int = Field(default=0, ge=0)
    include: list[Literal["documents", "metadatas", "embeddings"]] = ["documents", "metadatas"]


class DocumentsDelete(Strict):
    ids: Annotated[list[RecordId], Field(max_length=MAX_BATCH)] | None = None
    where: Where = None


class DocumentOut(BaseModel):
    id: str
    document: str | None = None
    metadata: dict[str, Any] | None = None
    embedding: list[float] | None = None


class DocumentList(BaseModel):
    collection: str
    documents: list[DocumentOut]


# ------------------------------------------------------------------ feedback


class FeedbackIn(Strict):
    request_id: RequestId
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)


class FeedbackOut(BaseModel):
    id: int
    request_id: str
    rating: str
    comment: str
    created_at: str
    question: str | None = None
    collection: str | None = None


class FeedbackList(BaseModel):
    feedback: list[FeedbackOut]


# ------------------------------------------------------------------ health


class Health(BaseModel):
    status: Literal["ok"]
    collection: str
    llm: str
    auth: Literal["writes", "everything"]
