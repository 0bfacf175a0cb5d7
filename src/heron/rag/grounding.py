"""Keep answers tied to the passages they cite.

Small local models often ignore the context and answer fluently and wrongly
(given the page of ``shlex.split``, SmolLM2-135M recommended ``str.split``). Two
defences live here:

* ``supporting_sentence`` picks the sentence of a passage closest to the question,
  so an answer can *lead* with what the evidence says, whatever the model adds.
* ``ungrounded_terms`` lists code identifiers the model named that appear in none
  of the passages; an answer that names such a thing is not shown as fact.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence

import numpy as np

from heron.models.base import Embedder

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`'\"])|\n{2,}")
_IDENTIFIER = re.compile(
    r"\b[A-Za-z_][A-Za-z0-9_]+(?:\.[A-Za-z_][A-Za-z0-9_]*)+\b"  # dotted: os.path.join
    r"|(?<![\w.])[A-Za-z_]\w*(?=\()"  # called: split( (not methods of local objects)
    r"|(?<=`)[A-Za-z_][\w.]*(?=`)"  # quoted as code: `faulthandler`
)
_DEFINED = re.compile(r"\b(?:def|class)\s+([A-Za-z_]\w*)|\b([A-Za-z_]\w*)\s*=[^=]")
_BUILTIN_NAMES = frozenset(dir(builtins))
_SIGNATURE = re.compile(r"^[A-Za-z_][\w.]*\([^)]*\)\s+(?=[A-Z])")
_WHOLE_SIGNATURE = re.compile(r"^[A-Za-z_][\w.]*\(.*\)\s*(->.*)?$")
_MIN_SENTENCE_CHARS = 12
_MIN_PROSE_RATIO = 0.8
TITLE_BONUS = 0.15


def split_sentences(text: str) -> list[str]:
    """Sentences (or paragraph fragments) of at least a few characters."""
    parts = (p.strip() for p in _SENTENCE_END.split(text))
    return [" ".join(p.split()) for p in parts if len(p.strip()) >= _MIN_SENTENCE_CHARS]


def _candidates(passage: str) -> list[str]:
    """Prose sentences of a passage, signatures stripped (first sentence as fallback)."""
    found = [_SIGNATURE.sub("", s) for s in split_sentences(passage)[:40]]
    return [s for s in found if _is_prose(s)] or found[:1] or [" ".join(passage.split())[:300]]


def _title_bonus(question: str, titles: Sequence[str] | None, count: int) -> np.ndarray:
    """TITLE_BONUS for passages whose title's last part is a word of the question.

    A question that names the operation ("split a shell command line") should be
    answered from ``shlex.split`` rather than ``shlex.join``, even when the
    embedder finds join's sentence a little closer.
    """
    words = set(re.findall(r"\w+", question.lower()))
    names = [(t or "").rsplit(".", 1)[-1].lower() for t in (titles or [""] * count)]
    return np.array([TITLE_BONUS if name in words else 0.0 for name in names], dtype=np.float32)


def supporting_sentence(
    question: str,
    passages: Sequence[str],
    embedder: Embedder | None,
    titles: Sequence[str] | None = None,
) -> tuple[int, str]:
    """The sentence, among ``passages``, most similar to ``question``, and its passage index.

    Looking beyond the first passage matters: for "split a shell command line" the
    best-ranked passage can be ``shlex.join`` while the sentence that answers is in
    ``shlex.split``. With no embedder, the sentence sharing most words wins.
    """
    pairs = [(i, s) for i, passage in enumerate(passages) for s in _candidates(passage)]
    bonus = _title_bonus(question, titles, len(passages))[[i for i, _ in pairs]]
    if embedder is None:
        words = set(question.lower().split())
        overlap = np.array(
            [len(words & set(s.lower().split())) for _, s in pairs], dtype=np.float32
        )
        return pairs[int(np.argmax(overlap + bonus * 10))]
    vectors = embedder.embed_batch([question, *(s for _, s in pairs)])
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    scores = vectors[1:] @ vectors[0] + bonus
    return pairs[int(np.argmax(scores))]


def _is_prose(sentence: str) -> bool:
    """A sentence of words rather than a signature such as ``split(s, comments=False)``."""
    if _WHOLE_SIGNATURE.match(sentence):
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in sentence)
    return len(sentence.split()) >= 4 and letters / len(sentence) >= _MIN_PROSE_RATIO


def identifiers(text: str) -> set[str]:
    """Names of code an answer refers to.

    Dotted names (``os.path.join``), called names (``split(``) and names quoted as
    code (`` `shlex` ``) count; built-ins (``print(``) and names the answer defines
    itself (``def my_function``, ``args = …``) do not.
    """
    defined = {a or b for a, b in _DEFINED.findall(text)}
    found = {m.group(0).rstrip(".") for m in _IDENTIFIER.finditer(text)}
    return {
        n
        for n in found
        if n
        and n not in _BUILTIN_NAMES
        and n.split(".", 1)[0] not in defined
        and not n.rsplit(".", 1)[-1].startswith("__")
    }


def ungrounded_terms(answer: str, passages: Sequence[str]) -> list[str]:
    """Identifiers in ``answer`` that no passage mentions (by full name or last part)."""
    evidence = "\n".join(passages)
    missing = []
    for name in sorted(identifiers(answer)):
        last = name.rsplit(".", 1)[-1]
        if name in evidence:
            continue
        if (
            "." in name
            and re.search(rf"\b{re.escape(last)}\b", evidence)
            and not _is_method_of_other(name, evidence)
        ):
            continue
        missing.append(name)
    return missing


def _is_method_of_other(name: str, evidence: str) -> bool:
    """True when ``name`` is ``owner.attr`` and ``owner`` never appears in the evidence.

    ``str.split`` is not grounded by a passage about ``shlex.split`` just because
    ``split`` appears: the owner ``str`` must appear too.
    """
    owner = name.rsplit(".", 1)[0].rsplit(".", 1)[-1]
    return re.search(rf"\b{re.escape(owner)}\b", evidence) is None
