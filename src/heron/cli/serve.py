"""``heron serve``: run the HTTP API and web page with uvicorn."""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from heron.cli.common import state
from heron.errors import ConfigError

if TYPE_CHECKING:
    from heron.server.settings import ServerSettings


class LogFormatChoice(enum.StrEnum):
    """``--log-format`` values."""

    text = "text"
    json = "json"


def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind (loopback by default)"),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="default collection (default: setting collection)"
    ),
    llm: list[str] | None = typer.Option(
        None, "--llm", help="served LLM spec; repeat to serve several, the first is the default"
    ),
    embedder: list[str] | None = typer.Option(
        None, "--embedder", help="served embedder spec for /v1/embeddings (repeatable)"
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes"),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="LLM jobs at once"),
    queue: int = typer.Option(2, "--queue", min=0, help="LLM jobs that may wait"),
    search_concurrency: int = typer.Option(
        4, "--search-concurrency", min=1, help="search/embedding/store jobs at once"
    ),
    search_queue: int = typer.Option(16, "--search-queue", min=0, help="search jobs that may wait"),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, help="per-request time budget (s)"),
    cors_origin: list[str] | None = typer.Option(
        None, "--cors-origin", help="allow this browser origin (CORS is closed by default)"
    ),
    require_keys: bool | None = typer.Option(
        None,
        "--require-keys/--open-reads",
        help="API keys for reads too (default: only when not bound to loopback)",
    ),
    access_log: bool = typer.Option(
        False, "--access-log", help="one line per request on stdout (never bodies or keys)"
    ),
    log_format: LogFormatChoice = typer.Option(
        LogFormatChoice.text, "--log-format", help="access log lines as text or JSON"
    ),
    rate_limit: float | None = typer.Option(
        None,
        "--rate-limit",
        min=0,
        help="requests a minute per API key, or per address without one "
        "(default: off on loopback, 600 otherwise; 0: off)",
    ),
    rate_burst: int | None = typer.Option(
        None, "--rate-burst", min=1, help="requests allowed at once (default: a minute's worth)"
    ),
) -> None:
    """Serve the HTTP API, the OpenAI-compatible endpoints and the web page."""
    import uvicorn

    from heron.server.access_log import configure_access_log
    from heron.server.app import ENV_CONFIG, config_env, create_app, limit_blas_threads
    from heron.server.keys import KeyStore
    from heron.server.settings import ServerSettings

    st = state(ctx)
    server = ServerSettings(
        host=host,
        port=port,
        collection=collection,
        llms=tuple(llm or ()),
        embedders=tuple(embedder or ()),
        workers=workers,
        generate_concurrency=concurrency,
        generate_queue=queue,
        search_concurrency=search_concurrency,
        search_queue=search_queue,
        request_timeout_s=timeout,
        cors_origins=tuple(cors_origin or ()),
        require_keys=require_keys,
        access_log=access_log,
        log_format=log_format.value,
        rate_limit_per_min=rate_limit,
        rate_limit_burst=rate_burst,
    )
    keys = KeyStore(st.settings.home)
    has_keys = any(not k.revoked for k in keys.list())
    keys.close()
    _announce(
        lambda text: st.console.print(text, soft_wrap=True, markup=False),
        server,
        st.settings.collection,
        has_keys,
    )
    grace = int(server.shutdown_grace_s)
    limit_blas_threads()
    if access_log:
        configure_access_log()
    if workers > 1:
        if port == 0:
            raise ConfigError("--workers needs a fixed --port", hint="pass e.g. --port 8000")
        os.environ[ENV_CONFIG] = config_env(st.settings, server)
        uvicorn.run(
            "heron.server.app:app_from_env",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            timeout_graceful_shutdown=grace,
            access_log=False,
        )
        return
    st.close()  # the app opens its own store
    uvicorn.run(
        create_app(st.settings, server, registry=st.registry),
        host=host,
        port=port,
        timeout_graceful_shutdown=grace,
        access_log=False,
    )


def _announce(
    say: Callable[..., None], server: ServerSettings, default_collection: str, has_keys: bool
) -> None:
    mode = "on for every request" if server.keys_for_everything else "on for writes (reads open)"
    rate = server.rate_per_min
    limit = f"{rate:g}/min per key, burst {server.rate_burst}" if rate else "off"
    say(f"Heron serving {server.url} (web page at /, API schema at /openapi.json)")
    say(f"collection {server.collection or default_collection}; auth: {mode}; rate limit: {limit}")
    if not has_keys:
        say("no API keys yet: create one with `heron keys create --scope write`")
