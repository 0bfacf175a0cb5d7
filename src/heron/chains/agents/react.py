"""A ReAct agent: (thought ->) tool call -> observation, until it calls ``final_answer``.

Every reply of the model is one JSON object ``{"tool": …, "args": {…}}``, with a
leading ``"thought"`` when ``think=True``. Its schema is built from the tools'
argument schemas (one alternative per tool, ``tool`` a constant, ``args`` that
tool's object), and on llama.cpp backends the reply is constrained by the grammar
made from that schema, so even a 135M model only ever produces well-formed calls
to existing tools with typed arguments. Other backends are parsed and checked
against the same schema; a malformed reply is fed back as an observation.

Small models copy examples: before the task the model sees one worked example
(``max_demos``), that of the tool whose words best match the task. Measured on
SmolLM2-135M (docs/chains.md): one example beats several, and a thought per step
(``think=True``) makes it worse, so both are the defaults.

The run is bounded: at most ``max_steps`` model calls, ``time_budget_s`` seconds in
all, ``tool_timeout_s`` per tool call. Each model call gets the budget left as its
``max_time_s``, so the backend itself stops generating when the budget runs out
(``finish_reason="time"``) and the run ends with status ``time_budget``; a model
that ignores the deadline is abandoned ``MODEL_GRACE_S`` after it (a daemon
thread), as is a tool call that overruns the budget. A tool that raises or times
out produces an error observation and the model may try again. The same call
repeated is not run again (the model is told so); repeated ``max_repeats`` times
it ends the run as a loop.
``max_invalid`` malformed replies in a row end it as "no tool call".
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from heron.chains.agents.tools import FINAL_ANSWER, Tool
from heron.chains.grammar import (
    max_json_chars,
    parse_json_reply,
    schema_errors,
    schema_to_gbnf,
    supports_grammar,
)
from heron.chains.tracing import RunTraces, Span, error_text, new_run_id
from heron.errors import ConfigError, HeronTimeout, InputError
from heron.models.base import LLM, GenerateOptions
from heron.models.deadline import FINISH_TIME
from heron.types import Completion, Message

Status = Literal["answered", "step_limit", "time_budget", "loop", "no_tool_call"]
T = TypeVar("T")

#: seconds past the budget a model call that ignores ``max_time_s`` is waited for
#: before it is abandoned (backends that honour it stop by themselves, sooner)
MODEL_GRACE_S = 2.0

SYSTEM = """You solve a task by calling tools, one call per reply.
Reply with one JSON object and nothing else:
{{"thought": "<why this call>", "tool": "<tool name>", "args": {{<arguments>}}}}
Tools:
{tools}
- {final}(answer: string): give the final answer and stop
After each call you get "Observation: <result>". Use the results; do not guess numbers.
When the observation answers the task, call {final} with the answer."""


#: words that say nothing about which tool fits a task
STOPWORDS = frozenset(
    "a an the is are was were be what which who whom how many much of in on at by for to from "  # noqa: SIM905
    "with and or as such that this it its do does give me tell please there".split()
)


def _content_words(text: str) -> set[str]:
    words = re.findall(r"[a-z]+|\d+(?:\.\d+)?", text.lower())
    return {"<number>" if w[0].isdigit() else w for w in words if w not in STOPWORDS}


@dataclass(frozen=True)
class AgentStep:
    """One model call and what came of it."""

    thought: str
    tool: str
    args: dict[str, Any]
    observation: str
    error: bool = False
    raw: str = ""


@dataclass(frozen=True)
class AgentResult:
    answer: str | None
    status: Status
    steps: list[AgentStep]
    run_id: str
    trace: Span
    #: replies that parsed as a valid call / that did not
    valid_calls: int = 0
    invalid_calls: int = 0
    message: str = ""

    @property
    def answered(self) -> bool:
        return self.status == "answered"


class _FinalAnswer(Tool):
    name = FINAL_ANSWER
    description = "give the final answer and stop"

    def __init__(self, max_length: int) -> None:
        self.parameters = {
            "type": "object",
            "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": max_length}},
            "required": ["answer"],
        }

    def run(self, **args: Any) -> str:
        return str(args["answer"])


def call_with_timeout(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run ``fn`` in a daemon thread; raise ``HeronTimeout`` if it overruns.

    An overrunning call cannot be killed; it is abandoned (a daemon thread does not
    keep the process alive). Tools that must be stopped run in a subprocess.
    """
    results: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def target() -> None:
        try:
            results.put((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            results.put((False, exc))

    threading.Thread(target=target, name=f"heron-{what}", daemon=True).start()
    try:
        ok, value = results.get(timeout=max(timeout_s, 0.001))
    except queue.Empty:
        raise HeronTimeout(f"{what} took longer than {timeout_s:.3g} s") from None
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


@dataclass
class _Run:
    """The mutable state of one agent run."""

    task: str
    messages: list[Message]
    deadline: float
    span: Span
    steps: list[AgentStep] = field(default_factory=list)
    seen: dict[str, tuple[int, str]] = field(default_factory=dict)
    valid: int = 0
    invalid: int = 0
    invalid_in_a_row: int = 0
    looped: str = ""


class ReActAgent:
    """Runs the ReAct loop with an LLM and a set of tools."""

    def __init__(
        self,
        llm: LLM,
        tools: Sequence[Tool],
        max_steps: int = 8,
        time_budget_s: float = 120.0,
        tool_timeout_s: float = 30.0,
        max_repeats: int = 2,
        max_invalid: int = 3,
        think: bool = False,
        thought_chars: int = 100,
        answer_chars: int = 200,
        options: GenerateOptions | None = None,
        name: str = "agent",
        max_demos: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = [t.name for t in tools]
        if len(set(names)) != len(names) or FINAL_ANSWER in names:
            raise ConfigError(
                f"tool names must be unique and not '{FINAL_ANSWER}': {', '.join(names)}",
                hint="give each tool its own name",
            )
        if max_steps < 1 or time_budget_s <= 0:
            raise ConfigError("max_steps must be >= 1 and time_budget_s > 0")
        self.llm = llm
        self.tools = {t.name: t for t in tools}
        self.final = _FinalAnswer(answer_chars)
        self.max_steps = max_steps
        self.time_budget_s = time_budget_s
        self.tool_timeout_s = tool_timeout_s
        self.max_repeats = max_repeats
        self.max_invalid = max_invalid
        self.think = think
        self.thought_chars = thought_chars
        self.name = name
        self.max_demos = max_demos
        #: the monotonic clock the budget is measured on (a ``FakeClock`` in tests)
        self.clock = clock
        self.schema = self._schema()
        self.grammar = schema_to_gbnf(self.schema)
        # a constrained reply always closes within this many tokens (one per character at most)
        self.options = options or GenerateOptions(
            max_tokens=min(max_json_chars(self.schema), 2048), repeat_penalty=1.0
        )

    def _schema(self) -> dict[str, Any]:
        alternatives = []
        for tool in [*self.tools.values(), self.final]:
            props = tool.parameters.get("properties", {})
            required = [k for k in tool.parameters.get("required", props) if k in props]
            args = {
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": False,
            }
            properties: dict[str, Any] = {}
            if self.think:
                properties["thought"] = {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": self.thought_chars,
                }
            properties["tool"] = {"const": tool.name}
            properties["args"] = args
            alternatives.append(
                {"type": "object", "properties": properties, "required": ["tool", "args"]}
            )
        return {"anyOf": alternatives}

    def system_prompt(self) -> str:
        lines = [f"- {t.signature()}: {t.description}" for t in self.tools.values()]
        text = SYSTEM.format(tools="\n".join(lines) or "(none)", final=FINAL_ANSWER)
        if not self.think:
            text = text.replace('"thought": "<why this call>", ', "")
        return text

    def demo_messages(self, task: str = "") -> list[Message]:
        """The tools' worked examples as earlier turns, the one closest to ``task`` last.

        Small models tend to copy the most recent example, so the examples are
        ordered by how many content words each shares with the task (its tool's
        name, description and example; any number counts as one word, so
        arithmetic tasks meet the calculator's example).
        """
        wanted = _content_words(task)
        scored = []
        for order, tool in enumerate(self.tools.values()):
            example = tool.example
            if example is None:
                continue
            words = _content_words(f"{tool.name} {tool.description} {example.task}")
            scored.append((len(wanted & words), -order, tool.name, example))
        messages: list[Message] = []
        chosen = sorted(scored, key=lambda item: item[:2])[len(scored) - self.max_demos :]
        for _, _, name, example in chosen:
            call = self._call_text(f"I use {name}.", name, example.args)
            final = self._call_text(
                "The observation answers it.", FINAL_ANSWER, {"answer": example.answer}
            )
            messages += [
                Message("user", f"Task: {example.task}"),
                Message("assistant", call),
                Message("user", f"Observation: {example.observation}"),
                Message("assistant", final),
            ]
        return messages

    def _call_text(self, thought: str, tool: str, args: dict[str, Any]) -> str:
        call: dict[str, Any] = {"thought": thought} if self.think else {}
        return json.dumps({**call, "tool": tool, "args": args}, ensure_ascii=False)

    def run(self, task: str, traces: RunTraces | None = None) -> AgentResult:
        if not task.strip():
            raise InputError("the task is empty", hint="describe what the agent should do")
        run_id = new_run_id()
        root = Span(self.name, "agent", inputs={"task": task, "tools": list(self.tools)})
        state = _Run(
            task,
            [
                Message("system", self.system_prompt()),
                *self.demo_messages(task),
                Message("user", f"Task: {task}"),
            ],
            self.clock() + self.time_budget_s,
            root,
        )
        try:
            result = self._loop(state, run_id)
        except BaseException as exc:  # a model that fails to load or run: trace, then raise
            root.finish(error=exc)
            if traces is not None:
                traces.record("agent", run_id, root, status="error")
            raise
        root.finish({"answer": result.answer, "status": result.status, "message": result.message})
        if traces is not None:
            traces.record("agent", run_id, root, status=result.status)
        return result

    def _loop(self, state: _Run, run_id: str) -> AgentResult:
        for number in range(1, self.max_steps + 1):
            remaining = state.deadline - self.clock()
            if remaining <= 0:
                return self._stop(state, run_id, "time_budget", "the time budget ran out")
            span = state.span.child(f"step {number}", "llm")
            options = self._options_within(remaining)
            try:
                completion = call_with_timeout(
                    lambda: self._generate(state.messages, options),  # noqa: B023 - called now
                    remaining + MODEL_GRACE_S,
                    "the model call",
                )
            except HeronTimeout as exc:
                span.finish(error=exc)
                return self._stop(state, run_id, "time_budget", f"the time budget ran out: {exc}")
            span.llm_call(
                list(state.messages), completion.prompt_tokens, completion.completion_tokens
            )
            if completion.finish_reason == FINISH_TIME and self.clock() >= state.deadline:
                stopped = HeronTimeout(
                    f"the model was stopped at the end of the time budget "
                    f"({self.time_budget_s:g} s) after {completion.completion_tokens} tokens"
                )
                span.finish({"raw": completion.text}, error=stopped)
                return self._stop(state, run_id, "time_budget", str(stopped))
            done = self._act(state, completion.text, span)
            if done is not None:
                return self._finish(state, run_id, done)
            if state.invalid_in_a_row >= self.max_invalid:
                return self._stop(
                    state,
                    run_id,
                    "no_tool_call",
                    f"the model gave {state.invalid_in_a_row} replies in a row that are not "
                    "tool calls",
                )
            if state.looped:
                return self._stop(state, run_id, "loop", state.looped)
        return self._stop(
            state, run_id, "step_limit", f"no final answer after {self.max_steps} steps"
        )

    def _options_within(self, remaining: float) -> GenerateOptions:
        """The decoding options with ``max_time_s`` cut to the budget left."""
        limit = self.options.max_time_s
        max_time_s = remaining if limit is None else min(limit, remaining)
        return self.options.model_copy(update={"max_time_s": max_time_s})

    def _generate(self, messages: list[Message], options: GenerateOptions) -> Completion:
        if supports_grammar(self.llm):
            return self.llm.generate(messages, options, grammar=self.grammar)  # type: ignore[call-arg]
        return self.llm.generate(messages, options)

    def _act(self, state: _Run, reply: str, span: Span) -> str | None:
        """Handle one reply; return the final answer when the model gave one."""
        try:
            call = self._parse(reply)
        except InputError as exc:
            state.invalid += 1
            state.invalid_in_a_row += 1
            observation = f"error: {exc.message}. Reply with one JSON tool call."
            self._observe(state, span, AgentStep("", "", {}, observation, True, reply))
            return None
        state.valid += 1
        state.invalid_in_a_row = 0
        thought, tool, args = call
        span.finish({"thought": thought, "tool": tool, "args": args})
        if tool == FINAL_ANSWER:
            state.steps.append(AgentStep(thought, tool, args, "", False, reply))
            return str(args.get("answer", ""))
        observation, error = self._use_tool(state, tool, args)
        self._observe(state, None, AgentStep(thought, tool, args, observation, error, reply))
        return None

    def _parse(self, reply: str) -> tuple[str, str, dict[str, Any]]:
        value = parse_json_reply(reply)
        if not isinstance(value, dict):
            raise InputError("the reply is not a JSON object")
        tool = value.get("tool")
        known = [*self.tools, FINAL_ANSWER]
        if tool not in known:
            raise InputError(f"unknown tool {json.dumps(tool)[:40]}; tools: {', '.join(known)}")
        target = self.final if tool == FINAL_ANSWER else self.tools[str(tool)]
        args = target.check_args(value.get("args", {}))
        errors = schema_errors(value.get("thought", ""), {"type": "string"})
        thought = "" if errors else str(value.get("thought", ""))
        return thought, str(tool), args

    def _use_tool(self, state: _Run, tool: str, args: dict[str, Any]) -> tuple[str, bool]:
        key = tool + json.dumps(args, sort_keys=True, default=str)
        if key in state.seen:
            count, previous = state.seen[key]
            state.seen[key] = (count + 1, previous)
            if count + 1 > self.max_repeats:
                state.looped = f"loop: {tool} was called {count + 1} times with the same arguments"
                return state.looped, True
            return (
                f"you already called {tool} with these arguments; the result was: {previous}. "
                f"Use it: call {FINAL_ANSWER} or another tool.",
                True,
            )
        span = state.span.child(f"tool {tool}", "tool", inputs=args)
        remaining = state.deadline - self.clock()
        limit = min(self.tools[tool].timeout_s or self.tool_timeout_s, max(remaining, 0.0))
        try:
            observation = call_with_timeout(
                lambda: self.tools[tool].run(**args), limit, f"tool {tool}"
            )
        except Exception as exc:  # noqa: BLE001 - any tool failure is shown to the model
            span.finish(error=exc)
            text = f"error: {error_text(exc)}"
            state.seen[key] = (1, text)
            return text, True
        span.finish({"observation": observation})
        state.seen[key] = (1, observation)
        return observation, False

    def _observe(self, state: _Run, span: Span | None, step: AgentStep) -> None:
        if span is not None:
            span.finish({"raw": step.raw}, error=InputError(step.observation))
        state.steps.append(step)
        state.messages += [
            Message("assistant", step.raw),
            Message("user", f"Observation: {step.observation}"),
        ]

    def _finish(self, state: _Run, run_id: str, answer: str) -> AgentResult:
        return AgentResult(
            answer, "answered", state.steps, run_id, state.span, state.valid, state.invalid
        )

    def _stop(self, state: _Run, run_id: str, status: Status, message: str) -> AgentResult:
        state.span.error = message
        return AgentResult(
            None, status, state.steps, run_id, state.span, state.valid, state.invalid, message
        )
