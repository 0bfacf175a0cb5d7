"""``TaskStep``: a ``heron.tasks`` task (summarize, sentiment, translate, answer …) as a step.

It calls ``heron.tasks.run_task(task, text, **params)``; ``heron.tasks`` is imported
when the step first runs. The step's output is the task result's main value
(``text``, ``label`` or ``data``) or the field named by ``field``; ``input_params``
feed other chain values to task parameters (e.g. ``{"question": "question"}`` for
the ``answer`` task).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heron.chains.steps import Step
from heron.chains.tracing import Span
from heron.errors import InputError

#: the result keys tried, in order, when no ``field`` is named
MAIN_FIELDS = ("text", "label", "data")


class TaskStep(Step):
    """Run one ``heron.tasks`` task on input ``input`` and output its main value."""

    kind = "task"

    def __init__(
        self,
        name: str,
        task: str,
        input: str = "text",  # noqa: A002 - the name a TOML file uses
        output: str | None = None,
        params: Mapping[str, Any] | None = None,
        input_params: Mapping[str, str] | None = None,
        field: str | None = None,
    ) -> None:
        self.name = name
        self.task = task
        self.params = dict(params or {})
        self.input_params = dict(input_params or {})
        self.field = field
        self.inputs = tuple(dict.fromkeys([input, *self.input_params.values()]))
        self.outputs = (output or name,)

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        from heron.tasks import run_task

        extra = {param: values[name] for param, name in self.input_params.items()}
        result = run_task(self.task, str(values[self.inputs[0]]), **self.params, **extra)
        if not isinstance(result, dict):
            raise InputError(f"task '{self.task}' returned {type(result).__name__}, not a result")
        keys = [self.field] if self.field else [k for k in MAIN_FIELDS if k in result]
        if not keys or keys[0] not in result:
            raise InputError(
                f"task '{self.task}' has no field '{self.field}'",
                hint=f"its result has {', '.join(result)}",
            )
        return {self.outputs[0]: result[keys[0]]}
