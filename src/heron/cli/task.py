"""``heron task NAME`` — run one NLP task on a text, stdin, or a JSONL/CSV file.

One command carries every task's flags (each flag's help says which tasks use
it), so the decoding flags are declared once. Inputs: a text argument, ``-`` for
stdin, or ``--input FILE.jsonl|.csv --field NAME`` (a progress bar on stderr).
Output: plain text, one result per line, or ``--jsonl``. ``--long-text`` chooses
how ``answer`` and ``summarize`` read a text longer than the model's window.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from heron.cli.common import CliState, state
from heron.errors import InputError
from heron.tasks import TaskModels
from heron.tasks.chunking import LONG_TEXT_MODES, MAX_CHUNKS
from heron.tasks.dispatch import TASKS
from heron.tasks.inputs import load_examples
from heron.tasks.options import parse_options
from heron.tasks.results import Extraction, Label

_TASK_HELP = "one of: " + ", ".join(TASKS)
#: what a long input gets without --long-text: answers are read whole (truncating
#: silently drops a late answer; reading every window costs about what reading the
#: text costs, measured in docs/tasks.md); summaries truncate, because map-reduce
#: costs one generation per piece plus the reduce
LONG_TEXT_DEFAULTS = {"answer": "chunk", "summarize": "truncate"}


@dataclass(frozen=True)
class Inputs:
    texts: list[str]
    rows: list[dict[str, Any]]
    from_file: bool


def task_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help=_TASK_HELP, metavar="TASK"),
    text: str | None = typer.Argument(None, help="the input text; - reads stdin"),
    input_file: Path | None = typer.Option(
        None, "--input", "-i", help="a .jsonl or .csv file, one input per row"
    ),
    field: str = typer.Option("text", "--field", help="the column holding the input text"),
    as_jsonl: bool = typer.Option(False, "--jsonl", help="one JSON object per result"),
    model: str | None = typer.Option(
        None, "--model", "-m", help="model spec (default: the llm setting; zero-shot: embedder)"
    ),
    labels: str | None = typer.Option(
        None, "--labels", help="classify/zero-shot/sentiment: comma-separated labels"
    ),
    template: str | None = typer.Option(
        None, "--template", help='zero-shot: hypothesis, e.g. "This text is about {}."'
    ),
    source: str = typer.Option("en", "--source", help="translate: source language code"),
    target: str = typer.Option("fr", "--target", help="translate: target language code"),
    examples: Path | None = typer.Option(
        None, "--examples", help='few-shot: JSONL of {"input": …, "output": …}'
    ),
    instruction: str = typer.Option("", "--instruction", help="few-shot/classify: instruction"),
    separator: str = typer.Option("###", "--separator", help="few-shot: example separator"),
    question: str | None = typer.Option(None, "--question", "-q", help="answer: the question"),
    question_field: str | None = typer.Option(
        None, "--question-field", help="answer: the column holding each row's question"
    ),
    schema: Path | None = typer.Option(None, "--schema", help="extract: a JSON Schema file"),
    fields: str | None = typer.Option(None, "--fields", help="extract: comma-separated fields"),
    min_length: int | None = typer.Option(None, "--min-length", min=1, help="summarize: tokens"),
    max_length: int | None = typer.Option(None, "--max-length", min=1, help="summarize: tokens"),
    long_text: str | None = typer.Option(
        None,
        "--long-text",
        metavar="truncate|chunk",
        help="answer/summarize: read a text longer than the window in pieces (chunk) or only "
        "what fits (truncate). default: chunk for answer, truncate for summarize",
    ),
    chunk: bool = typer.Option(False, "--chunk", hidden=True, help="same as --long-text chunk"),
    max_chunks: int | None = typer.Option(
        None,
        "--max-chunks",
        min=1,
        help=f"answer/summarize: pieces per text (default {MAX_CHUNKS})",
    ),
    constrain: bool = typer.Option(
        True, "--constrain/--no-constrain", help="labels/extract: grammar-constrained decoding"
    ),
    retries: int = typer.Option(2, "--retries", min=0, max=10, help="re-asks on a bad reply"),
    batch_size: int = typer.Option(8, "--batch-size", min=1, max=1024),
    sample: bool = typer.Option(False, "--sample/--greedy", help="sample instead of greedy"),
    temperature: float = typer.Option(1.0, "--temperature", help="with --sample"),
    top_k: int = typer.Option(50, "--top-k", help="with --sample; 0 = off"),
    top_p: float = typer.Option(1.0, "--top-p", help="with --sample"),
    num_beams: int = typer.Option(1, "--num-beams", help="beam search (hf: models)"),
    repetition_penalty: float = typer.Option(1.0, "--repetition-penalty"),
    min_new_tokens: int = typer.Option(0, "--min-new-tokens", help="hf: models"),
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens"),
    stop: list[str] = typer.Option([], "--stop", help="stop sequence (repeatable)"),
    seed: int | None = typer.Option(0, "--seed"),
) -> None:
    """Run an NLP task: summarize, classify, sentiment, translate, zero-shot, few-shot,
    generate, answer, extract."""
    st = state(ctx)
    task = _task_name(name)
    _valid_decoding(min_new_tokens, max_new_tokens)
    options = parse_options(
        {
            "do_sample": sample, "temperature": temperature, "top_k": top_k, "top_p": top_p,
            "num_beams": num_beams, "repetition_penalty": repetition_penalty,
            "min_new_tokens": min_new_tokens, "max_new_tokens": max_new_tokens,
            "stop": stop, "seed": seed,
        }
    )  # fmt: skip
    inputs = read_inputs(text, input_file, field)
    params: dict[str, Any] = {
        "model": model or (st.settings.embedder if task == "zero-shot" else st.settings.llm),
        "options": options,
        "models": TaskModels(st.registry, threads=st.settings.threads, batch_size=batch_size),
    }
    params.update(
        task_params(
            task, labels=labels, template=template, source=source, target=target,
            examples=examples, instruction=instruction, separator=separator,
            min_length=min_length, max_length=max_length, chunk=chunk, long_text=long_text,
            max_chunks=max_chunks, schema=schema, fields=fields, constrain=constrain,
            retries=retries,
        )
    )  # fmt: skip
    questions = _questions(task, inputs, question, question_field)
    run = _runner(task, params, questions)
    write_results(st, run, inputs, batch_size, as_jsonl)


def _valid_decoding(min_new: int, max_new: int | None) -> None:
    if max_new is not None and min_new > max_new:
        raise InputError(f"--min-new-tokens {min_new} is greater than --max-new-tokens {max_new}")


def _task_name(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    if key not in TASKS:
        raise InputError(f"unknown task '{name}'", hint=_TASK_HELP)
    return key


def task_params(task: str, **flags: Any) -> dict[str, Any]:
    """The keyword arguments of task ``task`` from the CLI flags."""
    params = _label_params(task, flags)
    if task == "translate":
        params.update(source=flags["source"], target=flags["target"])
    if task == "summarize":
        params.update(min_length=flags["min_length"], max_length=flags["max_length"])
    if task in LONG_TEXT_DEFAULTS:
        params.update(_long_text_params(task, flags))
    if task == "few-shot":
        params.update(_few_shot_params(flags))
    if task == "extract":
        params.update(_extract_params(flags["schema"], flags["fields"]))
    return params


def _long_text_params(task: str, flags: dict[str, Any]) -> dict[str, Any]:
    """``long_text`` (the flag, ``--chunk``, else the task's default) and ``max_chunks``."""
    chosen = flags.get("long_text")
    if chosen is not None and chosen not in LONG_TEXT_MODES:
        raise InputError(
            f"--long-text must be truncate or chunk, not {chosen!r}",
            hint="chunk reads every piece of a long text; truncate reads only what fits",
        )
    if flags.get("chunk"):
        if chosen == "truncate":
            raise InputError("--chunk contradicts --long-text truncate", hint="give one of them")
        chosen = "chunk"
    params: dict[str, Any] = {"long_text": chosen or LONG_TEXT_DEFAULTS[task]}
    if flags.get("max_chunks") is not None:
        params["max_chunks"] = flags["max_chunks"]
    return params


def _label_params(task: str, flags: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if task in ("classify", "zero-shot", "sentiment") and flags["labels"] is not None:
        params["labels"] = flags["labels"].split(",")
    if task == "zero-shot":
        params.setdefault("labels", [])
        if flags["template"]:
            params["template"] = flags["template"]
    if task in ("classify", "sentiment", "zero-shot", "extract"):
        params.update(constrain=flags["constrain"], retries=flags["retries"])
    if task == "classify" and flags["instruction"]:
        params["instruction"] = flags["instruction"]
    return params


def _few_shot_params(flags: dict[str, Any]) -> dict[str, Any]:
    if flags["examples"] is None:
        raise InputError(
            "few-shot needs --examples FILE.jsonl",
            hint='one {"input": …, "output": …} object per line',
        )
    return {
        "examples": load_examples(flags["examples"]),
        "instruction": flags["instruction"],
        "separator": flags["separator"],
    }


def _extract_params(schema: Path | None, fields: str | None) -> dict[str, Any]:
    if schema is None:
        return {"fields": fields} if fields is not None else {}
    try:
        return {"schema": json.loads(schema.read_text(encoding="utf-8"))}
    except OSError as exc:
        raise InputError(f"cannot read schema file {schema}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{schema} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc


def _questions(
    task: str, inputs: Inputs, question: str | None, question_field: str | None
) -> list[str] | None:
    if task != "answer":
        return None
    if question_field is not None:
        missing = [i for i, row in enumerate(inputs.rows) if question_field not in row]
        if missing or not inputs.from_file:
            raise InputError(
                f"--question-field {question_field!r} is missing from row(s) {missing[:5]}"
                if missing
                else "--question-field needs --input FILE"
            )
        return [str(row[question_field]) for row in inputs.rows]
    if not question:
        raise InputError("answer needs --question", hint='e.g. --question "Who wrote it?"')
    return [question] * len(inputs.texts)


def _runner(
    task: str, params: dict[str, Any], questions: list[str] | None
) -> Callable[[int, list[str]], list[Any]]:
    func = TASKS[task]

    def run(start: int, texts: list[str]) -> list[Any]:
        if questions is not None:
            return list(func(texts, questions[start : start + len(texts)], **params))
        return list(func(texts, **params))

    return run


# -- input -----------------------------------------------------------------------
def read_inputs(text: str | None, input_file: Path | None, field: str) -> Inputs:
    """The texts to run on, from the argument, stdin or a file (exactly one)."""
    if (text is None) == (input_file is None):
        raise InputError(
            "give the input text as an argument, - for stdin, or --input FILE (one of them)",
            hint='e.g. heron task sentiment "I loved it" or --input reviews.jsonl --field text',
        )
    if input_file is None:
        value = sys.stdin.read() if text == "-" else str(text)
        if not value.strip():
            raise InputError("the input text is empty", hint="pass a non-empty text")
        return Inputs([value.strip()], [{}], from_file=False)
    rows = list(_read_rows(input_file))
    if not rows:
        raise InputError(f"{input_file} has no rows")
    texts = []
    for n, row in enumerate(rows, 1):
        value = row.get(field)
        if value is None:
            raise InputError(
                f"{input_file} row {n} has no field {field!r}",
                hint=f"its fields are {', '.join(map(str, row))}; choose one with --field",
            )
        texts.append(str(value))
    return Inputs(texts, rows, from_file=True)


def _read_rows(path: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise InputError(f"{path}: --input takes a .jsonl or .csv file")
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        if suffix == ".csv":
            yield from csv.DictReader(handle)
            return
        for n, line in enumerate(handle, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{n} is not valid JSON: {exc.msg}") from exc
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{n} is not a JSON object")
                yield row


# -- output ----------------------------------------------------------------------
def write_results(
    st: CliState,
    run: Callable[[int, list[str]], list[Any]],
    inputs: Inputs,
    batch_size: int,
    as_jsonl: bool,
) -> None:
    """Run in batches (a progress bar for files) and print each result as it comes."""
    out = st.console.file
    if not inputs.from_file:
        _emit(out, run(0, inputs.texts), 0, as_jsonl, from_file=False)
        return
    with st.progress() as bar:
        job = bar.add_task("task", total=len(inputs.texts))
        for start in range(0, len(inputs.texts), batch_size):
            batch = inputs.texts[start : start + batch_size]
            _emit(out, run(start, batch), start, as_jsonl, from_file=True)
            bar.advance(job, len(batch))


def _emit(out: Any, results: Sequence[Any], start: int, as_jsonl: bool, from_file: bool) -> None:
    for i, result in enumerate(results, start):
        if as_jsonl:
            data = ({"row": i} if from_file else {}) | result.to_dict()
            out.write(json.dumps(data, ensure_ascii=False) + "\n")
        else:
            out.write(render_text(result) + "\n")
    out.flush()


def render_text(result: Any) -> str:
    """One line (or paragraph) of plain text for a result."""
    if isinstance(result, Label):
        return result.label if result.score is None else f"{result.label}\t{result.score:.4f}"
    if isinstance(result, Extraction):
        return json.dumps(dict(result.data), ensure_ascii=False)
    return str(result.text)
