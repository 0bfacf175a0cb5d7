"""Label tasks: ``classify``, ``sentiment``, ``zero_shot``.

Backends: an ``hf:`` text-classification model (its own labels, optionally renamed
with ``label_map``), an ``hf:`` NLI model (zero-shot pipeline), an embedder
(label-embedding similarity) or an LLM (a prompt, the reply constrained to the
label set on llama.cpp, else parsed and retried).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from heron.errors import InputError
from heron.models.registry import ModelRegistry
from heron.tasks.common import OptionsArg, one_or_many, options_of, task_models
from heron.tasks.embed import DEFAULT_TEMPLATE, embedding_zero_shot
from heron.tasks.engines import Engine, fit_prompt
from heron.tasks.hf import HFTaskModel
from heron.tasks.inputs import Texts, as_batch, check_labels
from heron.tasks.options import TaskOptions
from heron.tasks.prompting import label_instruction, labels_prompt
from heron.tasks.results import Label
from heron.tasks.structured import LABEL_TOKENS, generate_label
from heron.tasks.targets import DEFAULT_EMBEDDER, DEFAULT_LLM, Target, TaskModels

#: negative first: SmolLM2-135M leans to the first label listed less this way (docs/tasks.md)
SENTIMENT_LABELS = ("negative", "positive")
SENTIMENT_TEMPLATE = "The sentiment of this review is {}."
_SENTIMENT_ALIASES = {
    "pos": "positive", "positive": "positive", "neg": "negative", "negative": "negative",
    "neu": "neutral", "neutral": "neutral",
}  # fmt: skip
_LABEL_N = re.compile(r"label_(\d+)")


def classify(
    texts: Texts,
    labels: Sequence[str] | None = None,
    *,
    model: str | None = None,
    label_map: Mapping[str, str] | None = None,
    instruction: str = "",
    constrain: bool = True,
    retries: int = 2,
    options: OptionsArg = None,
    registry: ModelRegistry | None = None,
    models: TaskModels | None = None,
) -> Label | list[Label]:
    """Classify each text.

    With an ``hf:`` text-classification model the labels are the model's, renamed
    by ``label_map`` (``{"LABEL_0": "negative"}``); ``labels`` then keeps only those.
    With an LLM or an embedder ``labels`` is required.
    """
    batch, single = as_batch(texts)
    target = task_models(models, registry).resolve(model or DEFAULT_LLM)
    target.require(
        "classify", ("seqcls", "nli", "embedder", "llm", "causal", "seq2seq"),
        "use an hf: text-classification model, an embedder or an LLM",
    )  # fmt: skip
    if target.hf is not None and target.kind in ("seqcls", "nli"):
        wanted = check_labels(labels) if labels is not None else None
        scored = _hf_scores(target.hf, batch, target.batch_size, dict(label_map or {}))
        return one_or_many(_pick(scored, wanted, target.hf, batch), single)
    names = check_labels(labels)
    results = _labels_by_prompt_or_similarity(
        target, batch, names, instruction, DEFAULT_TEMPLATE, constrain, retries,
        options_of(options),
    )  # fmt: skip
    return one_or_many(results, single)


def sentiment(
    texts: Texts,
    *,
    model: str | None = None,
    labels: Sequence[str] = SENTIMENT_LABELS,
    constrain: bool = True,
    retries: int = 2,
    options: OptionsArg = None,
    registry: ModelRegistry | None = None,
    models: TaskModels | None = None,
) -> Label | list[Label]:
    """The sentiment of each text: ``positive``/``negative`` (or your ``labels``).

    An ``hf:`` sentiment model's labels are normalised (``POSITIVE``, ``LABEL_1`` of a
    two-label head, ``neg``…) to the lower-case names.
    """
    batch, single = as_batch(texts)
    names = check_labels(labels)
    target = task_models(models, registry).resolve(model or DEFAULT_LLM)
    target.require(
        "sentiment", ("seqcls", "nli", "embedder", "llm", "causal", "seq2seq"),
        "use an hf: sentiment classifier or NLI model, an embedder or an LLM",
    )  # fmt: skip
    if target.hf is not None and target.kind == "nli":
        nli = _nli_labels(target.hf, batch, names, SENTIMENT_TEMPLATE, target.batch_size)
        return one_or_many(nli, single)
    if target.hf is not None and target.kind == "seqcls":
        scored = _hf_scores(target.hf, batch, target.batch_size, {})
        return one_or_many(
            [_sentiment_label(s, target.hf, t) for s, t in zip(scored, batch, strict=True)], single
        )
    results = _labels_by_prompt_or_similarity(
        target, batch, names, "Classify the sentiment of the text.", SENTIMENT_TEMPLATE,
        constrain, retries, options_of(options),
    )  # fmt: skip
    return one_or_many(results, single)


def zero_shot(
    texts: Texts,
    labels: Sequence[str],
    *,
    model: str | None = None,
    template: str = DEFAULT_TEMPLATE,
    constrain: bool = True,
    retries: int = 2,
    options: OptionsArg = None,
    registry: ModelRegistry | None = None,
    models: TaskModels | None = None,
) -> Label | list[Label]:
    """Pick one of ``labels`` (never seen in training) for each text.

    Default model: ``bundled:minilm`` (embedding similarity with ``template``).
    An ``hf:`` NLI model uses ``template`` as its hypothesis; an LLM gets a prompt.
    """
    batch, single = as_batch(texts)
    names = check_labels(labels)
    tm = task_models(models, registry)
    target = tm.resolve(model or DEFAULT_EMBEDDER)
    target.require(
        "zero-shot", ("nli", "embedder", "llm", "causal", "seq2seq"),
        "use an embedder (bundled:minilm), an hf: NLI model (entailment labels) or an LLM; "
        "a classifier with fixed labels runs the classify task",
    )  # fmt: skip
    if target.hf is not None and target.kind == "nli":
        return one_or_many(_nli_labels(target.hf, batch, names, template, tm.batch_size), single)
    results = _labels_by_prompt_or_similarity(
        target, batch, names, "", template, constrain, retries, options_of(options), tm.batch_size
    )
    return one_or_many(results, single)


def _nli_labels(
    model: HFTaskModel, batch: list[str], labels: list[str], template: str, batch_size: int
) -> list[Label]:
    scored = model.zero_shot(batch, labels, template, batch_size)
    flags = model.overflows(batch)
    return [
        Label(max(s, key=s.__getitem__), max(s.values()), s, cut)
        for s, cut in zip(scored, flags, strict=True)
    ]


def _labels_by_prompt_or_similarity(
    target: Target,
    batch: list[str],
    labels: list[str],
    instruction: str,
    template: str,
    constrain: bool,
    retries: int,
    options: TaskOptions,
    batch_size: int = 64,
) -> list[Label]:
    if target.embedder is not None:
        return embedding_zero_shot(target.embedder, batch, labels, template, max(batch_size, 32))
    assert target.engine is not None
    return [
        _llm_label(target.engine, text, labels, instruction, constrain, retries, options)
        for text in batch
    ]


def _llm_label(
    engine: Engine,
    text: str,
    labels: list[str],
    instruction: str,
    constrain: bool,
    retries: int,
    options: TaskOptions,
) -> Label:
    prompt, cut = fit_prompt(
        engine, lambda t: labels_prompt(t, labels, instruction or label_instruction(labels)), text,
        LABEL_TOKENS,
    )  # fmt: skip
    parsed = generate_label(
        engine, prompt.messages, labels, options, constrain=constrain, retries=retries
    )
    return Label(parsed.value, None, {}, cut)


def _hf_scores(
    model: HFTaskModel, batch: list[str], batch_size: int, label_map: dict[str, str]
) -> list[dict[str, float]]:
    scored = model.classify(batch, batch_size)
    if not label_map:
        return scored
    unknown = sorted(set(label_map) - set(scored[0]))
    if unknown:
        raise InputError(
            f"label_map names {unknown}, which {model.spec} does not have",
            hint=f"its labels are {sorted(scored[0])}",
        )
    return [{label_map.get(k, k): v for k, v in s.items()} for s in scored]


def _pick(
    scored: list[dict[str, float]], wanted: list[str] | None, model: HFTaskModel, batch: list[str]
) -> list[Label]:
    flags = model.overflows(batch)
    if wanted is not None:
        missing = [w for w in wanted if w not in scored[0]]
        if missing:
            raise InputError(
                f"{model.spec} has no label(s) {missing}",
                hint=f"its labels are {sorted(scored[0])}; rename them with label_map",
            )
        scored = [{k: s[k] for k in wanted} for s in scored]
    return [
        Label(max(s, key=s.__getitem__), max(s.values()), s, cut)
        for s, cut in zip(scored, flags, strict=True)
    ]


def sentiment_name(label: str, n_labels: int) -> str:
    """A classifier's label as a sentiment word (``LABEL_1`` of two → positive)."""
    lowered = label.strip().lower()
    if lowered in _SENTIMENT_ALIASES:
        return _SENTIMENT_ALIASES[lowered]
    match = _LABEL_N.fullmatch(lowered)
    if match and n_labels in (2, 3):
        names = ("negative", "positive") if n_labels == 2 else ("negative", "neutral", "positive")
        return names[int(match.group(1))] if int(match.group(1)) < n_labels else lowered
    return lowered


def _sentiment_label(scores: dict[str, float], model: HFTaskModel, text: str) -> Label:
    renamed = {sentiment_name(k, len(scores)): v for k, v in scores.items()}
    best = max(renamed, key=renamed.__getitem__)
    return Label(best, renamed[best], renamed, model.overflows([text])[0])
