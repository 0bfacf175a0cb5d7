"""Turning free user text into a safe SQLite FTS5 query.

FTS5 has its own syntax (quotes, ``AND``/``OR``/``NOT``/``NEAR``, ``*``, ``^``,
column filters with ``:``), so raw user text can raise a syntax error or mean
something else. We keep only word tokens, quote each one (a quoted string is
always a plain term to FTS5) and OR them, so BM25 ranks documents by how many
query terms they contain and how rare those terms are.
"""

from __future__ import annotations

import re

_TERM = re.compile(r"\w+")
#: more terms than this only slows the query down without changing the ranking much
MAX_TERMS = 64


def fts_match(text: str) -> str | None:
    """The MATCH expression for ``text``, or None when it holds no searchable word."""
    terms = list(dict.fromkeys(term.lower() for term in _TERM.findall(text)))[:MAX_TERMS]
    return " OR ".join(f'"{term}"' for term in terms) or None
