"""Splitting long inputs for the tasks that read them in pieces (``long_text="chunk"``).

``split_to_fit`` packs sentences (then word runs, then character runs, for text
without punctuation or spaces) into consecutive pieces of at most ``room`` tokens,
counted with the model's own tokenizer; every piece is checked with one exact
count at the end. ``rank_pieces`` orders pieces by lexical overlap with a
question (IDF-weighted terms), which decides which piece an LLM is asked first.
``check_chunks`` enforces the cap on pieces per input. Extractive QA windows are
made by the model's tokenizer instead (``heron.tasks.extractive``).
Left out: semantic (embedding) ranking and overlap between LLM pieces.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Literal

from heron.errors import InputError

LongText = Literal["truncate", "chunk"]
LONG_TEXT_MODES: tuple[LongText, ...] = ("truncate", "chunk")
#: the most pieces (windows) one input may be split into before it is an error: enough
#: for the server's largest document (100,000 characters, ~90 windows of a 384-token
#: QA model), few enough to bound a request to ~128 model calls
MAX_CHUNKS = 128
#: below this many tokens per piece chunking is pointless (and would not terminate sensibly)
MIN_ROOM = 8

Count = Callable[[str], int]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "had",
    "has", "have", "how", "in", "is", "it", "its", "of", "on", "or", "that", "the", "their",
    "this", "to", "was", "were", "what", "when", "where", "which", "who", "whom", "whose",
    "why", "will", "with",
})  # fmt: skip


def check_long_text(value: str) -> LongText:
    if value not in LONG_TEXT_MODES:
        raise InputError(
            f"unknown long_text mode {value!r}",
            hint="use 'chunk' (read every piece) or 'truncate' (read only what fits)",
        )
    return value  # type: ignore[return-value]


def check_max_chunks(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"max_chunks must be a positive integer, not {value!r}")
    return value


def check_chunks(needed: int, cap: int, what: str, size: int) -> None:
    """An ``InputError`` when ``what`` needs more than ``cap`` pieces of ``size`` tokens."""
    if needed > cap:
        raise InputError(
            f"{what} needs {needed} pieces of at most {size} tokens, more than max_chunks={cap}",
            hint="raise max_chunks (--max-chunks), shorten the text, or use "
            "long_text='truncate' (--long-text truncate) to read only what fits the window",
        )


def split_to_fit(text: str, count: Count, room: int) -> list[str]:
    """Consecutive pieces of ``text`` of at most ``room`` tokens each, in order.

    A text that fits is returned unchanged as the one piece; otherwise pieces are
    whole sentences joined by a space where possible.
    """
    if room < MIN_ROOM:
        raise InputError(
            f"only {room} tokens per piece are left once the instructions and the reply fit",
            hint="lower max_new_tokens, shorten the question, or use a model with a larger window",
        )
    if not text.strip():
        return []
    if count(text) <= room:
        return [text]
    units: list[tuple[str, int]] = []
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        if sentence:
            units.extend(_units(sentence, count, room))
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for unit, cost in units:
        if current and used + cost + 1 > room:
            pieces.append(" ".join(current))
            current, used = [], 0
        current.append(unit)
        used += cost + (1 if len(current) > 1 else 0)
    if current:
        pieces.append(" ".join(current))
    return [part for piece in pieces for part in _fit(piece, count, room)]


def _units(sentence: str, count: Count, room: int) -> list[tuple[str, int]]:
    """The sentence with its token count, or runs of its words that fit."""
    tokens = count(sentence)
    if tokens <= room:
        return [(sentence, tokens)]
    return [(part, count(part)) for part in _fit(sentence, count, room)]


def _fit(piece: str, count: Count, room: int) -> list[str]:
    """``piece`` halved at a word (or, for one long word, a character) until each part fits."""
    if count(piece) <= room:
        return [piece]
    words = piece.split()
    if len(words) > 1:
        middle = len(words) // 2
        halves = [" ".join(words[:middle]), " ".join(words[middle:])]
    else:
        middle = len(piece) // 2
        halves = [piece[:middle], piece[middle:]]
    return [part for half in halves if half for part in _fit(half, count, room)]


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS}


def rank_pieces(question: str, pieces: Sequence[str]) -> list[int]:
    """Indices of ``pieces``, the ones sharing the rarest question terms first.

    Each question term found in a piece adds its IDF over the pieces; ties keep
    document order.
    """
    wanted = _terms(question)
    terms = [_terms(piece) for piece in pieces]
    n = len(pieces)
    idf = {t: math.log(1 + n / (1 + sum(t in seen for seen in terms))) for t in wanted}
    scores = [sum(idf[t] for t in wanted if t in seen) for seen in terms]
    return sorted(range(n), key=lambda i: (-scores[i], i))
