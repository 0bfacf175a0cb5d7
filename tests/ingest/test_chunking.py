from __future__ import annotations

import random
import re

import pytest

from heron.errors import ConfigError
from heron.ingest import (
    CHUNKERS,
    SentenceChunker,
    StructureChunker,
    TokenChunker,
    count_tokens,
    make_chunker,
)
from heron.ingest.chunking import pieces_within, sentence_spans, source_key
from heron.ingest.loaders import PAGE_OFFSETS_KEY
from heron.ingest.structure import HEADINGS_KEY, parse_markdown
from heron.models.base import approx_token_count
from heron.types import Chunk, Document

PIECE = re.compile(r"\w+|[^\w\s]")
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def prose(seed: int, sentences: int, words: tuple[int, int] = (4, 14)) -> str:
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(*words)))
        out.append(body.capitalize() + rng.choice([".", ".", "!", "?"]))
    return " ".join(out)


def markdown_doc(text: str, source: str = "guide.md") -> Document:
    parsed = parse_markdown(text)
    return Document(parsed.text, source, {HEADINGS_KEY: parsed.headings}, parsed.title)


# --- registry and configuration -------------------------------------------------------


def test_registry_names_select_the_three_chunkers() -> None:
    assert dict(CHUNKERS) == {
        "tokens": TokenChunker,
        "sentences": SentenceChunker,
        "structure": StructureChunker,
    }
    chunker = make_chunker("sentences", size=120, overlap=10)
    assert isinstance(chunker, SentenceChunker)
    assert (chunker.size, chunker.overlap) == (120, 10)


def test_unknown_chunker_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="choose one of: tokens, sentences, structure"):
        make_chunker("words")  # type: ignore[arg-type]


@pytest.mark.parametrize(("size", "overlap"), [(2, 0), (100, 100), (100, -1), (50, 80)])
def test_bad_size_or_overlap_is_refused(size: int, overlap: int) -> None:
    with pytest.raises(ConfigError):
        make_chunker("tokens", size=size, overlap=overlap)


def test_token_count_matches_the_models_estimate() -> None:
    for text in [
        "",
        "one",
        "Hello, world!",
        prose(1, 30),
        "os.path.commonprefix(['/a/b', '/a/c'])",
    ]:
        assert count_tokens(text) == approx_token_count(text)
    for size in range(4, 300):
        assert approx_token_count("w " * pieces_within(size)) <= size
        assert approx_token_count("w " * (pieces_within(size) + 1)) > size


# --- properties every chunker has -----------------------------------------------------


@pytest.mark.parametrize("name", ["tokens", "sentences", "structure"])
@pytest.mark.parametrize("size", [20, 64, 200])
def test_chunks_fit_the_size_and_are_verbatim_slices(name: str, size: int) -> None:
    text = "# Title\n\n" + "\n\n".join(prose(seed, 6) for seed in range(8))
    doc = markdown_doc(text)
    chunks = make_chunker(name, size=size, overlap=size // 5).chunk(doc)  # type: ignore[arg-type]
    assert chunks
    for position, chunk in enumerate(chunks):
        assert approx_token_count(chunk.text) <= size
        assert chunk.text in doc.text and chunk.text == chunk.text.strip()
        assert chunk.position == position
        assert chunk.source == "guide.md"
    covered = "".join(c.text for c in chunks)
    for word in PIECE.findall(doc.text.replace("Title", "")):
        assert word in covered


@pytest.mark.parametrize("name", ["tokens", "sentences", "structure"])
@pytest.mark.parametrize("text", ["", "   ", "\n\n\t\n"])
def test_blank_documents_give_no_chunks(name: str, text: str) -> None:
    assert make_chunker(name).chunk(Document(text, "empty.txt")) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["tokens", "sentences", "structure"])
def test_ids_are_deterministic_and_scoped_by_source(name: str) -> None:
    text = prose(7, 40)
    chunker = make_chunker(name, size=40, overlap=8)  # type: ignore[arg-type]
    first = chunker.chunk(Document(text, "a.txt"))
    again = make_chunker(name, size=40, overlap=8).chunk(Document(text, "a.txt"))  # type: ignore[arg-type]
    other = chunker.chunk(Document(text, "b.txt"))
    assert [c.id for c in first] == [c.id for c in again]
    prefix = source_key("a.txt")
    assert [c.id for c in first] == [f"{prefix}:{i}" for i in range(len(first))]
    assert re.fullmatch(r"[0-9a-f]{12}", prefix)
    assert {c.id for c in first}.isdisjoint(c.id for c in other)


