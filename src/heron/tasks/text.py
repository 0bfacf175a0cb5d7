"""Text-to-text tasks: ``summarize``, ``translate``, ``generate``, ``few_shot``.

``hf:`` sequence-to-sequence models run directly (batched, beam search; T5 gets
its "summarize: " / "translate English to French: " prefix, NLLB its FLORES codes,
multi-target Marian its ``>>fr<<`` token); every other model runs through a prompt.
``summarize(long_text="chunk")`` reads long texts in pieces on every backend
(map-reduce, ``heron.tasks.longtext``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from heron.errors import InputError
from heron.models.registry import ModelRegistry
from heron.tasks import chunking
from heron.tasks.chunking import MAX_CHUNKS, LongText, check_long_text, check_max_chunks
from heron.tasks.common import OptionsArg, one_or_many, options_of, run_prompts, task_models
from heron.tasks.engines import TEMPLATE_OVERHEAD, Engine
from heron.tasks.hf import HFTaskModel
from heron.tasks.inputs import Texts, as_batch, check_examples
from heron.tasks.languages import Language, language
from heron.tasks.longtext import map_reduce
from heron.tasks.options import TaskOptions
from heron.tasks.prompting import (
    SEPARATOR,
    TaskPrompt,
    few_shot_prompt,
    summarize_prompt,
    translate_prompt,
    user_prompt,
)
from heron.tasks.results import Generation, Summary, Translation
from heron.tasks.targets import DEFAULT_LLM, TEXT_KINDS, Target, TaskModels

SUMMARY_TOKENS = 80
TRANSLATION_TOKENS = 128
GENERATION_TOKENS = 128
FEW_SHOT_TOKENS = 48
#: words per token, to turn token lengths into words in a prompt
WORDS_PER_TOKEN = 0.75
_T5_TYPES = ("t5", "mt5", "umt5", "longt5")
_NLLB_TYPES = ("m2m_100", "nllb-moe", "nllb_moe")
_TEXT_ADVICE = (
    "use an instruct LLM (bundled:smollm2, gguf:…, openai:…) or an hf: seq2seq/causal model"
)


def summarize(
    texts: Texts,
    *,
    model: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    long_text: LongText = "truncate",
    max_chunks: int = MAX_CHUNKS,
    options: OptionsArg = None,
    registry: ModelRegistry | None = None,
    models: TaskModels | None = None,
) -> Summary | list[Summary]:
    """Summarize each text. Lengths are in tokens (asked for in words in an LLM prompt).

    A text longer than the window is truncated, or with ``long_text="chunk"`` (every
    backend) summarized piece by piece, at most ``max_chunks`` pieces, and the
    summaries summarized again (map-reduce; ``Summary.chunks`` says into how many).
    """
    batch, single = as_batch(texts)
    mode = check_long_text(long_text)
    cap = check_max_chunks(max_chunks)
    opts = _length_options(options_of(options), min_length, max_length)
    target = task_models(models, registry).resolve(model or DEFAULT_LLM)
    target.require("summarize", TEXT_KINDS, _TEXT_ADVICE)
    if target.kind == "seq2seq" and target.hf is not None:
        return one_or_many(_seq2seq_summaries(target, target.hf, batch, opts, mode, cap), single)
    assert target.engine is not None
    min_words = int(min_length * WORDS_PER_TOKEN) if min_length else None
    max_words = int(max_length * WORDS_PER_TOKEN) if max_length else None
    # a minimum length is asked for in words; only hf: engines can also enforce it
    llm_opts = opts if target.hf is not None else opts.model_copy(update={"min_new_tokens": 0})

    def build(text: str) -> TaskPrompt:
        return summarize_prompt(text, min_words, max_words)

    if mode == "chunk":
        return one_or_many(_chunked_summaries(target.engine, batch, build, llm_opts, cap), single)
    done = run_prompts(target.engine, batch, build, llm_opts, SUMMARY_TOKENS)
    return one_or_many([Summary(c.text, cut) for c, cut in done], single)


def _seq2seq_summaries(
    target: Target,
    model: HFTaskModel,
    batch: list[str],
    opts: TaskOptions,
    mode: LongText,
    cap: int,
) -> list[Summary]:
    prefix = "summarize: " if model.model_type in _T5_TYPES else ""
    size, meter = target.batch_size, target.meter

    def run(pieces: list[str]) -> list[str]:
        prompts = [prefix + p for p in pieces]
        out = model.generate(prompts, opts, SUMMARY_TOKENS, size, meter=meter)
        return [g.text for g in out]

    if mode == "chunk":
        tokenizer = model.parts.tokenizer

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

        room = model.window - count(prefix) - int(tokenizer.num_special_tokens_to_add(pair=False))
        return map_reduce(batch, run, count, room, cap)
    generated = model.generate([prefix + t for t in batch], opts, SUMMARY_TOKENS, size, meter=meter)
    return [Summary(g.text, g.truncated) for g in generated]


def _length_options(
    opts: TaskOptions, min_length: int | None, max_length: int | None
) -> TaskOptions:
    update: dict[str, Any] = {}
    if min_length is not None:
        update["min_new_tokens"] = min_length
    if max_length is not None:
        update["max_new_tokens"] = max_length
    if min_length is not None and max_length is not None and min_length > max_length:
        raise InputError(f"min_length ({min_length}) is greater than max_length ({max_length})")
    return opts.model_copy(update=update) if update else opts


def _chunked_summaries(
    engine: Engine,
    batch: list[str],
    build: Callable[[str], TaskPrompt],
    opts: TaskOptions,
    cap: int,
) -> list[Summary]:
    """Map-reduce on a prompt engine: pieces sized so prompt + reply fit the window."""
    reserve = opts.budget(SUMMARY_TOKENS) if engine.shares_window else 0
    room = engine.window - reserve - TEMPLATE_OVERHEAD - engine.count_tokens(build(".").text)

    def run(pieces: list[str]) -> list[str]:
        return [c.text for c, _ in run_prompts(engine, pieces, build, opts, SUMMARY_TOKENS)]

    return map_reduce(batch, run, engine.count_tokens, room, cap)


def split_to_fit(text: str, engine: Engine, room: int) -> list[str]:
    """Consecutive pieces of ``text`` (split at sentence ends) of at most ``room`` tokens."""
    return chunking.split_to_fit(text, engine.count_tokens, room)


def translate(
    texts: Texts,
    *,
    source: str = "en",
    target: str = "fr",
    model: str | None = None,
    options: OptionsArg = None,
    registry: ModelRegistry | None = None,
    models: TaskModels | None = None,
) -> Translation | list[Translation]:
    """Translate from ``source`` to ``target`` (ISO 639-1 codes or English names)."""
    batch, single = as_batch(texts)
    src, tgt = language(source), language(target)
    if src == tgt:
        raise InputError(f"source and target are both {src.name}", hint="pick two languages")
    opts = options_of(options)
    resolved = task_models(models, registry).resolve(model or DEFAULT_LLM)
    resolved.require("translate", TEXT_KINDS, _TEXT_ADVICE)
    if resolved.kind == "seq2seq" and resolved.hf is not None:
        prompts, extra = seq2seq_translation(resolved.hf, batch, src, tgt)
        out = resolved.hf.generate(
            prompts, opts, TRANSLATION_TOKENS, resolved.batch_size, extra, meter=resolved.meter
        )
        results = [Translation(g.text, src.code, tgt.code, g.truncated) for g in out]
        return one_or_many(results, single)
    assert resolved.engine is not None
    done = run_prompts(
        resolved.engine, batch, lambda t: translate_prompt(t, src.name, tgt.name), opts,
        TRANSLATION_TOKENS,
    )  # fmt: skip
    return one_or_many([Translation(c.text, src.code, tgt.code, cut) for c, cut in done], single)


def seq2seq_translation(
    model: HFTaskModel, texts: Sequence[str], src: Language, tgt: Language
) -> tuple[list[str], dict[str, Any]]:
    """The inputs and ``generate`` keywords each model family expects."""
    if model.model_type in _T5_TYPES:
        return [f"translate {src.name} to {tgt.name}: {t}" for t in texts], {}
    nllb = model.model_type in _NLLB_TYPES
    if nllb and (model.vocab_has(src.flores) or model.vocab_has(tgt.flores)):
        for lang in (src, tgt):
            if not model.vocab_has(lang.flores):
                raise InputError(
                    f"{model.spec} does not know the language code {lang.flores} ({lang.name})",
                    hint="pick a language the model was trained on",
                )
        tokenizer = model.parts.tokenizer
        if hasattr(tokenizer, "src_lang"):
            tokenizer.src_lang = src.flores
            prompts = list(texts)
        else:
            prompts = [f"{src.flores} {t}" for t in texts]
        return prompts, {"forced_bos_token_id": model.token_id(tgt.flores)}
    marker = f">>{tgt.code}<<"
    if model.model_type == "marian" and model.vocab_has(marker):  # multi-target (en-ROMANCE)
        return [f"{marker} {t}" for t in texts], {}
    return list(texts), {}  # a single-pair model (opus-mt-en-fr): the pair is the model


def generate(
    prompts: Texts,
    *,
    model: str | None = None,
    options: OptionsArg = None,
    registry: ModelRegistry | None = None,
    models: TaskModels | None = None,
) -> Generation | list[Generation]:
    """Continue or answer each prompt with the decoding controls in ``options``."""
    batch, single = as_batch(prompts, "prompt")
    opts = options_of(options)
    target = task_models(models, registry).resolve(model or DEFAULT_LLM)
    target.require("generate", TEXT_KINDS, _TEXT_ADVICE)
    if target.hf is not None:
        out = target.hf.generate(
            batch, opts, GENERATION_TOKENS, target.batch_size, meter=target.meter
        )
        return one_or_many([Generation(g.text, g.finish_reason, g.truncated) for g in out], single)
    assert target.engine is not None
    done = run_prompts(target.engine, batch, user_prompt, opts, GENERATION_TOKENS)
    return one_or_many([Generation(c.text, c.finish_reason, cut) for c, cut in done], single)


def few_shot(
    texts: Texts,
    examples: Sequence[Mapping[str, Any]],
    *,
    instruction: str = "",
    separator: str = SEPARATOR,
    model: str | None = None,
    options: OptionsArg = None,
    registry: ModelRegistry | None = None,
    models: TaskModels | None = None,
) -> Generation | list[Generation]:
    """Answer each text following ``examples`` (``{"input", "output"}``); ``separator``
    delimits the examples and is a stop sequence."""
    batch, single = as_batch(texts)
    pairs = [(e["input"], e["output"]) for e in check_examples(examples)]
    if not separator.strip():
        raise InputError("the few-shot separator is empty", hint="use e.g. ###")
    opts = options_of(options)
    target = task_models(models, registry).resolve(model or DEFAULT_LLM)
    target.require("few-shot", TEXT_KINDS, _TEXT_ADVICE)
    assert target.engine is not None
    done = run_prompts(
        target.engine, batch, lambda t: few_shot_prompt(instruction, pairs, t, separator), opts,
        FEW_SHOT_TOKENS,
    )  # fmt: skip
    return one_or_many([Generation(c.text, c.finish_reason, cut) for c, cut in done], single)
