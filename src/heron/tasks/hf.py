"""``hf:`` task backends: transformers models run for a task, batched.

Batches are formed from texts of similar length (restored to input order after),
which cuts padding. The model's config decides what it can do (``config.architectures``):

==================  ==========================================================
kind                tasks
==================  ==========================================================
``seqcls``          classify, sentiment (text-classification pipeline)
``nli``             zero_shot (zero-shot-classification pipeline), classify
``qa``              answer (extractive span, start/end logits)
``seq2seq``         summarize, translate, generate, and every prompt task
``causal``          generate and every prompt task (through ``HFEngine``)
==================  ==========================================================

transformers 5 dropped the summarization, translation and question-answering
pipelines, so those run ``model.generate`` / the QA head directly; the two
classification tasks use ``transformers.pipeline`` with ``batch_size``. Texts
longer than the model's window are truncated by the tokenizer and flagged
(extractive QA over overlapping windows and map-reduce summaries live in
``heron.tasks.extractive`` and ``heron.tasks.longtext``).
torch and transformers are imported only when a model loads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from heron.errors import ModelError
from heron.models._runtime import (
    Lazy,
    ModelSource,
    hf_load_errors,
    one_line,
    plain_prompt,
    require,
    resolve_source,
    torch_threads,
)
from heron.models.transformers_llm import cut_at_stop, seeded
from heron.models.usage import LLMCall, UsageMeter
from heron.tasks.engines import Engine
from heron.tasks.options import TaskOptions, hf_generate_kwargs
from heron.types import Completion, Message

T = TypeVar("T")

#: window assumed when neither tokenizer nor config names one
DEFAULT_WINDOW = 512
#: the longest answer span an extractive QA model may return, in tokens
MAX_ANSWER_TOKENS = 30

_CLASSES = {
    "seqcls": "AutoModelForSequenceClassification",
    "nli": "AutoModelForSequenceClassification",
    "qa": "AutoModelForQuestionAnswering",
    "seq2seq": "AutoModelForSeq2SeqLM",
    "causal": "AutoModelForCausalLM",
}

KIND_NAMES = {
    "seqcls": "a text-classification model",
    "nli": "an NLI (entailment) classification model",
    "qa": "an extractive question-answering model",
    "seq2seq": "a sequence-to-sequence model",
    "causal": "a causal language model",
    "other": "a model without a task head",
}


def model_kind(config: Any) -> str:
    """What a transformers config's architecture can do (a key of ``KIND_NAMES``)."""
    architectures = list(getattr(config, "architectures", None) or [])
    for arch in architectures:
        if arch.endswith("ForSequenceClassification"):
            labels = [str(v).lower() for v in (getattr(config, "id2label", None) or {}).values()]
            return "nli" if any(v.startswith("entail") for v in labels) else "seqcls"
        if arch.endswith("ForQuestionAnswering"):
            return "qa"
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "causal"
    return "other"


@dataclass(frozen=True)
class _Parts:
    model: Any
    tokenizer: Any


@dataclass(frozen=True)
class Generated:
    text: str
    finish_reason: str
    truncated: bool


@dataclass(frozen=True)
class Span:
    text: str
    score: float
    start: int
    end: int
    truncated: bool
    #: windows read (``heron.tasks.extractive``); 1 when the passage was truncated
    chunks: int = 1


