"""One typed set of decoding controls for every task, mapped onto each backend.

``TaskOptions`` is what users pass; ``llm_options`` turns it into the models
layer's ``GenerateOptions`` (llama.cpp, OpenAI-compatible, fake and prompt-based
``hf:`` LLMs) and ``hf_generate_kwargs`` into ``model.generate`` keywords for the
transformers task backends. A control a backend cannot honour (beam search on
llama.cpp, a minimum length on an OpenAI server) is an error, never silently dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from heron.errors import ConfigError, InputError
from heron.models.base import GenerateOptions


class TaskOptions(BaseModel):
    """Decoding controls; the defaults are greedy decoding with no penalty.

    ``max_new_tokens=None`` lets each task pick its own budget (a label needs a
    few tokens, a summary ~80). ``temperature``/``top_k``/``top_p`` only matter
    when ``do_sample`` is true.
    """

    model_config = ConfigDict(extra="forbid")

    do_sample: bool = False
    temperature: float = Field(default=1.0, gt=0.0, le=5.0)
    top_k: int = Field(default=50, ge=0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    num_beams: int = Field(default=1, ge=1, le=16)
    repetition_penalty: float = Field(default=1.0, gt=0.0)
    min_new_tokens: int = Field(default=0, ge=0, le=4096)
    max_new_tokens: int | None = Field(default=None, ge=1, le=8192)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = 0

    @model_validator(mode="after")
    def _lengths(self) -> TaskOptions:
        if self.max_new_tokens is not None and self.min_new_tokens > self.max_new_tokens:
            raise ValueError(
                f"min_new_tokens ({self.min_new_tokens}) > max_new_tokens ({self.max_new_tokens})"
            )
        return self

    @property
    def greedy(self) -> bool:
        return not self.do_sample and self.num_beams == 1

    def budget(self, default: int) -> int:
        """The max new tokens: the caller's, else the task's default."""
        return self.max_new_tokens if self.max_new_tokens is not None else default

    def with_stop(self, extra: tuple[str, ...] | list[str]) -> TaskOptions:
        """A copy whose stop list also holds ``extra`` (order kept, no duplicates)."""
        merged = list(dict.fromkeys([*self.stop, *(s for s in extra if s)]))
        return self.model_copy(update={"stop": merged})


def parse_options(value: TaskOptions | dict[str, Any] | None) -> TaskOptions:
    """Accept a TaskOptions, a JSON-style dict (the server) or None."""
    if value is None:
        return TaskOptions()
    if isinstance(value, TaskOptions):
        return value
    try:
        return TaskOptions.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(
            f"invalid decoding options: {problems}",
            hint="see `heron task generate --help` for the decoding flags and their ranges",
        ) from exc


def llm_options(options: TaskOptions, default_max: int, backend: str) -> GenerateOptions:
    """TaskOptions as the models layer's GenerateOptions (one sequence, no beams)."""
    if options.num_beams > 1:
        raise ConfigError(
            f"num_beams={options.num_beams}: {backend} decodes one sequence (no beam search)",
            hint="use greedy or sampling, or an hf: model for beam search",
        )
    if options.min_new_tokens > 0:
        raise ConfigError(
            f"min_new_tokens={options.min_new_tokens}: {backend} cannot force a minimum length",
            hint="use an hf: model, or leave min_new_tokens at 0",
        )
    return GenerateOptions(
        max_tokens=options.budget(default_max),
        temperature=options.temperature if options.do_sample else 0.0,
        top_p=options.top_p,
        top_k=options.top_k,
        repeat_penalty=options.repetition_penalty,
        stop=list(options.stop),
        seed=options.seed,
    )


def hf_generate_kwargs(options: TaskOptions, default_max: int) -> dict[str, Any]:
    """TaskOptions as transformers ``generate`` keywords."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": options.budget(default_max),
        "num_beams": options.num_beams,
        "repetition_penalty": options.repetition_penalty,
        "do_sample": options.do_sample,
    }
    if options.min_new_tokens:
        kwargs["min_new_tokens"] = options.min_new_tokens
    if options.do_sample:
        kwargs.update(temperature=options.temperature, top_k=options.top_k, top_p=options.top_p)
    else:
        kwargs.update(temperature=None, top_k=None, top_p=None)
    return kwargs
