"""``Tool``: something an agent can call, with a JSON Schema for its arguments.

``Tool.run(**args) -> str`` is the one abstract method. ``Tool.from_function``
makes a tool from a typed Python function: the parameters' annotations become the
argument schema (``str``, ``int``, ``float``, ``bool``, ``Literal[...]``,
``list[...]``), the docstring's first paragraph the description. The schema is
what the agent's grammar is built from, so a model can only produce calls whose
arguments have the right names and types.
"""

from __future__ import annotations

import inspect
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from heron.chains.grammar import DEFAULT_MAX_LENGTH, schema_errors
from heron.errors import ConfigError, InputError

#: the pseudo-tool every agent has: calling it ends the run with an answer
FINAL_ANSWER = "final_answer"


@dataclass(frozen=True)
class ToolExample:
    """A worked call an agent shows the model before its task (small models copy the form)."""

    task: str
    args: dict[str, Any]
    observation: str
    answer: str


class Tool(ABC):
    """A named action with typed arguments, returning text for the model to read."""

    name: str = ""
    description: str = ""
    #: JSON Schema (type object) of the arguments, in the order the model writes them
    parameters: dict[str, Any] = {"type": "object", "properties": {}}  # noqa: RUF012
    #: seconds a call may take before the agent reports a timeout (None: the agent's default)
    timeout_s: float | None = None
    #: a worked example shown to the model (None: none)
    example: ToolExample | None = None

    @abstractmethod
    def run(self, **args: Any) -> str:
        """Do the action; raise an exception to report a failure to the model."""

    def signature(self) -> str:
        """``name(arg: type, …)`` for a prompt."""
        props: Mapping[str, Any] = self.parameters.get("properties", {})
        args = ", ".join(f"{k}: {_type_label(v)}" for k, v in props.items())
        return f"{self.name}({args})"

    def check_args(self, args: Any) -> dict[str, Any]:
        """Validated arguments, with defaults filled in (``InputError`` says what is wrong)."""
        if not isinstance(args, dict):
            raise InputError(f"arguments of {self.name} must be an object")
        props: Mapping[str, Any] = self.parameters.get("properties", {})
        filled = {k: v.get("default") for k, v in props.items() if k not in args and "default" in v}
        value = {**filled, **args}
        errors = schema_errors(value, {**self.parameters, "additionalProperties": False})
        if errors:
            raise InputError(
                f"bad arguments for {self.name}: {'; '.join(errors[:3])}",
                hint=f"call it as {self.signature()}",
            )
        return value

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        timeout_s: float | None = None,
    ) -> Tool:
        return FunctionTool(fn, name, description, max_length, timeout_s)


def _type_label(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        values = [str(v) for v in schema["enum"]]
        shown = "|".join(values[:8]) + ("|…" if len(values) > 8 else "")
        return f"one of {shown}"
    if schema.get("type") == "array":
        return f"list of {_type_label(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


class FunctionTool(Tool):
    """A tool that calls a typed Python function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        timeout_s: float | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if not self.name.isidentifier():
            raise ConfigError(f"tool name '{self.name}' is not an identifier", hint="e.g. 'search'")
        doc = inspect.getdoc(fn) or ""
        self.description = description or doc.split("\n\n", 1)[0].replace("\n", " ")
        self.parameters = function_schema(fn, max_length)
        self.timeout_s = timeout_s

    def run(self, **args: Any) -> str:
        result = self.fn(**args)
        return result if isinstance(result, str) else str(result)


def function_schema(fn: Callable[..., Any], max_length: int = DEFAULT_MAX_LENGTH) -> dict[str, Any]:
    """The JSON Schema of a function's parameters, from its type annotations."""
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError) as exc:
        raise ConfigError(f"cannot read the type hints of {fn.__name__}: {exc}") from exc
    properties: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(
                f"tool function {fn.__name__} takes *{param.name}",
                hint="a tool's parameters must be named and typed",
            )
        if param.name not in hints:
            raise ConfigError(
                f"parameter '{param.name}' of {fn.__name__} has no type annotation",
                hint="annotate it, e.g. `query: str`, so the agent's grammar knows its type",
            )
        schema = _schema_for(hints[param.name], max_length, f"{fn.__name__}.{param.name}")
        if param.default is not inspect.Parameter.empty:
            schema["default"] = param.default
        properties[param.name] = schema
    return {"type": "object", "properties": properties, "required": list(properties)}


_SIMPLE: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema_for(annotation: Any, max_length: int, where: str) -> dict[str, Any]:
    if annotation in _SIMPLE:
        schema: dict[str, Any] = {"type": _SIMPLE[annotation]}
        if annotation is str:
            schema["minLength"] = 1
            schema["maxLength"] = max_length
        return schema
    origin = get_origin(annotation)
    if origin is Literal:
        return {"enum": list(get_args(annotation))}
    if origin is list:
        (item,) = get_args(annotation) or (str,)
        return {"type": "array", "items": _schema_for(item, max_length, where), "maxItems": 8}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return {"anyOf": [_schema_for(a, max_length, where) for a in options] + [{"type": "null"}]}
    raise ConfigError(
        f"{where}: type {annotation!r} cannot be a tool argument",
        hint="use str, int, float, bool, Literal[...], list[...] or X | None",
    )
