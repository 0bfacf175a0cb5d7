"""``answer`` (a question over a given passage) and ``extract`` (fields as JSON).

``answer`` runs an ``hf:`` extractive QA model (the best span, with its character
offsets and probability) or any LLM through a prompt; passages longer than the
window are read in pieces by default (``heron.tasks.extractive``,
``heron.tasks.longtext``). ``extract`` asks an LLM for
a JSON object; llama.cpp decodes under the JSON schema, other backends are
validated and retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from heron.errors import InputError
from heron.models.registry import ModelRegistry
from heron.tasks.chunking import MAX_CHUNKS, LongText, check_long_text, check_max_chunks
from heron.tasks.common import OptionsArg, one_or_many, options_of, task_models
from heron.tasks.engines import Engine, fit_prompt
from heron.tasks.extractive import answer_in_windows
from heron.tasks.inputs import Texts, as_batch, check_schema, schema_from_fields
from heron.tasks.longtext import answer_pieces, rerank_answer
from heron.tasks.options import TaskOptions
from heron.tasks.prompting import TaskPrompt, answer_prompt, extract_prompt
from heron.tasks.results import Extraction, TaskAnswer
from heron.tasks.structured import JSON_TOKENS, generate_json
from heron.tasks.targets import DEFAULT_LLM, TEXT_KINDS, TaskModels

ANSWER_TOKENS = 48


def answer(
    passages: Texts,
    question: str | Sequence[str],
    *,
    model: str | None = None,
    long_text: LongText = "chunk",
    max_chunks: int = MAX_CHUNKS,
    options: OptionsArg = None,
    registry: ModelRegistry | None = None,
    models: TaskModels | None = None,
) -> TaskAnswer | list[TaskAnswer]:
    """Answer ``question`` over each passage (one question for all, or one per passage).

    A passage longer than the model's window is read in pieces (``long_text="chunk"``,
    at most ``max_chunks`` per passage): overlapping token windows on extractive
    models, pieces asked in order of relevance on LLMs. ``"truncate"`` reads only
    what fits and flags it.
    """
    batch, single = as_batch(passages, "passage")
    mode = check_long_text(long_text)
    cap = check_max_chunks(max_chunks)
    questions = _questions(question, len(batch))
    tm = task_models(models, registry)
    target = tm.resolve(model or DEFAULT_LLM)
    target.require(
        "answer", ("qa", *TEXT_KINDS),
        "use an hf: extractive question-answering model or an LLM",
    )  # fmt: skip
    if target.kind == "qa" and target.hf is not None:
        if mode == "chunk":
            spans = answer_in_windows(target.hf, questions, batch, tm.batch_size, cap)
        else:
            spans = target.hf.answer(questions, batch, tm.batch_size)
        results = [
            TaskAnswer(s.text, s.score, s.start, s.end, s.truncated, s.chunks) for s in spans
        ]
        return one_or_many(results, single)
    assert target.engine is not None
    return one_or_many(
        _llm_answers(target.engine, batch, questions, options_of(options), mode, cap), single
    )


def _questions(question: str | Sequence[str], n: int) -> list[str]:
    questions = [question] * n if isinstance(question, str) else list(question)
    if len(questions) != n:
        raise InputError(
            f"{len(questions)} questions for {n} passages",
            hint="give one question, or one per passage",
        )
    for i, q in enumerate(questions):
        if not isinstance(q, str) or not q.strip():
            raise InputError(f"question {i} is empty", hint="pass a non-empty question")
    return questions


def _llm_answers(
    engine: Engine,
    batch: Sequence[str],
    questions: Sequence[str],
    opts: TaskOptions,
    mode: LongText,
    cap: int,
) -> list[TaskAnswer]:
    """Passages that fit: one batched call; longer ones truncated, or read piece by piece."""
    fitted = [
        fit_prompt(engine, partial(_answer_prompt, question=q), passage, opts.budget(ANSWER_TOKENS))
        for passage, q in zip(batch, questions, strict=True)
    ]
    whole = [i for i, (_, cut) in enumerate(fitted) if not (cut and mode == "chunk")]
    long = {  # split every long passage (and check the cap) before asking about any
        i: answer_pieces(
            engine, batch[i], questions[i], opts.budget(ANSWER_TOKENS), cap,
            "the passage" if len(batch) == 1 else f"passage {i}",
        )
        for i in range(len(batch))
        if i not in whole
    }  # fmt: skip
    prompts = [fitted[i][0].messages for i in whole]
    completions = engine.complete(prompts, opts, ANSWER_TOKENS) if prompts else []
    out = {
        i: TaskAnswer(c.text.strip(), None, None, None, fitted[i][1])
        for i, c in zip(whole, completions, strict=True)
    }
    for i, pieces in long.items():
        out[i] = rerank_answer(engine, pieces, questions[i], opts, ANSWER_TOKENS)
    return [out[i] for i in range(len(batch))]


def _answer_prompt(passage: str, question: str) -> TaskPrompt:
    return answer_prompt(passage, question)


def extract(
    texts: Texts,
    *,
    schema: Mapping[str, Any] | None = None,
    fields: Sequence[str] | str | None = None,
    model: str | None = None,
    constrain: bool = True,
    retries: int = 2,
    options: OptionsArg = None,
    registry: ModelRegistry | None = None,
    models: TaskModels | None = None,
) -> Extraction | list[Extraction]:
    """Structured fields from each text as a dict: give a JSON ``schema`` or ``fields``."""
    batch, single = as_batch(texts)
    if (schema is None) == (fields is None):
        raise InputError(
            "extract needs either a schema or a list of fields (not both)",
            hint='e.g. fields=["name", "city"]',
        )
    checked = check_schema(schema) if schema is not None else schema_from_fields(fields or [])
    names = list(checked["properties"])
    target = task_models(models, registry).resolve(model or DEFAULT_LLM)
    target.require("extract", TEXT_KINDS, "use an instruct LLM (bundled:smollm2, gguf:…)")
    assert target.engine is not None
    opts = options_of(options)
    results = []
    for text in batch:
        prompt, cut = fit_prompt(
            target.engine, lambda t: extract_prompt(t, names), text, opts.budget(JSON_TOKENS)
        )
        parsed = generate_json(
            target.engine, prompt.messages, checked, opts, constrain=constrain, retries=retries
        )
        results.append(Extraction(parsed.value, cut, parsed.attempts))
    return one_or_many(results, single)
