"""A calculator tool: arithmetic parsed with ``ast`` and evaluated from a whitelist.

Never ``eval``: the expression is parsed into a syntax tree and only numbers,
``+ - * / // % **`` (``^`` also means power), parentheses, the constants ``pi``
and ``e`` and a few functions (``sqrt``, ``abs``, ``round``, ``min``, ``max``,
``log``, ``log10``, ``exp``, ``sin``, ``cos``, ``tan``) are evaluated; any other
node (names, attributes, subscripts, comprehensions, lambdas …) is refused.
Sizes are bounded so that ``9**9**9`` is an error, not a hang.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from heron.chains.agents.tools import Tool, ToolExample
from heron.errors import InputError

MAX_EXPRESSION = 300
#: largest magnitude an intermediate result may have
MAX_MAGNITUDE = 1e100
MAX_EXPONENT = 1000

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitXor: operator.pow,  # people write 2^10
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def calculate(expression: str) -> float | int:
    """Evaluate an arithmetic expression safely (``InputError`` when it is not one)."""
    text = expression.strip().replace("×", "*").replace("÷", "/").rstrip("=").strip()
    if not text:
        raise InputError("the expression is empty", hint="e.g. 2 * (3 + 4)")
    if len(text) > MAX_EXPRESSION:
        raise InputError(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise InputError(
            f"'{text[:80]}' is not an arithmetic expression", hint="e.g. 2 * (3 + 4) / 5"
        ) from exc
    try:
        result: float | int = _check(_eval(tree.body))
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
        raise InputError(f"cannot compute '{text[:80]}': {exc}") from exc
    return result


def _check(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError("only numbers can be computed")
    if abs(value) > MAX_MAGNITUDE:
        raise InputError(f"the result is larger than {MAX_MAGNITUDE:g}")
    return value


def _eval(node: ast.AST) -> Any:  # noqa: PLR0911 - one return per node type
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return _check(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if type(node.op) in (ast.Pow, ast.BitXor) and abs(right) > MAX_EXPONENT:
            raise InputError(f"exponents are limited to {MAX_EXPONENT}")
        return _check(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and len(node.args) <= 4
    ):
        return _check(_FUNCTIONS[node.func.id](*[_eval(a) for a in node.args]))
    raise InputError(
        f"'{ast.unparse(node)[:60]}' is not allowed in a calculation",
        hint=f"use numbers, + - * / // % ** and {', '.join(sorted(_FUNCTIONS))}",
    )


def format_number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e15 or abs(value) < 1e-4 else f"{round(value, 6)}"
    return str(value)


class CalculatorTool(Tool):
    name = "calculator"
    description = "compute an arithmetic expression such as 12 * (3 + 4) / 2"
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": 120}},
        "required": ["expression"],
    }

    example = ToolExample("What is 6 times 7, plus 5?", {"expression": "6 * 7 + 5"}, "47", "47")

    def run(self, **args: Any) -> str:
        return format_number(calculate(str(args["expression"])))
