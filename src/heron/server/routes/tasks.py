"""``POST /v1/tasks/{task}``: summarize, classify, sentiment, translate, zero-shot, few-shot,
generate, answer and extract, through ``heron.tasks.run_task``.

The model must be one the server serves (its LLMs and embedders, plus
``task_models`` such as ``hf:`` folders named at start-up); the default is the
served default LLM. Served LLMs are the same shared, serialised instances that
``/v1/ask`` uses. Results are the tasks' own JSON: one object for a string
input, a list for a list.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from heron.errors import ConfigError
from heron.models.base import LLM, Embedder
from heron.models.registry import ModelRegistry, ModelSpec
from heron.server.errors import NotFound
from heron.server.routes._common import ERRORS, READ
from heron.server.schemas import JsonObject, Strict
from heron.server.settings import MAX_DOCUMENT_CHARS, MAX_TOKENS
from heron.server.state import ServerState, StateDep
from heron.tasks import TaskModels, TaskOptions, run_task, task_names

router = APIRouter(prefix="/v1/tasks", tags=["tasks"], responses=ERRORS, dependencies=READ)

Text = Annotated[str, Field(max_length=MAX_DOCUMENT_CHARS)]
Short = Annotated[str, Field(max_length=500)]
MAX_TASK_INPUTS = 64


class ServedTaskOptions(TaskOptions):
    """Decoding controls, with the server's cap on new tokens."""

    max_new_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)


class TaskRequest(Strict):
    inputs: Text | Annotated[list[Text], Field(min_length=1, max_length=MAX_TASK_INPUTS)]
    model: str | None = Field(default=None, max_length=200, description="a served model")
    options: ServedTaskOptions | None = None
    labels: Annotated[list[Short], Field(min_length=1, max_length=100)] | None = None
    label_map: dict[str, Short] | None = None
    examples: Annotated[list[dict[str, Text]], Field(max_length=32)] | None = None
    question: Text | Annotated[list[Text], Field(max_length=MAX_TASK_INPUTS)] | None = None
    source: Short | None = None
    target: Short | None = None
    instruction: Text | None = None
    template: Short | None = None
    separator: Short | None = None
    json_schema: JsonObject | None = Field(default=None, alias="schema")
    fields: Short | Annotated[list[Short], Field(max_length=50)] | None = None
    min_length: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    max_length: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    long_text: Literal["truncate", "chunk"] | None = None
    constrain: bool | None = None
    retries: int | None = Field(default=None, ge=0, le=5)

    def params(self) -> dict[str, Any]:
        """The task keyword arguments that were given."""
        skip = {"inputs", "model"}
        values = self.model_dump(by_alias=True, exclude_none=True, exclude=skip)
        if self.options is not None:
            values["options"] = self.options
        return values


class TaskResponse(BaseModel):
    task: str
    model: str
    result: dict[str, Any] | list[dict[str, Any]]


class _ServedRegistry(ModelRegistry):
    """What tasks resolve models through: only served models, LLMs serialised."""

    def __init__(self, state: ServerState) -> None:
        super().__init__()
        self._state = state

    def llm(self, spec: str) -> LLM:
        return self._state.models.llm(spec)

    def embedder(self, spec: str) -> Embedder:
        return self._state.models.embedder(spec, self._state.collection_embedders())


def _allowed_model(state: ServerState, name: str | None) -> str:
    if not name:
        return state.models.default_llm
    try:
        spec = str(ModelSpec.parse(name))
    except ConfigError as exc:
        raise NotFound(f"model '{name}' is not served here") from exc
    served = (
        *state.models.llm_specs,
        *state.models.embedder_specs,
        *state.server.task_models,
        *state.collection_embedders(),
    )
    if spec in served:
        return spec
    raise NotFound(
        f"model '{name}' is not served here",
        hint=f"models served for tasks: {', '.join(dict.fromkeys(served))}",
    )


def _task_models(state: ServerState) -> TaskModels:
    if state.task_models is None:
        state.task_models = TaskModels(_ServedRegistry(state), threads=state.settings.threads)
    return state.task_models


TaskName = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z_-]+$")]


@router.post("/{task}", response_model=TaskResponse)
async def run(task: TaskName, body: TaskRequest, state: StateDep) -> TaskResponse:
    """Run one task on one text (one result) or a list of texts (a list of results)."""
    name = task.replace("_", "-")
    if name not in task_names():
        raise NotFound(f"unknown task '{task}'", hint=f"tasks: {', '.join(task_names())}")
    spec = _allowed_model(state, body.model)

    def work() -> TaskResponse:
        result = run_task(
            name, body.inputs, model=spec, models=_task_models(state), **body.params()
        )
        return TaskResponse(task=name, model=spec, result=result)

    return await state.generate_pool.run(work, timeout_s=state.server.request_timeout_s)
