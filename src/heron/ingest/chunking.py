"""Documents to chunks: fixed token windows, sentence packing, or structure-aware packing.

``Chunker`` is the extension point (one abstract method, ``chunk``); the three built-in
chunkers are chosen by name through :data:`CHUNKERS` / :func:`make_chunker`.

Sizes are counted without a tokenizer, exactly as
:func:`heron.models.base.approx_token_count` counts: a text of ``n`` word/punctuation
pieces costs ``int(1.3 * n) + 1`` tokens, and no chunk's ``text`` costs more than
``size``. MiniLM reads at most 256 word pieces and :attr:`Chunk.embed_text` prepends
the title and heading path, so keep ``size`` well below 256 (the default is 200).

Every chunker cuts the document into character spans and keeps the text between
them verbatim; ``overlap`` repeats about that many tokens of the previous chunk:

* ``tokens``: windows of pieces, consecutive windows share ``overlap`` tokens.
* ``sentences``: whole sentences packed up to ``size``; the next chunk starts with the
  previous chunk's trailing sentences that fit in ``overlap``; a sentence longer than
  ``size`` is cut into token windows.
* ``structure``: sections between headings (``metadata["headings"]``, see
  :mod:`heron.ingest.structure`), paragraphs packed up to ``size`` with whole
  paragraphs as overlap, over-long paragraphs packed by sentence. A chunk never
  crosses a heading, and heading lines themselves are not repeated in chunk text
  (they are in ``heading_path``, which ``embed_text`` prepends).

Chunk ids are ``f"{sha256(source)[:12]}:{position}"``: stable across runs and
machines for the same source. Chunk metadata is the document's scalar metadata plus
``source``, ``position``, ``heading`` (the heading path joined by " > ") and, for
PDFs, ``page`` (1-based page on which the chunk starts). Left out: tokenizer-exact
sizes, semantic (embedding-based) splitting, language-specific sentence rules beyond
a small abbreviation list.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Literal, NamedTuple

from heron.errors import ConfigError
from heron.ingest.loaders import PAGE_OFFSETS_KEY
from heron.ingest.structure import Heading, headings_of
from heron.models.base import TOKENS_PER_PIECE, approx_token_count
from heron.models.base import WORD_PIECE as _PIECE
from heron.types import Chunk, Document

ChunkerName = Literal["tokens", "sentences", "structure"]
DEFAULT_SIZE = 200
DEFAULT_OVERLAP = 40
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s|$)")
_NEXT_VISIBLE = re.compile(r"\s*(\S)")
_WORD_BEFORE = re.compile(r"(\w+)$")
_ABBREVIATIONS = frozenset(
    {"e", "g", "i", "cf", "vs", "al", "mr", "mrs", "ms", "dr", "prof", "st", "no", "fig", "eq"}
)


def tokens_for(pieces: int) -> int:
    """Tokens that ``pieces`` word/punctuation pieces cost (as approx_token_count)."""
    return int(pieces * TOKENS_PER_PIECE) + 1


def count_tokens(text: str) -> int:
    """Approximate token count of ``text`` (the models layer's tokenizer-free estimate)."""
    return approx_token_count(text)


def pieces_within(tokens: int) -> int:
    """The most pieces whose cost stays within ``tokens``."""
    pieces = max(0, int((tokens - 1) / TOKENS_PER_PIECE))
    while tokens_for(pieces + 1) <= tokens:
        pieces += 1
    while pieces > 0 and tokens_for(pieces) > tokens:
        pieces -= 1
    return pieces


class Span(NamedTuple):
    """A slice ``[start, end)`` of a document's text."""

    start: int
    end: int


class _Unit(NamedTuple):
    """A span to pack (sentence or paragraph) and how many pieces it holds."""

    span: Span
    pieces: int


# --- spans ----------------------------------------------------------------------------


def piece_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Word/punctuation pieces of ``text[start:end]`` as spans."""
    stop = len(text) if end is None else end
    return [Span(m.start(), m.end()) for m in _PIECE.finditer(text, start, stop)]


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if start < end else None


def paragraph_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Paragraphs (separated by blank lines) of ``text[start:end]``."""
    stop = len(text) if end is None else end
    cuts = [m.start() for m in _PARAGRAPH_BREAK.finditer(text, start, stop)]
    bounds = zip([start, *cuts], [*cuts, stop], strict=True)
    return [span for a, b in bounds if (span := _trimmed(text, a, b)) is not None]


def _is_initial(word: str) -> bool:
    """A single capital letter, as in "J. Smith" (a lone lower-case letter may end one)."""
    return len(word) == 1 and word.isupper()


def _ends_sentence(text: str, match: re.Match[str], stop: int) -> bool:
    """Whether the punctuation ``match`` ends a sentence (not an abbreviation or initial)."""
    following = _NEXT_VISIBLE.match(text, match.end(), stop)
    if following is not None:
        char = following.group(1)
        if not (char.isupper() or char.isdigit() or char in "\"'([\u201c\u2018*-"):
            return False
    if match.group().startswith(".") and len(match.group()) == 1:
        word = _WORD_BEFORE.search(text, max(0, match.start() - 20), match.start())
        if word and (word.group(1).lower() in _ABBREVIATIONS or _is_initial(word.group(1))):
            return False
    return True


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentences of ``text[start:end]``; paragraph breaks always end a sentence."""
    stop = len(text) if end is None else end
    spans: list[Span] = []
    for paragraph in paragraph_spans(text, start, stop):
        cursor = paragraph.start
        for match in _SENTENCE_END.finditer(text, paragraph.start, paragraph.end):
            if _ends_sentence(text, match, paragraph.end):
                span = _trimmed(text, cursor, match.end())
                if span is not None:
                    spans.append(span)
                cursor = match.end()
        span = _trimmed(text, cursor, paragraph.end)
        if span is not None:
            spans.append(span)
    return spans


def token_windows(pieces: Sequence[Span], per_chunk: int, overlap: int) -> list[Span]:
    """Windows of ``per_chunk`` pieces, consecutive windows sharing ``overlap`` pieces."""
    if not pieces:
        return []
    step = max(1, per_chunk - overlap)
    windows: list[Span] = []
    first = 0
    while True:
        last = min(first + per_chunk, len(pieces)) - 1
        windows.append(Span(pieces[first].start, pieces[last].end))
        if last == len(pieces) - 1:
            return windows
        first += step


# --- packing --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    """Chunk size and overlap in pieces, derived from token counts."""

    pieces: int
    overlap: int

    @classmethod
    def of(cls, size: int, overlap: int) -> _Budget:
        if size < 4:
            raise ConfigError(f"chunk size must be at least 4 tokens, got {size}")
        if not 0 <= overlap < size:
            raise ConfigError(
                f"chunk overlap must be between 0 and the size ({size}) exclusive, got {overlap}",
                hint="a typical setting is size=200, overlap=40",
            )
        per_chunk = pieces_within(size)
        return cls(per_chunk, min(round(overlap / TOKENS_PER_PIECE), per_chunk - 1))


def _units(text: str, spans: Iterable[Span]) -> list[_Unit]:
    return [_Unit(s, len(_PIECE.findall(text, s.start, s.end))) for s in spans]


def _overlap_tail(units: list[_Unit], budget: int) -> list[_Unit]:
    """The trailing units of ``units`` whose pieces add up to at most ``budget``."""
    tail: list[_Unit] = []
    total = 0
    for unit in reversed(units):
        total += unit.pieces
        if total > budget:
            break
        tail.insert(0, unit)
    return tail


def pack(text: str, units: list[_Unit], budget: _Budget) -> list[Span]:
    """Greedily pack whole units up to the budget; over-long units become token windows."""
    chunks: list[Span] = []
    current: list[_Unit] = []
    fresh = False  # whether ``current`` holds a unit not yet emitted

    def emit() -> None:
        chunks.append(Span(current[0].span.start, current[-1].span.end))

    for unit in units:
        if unit.pieces > budget.pieces:
            if fresh:
                emit()
            pieces = piece_spans(text, unit.span.start, unit.span.end)
            chunks.extend(token_windows(pieces, budget.pieces, budget.overlap))
            current, fresh = [], False
            continue
        if current and sum(u.pieces for u in current) + unit.pieces > budget.pieces:
            if fresh:
                emit()
            current = _overlap_tail(current, budget.overlap)
            while current and sum(u.pieces for u in current) + unit.pieces > budget.pieces:
                current.pop(0)
        current.append(unit)
        fresh = True
    if fresh:
        emit()
    return chunks


# --- chunks ---------------------------------------------------------------------------


def source_key(source: str) -> str:
    """Short stable hash of a source, the prefix of its chunk ids."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def _paths(headings: Sequence[Heading]) -> list[tuple[int, tuple[str, ...]]]:
    """(offset, heading path in force from that offset on) for each heading."""
    stack: list[Heading] = []
    paths: list[tuple[int, tuple[str, ...]]] = []
    for heading in headings:
        stack = [h for h in stack if h.level < heading.level] + [heading]
        paths.append((heading.offset, tuple(h.title for h in stack)))
    return paths


class _PathIndex:
    """Looks up the heading path in force at a character offset."""

    def __init__(self, headings: Sequence[Heading]) -> None:
        self.paths = _paths(headings)
        self.offsets = [offset for offset, _ in self.paths]

    def at(self, offset: int) -> tuple[str, ...]:
        index = bisect.bisect_right(self.offsets, offset) - 1
        return self.paths[index][1] if index >= 0 else ()


def heading_path_at(headings: Sequence[Heading], offset: int) -> tuple[str, ...]:
    """The heading path in force at character ``offset``."""
    return _PathIndex(headings).at(offset)


def _scalar_metadata(metadata: Mapping[str, object]) -> dict[str, str | int | float | bool]:
    return {k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool)}


