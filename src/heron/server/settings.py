"""What one ``heron serve`` process is configured with, as one typed object.

``ServerSettings`` holds only serving concerns (address, which models may be
named by requests, limits, auth); everything else (store home, default
collection, timeouts) comes from ``heron.config.Settings``. Both are passed to
``create_app`` explicitly.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from heron.models.openai_compat import is_loopback

#: Hard caps, part of the OpenAPI schema (requests past them get 422).
MAX_QUERY_CHARS = 2_000
MAX_K = 50
MAX_TOKENS = 1_024
MAX_BATCH = 256
MAX_DOCUMENT_CHARS = 100_000
MAX_COMMENT_CHARS = 2_000
#: the per-key rate limit when bound to a non-loopback address and none is set
DEFAULT_RATE_PER_MIN = 600.0


class ServerSettings(BaseModel):
    """Address, served models, limits and auth of one server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: default collection for /v1/ask and /v1/search (None: the settings' collection)
    collection: str | None = None
    #: LLM specs requests may name; the first is the default (empty: the settings' llm)
    llms: tuple[str, ...] = ()
    #: embedder specs /v1/embeddings and new collections may name, besides those of
    #: existing collections and ``hash:DIM`` (empty: the settings' embedder)
    embedders: tuple[str, ...] = ()
    #: further model specs tasks may name (e.g. ``hf:`` task models), besides the above
    task_models: tuple[str, ...] = ()
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    #: concurrent LLM jobs (ask, chat, tasks) and how many may wait for a slot
    generate_concurrency: int = Field(default=1, ge=1)
    generate_queue: int = Field(default=2, ge=0)
    #: concurrent embedding/store jobs (search, embeddings, writes) and their queue
    search_concurrency: int = Field(default=4, ge=1)
    search_queue: int = Field(default=16, ge=0)
    #: a request that has not finished after this long gets 504
    request_timeout_s: float = Field(default=60.0, gt=0)
    #: origins allowed by CORS; empty means no CORS headers at all
    cors_origins: tuple[str, ...] = ()
    #: None: keys required for every request exactly when the host is not loopback
    require_keys: bool | None = None
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    workers: int = Field(default=1, ge=1)
    #: one line per request on the ``heron.access`` logger (off by default: a formatted
    #: line per request on the hot path; requests are still counted in /metrics)
    access_log: bool = False
    #: the access log's line format
    log_format: Literal["text", "json"] = "text"
    #: requests per minute per API key (per client address without one); None: off on
    #: loopback, ``DEFAULT_RATE_PER_MIN`` otherwise; 0: off
    rate_limit_per_min: float | None = Field(default=None, ge=0)
    #: requests a client may send at once before the rate applies (None: a minute's worth)
    rate_limit_burst: int | None = Field(default=None, ge=1)

    @property
    def keys_for_everything(self) -> bool:
        """Whether reads need a key too (writes always do)."""
        if self.require_keys is not None:
            return self.require_keys
        return not is_loopback(self.host)

    @property
    def rate_per_min(self) -> float:
        """The effective rate limit per key or client address (0: off)."""
        if self.rate_limit_per_min is not None:
            return self.rate_limit_per_min
        return 0.0 if is_loopback(self.host) else DEFAULT_RATE_PER_MIN

    @property
    def rate_burst(self) -> int:
        """The effective bucket size (at least one request)."""
        if self.rate_limit_burst is not None:
            return self.rate_limit_burst
        return max(1, math.ceil(self.rate_per_min))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