class HFTaskModel:
    """One transformers model loaded for tasks (config read now, weights on first use)."""

    def __init__(self, target: str, threads: int | None = None) -> None:
        self.spec = f"hf:{target}"
        self.source: ModelSource = resolve_source(target, "hf", "Hugging Face model")
        self.threads = threads
        transformers = require("transformers", "transformers", "models")
        with hf_load_errors(self.source):
            self.config = transformers.AutoConfig.from_pretrained(
                self.source.name, local_files_only=self.source.local_files_only
            )
        self.kind = model_kind(self.config)
        self._parts: Lazy[_Parts] = Lazy(self._load)
        self._pipelines: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _load(self) -> _Parts:
        transformers = require("transformers", "transformers", "models")
        auto = getattr(transformers, _CLASSES.get(self.kind, "AutoModel"))
        local_only = self.source.local_files_only
        with hf_load_errors(self.source):
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                self.source.name, local_files_only=local_only
            )
            model = auto.from_pretrained(
                self.source.name, config=self.config, local_files_only=local_only
            )
        model.eval()
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
            tokenizer.pad_token = tokenizer.eos_token
        return _Parts(model, tokenizer)

    @property
    def parts(self) -> _Parts:
        return self._parts.get()

    @property
    def model_type(self) -> str:
        return str(getattr(self.config, "model_type", "") or "")

    @property
    def window(self) -> int:
        """Input tokens the model accepts (the tokenizer's limit, else the config's)."""
        limit = getattr(self.parts.tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < 1_000_000:
            return limit
        for name in ("max_position_embeddings", "n_positions"):
            value = getattr(self.config, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return DEFAULT_WINDOW

    def vocab_has(self, token: str) -> bool:
        return token in self.parts.tokenizer.get_vocab()

    def token_id(self, token: str) -> int:
        return int(self.parts.tokenizer.convert_tokens_to_ids(token))

    def overflows(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> list[bool]:
        """Whether each text (with its pair) is longer than the window."""
        tokenizer = self.parts.tokenizer
        encoded = tokenizer(
            list(texts), list(pairs) if pairs else None, truncation=False, verbose=False
        )
        return [len(ids) > self.window for ids in encoded["input_ids"]]

    @contextmanager
    def running(self) -> Iterator[None]:
        """Around a forward pass: one at a time, the thread limit, errors as ModelError."""
        try:
            with self._lock, torch_threads(self.threads):
                yield
        except (RuntimeError, ValueError, IndexError, TypeError) as exc:
            raise ModelError(f"{self.spec} failed: {one_line(exc)}") from exc

    # -- pipelines -------------------------------------------------------------
    def _pipeline(self, task: str) -> Any:
        """A transformers pipeline over the loaded model, built once per task."""
        if task not in self._pipelines:
            transformers = require("transformers", "transformers", "models")
            parts = self.parts
            self._pipelines[task] = transformers.pipeline(
                task, model=parts.model, tokenizer=parts.tokenizer, device="cpu"
            )
        return self._pipelines[task]

    def classify(self, texts: Sequence[str], batch_size: int) -> list[dict[str, float]]:
        """Every label's score for each text (softmax, or sigmoid for multi-label heads)."""
        pipe = self._pipeline("text-classification")
        order = by_length(texts)  # similar lengths per batch: less padding
        with self.running():
            outputs = pipe(
                [texts[i] for i in order],
                top_k=None,
                truncation=True,
                batch_size=batch_size,
                max_length=self.window,
            )
        scored = [{str(o["label"]): float(o["score"]) for o in out} for out in outputs]
        return restore_order(order, scored)

    def zero_shot(
        self, texts: Sequence[str], labels: Sequence[str], template: str, batch_size: int
    ) -> list[dict[str, float]]:
        pipe = self._pipeline("zero-shot-classification")
        with self.running():
            outputs = pipe(
                list(texts),
                candidate_labels=list(labels),
                hypothesis_template=template,
                batch_size=batch_size,
            )
        if isinstance(outputs, dict):
            outputs = [outputs]
        return [dict(zip(o["labels"], map(float, o["scores"]), strict=True)) for o in outputs]

    # -- extractive QA ---------------------------------------------------------
    def answer(
        self, questions: Sequence[str], contexts: Sequence[str], batch_size: int
    ) -> list[Span]:
        flags = self.overflows(questions, contexts)
        order = by_length(contexts)
        spans: list[Span] = []
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            spans.extend(
                self._answer_batch(
                    [questions[i] for i in picked],
                    [contexts[i] for i in picked],
                    [flags[i] for i in picked],
                )
            )
        return restore_order(order, spans)

    def _answer_batch(
        self, questions: Sequence[str], contexts: Sequence[str], flags: Sequence[bool]
    ) -> list[Span]:
        import torch

        tokenizer, model = self.parts.tokenizer, self.parts.model
        encoded = tokenizer(
            list(questions), list(contexts), truncation="only_second", max_length=self.window,
            padding=True, return_offsets_mapping=True, return_tensors="pt",
        )  # fmt: skip
        offsets = encoded.pop("offset_mapping")
        inputs = dict(encoded)
        with self.running(), torch.no_grad():
            out = model(**inputs)
        spans = []
        for i, context in enumerate(contexts):
            in_context = torch.tensor([s == 1 for s in encoded.sequence_ids(i)])
            start_p = _masked_softmax(out.start_logits[i], in_context)
            end_p = _masked_softmax(out.end_logits[i], in_context)
            pair = torch.triu(torch.outer(start_p, end_p))
            pair = pair - torch.triu(pair, diagonal=MAX_ANSWER_TOKENS)
            best = int(torch.argmax(pair))
            s, e = divmod(best, pair.shape[1])
            lo, hi = int(offsets[i][s][0]), int(offsets[i][e][1])
            spans.append(Span(context[lo:hi], float(pair[s, e]), lo, hi, flags[i]))
        return spans

    # -- generation ------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[str],
        options: TaskOptions,
        default_max: int,
        batch_size: int,
        extra: dict[str, Any] | None = None,
        meter: UsageMeter | None = None,
    ) -> list[Generated]:
        """Generate for each prompt, ``batch_size`` prompts per ``model.generate`` call;
        with a ``meter``, each prompt's exact token counts are reported into it."""
        flags = self.overflows(prompts)
        order = by_length(prompts)
        done: list[Generated] = []
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            done.extend(
                self._generate_batch(
                    [prompts[i] for i in picked],
                    [flags[i] for i in picked],
                    options,
                    default_max,
                    extra or {},
                    meter,
                )
            )
        return restore_order(order, done)

    def _generate_batch(
        self,
        prompts: list[str],
        flags: Sequence[bool],
        options: TaskOptions,
        default_max: int,
        extra: dict[str, Any],
        meter: UsageMeter | None,
    ) -> list[Generated]:
        import torch

        tokenizer, model = self.parts.tokenizer, self.parts.model
        causal = self.kind == "causal"
        tokenizer.padding_side = "left" if causal else "right"
        kwargs = hf_generate_kwargs(options, default_max)
        if causal:
            kwargs["max_new_tokens"] = self._room(kwargs["max_new_tokens"])
        kwargs.update(extra)
        if options.stop:
            kwargs.update(stop_strings=list(options.stop), tokenizer=tokenizer)
        if tokenizer.pad_token_id is not None:
            kwargs.setdefault("pad_token_id", tokenizer.pad_token_id)
        window = self.window - (kwargs["max_new_tokens"] if causal else 0)
        inputs = tokenizer(
            prompts, return_tensors="pt", padding=True, truncation=True, max_length=window
        )
        with self.running(), torch.no_grad(), seeded(options.seed, options.do_sample):
            output = model.generate(**inputs, **kwargs)
        new = output[:, inputs["input_ids"].shape[1] :] if causal else output
        results = []
        read = inputs["attention_mask"].sum(dim=1).tolist()
        for prompt, row, truncated, used in zip(prompts, new, flags, read, strict=True):
            ids = [int(t) for t in row if int(t) != tokenizer.pad_token_id]
            raw = tokenizer.decode(ids, skip_special_tokens=True)
            text, stopped = cut_at_stop(raw, options.stop)
            eos = tokenizer.eos_token_id
            ended = stopped or (eos is not None and eos in ids)
            finish = "stop" if ended or len(ids) < kwargs["max_new_tokens"] else "length"
            results.append(Generated(text.strip(), finish, truncated))
            if meter is not None:
                meter.add(LLMCall(prompt, int(used), len(ids), finish, self.spec))
        return results

    def _room(self, wanted: int) -> int:
        """A causal model shares its window between prompt and reply: keep half for the prompt."""
        return max(1, min(wanted, self.window // 2))


def by_length(texts: Sequence[str]) -> list[int]:
    """Indices of ``texts`` from shortest to longest (in characters)."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]))


def restore_order(order: Sequence[int], results: Sequence[T]) -> list[T]:
    """Results computed for ``order`` put back in input order."""
    out: list[T | None] = [None] * len(order)
    for position, index in enumerate(order):
        out[index] = results[position]
    return [r for r in out if r is not None]


def _masked_softmax(logits: Any, mask: Any) -> Any:
    import torch

    masked = logits.masked_fill(~mask, float("-inf"))
    return torch.softmax(masked, dim=-1)


class HFEngine(Engine):
    """A causal or seq2seq transformers model as a prompt engine (batched, beam search)."""

    def __init__(
        self, model: HFTaskModel, batch_size: int = 8, meter: UsageMeter | None = None
    ) -> None:
        self.model = model
        self.name = model.spec
        self.batch_size = batch_size
        self.shares_window = model.kind == "causal"
        #: where each generation's prompt and token counts go (a chain step's trace)
        self.meter = meter

    @property
    def window(self) -> int:
        return self.model.window

    def count_tokens(self, text: str) -> int:
        tokenizer = self.model.parts.tokenizer
        return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text: the chat template when the tokenizer has one, else plain."""
        tokenizer = self.model.parts.tokenizer
        if getattr(tokenizer, "chat_template", None):
            text: str = tokenizer.apply_chat_template(
                [{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=True,
                tokenize=False,
            )
            return text
        return plain_prompt(messages)

    def complete(
        self, prompts: Sequence[Sequence[Message]], options: TaskOptions, default_max: int
    ) -> list[Completion]:
        texts = [self.render(p) for p in prompts]
        out = self.model.generate(texts, options, default_max, self.batch_size, meter=self.meter)
        return [Completion(g.text, g.finish_reason) for g in out]