def _page_at(metadata: Mapping[str, object], offset: int) -> int | None:
    offsets = metadata.get(PAGE_OFFSETS_KEY)
    if not isinstance(offsets, Sequence) or not offsets:
        return None
    return bisect.bisect_right(list(offsets), offset)


def make_chunks(doc: Document, spans: Sequence[tuple[Span, tuple[str, ...]]]) -> list[Chunk]:
    """Chunks for ``doc`` from (span, heading path) pairs, in order; the shared last step."""
    base = _scalar_metadata(doc.metadata)
    prefix = source_key(doc.source)
    module = doc.metadata.get("module")
    title = doc.title or (module if isinstance(module, str) else None)
    chunks: list[Chunk] = []
    for position, (span, path) in enumerate(spans):
        metadata: dict[str, str | int | float | bool] = {
            **base,
            "source": doc.source,
            "position": position,
            "heading": " > ".join(path),
        }
        page = _page_at(doc.metadata, span.start)
        if page is not None:
            metadata["page"] = page
        text = doc.text[span.start : span.end]
        chunks.append(
            Chunk(f"{prefix}:{position}", text, doc.source, position, path, metadata, title)
        )
    return chunks


class Chunker(ABC):
    """Cuts a document into chunks. Implement :meth:`chunk`; nothing else is required."""

    #: the registry name
    name: ClassVar[str] = ""

    @abstractmethod
    def chunk(self, doc: Document) -> list[Chunk]:
        """Chunks of ``doc`` in document order; none for an empty or blank document."""

    def chunk_many(self, docs: Iterable[Document]) -> list[Chunk]:
        return [chunk for doc in docs for chunk in self.chunk(doc)]


