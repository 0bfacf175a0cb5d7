"""Making untrusted text inert: delimiter and header look-alikes are defanged.

User text (and retrieved context) is data. If it could spell our own markers it
could close the block it sits in and smuggle in instructions, so before it goes
into a prompt every look-alike is rewritten into something a reader still
understands but a model will not take for structure:

* runs of three or more ``#`` become ``##`` (our section markers and the default
  few-shot separator), and ``<|`` becomes ``< |`` (chat-template special tokens
  such as ``<|im_end|>``) — :func:`defang_markers`, shared with ``heron.rag``;
* triple quotes (the plain delimiter) become two quotes;
* tag look-alikes (``<user_7f3a9c>``, ``</system>``) become ``[user_7f3a9c]``;
* any other separator the template uses gets a space after its first character;
* header look-alikes (``Instruction:``, ``System:``, the template's own
  ``Input:``/``Output:`` labels) lose their colon: ``Instruction -``.

Left out: homoglyph and zero-width tricks, and natural-language injections
("ignore previous instructions"), which no rewrite can catch; the random tag,
the data notice and the sandwich defense are there for those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MARKER_LOOKALIKE = re.compile(r"#(?:\s*#){2,}")
_TRIPLE_QUOTE = re.compile(r'"{3,}')
_TAG_WORDS = r"user|system|assistant|instructions?|data|input|output|context|examples?"
_TAG_LOOKALIKE = re.compile(rf"<\s*(/?)\s*((?:{_TAG_WORDS})(?:_\w*)?)\s*>", re.IGNORECASE)
#: words that, followed by a colon at the start of a line, read as a prompt section header
HEADER_WORDS = (
    "instruction",
    "instructions",
    "system",
    "assistant",
    "user",
    "human",
    "input",
    "output",
    "response",
    "answer",
    "context",
    "example",
    "examples",
)


def defang_markers(text: str) -> str:
    """Make ``###`` markers and ``<|special|>`` chat tokens inert.

    Runs of three or more ``#`` become ``##``, and ``<|`` (how chat templates spell
    special tokens such as ``<|im_end|>``) becomes ``< |``, so data can neither close
    our markers nor end the chat turn it sits in.
    """
    return _MARKER_LOOKALIKE.sub("##", text).replace("<|", "< |")


def defang_separator(text: str, separator: str) -> str:
    """Break every occurrence of ``separator`` (a space after its first character)."""
    separator = separator.strip()  # the template writes it on a line of its own
    if len(separator) < 2:  # whitespace or a single character cannot be defanged
        return text
    broken = separator[0] + " " + separator[1:]
    for _ in range(len(text)):  # each pass removes at least one occurrence
        if separator not in text:
            break
        text = text.replace(separator, broken)
    return text


def _header_patterns(labels: Iterable[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Header words after leftover ``#`` marks, and at a line start (after bullets/quotes)."""
    words = sorted({w.strip().lower() for w in (*HEADER_WORDS, *labels) if w.strip()}, key=len)
    alternation = "|".join(re.escape(w) for w in reversed(words))
    after_hashes = re.compile(rf"(?i)#+[ \t]*({alternation})[ \t]*:")
    line_start = re.compile(rf"(?im)^([ \t>*-]*)({alternation})[ \t]*:")
    return after_hashes, line_start


def _own_label_pattern(labels: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({w.strip() for w in labels if w.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternation = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?i)\b({alternation})[ \t]*:")


def neutralise(text: str, *, separator: str = "###", labels: Iterable[str] = ()) -> str:
    """Defang every delimiter, tag and header look-alike in untrusted ``text``.

    ``labels`` are the template's own field labels (``Input``, ``Output``): they
    are defanged wherever they appear, not only at a line start, because a small
    model reads ``… Output: positive`` mid-line as an answer too.
    """
    labels = tuple(labels)
    text = defang_markers(text)
    text = _TRIPLE_QUOTE.sub('""', text)
    text = _TAG_LOOKALIKE.sub(lambda m: f"[{m.group(1)}{m.group(2)}]", text)
    text = defang_separator(text, separator)
    after_hashes, line_start = _header_patterns(labels)
    text = after_hashes.sub(lambda m: f"{m.group(1)} -", text)
    text = line_start.sub(lambda m: f"{m.group(1)}{m.group(2)} -", text)
    own = _own_label_pattern(labels)
    return own.sub(lambda m: f"{m.group(1)} -", text) if own else text