@pytest.mark.parametrize("name", ["tokens", "sentences", "structure"])
def test_metadata_is_scalar_document_metadata_plus_position(name: str) -> None:
    doc = markdown_doc("# Guide\n\n## Setup\n\n" + prose(3, 20))
    doc = Document(
        doc.text,
        "guide.md",
        {**doc.metadata, "year": 2024, "draft": False, "score": 0.5, "tags": ["x"]},
        "Guide",
    )
    chunks = make_chunker(name, size=40, overlap=5).chunk(doc)  # type: ignore[arg-type]
    for chunk in chunks:
        meta = dict(chunk.metadata)
        assert all(isinstance(v, str | int | float | bool) for v in meta.values())
        assert meta["source"] == "guide.md" and meta["position"] == chunk.position
        assert meta["heading"] == " > ".join(chunk.heading_path)
        assert (meta["year"], meta["draft"], meta["score"]) == (2024, False, 0.5)
        assert HEADINGS_KEY not in meta and "tags" not in meta
        assert chunk.title == "Guide"
    assert chunks[-1].heading_path == ("Guide", "Setup")


def test_title_falls_back_to_the_module_name() -> None:
    doc = Document("Some text.", "stdlib:shlex", {"module": "shlex"})
    (chunk,) = make_chunker("tokens").chunk(doc)
    assert chunk.title == "shlex"
    assert chunk.embed_text.startswith("shlex\n")


def test_pdf_chunks_carry_the_page_they_start_on() -> None:
    page_one = prose(1, 12)
    page_two = prose(2, 12)
    text = page_one + "\n\n" + page_two
    doc = Document(text, "r.pdf", {PAGE_OFFSETS_KEY: (0, len(page_one) + 2), "pages": 2})
    chunks = make_chunker("structure", size=60, overlap=0).chunk(doc)
    pages = [c.metadata["page"] for c in chunks]
    assert pages[0] == 1 and pages[-1] == 2 and pages == sorted(pages)
    for chunk in chunks:
        start = text.index(chunk.text)
        assert chunk.metadata["page"] == (1 if start < len(page_one) + 2 else 2)


# --- token windows --------------------------------------------------------------------


def test_token_windows_overlap_by_exactly_the_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(500))
    chunker = TokenChunker(size=40, overlap=13)
    chunks = chunker.chunk(Document(text, "t.txt"))
    per_chunk, overlap = chunker.budget.pieces, chunker.budget.overlap
    assert (per_chunk, overlap) == (30, 10)
    pieces = [PIECE.findall(c.text) for c in chunks]
    for before, after in zip(pieces, pieces[1:], strict=False):
        assert before[-overlap:] == after[:overlap]
    assert all(len(p) == per_chunk for p in pieces[:-1])
    rebuilt = pieces[0] + [w for p in pieces[1:] for w in p[overlap:]]
    assert rebuilt == text.split()


def test_token_windows_without_overlap_partition_the_text() -> None:
    text = " ".join(f"w{i}" for i in range(95))
    chunks = TokenChunker(size=40, overlap=0).chunk(Document(text, "t.txt"))
    assert [len(c.text.split()) for c in chunks] == [30, 30, 30, 5]


def test_token_windows_report_the_heading_they_start_under() -> None:
    doc = markdown_doc("# A\n\n" + prose(1, 10) + "\n\n# B\n\n" + prose(2, 10))
    chunks = TokenChunker(size=30, overlap=0).chunk(doc)
    assert chunks[0].heading_path == ("A",)
    assert chunks[-1].heading_path == ("B",)


# --- sentences ------------------------------------------------------------------------


def test_sentence_splitting_respects_abbreviations_and_code() -> None:
    text = (
        "Use os.path.join, e.g. for paths. Dr. Smith agrees! Is it 3.5 or 4? "
        "Call J. Doe.\n\nA new paragraph without a full stop\nNext line"
    )
    sentences = [text[s.start : s.end] for s in sentence_spans(text)]
    assert sentences == [
        "Use os.path.join, e.g. for paths.",
        "Dr. Smith agrees!",
        "Is it 3.5 or 4?",
        "Call J. Doe.",
        "A new paragraph without a full stop\nNext line",
    ]


def test_sentence_chunks_hold_whole_sentences_and_overlap_by_sentences() -> None:
    text = prose(11, 60)
    sentences = [text[s.start : s.end] for s in sentence_spans(text)]
    chunks = SentenceChunker(size=60, overlap=20).chunk(Document(text, "s.txt"))
    assert len(chunks) > 3
    for chunk in chunks:
        parts = [s.start for s in sentence_spans(chunk.text)]
        members = [
            chunk.text[a:b] for a, b in zip(parts, [*parts[1:], len(chunk.text)], strict=True)
        ]
        assert all(m.strip() in sentences for m in members)
    repeated = 0
    for before, after in zip(chunks, chunks[1:], strict=False):
        first_sentence = sentence_spans(after.text)[0]
        if before.text.endswith(after.text[first_sentence.start : first_sentence.end]):
            repeated += 1
        assert count_tokens(after.text) <= 60
    assert repeated > 0  # trailing sentences are carried over as overlap


def test_sentence_overlap_zero_partitions_sentences() -> None:
    text = prose(5, 30)
    chunks = SentenceChunker(size=50, overlap=0).chunk(Document(text, "s.txt"))
    assert " ".join(c.text for c in chunks) == text


