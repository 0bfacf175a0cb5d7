"""How closely generations and agent runs keep their deadlines (bundled SmolLM2).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/deadlines.py [--calls 5]

Part 1: ``generate(..., GenerateOptions(max_tokens=2000, max_time_s=D))`` for D in
0.25, 0.5, 1 and 2 s; overshoot = the call's time - D. Part 2: a ReAct agent with
the calculator on a task it cannot finish, ``time_budget_s`` B in 0.3, 1 and 2 s;
overshoot = the run's time - B, and how long until the model is free again. SmolLM2
on one thread. Writes ``bench/results/deadlines.json``; figures in docs/models.md and
docs/chains.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from heron.chains.agents import CalculatorTool, ReActAgent
from heron.models.base import GenerateOptions
from heron.models.llamacpp import LlamaCppLLM
from heron.models.registry import ModelRegistry

PROMPT = "Write a very long story about a dragon, with many chapters."
TASK = "Write the numbers from 1 to 500 with the calculator, one at a time."
RESULTS = Path(__file__).parent / "results"


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:.0f} ms | {max(values) * 1e3:,.0f} ms"


def generations(llm: LlamaCppLLM, calls: int) -> list[dict[str, object]]:
    rows = []
    for deadline in (0.25, 0.5, 1.0, 2.0):
        over, tokens = [], []
        for _ in range(calls):
            started = time.monotonic()
            done = llm.generate(PROMPT, GenerateOptions(max_tokens=2000, max_time_s=deadline))
            over.append(time.monotonic() - started - deadline)
            tokens.append(done.completion_tokens)
        rows.append({"max_time_s": deadline, "overshoot_s": over, "tokens": tokens})
        print(f"| {deadline:g} s | {_ms(over)} | {min(tokens)}–{max(tokens)} |")
    return rows


def agent_runs(llm: LlamaCppLLM, calls: int) -> list[dict[str, object]]:
    rows = []
    for budget in (0.3, 1.0, 2.0):
        over, free, statuses = [], [], []
        for _ in range(calls):
            agent = ReActAgent(llm, [CalculatorTool()], time_budget_s=budget)
            started = time.monotonic()
            result = agent.run(TASK)
            over.append(time.monotonic() - started - budget)
            waited = time.monotonic()
            llm._lock.acquire()  # noqa: SLF001 - is a generation still running?
            free.append(time.monotonic() - waited)
            llm._lock.release()  # noqa: SLF001
            statuses.append(result.status)
        rows.append({"budget_s": budget, "overshoot_s": over, "free_after_s": free,
                     "statuses": statuses})  # fmt: skip
        print(f"| {budget:g} s | {_ms(over)} | {max(free) * 1e3:.2f} ms | {set(statuses)} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args()
    llm = ModelRegistry(options={"threads": 1}).llm("bundled:smollm2")
    assert isinstance(llm, LlamaCppLLM)
    llm.generate("hi")  # load outside the measurements
    print("| max_time_s | overshoot, median | max | tokens returned |\n|---:|---:|---:|---|")
    gen = generations(llm, args.calls)
    print("\n| budget | overshoot, median | max | model free after | statuses |")
    print("|---:|---:|---:|---:|---|")
    runs = agent_runs(llm, args.calls)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "deadlines.json"
    out.write_text(json.dumps({"generate": gen, "agent": runs}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
