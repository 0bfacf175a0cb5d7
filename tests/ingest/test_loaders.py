from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from heron.errors import IngestError, InputError
from heron.ingest import SUPPORTED_EXTENSIONS, file_hash, find_files, load_file, load_path
from heron.ingest.loaders import PAGE_OFFSETS_KEY
from heron.ingest.structure import HEADINGS_KEY, Heading

PdfMaker = Callable[..., bytes]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def headings(doc_metadata: object) -> list[Heading]:
    assert isinstance(doc_metadata, dict)
    return list(doc_metadata[HEADINGS_KEY])


# --- plain and structured text --------------------------------------------------------


def test_txt_is_one_document_named_by_absolute_path(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.txt", "")
    path.write_bytes(b"\xef\xbb\xbfline one\r\nline two\rline three\n")
    (doc,) = load_file(path)
    assert doc.text == "line one\nline two\nline three\n"
    assert doc.source == os.path.abspath(path)
    assert doc.title == "notes"
    assert doc.metadata == {"file": doc.source, "format": "txt"}


def test_markdown_headings_become_offsets_of_bare_title_lines(tmp_path: Path) -> None:
    text = (
        "# Guide\n\nIntro paragraph.\n\n## Install\n\nRun pip.\n\n"
        "```sh\n# not a heading\npip install heron\n```\n\n"
        "Usage\n-----\n\nCall it.\n\n### Deep ###\n\nDetail.\n"
    )
    (doc,) = load_file(write(tmp_path / "guide.md", text))
    found = headings(doc.metadata)
    assert [(h.level, h.title) for h in found] == [
        (1, "Guide"),
        (2, "Install"),
        (2, "Usage"),
        (3, "Deep"),
    ]
    for heading in found:
        assert doc.text[heading.offset :].split("\n", 1)[0] == heading.title
    assert "# not a heading" in doc.text  # fenced code is kept verbatim
    assert "## Install" not in doc.text and "-----" not in doc.text
    assert doc.title == "Guide"


def test_markdown_front_matter_is_dropped_and_gives_the_title(tmp_path: Path) -> None:
    text = "---\ntitle: 'Release notes'\ndate: 2024-01-01\n---\n## Fixes\n\nMany.\n"
    (doc,) = load_file(write(tmp_path / "notes.md", text))
    assert doc.title == "Release notes"
    assert "date:" not in doc.text
    assert [h.title for h in headings(doc.metadata)] == ["Fixes"]


def test_markdown_without_headings_has_no_heading_metadata(tmp_path: Path) -> None:
    (doc,) = load_file(write(tmp_path / "plain.md", "Just text.\n"))
    assert HEADINGS_KEY not in doc.metadata
    assert doc.title == "plain"


def test_rst_section_levels_follow_first_appearance(tmp_path: Path) -> None:
    text = (
        "=====\nTitle\n=====\n\nIntro.\n\nSection A\n---------\n\nBody A.\n\n"
        "Sub\n~~~\n\nBody sub.\n\nSection B\n---------\n\nBody B with ``code``.\n"
    )
    (doc,) = load_file(write(tmp_path / "doc.rst", text))
    assert [(h.level, h.title) for h in headings(doc.metadata)] == [
        (1, "Title"),
        (2, "Section A"),
        (3, "Sub"),
        (2, "Section B"),
    ]
    assert "---" not in doc.text and "~~~" not in doc.text and "=====" not in doc.text
    assert "Body B with ``code``." in doc.text
    assert doc.title == "Title"


def test_html_keeps_visible_text_and_headings_only(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title>My &amp; Page</title>
    <style>body { color: red }</style><script>var secret = 1;</script></head>
    <body><nav><a href="/">Home</a> | <a href="/x">Menu item</a></nav>
    <h1>Welcome</h1><p>First <b>bold</b>   para&nbsp;graph.</p>
    <h2>Details</h2><ul><li>one</li><li>two</li></ul>
    <pre>  indented
    code</pre><noscript>enable js</noscript></body></html>"""
    (doc,) = load_file(write(tmp_path / "page.html", html))
    assert doc.title == "My & Page"
    assert "First bold para graph." in doc.text  # whitespace, &nbsp; included, collapses
    for hidden in ("secret", "color", "Menu item", "Home", "enable js", "<", ">"):
        assert hidden not in doc.text
    assert [(h.level, h.title) for h in headings(doc.metadata)] == [(1, "Welcome"), (2, "Details")]
    assert "  indented\n    code" in doc.text


def test_htm_extension_uses_the_html_loader(tmp_path: Path) -> None:
    (doc,) = load_file(write(tmp_path / "a.htm", "<h1>T</h1><p>x</p>"))
    assert doc.text == "T\n\nx"
    assert doc.title == "T"


# --- PDF ------------------------------------------------------------------------------


def test_pdf_is_one_document_with_page_offsets(tmp_path: Path, make_pdf: PdfMaker) -> None:
    data = make_pdf([["Hello PDF world.", "Second line."], ["Page two text."]], title="Report")
    (doc,) = load_file(write(tmp_path / "report.pdf", data))
    assert doc.title == "Report"
    assert doc.metadata["pages"] == 2
    offsets = doc.metadata[PAGE_OFFSETS_KEY]
    assert offsets[0] == 0
    assert doc.text[offsets[1] :].startswith("Page two text.")
    assert "Hello PDF world." in doc.text[: offsets[1]]


def test_pdf_without_title_uses_file_name(tmp_path: Path, make_pdf: PdfMaker) -> None:
    (doc,) = load_file(write(tmp_path / "scan-1.pdf", make_pdf([["Some text."]])))
    assert doc.title == "scan-1"


def test_pdf_without_text_asks_for_ocr(tmp_path: Path, make_pdf: PdfMaker) -> None:
    path = write(tmp_path / "scanned.pdf", make_pdf([[]]))
    with pytest.raises(IngestError, match=r"scanned\.pdf.*no extractable text") as info:
        load_file(path)
    assert "OCR" in str(info.value)


def test_broken_pdf_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.pdf", b"%PDF-1.4\nthis is not a pdf at all")
    with pytest.raises(IngestError, match=r"broken\.pdf is not a readable PDF"):
        load_file(path)


# --- JSONL and CSV --------------------------------------------------------------------


def test_jsonl_rows_are_documents_named_by_line(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "first", "title": "One", "year": 2020, "tags": ["a", "b"]}),
        "",
        json.dumps({"text": "second", "lang": "en", "score": 0.5, "ok": True, "none": None}),
    ]
    path = write(tmp_path / "rows.jsonl", "\n".join(lines) + "\n")
    first, second = load_file(path)
    name = os.path.abspath(path)
    assert (first.source, second.source) == (f"{name}#1", f"{name}#3")
    assert first.title == "One" and second.title is None
    assert first.metadata == {
        "title": "One",
        "year": 2020,
        "tags": '["a", "b"]',
        "file": name,
        "format": "jsonl",
        "line": 1,
    }
    assert second.metadata["ok"] is True and "none" not in second.metadata
    assert "text" not in first.metadata


def test_jsonl_metadata_fields_and_text_field(tmp_path: Path) -> None:
    row = {"body": "hello", "year": 2021, "secret": "x"}
    path = write(tmp_path / "r.jsonl", json.dumps(row) + "\n")
    (doc,) = load_file(path, text_field="body", metadata_fields=["year", "missing"])
    assert doc.text == "hello"
    assert doc.metadata == {
        "year": 2021,
        "file": os.path.abspath(path),
        "format": "jsonl",
        "line": 1,
    }


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ('{"body": "no text"}', r"bad\.jsonl line 2 has no 'text' field \(fields: body\)"),
        ("{not json", r"bad\.jsonl line 2 is not valid JSON"),
        ("[1, 2]", r"bad\.jsonl line 2 is a JSON list, not an object"),
        ('{"text": 5}', r"bad\.jsonl line 2: field 'text' is int, not a string"),
    ],
)
def test_jsonl_bad_rows_name_file_and_line(tmp_path: Path, line: str, pattern: str) -> None:
    path = write(tmp_path / "bad.jsonl", '{"text": "ok"}\n' + line + "\n")
    with pytest.raises(IngestError, match=pattern):
        load_file(path)


def test_csv_rows_are_documents_named_by_starting_line(tmp_path: Path) -> None:
    text = 'id,text,topic\n1,"first row",a\n2,"spans\ntwo lines",b\n\n3,third,c\n'
    path = write(tmp_path / "data.csv", text)
    docs = load_file(path)
    name = os.path.abspath(path)
    assert [d.source for d in docs] == [f"{name}#2", f"{name}#3", f"{name}#6"]
    assert docs[1].text == "spans\ntwo lines"
    assert docs[0].metadata == {"id": "1", "topic": "a", "file": name, "format": "csv", "line": 2}


def test_csv_missing_text_column_names_file_and_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "cols.csv", "id,body\n1,hello\n")
    with pytest.raises(
        IngestError, match=r"cols\.csv line 1 has no 'text' column \(columns: id, body\)"
    ):
        load_file(path)
    (doc,) = load_file(path, text_field="body")
    assert doc.text == "hello"


def test_csv_row_with_wrong_cell_count_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "cells.csv", "text,topic\nfine,a\nunquoted, comma,b\n")
    with pytest.raises(IngestError, match=r"cells\.csv line 3 has 3 cells but the header has 2"):
        load_file(path)


# --- bad input ------------------------------------------------------------------------


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.md"
    with pytest.raises(IngestError, match=r"nope\.md does not exist"):
        load_path(missing)
    with pytest.raises(IngestError, match=r"nope\.md does not exist"):
        load_file(missing)


def test_non_utf8_text_is_refused_not_guessed(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.txt", "café".encode("latin-1"))
    with pytest.raises(
        IngestError, match=r"latin\.txt is not UTF-8 text \(byte 0xe9 at offset 3\)"
    ) as info:
        load_file(path)
    assert "iconv" in str(info.value)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "blob.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(IngestError, match=r"blob\.md looks binary \(it contains NUL bytes\)"):
        load_file(path)


def test_utf16_is_refused_with_a_conversion_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "wide.txt", "hello".encode("utf-16"))
    with pytest.raises(IngestError, match=r"wide\.txt.*iconv -f UTF-16 -t UTF-8"):
        load_file(path)


def test_file_over_the_size_limit_says_size_limit_and_how_to_raise(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", "x" * 1500)
    with pytest.raises(IngestError) as info:
        load_file(path, max_file_bytes=1000)
    message = str(info.value)
    assert "big.txt is 1,500 bytes, over the 1,000 bytes limit" in message
    assert "max_file_bytes=1500" in message
    assert load_file(path, max_file_bytes=1500)[0].text == "x" * 1500


def test_unsupported_extension_named_explicitly_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "report.docx", "whatever")
    with pytest.raises(
        IngestError, match=r"report\.docx has an unsupported extension '\.docx'"
    ) as info:
        load_path(path)
    assert all(ext in str(info.value) for ext in SUPPORTED_EXTENSIONS)


def test_unreadable_file_says_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "secret.txt", "hidden")
    original = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(IngestError, match=r"cannot read .*secret\.txt: permission denied") as info:
        load_file(path)
    assert "chmod" in str(info.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_on_disk(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.txt", "x")
    path.chmod(0)
    try:
        with pytest.raises(IngestError, match="permission denied"):
            load_file(path)
    finally:
        path.chmod(0o644)


def test_directory_given_to_load_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="is a directory"):
        load_file(tmp_path)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "x")
    with pytest.raises(InputError, match="max_file_bytes"):
        load_file(path, max_file_bytes=0)


# --- directories ----------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    write(root / "a.md", "# A\n\ntext a\n")
    write(root / "b.txt", "text b\n")
    write(root / "sub" / "c.rst", "C\n=\n\ntext c\n")
    write(root / "sub" / "deeper" / "d.html", "<p>text d</p>")
    write(root / "drafts" / "e.md", "draft\n")
    write(root / "sub" / "drafts" / "f.md", "nested draft\n")
    write(root / "code.py", "print('not a doc')\n")
    write(root / ".git" / "HEAD.md", "hidden dir\n")
    write(root / ".venv" / "lib" / "x.txt", "hidden dir\n")
    write(root / "node_modules" / "pkg" / "README.md", "vendored\n")
    write(root / ".hidden.md", "hidden file\n")
    return root


def names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_directory_is_walked_recursively_in_sorted_order(tree: Path) -> None:
    result = load_path(tree)
    assert [Path(f.path).relative_to(tree).as_posix() for f in result.files] == [
        "a.md",
        "b.txt",
        "drafts/e.md",
        "sub/c.rst",
        "sub/deeper/d.html",
        "sub/drafts/f.md",
    ]
    assert result.skipped == []
    assert [d.text for d in result.documents][:2] == ["A\n\ntext a", "text b\n"]


def test_include_and_exclude_globs_match_relative_paths(tree: Path) -> None:
    files, _ = find_files(tree, include=["*.md"])
    assert names(files, tree) == ["a.md", "drafts/e.md", "sub/drafts/f.md"]
    files, _ = find_files(tree, include=["sub/*"])
    assert names(files, tree) == ["sub/c.rst", "sub/deeper/d.html", "sub/drafts/f.md"]
    files, _ = find_files(tree, exclude=["drafts/*"])
    assert "drafts/e.md" not in names(files, tree)
    assert "sub/drafts/f.md" in names(files, tree)
    files, _ = find_files(tree, exclude=["**/drafts/*"])
    assert names(files, tree) == ["a.md", "b.txt", "sub/c.rst", "sub/deeper/d.html"]
    files, _ = find_files(tree, include=["*.md", "*.txt"], exclude=["*/drafts/*", "drafts/*"])
    assert names(files, tree) == ["a.md", "b.txt"]


def test_included_file_without_a_loader_is_reported_as_skipped(tree: Path) -> None:
    result = load_path(tree, include=["*.py", "*.txt"])
    assert [Path(f.path).name for f in result.files] == ["b.txt"]
    assert [(Path(s.path).name, s.reason) for s in result.skipped] == [
        ("code.py", "unsupported extension '.py'")
    ]


def test_bad_files_in_a_directory_are_skipped_not_raised(tree: Path) -> None:
    write(tree / "latin.txt", "olé".encode("latin-1"))
    write(tree / "bin.md", b"\x00\x01")
    write(tree / "rows.jsonl", '{"body": "x"}\n')
    result = load_path(tree)
    skipped = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(skipped) == {"latin.txt", "bin.md", "rows.jsonl"}
    assert "latin.txt is not UTF-8 text" in skipped["latin.txt"]
    assert "bin.md looks binary" in skipped["bin.md"]
    assert "rows.jsonl line 1 has no 'text' field" in skipped["rows.jsonl"]
    assert len(result.files) == 6


def test_a_named_file_ignores_include_and_exclude(tree: Path) -> None:
    result = load_path(tree / "a.md", include=["*.txt"], exclude=["*.md"])
    assert [Path(f.path).name for f in result.files] == ["a.md"]


def test_file_hash_is_sha256_of_bytes_and_matches_the_load_result(tree: Path) -> None:
    path = tree / "b.txt"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_hash(path) == expected
    (loaded,) = load_path(path).files
    assert loaded.sha256 == expected
    path.write_text("changed\n", encoding="utf-8")
    assert file_hash(path) != expected


def test_file_hash_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"cannot read .*gone\.txt"):
        file_hash(tmp_path / "gone.txt")
