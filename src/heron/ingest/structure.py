"""Markup to plain text with heading structure: Markdown, reStructuredText, HTML.

Every parser returns :class:`Structured`: plain text in which each heading is a line
of its own holding just its title, plus ``headings``, a tuple of
:class:`Heading` ``(offset, level, title)`` where ``offset`` is the character offset
of that title line. Loaders store the tuple in ``Document.metadata["headings"]``
and the structure-aware chunker reads it back with :func:`headings_of`, so heading
structure survives loading without leaving markup in the text a reader sees.

Scope is deliberately small. Markdown: ATX (``#``) and setext (``===``/``---``)
headings, fenced code kept verbatim, YAML front matter dropped (its ``title:``
kept); inline markup stays as written. reStructuredText: section titles (underline,
or over- and underline), levels in order of first appearance as docutils does;
directives and roles stay as written. HTML: visible text and ``h1``–``h6``;
``script``/``style``/``nav``/``noscript``/``template``/``svg`` dropped, block
elements become paragraph breaks, ``pre`` keeps its whitespace. Left out: tables
as tables, link targets, CSS-hidden elements, Markdown inside HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import NamedTuple

#: Key under which loaders store the heading tuple in ``Document.metadata``.
HEADINGS_KEY = "headings"


class Heading(NamedTuple):
    """A heading: offset of its title line in the text, level (1 = top), title."""

    offset: int
    level: int
    title: str


@dataclass(frozen=True)
class Structured:
    """Plain text and the headings found in it, in order of offset."""

    text: str
    headings: tuple[Heading, ...] = ()
    title: str | None = None


class _Builder:
    """Assembles paragraphs and headings into text, recording heading offsets."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._headings: list[Heading] = []

    def _append(self, block: str) -> int:
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        offset = self._length
        self._parts.append(block)
        self._length += len(block)
        return offset

    def heading(self, level: int, title: str) -> None:
        title = " ".join(title.split())
        if title:
            self._headings.append(Heading(self._append(title), level, title))

    def text(self, body: str) -> None:
        body = body.strip("\n")
        if body.strip():
            self._append(body.rstrip())

    def build(self, title: str | None = None) -> Structured:
        if title is None:
            title = next((h.title for h in self._headings if h.level == 1), None)
        return Structured("".join(self._parts), tuple(self._headings), title)


def headings_of(metadata: Mapping[str, object]) -> tuple[Heading, ...]:
    """Headings stored in document metadata, sorted by offset; () if absent or malformed.

    Accepts lists as well as tuples so that documents read back from JSON work.
    """
    raw = metadata.get(HEADINGS_KEY)
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return ()
    found: list[Heading] = []
    for item in raw:
        if isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 3:
            offset, level, title = item
            if isinstance(offset, int) and isinstance(level, int) and isinstance(title, str):
                found.append(Heading(offset, level, title))
    return tuple(sorted(found))


# --- Markdown -------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_TITLE = re.compile(r"^title:\s*[\"']?(.*?)[\"']?\s*$", re.M)


def _front_matter(lines: list[str]) -> tuple[list[str], str | None]:
    """Drop YAML front matter (``---`` … ``---`` at the very top); return its title."""
    if not lines or lines[0].strip() != "---":
        return lines, None
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            match = _FRONT_TITLE.search("\n".join(lines[1:index]))
            return lines[index + 1 :], (match.group(1) or None) if match else None
    return lines, None


class _MarkdownReader:
    """Line-by-line Markdown heading recogniser (a small state machine)."""

    def __init__(self) -> None:
        self.builder = _Builder()
        self.paragraph: list[str] = []
        self.fence: str | None = None

    def flush(self) -> None:
        self.builder.text("\n".join(self.paragraph))
        self.paragraph = []

    def feed(self, line: str) -> None:
        fence = _FENCE.match(line)
        if self.fence is not None:
            if fence and fence.group(1).startswith(self.fence):
                self.fence = None
            self.paragraph.append(line)
        elif fence:
            self.fence = fence.group(1)
            self.paragraph.append(line)
        elif atx := _ATX.match(line):
            self.flush()
            self.builder.heading(len(atx.group(1)), atx.group(2) or "")
        elif _SETEXT.match(line) and self.paragraph and self.paragraph[-1].strip():
            title = self.paragraph.pop()
            self.flush()
            self.builder.heading(1 if line.strip().startswith("=") else 2, title)
        else:
            self.paragraph.append(line)


