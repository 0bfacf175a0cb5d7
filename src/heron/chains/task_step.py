"""``TaskStep``: a ``heron.tasks`` task (summarize, sentiment, translate, answer …) as a step.

It calls ``heron.tasks.run_task(task, text, **params)``; ``heron.tasks`` is imported
when the step first runs. The step's output is the task result's main value
(``text``, ``label`` or ``data``) or the field named by ``field``; ``input_params``
feed other chain values to task parameters (e.g. ``{"question": "question"}`` for
the ``answer`` task).

Token counts: the task gets a metered view of the model registry (the ``registry``
or ``models`` parameter given, else one the step keeps, so its models load once),
and every LLM call it makes is recorded on the step's span with its prompt and
tokens. Left out: ``hf:`` task models (run by ``heron.tasks.hf`` directly, not
through an ``LLM``) report no tokens.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from heron.chains.steps import Step
from heron.chains.tracing import Span
from heron.errors import InputError
from heron.models.registry import ModelRegistry
from heron.models.usage import UsageMeter

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
        #: the registry used when ``params`` names none (light until a model is resolved)
        self._own_registry = ModelRegistry()

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        from heron.tasks import run_task

        extra = {param: values[name] for param, name in self.input_params.items()}
        meter = UsageMeter()
        try:
            result = run_task(
                self.task, str(values[self.inputs[0]]), **self._metered(meter), **extra
            )
        finally:
            for call in meter.calls:
                span.llm_call(call.prompt, call.prompt_tokens, call.completion_tokens)
        if not isinstance(result, dict):
            raise InputError(f"task '{self.task}' returned {type(result).__name__}, not a result")
        keys = [self.field] if self.field else [k for k in MAIN_FIELDS if k in result]
        if not keys or keys[0] not in result:
            raise InputError(
                f"task '{self.task}' has no field '{self.field}'",
                hint=f"its result has {', '.join(result)}",
            )
        return {self.outputs[0]: result[keys[0]]}

    def _metered(self, meter: UsageMeter) -> dict[str, Any]:
        """``params`` with the model registry (or ``TaskModels``) reporting into ``meter``."""
        params = dict(self.params)
        models = params.get("models")
        if models is not None and isinstance(getattr(models, "registry", None), ModelRegistry):
            view = copy.copy(models)  # shares its loaded hf: task models
            view.registry = models.registry.metered(meter)
            params["models"] = view
        elif models is None:
            registry = params.get("registry")
            base = registry if isinstance(registry, ModelRegistry) else self._own_registry
            params["registry"] = base.metered(meter)
        return params