def test_an_over_long_sentence_is_split_into_windows() -> None:
    long_sentence = "Long " + " ".join(f"w{i}" for i in range(120)) + "."
    text = "Short start. " + long_sentence + " Short end."
    chunks = SentenceChunker(size=40, overlap=0).chunk(Document(text, "s.txt"))
    assert chunks[0].text == "Short start."
    assert chunks[-1].text == "Short end."
    middle = [c.text for c in chunks[1:-1]]
    assert len(middle) > 1 and all(count_tokens(m) <= 40 for m in middle)
    assert " ".join(middle) == long_sentence


# --- structure ------------------------------------------------------------------------


STRUCTURED = """Preface paragraph.

# Guide

Intro one.

Intro two.

## Install

Install para one.

Install para two.

### From source

Build it.

## Usage

Use it.
"""


def test_structure_chunks_never_cross_headings_and_carry_paths() -> None:
    doc = markdown_doc(STRUCTURED)
    chunks = StructureChunker(size=200, overlap=0).chunk(doc)
    assert [(c.heading_path, c.text) for c in chunks] == [
        ((), "Preface paragraph."),
        (("Guide",), "Intro one.\n\nIntro two."),
        (("Guide", "Install"), "Install para one.\n\nInstall para two."),
        (("Guide", "Install", "From source"), "Build it."),
        (("Guide", "Usage"), "Use it."),
    ]
    assert chunks[3].metadata["heading"] == "Guide > Install > From source"
    assert chunks[3].embed_text == "Guide > Install > From source\nBuild it."


def test_structure_packs_paragraphs_up_to_the_size() -> None:
    paragraphs = [prose(seed, 2, (5, 6)) for seed in range(12)]
    doc = markdown_doc("# Notes\n\n" + "\n\n".join(paragraphs))
    chunks = StructureChunker(size=60, overlap=0).chunk(doc)
    assert 1 < len(chunks) < len(paragraphs)
    rebuilt = [p for c in chunks for p in c.text.split("\n\n")]
    assert rebuilt == paragraphs  # whole paragraphs, in order, none split
    for before, after in zip(chunks, chunks[1:], strict=False):
        first_next = after.text.split("\n\n")[0]
        assert count_tokens(before.text + "\n\n" + first_next) > 60  # packed greedily


def test_structure_splits_an_over_long_paragraph_by_sentence() -> None:
    long_paragraph = prose(9, 40)
    doc = markdown_doc("# Big\n\n" + long_paragraph + "\n\n# Next\n\nTail.")
    chunks = StructureChunker(size=50, overlap=0).chunk(doc)
    big = [c for c in chunks if c.heading_path == ("Big",)]
    assert len(big) > 2
    assert " ".join(c.text for c in big) == long_paragraph
    assert chunks[-1].heading_path == ("Next",) and chunks[-1].text == "Tail."


def test_structure_overlap_repeats_whole_trailing_paragraphs_within_a_section() -> None:
    paragraphs = [prose(seed, 1, (5, 6)) for seed in range(10)]
    doc = markdown_doc("# S\n\n" + "\n\n".join(paragraphs) + "\n\n# T\n\nOther.")
    chunks = StructureChunker(size=40, overlap=12).chunk(doc)
    in_s = [c for c in chunks if c.heading_path == ("S",)]
    for before, after in zip(in_s, in_s[1:], strict=False):
        assert after.text.split("\n\n")[0] == before.text.split("\n\n")[-1]
    assert chunks[-1].text == "Other."


def test_structure_without_headings_packs_the_whole_document() -> None:
    text = "One.\n\nTwo.\n\nThree."
    (chunk,) = StructureChunker().chunk(Document(text, "plain.txt"))
    assert chunk.text == text and chunk.heading_path == ()


def test_heading_metadata_read_back_from_json_lists_still_works() -> None:
    doc = markdown_doc(STRUCTURED)
    as_lists = [list(h) for h in doc.metadata[HEADINGS_KEY]]
    again = Document(doc.text, doc.source, {HEADINGS_KEY: as_lists}, doc.title)
    assert [c.heading_path for c in StructureChunker().chunk(again)] == [
        c.heading_path for c in StructureChunker().chunk(doc)
    ]


def test_chunk_many_concatenates_in_order() -> None:
    docs = [Document(prose(i, 3), f"d{i}.txt") for i in range(3)]
    chunks: list[Chunk] = make_chunker("sentences").chunk_many(docs)
    assert [c.source for c in chunks] == ["d0.txt", "d1.txt", "d2.txt"]


def test_heading_offsets_past_the_text_are_ignored() -> None:
    doc = Document("Body text.", "x.md", {HEADINGS_KEY: [(500, 1, "Stale")]})
    (chunk,) = StructureChunker().chunk(doc)
    assert chunk.text == "Body text." and chunk.heading_path == ()
