"""A data-analyst agent: questions about a CSV or Parquet table, answered by a ReAct agent.

    python examples/data_analyst_agent.py PATH ["QUESTION"] [--llm SPEC] [--calculator]

For example, over the data-science salaries table:

    python examples/data_analyst_agent.py ds_salaries.csv \\
        "What is the average salary_in_usd by experience_level?"

The agent has the table tool (whitelisted pandas operations; the grammar only lets
the model name columns that exist) and, with ``--calculator``, the calculator. It
prints each tool call, the observation, the final answer and the trace id
(``heron trace show ID`` renders it). With the bundled SmolLM2 (135M parameters)
questions that name the columns work best; see docs/chains.md for what it solves.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from heron.chains.agents import CalculatorTool, ReActAgent, TableTool, Tool
from heron.chains.agents.react import AgentResult
from heron.chains.tracing import RunTraces
from heron.models.base import LLM
from heron.models.registry import ModelRegistry

DEFAULT_QUESTION = "What is the average salary_in_usd by experience_level?"


def analyse(
    path: Path,
    question: str,
    llm: LLM,
    calculator: bool = False,
    traces: RunTraces | None = None,
) -> AgentResult:
    """Run the agent over one table and return its result."""
    tools: list[Tool] = [TableTool(path)]
    if calculator:
        tools.append(CalculatorTool())
    agent = ReActAgent(llm, tools, max_steps=5, time_budget_s=120)
    return agent.run(question, traces=traces)


def report(result: AgentResult) -> str:
    lines = []
    for n, step in enumerate(result.steps, 1):
        lines.append(f"{n}. {step.tool or 'invalid reply'} {json.dumps(step.args)}")
        if step.observation:
            lines.append(f"   -> {step.observation}")
    if result.answered:
        lines.append(f"Answer: {result.answer}")
    else:
        lines.append(f"No answer ({result.status}): {result.message}")
    lines.append(f"trace {result.run_id}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, llm: LLM | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a .csv or .parquet table")
    parser.add_argument("question", nargs="?", default=DEFAULT_QUESTION)
    parser.add_argument("--llm", default="bundled:smollm2", help="LLM spec")
    parser.add_argument("--calculator", action="store_true", help="also give it a calculator")
    parser.add_argument("--home", type=Path, default=Path(".heron"), help="where traces go")
    args = parser.parse_args(argv)
    model = llm or ModelRegistry().llm(args.llm)
    result = analyse(args.path, args.question, model, args.calculator, RunTraces(args.home))
    print(report(result))
    return 0 if result.answered else 1


if __name__ == "__main__":
    sys.exit(main())
