"""``POST /v1/feedback`` (thumbs up/down and a comment on an answer) and ``GET`` to read it.

Giving feedback needs the same access as asking (the person who got the
answer rates it); it is accepted only for a request id this home has answered.
Reading feedback needs an ``admin`` key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from heron.server.errors import NotFound
from heron.server.routes._common import ADMIN, ERRORS, READ
from heron.server.schemas import FeedbackIn, FeedbackList, FeedbackOut
from heron.server.state import StateDep

router = APIRouter(prefix="/v1/feedback", tags=["feedback"], responses=ERRORS)


@router.post("", response_model=FeedbackOut, status_code=201, dependencies=READ)
async def give_feedback(body: FeedbackIn, state: StateDep) -> FeedbackOut:
    """Rate an answer by its request id."""

    def run() -> FeedbackOut:
        if not state.feedback.knows(body.request_id):
            raise NotFound(
                f"no answer with request id '{body.request_id}'",
                hint="send the request_id of an answer from /v1/ask",
            )
        record = state.feedback.add(body.request_id, body.rating, body.comment)
        return FeedbackOut.model_validate(record.to_dict())

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)


@router.get("", response_model=FeedbackList, dependencies=ADMIN)
async def list_feedback(
    state: StateDep,
    request_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FeedbackList:
    """Feedback, newest first (admin scope)."""

    def run() -> FeedbackList:
        records = state.feedback.list(request_id, limit)
        return FeedbackList(feedback=[FeedbackOut.model_validate(r.to_dict()) for r in records])

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)
