"""Chains, long-document strategies, agents and tracing.

- ``steps``: the ``Step`` contract (named inputs -> named outputs) and built-in
  steps: ``PromptStep``, ``TransformStep``, ``RetrieveStep``; ``TaskStep`` (``task_step``)
  runs a ``heron.tasks`` task.
- ``parse``: ``JsonStep`` and ``LabelStep`` (grammar-constrained on llama.cpp).
- ``compose``: ``Chain`` (sequential, names checked when built), ``Parallel``, ``Router``.
- ``longdoc``: map-reduce and refine summarisation and QA over long text.
- ``rag_chains``: the ``stuff`` / ``map_reduce`` / ``refine`` / ``map_rerank`` RAG chain types.
- ``agents``: the ReAct agent and its tools (``heron.chains.agents``).
- ``tracing``: spans and the run log under ``<home>/traces``.
- ``toml_chain``: chains declared in TOML (``heron chain run``).

Left out: async execution, streaming of intermediate steps, retries with backoff,
memory across agent runs, exporting traces (MLflow comes with the ops issue).
"""

from heron.chains.compose import Chain, Parallel, Router
from heron.chains.longdoc import LongQAStep, SummarizeStep, answer, summarize
from heron.chains.parse import JsonStep, LabelStep
from heron.chains.steps import PromptStep, RetrieveStep, RunResult, Step, TransformStep
from heron.chains.task_step import TaskStep
from heron.chains.tracing import RunTraces, Span

__all__ = [
    "Chain",
    "JsonStep",
    "LabelStep",
    "LongQAStep",
    "Parallel",
    "PromptStep",
    "RetrieveStep",
    "Router",
    "RunResult",
    "RunTraces",
    "Span",
    "Step",
    "SummarizeStep",
    "TaskStep",
    "TransformStep",
    "answer",
    "summarize",
]
