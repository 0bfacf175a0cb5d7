"""``GET /healthz`` (always open) and ``GET /metrics`` (Prometheus text, read scope)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from heron.server.routes._common import ERRORS, READ
from heron.server.schemas import Health
from heron.server.state import StateDep

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health)
async def healthz(state: StateDep) -> Health:
    """Liveness: the process answers and its settings are loaded."""
    return Health(
        status="ok",
        collection=state.default_collection,
        llm=state.models.default_llm,
        auth="everything" if state.server.keys_for_everything else "writes",
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    dependencies=READ,
    responses={**ERRORS, 200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(state: StateDep) -> PlainTextResponse:
    """Request counts, latencies, errors, tokens and queue depth (Prometheus 0.0.4)."""
    return PlainTextResponse(
        state.metrics.render(state.pools, state.inline.metric_lines()),
        media_type="text/plain; version=0.0.4",
    )
