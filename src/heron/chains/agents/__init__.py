"""Agents: a ReAct loop whose tool calls are constrained by a grammar, and its tools.

``ReActAgent`` (``react``), ``Tool`` and ``Tool.from_function`` (``tools``), and the
built-in tools: ``CalculatorTool`` (safe arithmetic), ``SearchTool`` (a collection),
``TableTool`` (whitelisted pandas operations over a CSV/Parquet file) and
``PythonTool`` (sandboxed subprocess, off unless enabled).
"""

from heron.chains.agents.calculator import CalculatorTool, calculate
from heron.chains.agents.python_tool import PythonTool
from heron.chains.agents.react import AgentResult, AgentStep, ReActAgent
from heron.chains.agents.search import SearchTool
from heron.chains.agents.table import TableTool
from heron.chains.agents.tools import FINAL_ANSWER, FunctionTool, Tool

__all__ = [
    "FINAL_ANSWER",
    "AgentResult",
    "AgentStep",
    "CalculatorTool",
    "FunctionTool",
    "PythonTool",
    "ReActAgent",
    "SearchTool",
    "TableTool",
    "Tool",
    "calculate",
]
