"""Composing steps: a sequence (``Chain``), a ``Parallel`` group and a ``Router``.

Each composite is itself a ``Step``, so they nest. Names are checked when a
composite is built, never half-way through a run: a step that needs a name no
earlier step produces and the chain does not take, two steps that produce the
same name, and steps that need each other (a cycle) are ``InputError``s that say
which step and which name. A ``Chain`` runs its steps in the order given, moved
only as far as a dependency requires (a stable topological order).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from heron.chains.steps import Step, run_child
from heron.chains.tracing import Span
from heron.errors import InputError


def _unique_names(steps: Sequence[Step], where: str) -> None:
    seen: set[str] = set()
    for step in steps:
        if step.name in seen:
            raise InputError(
                f"{where} has two steps named '{step.name}'", hint="give every step its own name"
            )
        seen.add(step.name)


def _producers(steps: Sequence[Step], taken: Sequence[str], where: str) -> dict[str, Step]:
    producers: dict[str, Step] = {}
    for step in steps:
        for name in step.outputs:
            if name in taken:
                raise InputError(
                    f"step '{step.name}' in {where} outputs '{name}', which is also an input "
                    "of the chain",
                    hint="rename the output, or drop it from the chain's inputs",
                )
            if name in producers:
                raise InputError(
                    f"steps '{producers[name].name}' and '{step.name}' in {where} both output "
                    f"'{name}'",
                    hint="rename one of the outputs",
                )
            producers[name] = step
    return producers


def _order(steps: Sequence[Step], needs: dict[str, list[str]], where: str) -> list[Step]:
    """Steps in declared order, each moved after the steps it needs; cycles are errors."""
    by_name = {s.name: s for s in steps}
    done: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = [*path[path.index(name) :], name]
            raise InputError(
                f"steps in {where} form a cycle: {' -> '.join(cycle)}",
                hint="each step may only read names produced by steps that do not read its "
                "own outputs",
            )
        state[name] = "active"
        for dependency in needs[name]:
            visit(dependency, [*path, name])
        state[name] = "done"
        done.append(name)

    for step in steps:
        visit(step.name, [])
    return [by_name[name] for name in done]


class Chain(Step):
    """Steps run one after another; each output is visible to later steps by name."""

    kind = "chain"

    def __init__(self, name: str, steps: Sequence[Step], inputs: Sequence[str]) -> None:
        if not steps:
            raise InputError(f"chain '{name}' has no steps", hint="add at least one step")
        where = f"chain '{name}'"
        _unique_names(steps, where)
        producers = _producers(steps, inputs, where)
        needs: dict[str, list[str]] = {}
        for step in steps:
            needs[step.name] = []
            for wanted in step.inputs:
                if wanted in inputs:
                    continue
                if wanted not in producers:
                    known = ", ".join([*inputs, *producers]) or "(none)"
                    raise InputError(
                        f"step '{step.name}' in {where} needs input '{wanted}', which no step "
                        "produces and the chain does not take",
                        hint=f"add '{wanted}' to the chain's inputs or a step that outputs it; "
                        f"names available: {known}",
                    )
                needs[step.name].append(producers[wanted].name)
        self.name = name
        self.steps = _order(steps, needs, where)
        self.inputs = tuple(inputs)
        self.outputs = tuple(producers)

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        env = dict(values)
        for step in self.steps:
            env.update(run_child(step, env, span))
        return {name: env[name] for name in self.outputs}


class Parallel(Step):
    """Steps that do not depend on each other, run at the same time on the same inputs."""

    kind = "parallel"

    def __init__(self, name: str, steps: Sequence[Step], max_workers: int = 4) -> None:
        if not steps:
            raise InputError(f"parallel group '{name}' has no steps", hint="add steps")
        where = f"parallel group '{name}'"
        _unique_names(steps, where)
        _producers(steps, (), where)
        for step in steps:
            overlap = set(step.inputs) & {o for s in steps for o in s.outputs}
            if overlap:
                raise InputError(
                    f"step '{step.name}' in {where} reads {sorted(overlap)}, which a step of "
                    "the same group produces",
                    hint="steps of a parallel group cannot feed each other; use a Chain",
                )
        self.name = name
        self.steps = list(steps)
        self.max_workers = max_workers
        self.inputs = tuple(dict.fromkeys(i for s in steps for i in s.inputs))
        self.outputs = tuple(o for s in steps for o in s.outputs)

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        workers = min(self.max_workers, len(self.steps))
        with ThreadPoolExecutor(workers, thread_name_prefix="heron-parallel") as pool:
            futures = [pool.submit(run_child, step, values, span) for step in self.steps]
            results = [future.result() for future in futures]
        # run_child appended spans in completion order; show them in declared order
        order = {step.name: i for i, step in enumerate(self.steps)}
        span.children.sort(key=lambda child: order.get(child.name, len(order)))
        merged: dict[str, Any] = {}
        for result in results:
            merged.update(result)
        return merged


class Router(Step):
    """Runs one of several branches, chosen by a label.

    The label is the value of input ``on`` (e.g. the output of a label step), or
    what ``choose(values)`` returns. Every branch's inputs must be available,
    since any may run; the router outputs the names all branches produce, plus
    ``<name>_route`` (the branch taken).
    """

    kind = "router"

    def __init__(
        self,
        name: str,
        branches: Mapping[str, Step],
        on: str | None = None,
        choose: Callable[[Mapping[str, Any]], str] | None = None,
        choose_inputs: Sequence[str] = (),
        default: str | None = None,
    ) -> None:
        if (on is None) == (choose is None):
            raise InputError(
                f"router '{name}' needs exactly one of on= (an input name) or choose= (a function)",
                hint="e.g. Router('reply', {'positive': a, 'negative': b}, on='sentiment')",
            )
        if not branches:
            raise InputError(f"router '{name}' has no branches", hint="add at least one branch")
        if default is not None and default not in branches:
            raise InputError(
                f"router '{name}': default branch '{default}' is not one of its branches",
                hint=f"branches: {', '.join(branches)}",
            )
        self.name = name
        self.branches = dict(branches)
        self.on = on
        self.choose = choose
        self.default = default
        selectors = [on] if on is not None else list(choose_inputs)
        branch_inputs = [i for b in branches.values() for i in b.inputs]
        self.inputs = tuple(dict.fromkeys([*selectors, *branch_inputs]))
        common = set.intersection(*(set(b.outputs) for b in branches.values()))
        first = next(iter(branches.values()))
        self.outputs = (*[o for o in first.outputs if o in common], f"{name}_route")

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        if self.on is not None:
            label = str(values[self.on]).strip()
        else:
            assert self.choose is not None
            label = str(self.choose(values))
        if label not in self.branches:
            if self.default is None:
                raise InputError(
                    f"router '{self.name}' got label '{label[:80]}', which has no branch",
                    hint=f"branches: {', '.join(self.branches)}; or give the router a default",
                )
            label = self.default
        outputs = run_child(self.branches[label], values, span)
        return {**outputs, f"{self.name}_route": label}
