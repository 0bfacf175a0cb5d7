"""Traces of chain and agent runs: a tree of spans, stored as one JSON line per run.

A ``Span`` records one step: its inputs and outputs, the prompts it sent, the
tokens they cost, how long it took and the error it raised. Composite steps (a
chain, a parallel group, an agent) hold their children's spans. ``RunTraces``
appends finished runs to ``<home>/traces/<kind>.jsonl`` through the same
``TraceSink`` that ``heron ask`` uses, so every kind of run is found by id.

Values are summarised before they are stored (long text cut, objects turned into
their ``to_dict`` or ``str``), so a trace line stays small and always serialises.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heron.errors import HeronError, InputError
from heron.rag.traces import TraceSink

#: the trace kinds (JSONL files) written by chains and agents
RUN_KINDS = ("chain", "agent")
#: longest string kept in a trace (characters)
MAX_TEXT = 2000
_MAX_ITEMS = 50


def summarise(value: Any, depth: int = 0) -> Any:
    """A JSON-ready, bounded copy of ``value`` for a trace."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + f"… [{len(value)} chars]"
    if depth > 4:
        return summarise(repr(value))
    if isinstance(value, Mapping):
        items = list(value.items())[:_MAX_ITEMS]
        return {str(k): summarise(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [summarise(v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return summarise(to_dict(), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return summarise(dataclasses.asdict(value), depth + 1)
    return summarise(str(value))


@dataclass
class Span:
    """One step of a run, with its children."""

    name: str
    kind: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    prompts: list[Any] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    children: list[Span] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter, repr=False)

    def child(self, name: str, kind: str, inputs: Mapping[str, Any] | None = None) -> Span:
        span = Span(name, kind, inputs=dict(inputs or {}))
        self.children.append(span)
        return span

    def llm_call(self, prompt: Any, prompt_tokens: int, completion_tokens: int) -> None:
        """Record one prompt sent to a model and what it cost."""
        self.prompts.append(prompt)
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    def finish(
        self, outputs: Mapping[str, Any] | None = None, error: BaseException | None = None
    ) -> None:
        self.latency_s = time.perf_counter() - self.started
        if outputs is not None:
            self.outputs = dict(outputs)
        if error is not None:
            self.error = f"{type(error).__name__}: {error}"

    def total_tokens(self) -> tuple[int, int]:
        """Prompt and completion tokens of this span and all its descendants."""
        prompt, completion = self.prompt_tokens, self.completion_tokens
        for child in self.children:
            p, c = child.total_tokens()
            prompt, completion = prompt + p, completion + c
        return prompt, completion

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "inputs": summarise(self.inputs),
            "outputs": summarise(self.outputs),
            "prompts": [_prompt_dict(p) for p in self.prompts],
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_s": round(self.latency_s, 6),
            "error": self.error,
            "children": [c.to_dict() for c in self.children],
        }


def _prompt_dict(prompt: Any) -> Any:
    if isinstance(prompt, str):
        return summarise(prompt)
    if isinstance(prompt, list | tuple):
        return [
            {"role": getattr(m, "role", "user"), "content": summarise(getattr(m, "content", m))}
            for m in prompt
        ]
    return summarise(prompt)


def new_run_id() -> str:
    return uuid.uuid4().hex


class RunTraces:
    """Stores and finds chain and agent runs under a store home."""

    def __init__(self, home: Path) -> None:
        self.sink = TraceSink(home)

    def record(self, kind: str, run_id: str, root: Span, status: str = "ok") -> None:
        prompt, completion = root.total_tokens()
        self.sink.record(
            kind,
            run_id,
            {
                "name": root.name,
                "status": status,
                "latency_s": round(root.latency_s, 6),
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "root": root.to_dict(),
            },
        )

    def runs(self, kinds: tuple[str, ...] = RUN_KINDS) -> Iterator[dict[str, Any]]:
        """Every stored run of ``kinds``, oldest first within a kind."""
        for kind in kinds:
            yield from self.sink.read(kind)

    def find(self, run_id: str, kinds: tuple[str, ...] = RUN_KINDS) -> dict[str, Any]:
        """The run whose id is ``run_id`` or starts with it (at least 4 characters)."""
        if len(run_id) < 4:
            raise InputError(
                f"trace id '{run_id}' is too short", hint="give at least 4 characters of the id"
            )
        found = [r for r in self.runs(kinds) if str(r.get("request_id", "")).startswith(run_id)]
        if not found:
            raise InputError(
                f"no trace with id '{run_id}' under {self.sink.folder}",
                hint="`heron trace list` shows the stored runs",
            )
        if len({r["request_id"] for r in found}) > 1:
            raise InputError(
                f"trace id '{run_id}' is ambiguous ({len(found)} runs)",
                hint="give more characters of the id",
            )
        return found[0]


def error_text(exc: BaseException) -> str:
    """One line for an error in a trace or an observation."""
    if isinstance(exc, HeronError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