def parse_markdown(text: str) -> Structured:
    """Markdown to text with headings; heading lines become their bare titles."""
    lines, front_title = _front_matter(text.split("\n"))
    reader = _MarkdownReader()
    for line in lines:
        reader.feed(line)
    reader.flush()
    return reader.builder.build(front_title)


# --- reStructuredText -----------------------------------------------------------------

_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1*[ \t]*$")


def _adornment(line: str) -> str | None:
    """The adornment character if ``line`` is a section adornment line, else None."""
    match = _ADORNMENT.match(line)
    return match.group(1) if match and len(line.strip()) >= 2 else None


def _rst_title(lines: list[str], i: int) -> tuple[str, tuple[str, bool], int] | None:
    """A section title starting at line ``i``: (title, style, lines consumed), or None."""
    line = lines[i]
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    over = _adornment(line)
    if over and i + 2 < len(lines) and nxt.strip() and _adornment(lines[i + 2]) == over:
        title = nxt.strip()
        if len(line.strip()) >= len(title):
            return title, (over, True), 3
    under = _adornment(nxt)
    starts_block = i == 0 or not lines[i - 1].strip()
    if (
        under
        and starts_block
        and line.strip()
        and not line[0].isspace()
        and not _adornment(line)
        and len(nxt.strip()) >= len(line.strip())
    ):
        return line.strip(), (under, False), 2
    return None


def parse_rst(text: str) -> Structured:
    """reStructuredText to text with headings; adornment lines are removed."""
    lines = text.split("\n")
    builder = _Builder()
    styles: list[tuple[str, bool]] = []
    paragraph: list[str] = []
    i = 0
    while i < len(lines):
        found = _rst_title(lines, i)
        if found is None:
            paragraph.append(lines[i])
            i += 1
            continue
        title, style, consumed = found
        if style not in styles:
            styles.append(style)
        builder.text("\n".join(paragraph))
        paragraph = []
        builder.heading(styles.index(style) + 1, title)
        i += consumed
    builder.text("\n".join(paragraph))
    return builder.build()


# --- HTML -----------------------------------------------------------------------------

_SKIPPED_TAGS = frozenset({"script", "style", "nav", "noscript", "template", "svg"})
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
_HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}


class _HTMLText(HTMLParser):
    """Collects visible text and headings; see the module docstring for what is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = _Builder()
        self.buffer: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.heading_level = 0
        self.in_title = False
        self.title_parts: list[str] = []

    def _flush(self) -> None:
        text = "".join(self.buffer)
        self.buffer = []
        if self.heading_level:
            self.builder.heading(self.heading_level, text)
        else:
            self.builder.text(text if self.pre_depth else " ".join(text.split()))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth += 1
        elif tag == "title":
            self.in_title = True
        elif tag in _HEADING_TAGS or tag in _BLOCK_TAGS:
            self._flush()
            self.heading_level = _HEADING_TAGS.get(tag, 0)
            self.pre_depth += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "title":
            self.in_title = False
        elif tag in _HEADING_TAGS or tag in _BLOCK_TAGS:
            self._flush()
            self.heading_level = 0
            self.pre_depth = max(0, self.pre_depth - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.in_title:
            self.title_parts.append(data)
        else:
            self.buffer.append(data)


def parse_html(text: str) -> Structured:
    """HTML to visible text with h1–h6 headings; the title is ``<title>`` or the first h1."""
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    parser._flush()
    title = " ".join("".join(parser.title_parts).split()) or None
    return parser.builder.build(title)
