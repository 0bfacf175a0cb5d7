"""``create_app``: the FastAPI application of ``heron serve``, built from explicit settings.

Nothing happens at import time. ``create_app(settings, server)`` opens the store,
the key and feedback files and the work pools and puts them on ``app.state``;
models load lazily on first use and are then shared by every request of the
process. ``app_from_env`` is the factory uvicorn calls in each worker process
when ``heron serve --workers N`` runs several.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron import __version__
from heron.config import Settings
from heron.errors import HeronError
from heron.models.registry import ModelRegistry
from heron.rag.traces import TraceSink
from heron.server.access_log import AccessLog, configure_access_log
from heron.server.errors import error_body, scrub, status_of
from heron.server.fastlane import SearchFastLane, error_headers
from heron.server.feedback import FeedbackStore
from heron.server.inline import InlineLane
from heron.server.keys import KeyStore
from heron.server.limits import BodyLimit, ShedLoad, WorkPool
from heron.server.metrics import MetricsMiddleware
from heron.server.models import ServedModels
from heron.server.ratelimit import RateLimit, TokenBuckets
from heron.server.routes import collections, feedback, health, openai, rag, tasks, ui
from heron.server.settings import ServerSettings
from heron.server.state import ServerState
from heron.store import open_store

ENV_CONFIG = "HERON_SERVE_CONFIG"
log = logging.getLogger("heron.server")


def build_state(
    settings: Settings, server: ServerSettings, registry: ModelRegistry | None = None
) -> ServerState:
    registry = registry or ModelRegistry(
        options={
            "threads": settings.threads,
            "model_cache": settings.cache / "models",
            "onnx_cache": settings.cache / "onnx",
        }
    )
    store = open_store(settings.home, registry=registry, timeout_s=settings.lock_timeout_s)
    return ServerState(
        settings=settings,
        server=server,
        registry=registry,
        store=store,
        models=ServedModels(
            registry, server.llms or (settings.llm,), server.embedders or (settings.embedder,)
        ),
        keys=KeyStore(settings.home),
        feedback=FeedbackStore(settings.home),
        traces=TraceSink(settings.home),
        generate_pool=WorkPool("generate", server.generate_concurrency, server.generate_queue),
        search_pool=WorkPool("search", server.search_concurrency, server.search_queue),
        inline=InlineLane(store.path),
    )


def create_app(
    settings: Settings,
    server: ServerSettings | None = None,
    *,
    registry: ModelRegistry | None = None,
) -> FastAPI:
    """The server application; ``registry`` lets tests inject fake models."""
    server = server or ServerSettings()
    state = build_state(settings, server, registry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        quiet_access_log()  # uvicorn's; ``--access-log`` turns on Heron's own (AccessLog)
        yield
        state.close()  # uvicorn has let in-flight requests finish by now

    app = FastAPI(
        title="Heron",
        version=__version__,
        description="Knowledge bases, grounded answers and OpenAI-compatible models, served.",
        lifespan=lifespan,
    )
    app.state.heron = state
    for module in (health, rag, collections, feedback, tasks, openai, ui):
        app.include_router(module.router)
    _add_error_handlers(app, state)
    # innermost of the middleware: CORS (when on) wraps the fast lane's answers too
    app.add_middleware(SearchFastLane, state=state, search=rag.search_payload)
    if server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(server.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit, max_bytes=server.max_body_bytes)
    app.add_middleware(ShedLoad, routes=_shed_routes(state))
    if server.rate_per_min > 0:
        buckets = TokenBuckets(server.rate_per_min, server.rate_burst)
        app.add_middleware(RateLimit, state=state, buckets=buckets)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    if server.access_log:  # outermost: sees every answer, refusals at the door included
        app.add_middleware(AccessLog, fmt=server.log_format)
    return app


def _shed_routes(state: ServerState) -> list[tuple[str, WorkPool]]:
    """Which pool the model-heavy POST routes use (for refusing them at the door)."""
    generate = ("/v1/ask", "/v1/chat/completions", "/v1/tasks/")
    search = ("/v1/search", "/v1/embeddings")
    return [(p, state.generate_pool) for p in generate] + [(p, state.search_pool) for p in search]


def _add_error_handlers(app: FastAPI, state: ServerState) -> None:
    home = state.settings.home

    def respond(
        message: str, kind: str, status: int, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        return JSONResponse(error_body(scrub(message, home), kind, status), status, headers)

    async def heron_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HeronError)
        status, kind = status_of(exc)
        return respond(str(exc), kind, status, error_headers(exc, status))

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return respond(*_validation_message(exc))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        detail = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in detail:
            detail = "the request body is not valid UTF-8 JSON"
        kind = {413: "payload_too_large", 404: "not_found", 405: "method_not_allowed"}
        return respond(
            detail,
            kind.get(exc.status_code, "http_error"),
            exc.status_code,
            dict(exc.headers or {}),
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", incident, request.method, request.url.path)
        return respond(
            f"internal error (incident {incident}; see the server log)", "internal_error", 500
        )

    app.add_exception_handler(HeronError, heron_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)


class CatchAll:
    """A bug becomes a one-line 500 naming an incident id; the traceback goes to the log.

    Starlette's own 500 handler re-raises, which makes uvicorn drop the
    keep-alive connection; this answers and keeps the connection usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ClientDisconnect:  # the client went away mid-response: nothing to answer
            log.info("client disconnected from %s %s", scope["method"], scope["path"])
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("unexpected error %s on %s %s", incident, scope["method"], scope["path"])
            if started:
                raise
            message = f"internal error (incident {incident}; see the server log)"
            await JSONResponse(error_body(message, "internal_error", 500), 500)(
                scope, receive, send
            )


def _validation_message(exc: RequestValidationError) -> tuple[str, str, int]:
    errors = list(exc.errors())
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        ctx: dict[str, Any] = first.get("ctx") or {}
        reason = ctx.get("error", "invalid JSON")
        return f"the request body is not valid JSON: {reason}", "invalid_json", 400
    where = ".".join(str(p) for p in first.get("loc", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}", "invalid_request", 422


def quiet_access_log() -> None:
    """Turn off uvicorn's access log (as ``uvicorn --no-access-log`` does).

    Runs at startup, after uvicorn configured logging and before it accepts a
    connection (each connection checks for handlers when it opens).
    """
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False


def limit_blas_threads(threads: int = 1) -> None:
    """One BLAS thread per request: the server runs requests side by side already.

    With OpenBLAS's default pool, one exact vector search over 4,976 x 384 took
    17.8 ms instead of 0.5 ms on a busy 2-core machine (threads spinning against
    each other and the requests). Called by ``heron serve``, never at import; the
    variables reach worker processes, ``threadpoolctl`` (when installed) this one.
    """
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - then only new processes are limited
        return
    threadpool_limits(threads, user_api="blas")


def app_from_env() -> FastAPI:
    """Factory for uvicorn worker processes: settings come as JSON in ``HERON_SERVE_CONFIG``."""
    limit_blas_threads()
    data = json.loads(os.environ[ENV_CONFIG])
    server = ServerSettings.model_validate(data["server"])
    if server.access_log:
        configure_access_log()
    return create_app(Settings.model_validate(data["settings"]), server)


def config_env(settings: Settings, server: ServerSettings) -> str:
    """The ``HERON_SERVE_CONFIG`` value that makes ``app_from_env`` build this app."""
    return json.dumps(
        {"settings": settings.model_dump(mode="json"), "server": server.model_dump(mode="json")}
    )
