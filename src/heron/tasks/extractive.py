"""Extractive QA over passages longer than the model's window: overlapping windows.

As the question-answering pipeline of transformers 4 did (its ``doc_stride``),
each passage is tokenized once with the model's tokenizer into windows of at most
the model's window, each holding the whole question and a slice of the passage;
consecutive slices share ``stride`` tokens (``DOC_STRIDE``, at most half the
slice), so an answer cut by one window's edge is whole in the next. The QA head
runs over the windows of all passages together, ``batch_size`` windows per call.

The answer is the span (at most ``MAX_ANSWER_TOKENS``) with the highest start +
end logit over all windows of its passage — the rule of BERT's SQuAD evaluation
and of transformers' ``postprocess_qa_predictions`` — scored as the product of
its start and end probabilities under one softmax over every window's passage
tokens. For a passage that fits one window that is exactly the single-window
score. Offsets come from the tokenizer's offset mapping, so ``start``/``end``
index the original passage. Left out: the "max context" rule for tokens that
sit in two windows (both count in the softmax) and no-answer (CLS) scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from heron.errors import InputError
from heron.tasks.chunking import check_chunks
from heron.tasks.hf import MAX_ANSWER_TOKENS, HFTaskModel, Span

#: tokens shared by consecutive windows (transformers' QA pipeline default)
DOC_STRIDE = 128


@dataclass(frozen=True)
class Window:
    """One model input: the question and a slice of passage ``passage``."""

    passage: int
    features: dict[str, list[int]]
    #: per token: (start, end) character offsets into the passage, or None outside it
    offsets: list[tuple[int, int] | None]

    @property
    def span(self) -> tuple[int, int]:
        """The characters of the passage this window reads."""
        inside = [o for o in self.offsets if o is not None]
        return inside[0][0], inside[-1][1]


@dataclass(frozen=True)
class _Best:
    logit: float
    start_logit: float
    end_logit: float
    start: int
    end: int


def qa_windows(
    model: HFTaskModel,
    questions: Sequence[str],
    passages: Sequence[str],
    max_chunks: int,
    stride: int | None = None,
) -> list[Window]:
    """Every window of every (question, passage) pair, in passage order."""
    tokenizer, window = model.parts.tokenizer, model.window
    special = int(tokenizer.num_special_tokens_to_add(pair=True))
    windows: list[Window] = []
    for index, (question, passage) in enumerate(zip(questions, passages, strict=True)):
        asked = len(tokenizer(question, add_special_tokens=False, verbose=False)["input_ids"])
        room = window - asked - special
        if room < MAX_ANSWER_TOKENS // 2:
            raise InputError(
                f"question {index} takes {asked} tokens of {model.spec}'s window of {window}, "
                f"leaving {max(room, 0)} for the passage",
                hint="shorten the question",
            )
        overlap = min(stride if stride is not None else DOC_STRIDE, room // 2)
        encoded = tokenizer(
            question, passage, truncation="only_second", max_length=window, stride=overlap,
            return_overflowing_tokens=True, return_offsets_mapping=True, verbose=False,
        )  # fmt: skip
        count = len(encoded["input_ids"])
        check_chunks(count, max_chunks, f"passage {index}", room)
        keys = [k for k in encoded if k not in ("offset_mapping", "overflow_to_sample_mapping")]
        for j in range(count):
            ids = encoded.sequence_ids(j)
            offsets = [
                (int(a), int(b)) if seq == 1 else None
                for seq, (a, b) in zip(ids, encoded["offset_mapping"][j], strict=True)
            ]
            windows.append(Window(index, {k: list(encoded[k][j]) for k in keys}, offsets))
    return windows


def answer_in_windows(
    model: HFTaskModel,
    questions: Sequence[str],
    passages: Sequence[str],
    batch_size: int,
    max_chunks: int,
    stride: int | None = None,
) -> list[Span]:
    """The best span of each passage over all its windows (``Span.chunks`` = windows read)."""
    windows = qa_windows(model, questions, passages, max_chunks, stride)
    per_window: list[tuple[_Best | None, float, float]] = []
    for start in range(0, len(windows), batch_size):
        per_window.extend(_run(model, windows[start : start + batch_size]))
    spans = []
    for index, passage in enumerate(passages):
        mine = [r for w, r in zip(windows, per_window, strict=True) if w.passage == index]
        spans.append(_pick(passage, mine))
    return spans


def _pick(passage: str, results: Sequence[tuple[_Best | None, float, float]]) -> Span:
    found = [best for best, _, _ in results if best is not None]
    if not found:  # no window had a passage token (cannot happen for a non-empty passage)
        return Span("", 0.0, 0, 0, False, len(results))
    best = max(found, key=lambda b: b.logit)
    start_norm = _logsumexp([s for _, s, _ in results])
    end_norm = _logsumexp([e for _, _, e in results])
    score = math.exp(best.start_logit - start_norm + best.end_logit - end_norm)
    return Span(passage[best.start : best.end], score, best.start, best.end, False, len(results))


def _logsumexp(values: Sequence[float]) -> float:
    finite = [v for v in values if v != -math.inf]
    if not finite:
        return -math.inf
    top = max(finite)
    return top + math.log(sum(math.exp(v - top) for v in finite))


def _run(model: HFTaskModel, batch: Sequence[Window]) -> list[tuple[_Best | None, float, float]]:
    """Per window: its best span, and the log-normalisers of its start and end logits."""
    import torch

    tokenizer = model.parts.tokenizer
    padded = tokenizer.pad(
        {k: [w.features[k] for w in batch] for k in batch[0].features}, return_tensors="pt"
    )
    with model.running(), torch.no_grad():
        out = model.parts.model(**dict(padded))
    length = int(padded["input_ids"].shape[1])
    band = torch.ones(length, length, dtype=torch.bool).triu()
    band &= ~torch.ones(length, length, dtype=torch.bool).triu(diagonal=MAX_ANSWER_TOKENS)
    results = []
    for i, window in enumerate(batch):
        offsets = window.offsets + [None] * (length - len(window.offsets))
        inside = torch.tensor([o is not None for o in offsets])
        starts = out.start_logits[i].float().masked_fill(~inside, -math.inf)
        ends = out.end_logits[i].float().masked_fill(~inside, -math.inf)
        pair = (starts[:, None] + ends[None, :]).masked_fill(~band, -math.inf)
        results.append((_best(pair, starts, ends, offsets), _lse(starts), _lse(ends)))
    return results


def _lse(logits: Any) -> float:
    import torch

    return float(torch.logsumexp(logits, dim=0))


def _best(
    pair: Any, starts: Any, ends: Any, offsets: Sequence[tuple[int, int] | None]
) -> _Best | None:
    import torch

    flat = int(torch.argmax(pair))
    s, e = divmod(flat, pair.shape[1])
    first, last = offsets[s], offsets[e]
    if first is None or last is None:
        return None
    return _Best(float(pair[s, e]), float(starts[s]), float(ends[e]), first[0], last[1])
