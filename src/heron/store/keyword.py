"""Turning free user text into a safe SQLite FTS5 query.

FTS5 has its own syntax (quotes, ``AND``/``OR``/``NOT``/``NEAR``, ``*``, ``^``,
column filters with ``:``), so raw user text can raise a syntax error or mean
something else. We keep only word tokens, quote each one (a quoted string is
always a plain term to FTS5) and OR them, so BM25 ranks documents by how many
query terms they contain and how rare those terms are. Common English function
words ("how", "do", "I", "a", "the") are dropped first: with OR semantics they
match nearly every document and drown the real terms (measured on the stdlib
corpus: see docs/rag.md). A query made only of such words keeps them.
"""

from __future__ import annotations

import re

_TERM = re.compile(r"\w+")
#: more terms than this only slows the query down without changing the ranking much
MAX_TERMS = 64

STOPWORDS = frozenset(
    """
    a about above after again all am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not of off on once only or other our out over own
    same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who
    whom why will with would you your
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def fts_match(text: str) -> str | None:
    """The MATCH expression for ``text``, or None when it holds no searchable word."""
    words = list(dict.fromkeys(term.lower() for term in _TERM.findall(text)))
    terms = [w for w in words if w not in STOPWORDS] or words
    terms = terms[:MAX_TERMS]
    return " OR ".join(f'"{term}"' for term in terms) or None
