"""``run_task(name, inputs, **params)``: every task behind one JSON-friendly call.

The HTTP server (and anything else driven by configuration) calls tasks by name
with plain JSON values: ``options`` as a dict, ``labels`` as a list, ``examples``
as a list of ``{"input", "output"}`` objects, ``schema`` as a dict. Results come
back as JSON-ready dicts: one for a string input, a list for a list.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from heron.errors import InputError
from heron.tasks.inputs import Texts
from heron.tasks.labels import classify, sentiment, zero_shot
from heron.tasks.qa import answer, extract
from heron.tasks.text import few_shot, generate, summarize, translate

TASKS: dict[str, Callable[..., Any]] = {
    "summarize": summarize,
    "classify": classify,
    "sentiment": sentiment,
    "translate": translate,
    "zero-shot": zero_shot,
    "few-shot": few_shot,
    "generate": generate,
    "answer": answer,
    "extract": extract,
}


def task_names() -> list[str]:
    return list(TASKS)


def run_task(name: str, inputs: Texts, **params: Any) -> dict[str, Any] | list[dict[str, Any]]:
    """Run task ``name`` (``zero-shot`` or ``zero_shot``) on one text or a list."""
    key = name.strip().lower().replace("_", "-")
    func = TASKS.get(key)
    if func is None:
        raise InputError(f"unknown task '{name}'", hint=f"tasks: {', '.join(TASKS)}")
    try:  # check the parameters first, so a TypeError inside a task stays a bug
        inspect.signature(func).bind(inputs, **params)
    except TypeError as exc:
        raise InputError(
            f"bad parameters for task '{key}': {exc}",
            hint=f"see help(heron.tasks.{func.__name__}) for its parameters",
        ) from exc
    result = func(inputs, **params)
    if isinstance(result, list):
        return [r.to_dict() for r in result]
    out: dict[str, Any] = result.to_dict()
    return out
