"""The ReAct agent's mechanics with a scripted model: tools, limits, loops, errors, time."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

import pytest

from heron.chains import RunTraces
from heron.chains.agents import CalculatorTool, ReActAgent, Tool
from heron.chains.agents.tools import ToolExample
from heron.chains.grammar import schema_errors
from heron.errors import ConfigError, InputError, ModelError
from heron.testing.fakes import ScriptedLLM


def call(tool: str, **args: Any) -> str:
    return json.dumps({"tool": tool, "args": args})


def final(answer: str) -> str:
    return call("final_answer", answer=answer)


def test_calls_a_tool_reads_the_observation_and_answers(tmp_path: Path) -> None:
    llm = ScriptedLLM([call("calculator", expression="17 * 23"), final("391")])
    agent = ReActAgent(llm, [CalculatorTool()])
    result = agent.run("What is 17 times 23?", traces=RunTraces(tmp_path))
    assert (result.status, result.answer) == ("answered", "391")
    assert result.steps[0].observation == "391"
    assert "Observation: 391" in llm.prompts[1]
    assert (result.valid_calls, result.invalid_calls) == (2, 0)
    stored = RunTraces(tmp_path).find(result.run_id)
    assert stored["kind"] == "agent" and stored["status"] == "answered"
    kinds = [c["kind"] for c in stored["root"]["children"]]
    assert kinds == ["llm", "tool", "llm"]


def test_the_grammar_lists_every_tool_and_its_typed_arguments() -> None:
    llm = ScriptedLLM([final("x")], accepts_grammar=True)
    agent = ReActAgent(llm, [CalculatorTool()])
    agent.run("anything")
    grammar = llm.grammars[0]
    assert grammar is not None
    assert '\\"calculator\\"' in grammar and '\\"final_answer\\"' in grammar
    assert '{\\"expression\\": ' in grammar


def test_the_call_schema_accepts_valid_calls_and_rejects_others() -> None:
    agent = ReActAgent(ScriptedLLM(), [CalculatorTool()])
    assert not schema_errors(json.loads(call("calculator", expression="1+1")), agent.schema)
    assert schema_errors(json.loads(call("calculator", expr="1")), agent.schema)
    assert schema_errors(json.loads(call("shell", cmd="ls")), agent.schema)


def test_step_limit_stops_a_model_that_never_answers() -> None:
    count = iter(range(1000))
    llm = ScriptedLLM(lambda prompt: call("calculator", expression=f"1 + {next(count)}"))
    result = ReActAgent(llm, [CalculatorTool()], max_steps=4).run("count forever")
    assert result.status == "step_limit" and result.answer is None
    assert len(llm.prompts) == 4 and "4 steps" in result.message


def test_repeated_calls_are_not_rerun_and_end_as_a_loop() -> None:
    runs: list[str] = []

    def lookup(key: str) -> str:
        """look a key up"""
        runs.append(key)
        return "value"

    llm = ScriptedLLM([call("lookup", key="a")])
    result = ReActAgent(llm, [Tool.from_function(lookup)], max_steps=10).run("loop")
    assert result.status == "loop"
    assert runs == ["a"]  # the repeats were answered from memory
    assert "already called lookup" in result.steps[1].observation
    assert len(llm.prompts) == 3


def test_a_tool_that_raises_is_reported_to_the_model_which_recovers() -> None:
    def flaky(city: str) -> str:
        """weather for a city"""
        raise RuntimeError("service down")

    llm = ScriptedLLM([call("flaky", city="Paris"), final("unknown")])
    result = ReActAgent(llm, [Tool.from_function(flaky)]).run("weather in Paris?")
    assert result.status == "answered"
    assert result.steps[0].error
    assert "error: RuntimeError: service down" in llm.prompts[1]


def test_a_hanging_tool_times_out_and_the_run_goes_on() -> None:
    def hang(x: str) -> str:
        """never returns in time"""
        time.sleep(30)
        return "late"

    llm = ScriptedLLM([call("hang", x="1"), final("gave up")])
    agent = ReActAgent(llm, [Tool.from_function(hang)], tool_timeout_s=0.2)
    start = time.perf_counter()
    result = agent.run("try it")
    assert time.perf_counter() - start < 10  # bounded: the tool's 30 s never block the run
    assert result.status == "answered"
    assert "took longer than 0.2 s" in result.steps[0].observation


def test_the_time_budget_ends_a_run_with_a_slow_model() -> None:
    def slow(prompt: str) -> str:
        time.sleep(0.3)
        return call("calculator", expression=f"{time.perf_counter()}")

    agent = ReActAgent(ScriptedLLM(slow), [CalculatorTool()], max_steps=50, time_budget_s=0.5)
    start = time.perf_counter()
    result = agent.run("go")
    assert result.status == "time_budget"
    assert time.perf_counter() - start < 5


def test_a_model_that_never_calls_a_tool_ends_clearly() -> None:
    llm = ScriptedLLM(["I think the answer is 42."])
    result = ReActAgent(llm, [CalculatorTool()], max_invalid=3).run("what is 6*7?")
    assert result.status == "no_tool_call" and result.answer is None
    assert result.invalid_calls == 3 and result.valid_calls == 0
    assert "not tool calls" in result.message
    assert "holds no JSON object" in llm.prompts[1]


def test_unknown_tools_and_bad_arguments_are_fed_back() -> None:
    llm = ScriptedLLM(
        [call("shell", cmd="cat /etc/passwd"), call("calculator", expr="1"), final("ok")]
    )
    result = ReActAgent(llm, [CalculatorTool()]).run("do it")
    assert result.status == "answered" and result.invalid_calls == 2
    assert "unknown tool" in result.steps[0].observation
    assert "bad arguments for calculator" in result.steps[1].observation


def test_calculator_errors_are_observations_not_crashes() -> None:
    llm = ScriptedLLM([call("calculator", expression="__import__('os').system('id')"), final("no")])
    result = ReActAgent(llm, [CalculatorTool()]).run("hack")
    assert "is not allowed in a calculation" in result.steps[0].observation


def test_tool_from_function_builds_a_schema_from_type_hints() -> None:
    def convert(amount: float, unit: Literal["km", "mi"], digits: int = 2) -> str:
        """Convert a distance.

        More text that is not part of the description."""
        return f"{amount}{unit}{digits}"

    tool = Tool.from_function(convert)
    assert tool.name == "convert" and tool.description == "Convert a distance."
    props = tool.parameters["properties"]
    assert props["amount"] == {"type": "number"}
    assert props["unit"] == {"enum": ["km", "mi"]}
    assert props["digits"] == {"type": "integer", "default": 2}
    assert tool.check_args({"amount": 1.5, "unit": "km"}) == {
        "amount": 1.5,
        "unit": "km",
        "digits": 2,
    }
    with pytest.raises(InputError, match="one of"):
        tool.check_args({"amount": 1, "unit": "parsec"})
    assert tool.signature() == "convert(amount: number, unit: one of km|mi, digits: integer)"


def test_tool_from_function_refuses_untyped_parameters() -> None:
    def untyped(x) -> str:  # type: ignore[no-untyped-def]
        return str(x)

    with pytest.raises(ConfigError, match="no type annotation"):
        Tool.from_function(untyped)


def test_tool_names_must_be_unique_and_not_final_answer() -> None:
    with pytest.raises(ConfigError):
        ReActAgent(ScriptedLLM(), [CalculatorTool(), CalculatorTool()])


def test_an_empty_task_is_an_input_error() -> None:
    with pytest.raises(InputError):
        ReActAgent(ScriptedLLM(), [CalculatorTool()]).run("  ")


def test_demonstrations_come_before_the_task() -> None:
    llm = ScriptedLLM([final("x")])
    ReActAgent(llm, [CalculatorTool()]).run("real task")
    prompt = llm.prompts[0]
    assert prompt.index("Task: What is 6 times 7") < prompt.index("Task: real task")
    assert ReActAgent(llm, [CalculatorTool()], max_demos=0).demo_messages("x") == []


def test_the_example_closest_to_the_task_is_shown(tmp_path: Path) -> None:
    def lookup(key: str) -> str:
        """look a key up in the dictionary of words"""
        return key

    tools = [CalculatorTool(), Tool.from_function(lookup)]
    tools[1].example = ToolExample("Look up the word heron", {"key": "heron"}, "a bird", "a bird")
    agent = ReActAgent(ScriptedLLM(), tools)
    assert (
        agent.demo_messages("What is 3 times 4?")[0].content == "Task: What is 6 times 7, plus 5?"
    )
    assert (
        agent.demo_messages("look up the word egret")[0].content == "Task: Look up the word heron"
    )
    both = ReActAgent(ScriptedLLM(), tools, max_demos=2).demo_messages("look up the word egret")
    assert [m.content for m in both if m.content.startswith("Task")][-1].endswith("heron")


def test_a_failing_model_is_traced_then_raised(tmp_path: Path) -> None:
    def broken(prompt: str) -> str:
        raise ModelError("the model fell over")

    traces = RunTraces(tmp_path)
    with pytest.raises(ModelError):
        ReActAgent(ScriptedLLM(broken), [CalculatorTool()]).run("x", traces=traces)
    (run,) = list(traces.runs())
    assert run["status"] == "error" and "fell over" in run["root"]["error"]


# -- the time budget reaches the model as its deadline ---------------------------------
def test_each_model_call_gets_the_budget_left_and_is_stopped_at_its_end() -> None:
    from heron.testing.fakes import FakeClock

    clock = FakeClock()
    first = call("calculator", expression="2 + 2")  # 7 words: 7 fake seconds
    llm = ScriptedLLM(
        [first, "thinking " * 100], seconds_per_token=1.0, clock=clock, sleep=clock.sleep
    )
    agent = ReActAgent(llm, [CalculatorTool()], time_budget_s=10, clock=clock)
    result = agent.run("What is 2 + 2?")
    assert [o.max_time_s for o in llm.options] == [10, 3]
    assert clock.now == 10  # the second call stopped itself exactly at the budget's end
    assert result.status == "time_budget" and "stopped at the end" in result.message
    assert [s.tool for s in result.steps] == ["calculator"]
    step2 = result.trace.children[-1]
    assert step2.name == "step 2" and "HeronTimeout" in (step2.error or "")
    assert step2.completion_tokens > 0  # what the cut reply cost is still counted


def test_a_shorter_per_call_limit_cuts_one_reply_but_not_the_run() -> None:
    from heron.models.base import GenerateOptions
    from heron.testing.fakes import FakeClock

    clock = FakeClock()
    llm = ScriptedLLM(
        ["rambling " * 50, final("4")], seconds_per_token=1.0, clock=clock, sleep=clock.sleep
    )
    agent = ReActAgent(
        llm, [CalculatorTool()], time_budget_s=100, clock=clock,
        options=GenerateOptions(max_tokens=64, max_time_s=10),
    )  # fmt: skip
    result = agent.run("What is 2 + 2?")
    assert [o.max_time_s for o in llm.options] == [10, 10]
    assert clock.now == 15  # the ramble cut at 10 s, then a 5-word final answer
    assert (result.status, result.answer, result.invalid_calls) == ("answered", "4", 1)


def test_a_slow_model_is_stopped_not_abandoned_when_the_budget_ends() -> None:
    llm = ScriptedLLM(["word " * 1000], seconds_per_token=0.01)  # 10 s per reply
    agent = ReActAgent(llm, [CalculatorTool()], time_budget_s=0.3)
    start = time.monotonic()
    result = agent.run("go")
    assert time.monotonic() - start < 5
    assert result.status == "time_budget" and "stopped" in result.message
    assert llm.active == 0  # the generation ended itself; no thread is left running it


@pytest.mark.slow
def test_smollm2_agent_run_ends_near_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from heron.chains.agents import react
    from heron.models.llamacpp import LlamaCppLLM
    from heron.models.registry import ModelRegistry

    # a long grace, so that only llama.cpp itself can end the call, however loaded the
    # machine is (its prompt evaluation, which cannot be interrupted, comes first)
    monkeypatch.setattr(react, "MODEL_GRACE_S", 20.0)
    llm = ModelRegistry(options={"threads": 1}).llm("bundled:smollm2")
    assert isinstance(llm, LlamaCppLLM)
    llm.generate("hi")  # load the model outside the budget
    agent = ReActAgent(llm, [CalculatorTool()], time_budget_s=0.3)
    start = time.monotonic()
    result = agent.run("Write the numbers from 1 to 500 with the calculator, one at a time.")
    elapsed = time.monotonic() - start
    # The budget ends either inside a generation ("stopped at the end of the time
    # budget") or, on a loaded machine, between steps ("the time budget ran out");
    # never by abandoning a call that still runs.
    assert result.status == "time_budget"
    assert "took longer" not in result.message  # the call was not abandoned
    assert elapsed < 0.3 + 15  # typically ~0.03 s over (docs/chains.md, Measured)
    assert llm._lock.acquire(timeout=1)  # the model is free again: nothing still generates
    llm._lock.release()
