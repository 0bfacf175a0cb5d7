"""Inputs longer than the window, read in pieces (``long_text="chunk"``).

- **Summaries, map-reduce** (every backend that writes text): the text is split
  into pieces that fit (``heron.tasks.chunking.split_to_fit``), each piece is
  summarized (all pieces of all texts in one backend call, batched on hf:), the summaries are
  joined and, if they fit, summarized once more; if they do not, they are split
  and summarized again, level by level (at most ``MAX_LEVELS``).
- **Answers on LLMs, map-rerank**: the passage is split into pieces; the pieces
  are asked in order of lexical overlap with the question (``rank_pieces``),
  each with a prompt that allows ``NONE`` ("not in this part"), which llama.cpp
  backends enforce with a grammar (one line: ``NONE`` or the answer). The first
  answer found verbatim in its piece wins, so a question whose answer sits in the
  best-ranked piece costs one call; otherwise the first answer that is not
  ``NONE``; if every piece says ``NONE``, ``NOT_FOUND``.

Extractive ``hf:`` QA models use overlapping token windows instead
(``heron.tasks.extractive``). Left out: refine-style summaries (see
``heron.chains.longdoc``) and merging answers from several pieces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from heron.errors import InputError
from heron.tasks.chunking import Count, check_chunks, rank_pieces, split_to_fit
from heron.tasks.engines import TEMPLATE_OVERHEAD, Engine
from heron.tasks.options import TaskOptions
from heron.tasks.prompting import NOT_IN_PIECE, piece_answer_prompt
from heron.tasks.results import Summary, TaskAnswer

#: summary levels (map, then reduces) before giving up on a text
MAX_LEVELS = 6
#: the answer when no piece of the passage holds one
NOT_FOUND = "I don't know."
#: one line: NONE or the answer (GBNF, for engines that constrain decoding)
PIECE_ANSWER_GRAMMAR = 'root ::= "' + NOT_IN_PIECE + '" | [^\\n]+'
_WORDS = re.compile(r"\w+")
_MARKER = re.compile(rf"\b{NOT_IN_PIECE}\b")
_NOT_FOUND = re.compile(r"^(none|i don't know|i do not know|unknown|not found|n/a)(?!\w)")


def _name(index: int, total: int, what: str) -> str:
    return f"the {what}" if total == 1 else f"{what} {index}"


def map_reduce(
    texts: Sequence[str],
    summarize_batch: Callable[[list[str]], list[str]],
    count: Count,
    room: int,
    max_chunks: int,
) -> list[Summary]:
    """A summary of each text, read in pieces of at most ``room`` tokens."""
    active: dict[int, list[str]] = {}
    for i, text in enumerate(texts):
        pieces = split_to_fit(text, count, room)
        check_chunks(len(pieces), max_chunks, _name(i, len(texts), "text"), room)
        active[i] = pieces
    chunks = {i: len(p) for i, p in active.items()}
    done: dict[int, str] = {}
    for _ in range(MAX_LEVELS + 1):
        if not active:
            break
        outputs = iter(summarize_batch([p for pieces in active.values() for p in pieces]))
        following: dict[int, list[str]] = {}
        for i, pieces in active.items():
            parts = [next(outputs) for _ in pieces]
            if len(pieces) == 1:
                done[i] = parts[0]
                continue
            again = split_to_fit(" ".join(p for p in parts if p.strip()), count, room)
            if len(again) > 1 and len(again) >= len(pieces):
                raise InputError(
                    f"the summaries of {len(pieces)} pieces of {_name(i, len(texts), 'text')} "
                    "do not get shorter when summarized again",
                    hint="lower max_length (max_new_tokens) so each summary is shorter",
                )
            if again:
                following[i] = again
            else:
                done[i] = ""  # every piece's summary came back empty
        active = following
    if active:
        raise InputError(
            f"the summaries did not fit one window after {MAX_LEVELS} levels",
            hint="lower max_length, or raise the model's window",
        )
    return [Summary(done[i], False, chunks[i]) for i in range(len(texts))]


def answer_pieces(
    engine: Engine, passage: str, question: str, reply_tokens: int, max_chunks: int, what: str
) -> list[str]:
    """The pieces ``rerank_answer`` asks about (an ``InputError`` past ``max_chunks``)."""
    room = piece_room(engine, question, reply_tokens)
    pieces = split_to_fit(passage, engine.count_tokens, room)
    check_chunks(len(pieces), max_chunks, what, room)
    return pieces


def rerank_answer(
    engine: Engine,
    pieces: Sequence[str],
    question: str,
    options: TaskOptions,
    default_max: int,
) -> TaskAnswer:
    """Ask the pieces in order of relevance until one holds the answer."""
    fallback = ""
    for index in rank_pieces(question, pieces):
        reply = _ask(engine, pieces[index], question, options, default_max)
        if found_nothing(reply):
            continue
        if grounded(reply, pieces[index]):
            return TaskAnswer(reply, None, None, None, False, len(pieces))
        fallback = fallback or reply
    return TaskAnswer(fallback or NOT_FOUND, None, None, None, False, len(pieces))


def piece_room(engine: Engine, question: str, reply_tokens: int) -> int:
    """Tokens of passage per piece, so that the prompt and the reply fit the window."""
    reserve = reply_tokens if engine.shares_window else 0
    instructions = engine.count_tokens(piece_answer_prompt(".", question).text)
    return engine.window - reserve - TEMPLATE_OVERHEAD - instructions


def _ask(engine: Engine, piece: str, question: str, options: TaskOptions, default_max: int) -> str:
    prompt = piece_answer_prompt(piece, question)
    opts = options.with_stop(prompt.stop)
    if engine.can_constrain:
        reply = engine.complete_grammar(prompt.messages, PIECE_ANSWER_GRAMMAR, opts, default_max)
    else:
        reply = engine.complete([prompt.messages], opts, default_max)[0]
    lines = [line.strip() for line in reply.text.strip().splitlines()]
    return lines[0] if lines else ""


def found_nothing(reply: str) -> bool:
    """Whether a piece's reply says the piece does not hold the answer."""
    text = reply.strip().strip(" .!\"'`*").casefold()
    # "The answer is: NONE": the marker in capitals anywhere counts too
    return not text or _NOT_FOUND.match(text) is not None or _MARKER.search(reply) is not None


def grounded(reply: str, piece: str) -> bool:
    """Whether the reply's words occur, in order and together, in the piece."""
    words = _WORDS.findall(reply.casefold())
    if not words:
        return False
    return f" {' '.join(words)} " in f" {' '.join(_WORDS.findall(piece.casefold()))} "