class _SizedChunker(Chunker):
    """Shared configuration of the built-in chunkers."""

    def __init__(self, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP) -> None:
        self.size = size
        self.overlap = overlap
        self.budget = _Budget.of(size, overlap)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, overlap={self.overlap})"

    def _with_paths(self, doc: Document, spans: list[Span]) -> list[Chunk]:
        index = _PathIndex(headings_of(doc.metadata))
        return make_chunks(doc, [(s, index.at(s.start)) for s in spans])


class TokenChunker(_SizedChunker):
    """Fixed windows of word/punctuation pieces with overlap; ignores structure."""

    name = "tokens"

    def chunk(self, doc: Document) -> list[Chunk]:
        windows = token_windows(piece_spans(doc.text), self.budget.pieces, self.budget.overlap)
        return self._with_paths(doc, windows)


class SentenceChunker(_SizedChunker):
    """Whole sentences packed up to the size, trailing sentences repeated as overlap."""

    name = "sentences"

    def chunk(self, doc: Document) -> list[Chunk]:
        units = _units(doc.text, sentence_spans(doc.text))
        return self._with_paths(doc, pack(doc.text, units, self.budget))


def _sections(text: str, headings: Sequence[Heading]) -> list[tuple[Span, tuple[str, ...]]]:
    """Body spans between headings (heading lines excluded) with their heading paths."""
    headings = [h for h in headings if 0 <= h.offset <= len(text)]  # ignore stale offsets
    sections: list[tuple[Span, tuple[str, ...]]] = []
    first = headings[0].offset if headings else len(text)
    sections.append((Span(0, first), ()))
    paths = _paths(headings)
    for index, (offset, path) in enumerate(paths):
        line_end = text.find("\n", offset)
        body_start = len(text) if line_end < 0 else line_end + 1
        body_end = paths[index + 1][0] if index + 1 < len(paths) else len(text)
        sections.append((Span(min(body_start, body_end), body_end), path))
    return sections


class StructureChunker(_SizedChunker):
    """Paragraphs packed within each heading section; never crosses a heading."""

    name = "structure"

    def _units(self, text: str, section: Span) -> list[_Unit]:
        units: list[_Unit] = []
        for paragraph in _units(text, paragraph_spans(text, section.start, section.end)):
            if paragraph.pieces <= self.budget.pieces:
                units.append(paragraph)
            else:
                sentences = sentence_spans(text, paragraph.span.start, paragraph.span.end)
                units.extend(_units(text, sentences))
        return units

    def chunk(self, doc: Document) -> list[Chunk]:
        spans: list[tuple[Span, tuple[str, ...]]] = []
        for section, path in _sections(doc.text, headings_of(doc.metadata)):
            packed = pack(doc.text, self._units(doc.text, section), self.budget)
            spans.extend((span, path) for span in packed)
        return make_chunks(doc, spans)


#: The one registry of built-in chunkers, by name.
CHUNKERS: Mapping[str, type[_SizedChunker]] = MappingProxyType(
    {c.name: c for c in (TokenChunker, SentenceChunker, StructureChunker)}
)


def make_chunker(
    name: ChunkerName, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP
) -> Chunker:
    """A built-in chunker by name; ``size`` and ``overlap`` are approximate tokens."""
    cls = CHUNKERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown chunker '{name}'", hint=f"choose one of: {', '.join(CHUNKERS)}")
    return cls(size, overlap)
