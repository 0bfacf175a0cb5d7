"""Files and directories to :class:`~heron.types.Document` objects.

One registry maps a file extension to a loader: ``.txt``, ``.md``/``.markdown``,
``.rst``, ``.html``/``.htm``, ``.pdf``, ``.jsonl`` and ``.csv``.

Naming and grouping, which the ingest pipeline relies on:

* ``Document.source`` is the file's absolute, normalised path (``os.path.abspath``,
  symlinks not resolved). A JSONL or CSV file gives one document per row, named
  ``"<path>#<line>"`` where ``line`` is the 1-based line on which the row starts,
  so an editor jumps straight to it.
* Every document carries ``metadata["file"]`` (that path) and ``metadata["format"]``;
  rows also ``metadata["line"]``. These keys win over same-named row fields.
* :func:`load_path` returns a :class:`LoadResult` whose ``files`` group documents by
  file with the file's sha256, so a pipeline can replace a file's documents
  atomically when its content changes. :func:`find_files`, :func:`file_hash` and
  :func:`load_file` are the same steps one at a time (hash first, parse if changed).
* Heading structure (Markdown, reST, HTML) is in ``metadata["headings"]`` as a tuple
  of :class:`~heron.ingest.structure.Heading`; PDF page starts are character offsets
  in ``metadata["page_offsets"]`` (page ``n`` starts at ``page_offsets[n-1]``).
  Both are non-scalar and are not copied into chunk metadata.

Errors: a named file that cannot be loaded raises :class:`~heron.errors.IngestError`
naming the file and what to do; inside a directory the same failure lands in
``LoadResult.skipped`` and loading goes on. Text must be UTF-8 (a BOM is allowed);
nothing is ever guessed as Latin-1. Left out: OCR of scanned PDFs, other encodings,
CSV dialects other than comma-separated, type inference on CSV cells (they stay
strings), archives, and following symlinked directories.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from heron.errors import ConfigError, IngestError, InputError
from heron.ingest.structure import HEADINGS_KEY, Structured, parse_html, parse_markdown, parse_rst
from heron.types import Document

if TYPE_CHECKING:
    from pypdf import PdfReader

#: Metadata key holding the character offset at which each PDF page starts.
PAGE_OFFSETS_KEY = "page_offsets"
DEFAULT_MAX_FILE_BYTES = 20_000_000
#: Directory names never descended into (besides any name starting with a dot).
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})

Scalar = str | int | float | bool


@dataclass(frozen=True)
class LoadOptions:
    """Settings every loader receives; built from :func:`load_path`'s arguments."""

    text_field: str = "text"
    metadata_fields: tuple[str, ...] | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def __post_init__(self) -> None:
        if self.max_file_bytes <= 0:
            raise InputError(f"max_file_bytes must be positive, got {self.max_file_bytes}")
        if not self.text_field:
            raise InputError("text_field must name a field, got an empty string")


@dataclass(frozen=True)
class SkippedFile:
    """A file inside a loaded directory that could not be loaded, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class LoadedFile:
    """The documents of one file and the sha256 of the bytes they came from."""

    path: str
    sha256: str
    documents: list[Document]


@dataclass
class LoadResult:
    """What :func:`load_path` found: documents grouped by file, and skipped files."""

    files: list[LoadedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def documents(self) -> list[Document]:
        return [doc for loaded in self.files for doc in loaded.documents]


Loader = Callable[[str, bytes, LoadOptions], list[Document]]


# --- reading and decoding -------------------------------------------------------------


def _size_text(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _read_bytes(path: Path, limit: int) -> bytes:
    """The file's bytes, refusing files over ``limit`` before reading them."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise IngestError(
                f"{path} is {_size_text(size)}, over the {_size_text(limit)} limit",
                hint=f"raise the limit (max_file_bytes={size}, or `heron ingest --max-file-mb "
                f"{-(-size // 1_000_000)}`) or exclude the file",
            )
        return path.read_bytes()
    except FileNotFoundError as error:
        raise IngestError(f"{path} does not exist", hint="check the path") from error
    except PermissionError as error:
        raise IngestError(
            f"cannot read {path}: permission denied",
            hint="make it readable (chmod +r) or exclude it",
        ) from error
    except OSError as error:
        raise IngestError(f"cannot read {path}: {error.strerror or error}") from error


def file_hash(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file's bytes: what decides whether a file changed."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise IngestError(f"cannot read {path}: {error.strerror or error}") from error
    return digest.hexdigest()


def decode_text(path: str, data: bytes) -> str:
    """UTF-8 text with newlines normalised to ``\\n``; binary and other encodings refused."""
    if b"\x00" in data:
        raise IngestError(
            f"{path} looks binary (it contains NUL bytes)",
            hint="only text files can be ingested; if it is UTF-16 text, convert it with "
            "`iconv -f UTF-16 -t UTF-8`",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise IngestError(
            f"{path} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})",
            hint="convert it with iconv, e.g. `iconv -f LATIN1 -t UTF-8 in > out` "
            "(use the file's real encoding)",
        ) from error
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _scalar(value: object) -> Scalar | None:
    """A metadata value the store accepts: scalars as-is, None dropped, the rest as JSON."""
    if value is None:
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# --- loaders --------------------------------------------------------------------------


def _file_metadata(path: str, fmt: str) -> dict[str, object]:
    return {"file": path, "format": fmt}


def _stem(path: str) -> str:
    return Path(path).stem


def _structured_document(path: str, fmt: str, parsed: Structured) -> list[Document]:
    metadata = _file_metadata(path, fmt)
    if parsed.headings:
        metadata[HEADINGS_KEY] = parsed.headings
    return [Document(parsed.text, path, metadata, parsed.title or _stem(path))]


def load_txt(path: str, data: bytes, options: LoadOptions) -> list[Document]:
    """Plain text, one document, no structure."""
    text = decode_text(path, data)
    return [Document(text, path, _file_metadata(path, "txt"), _stem(path))]


def load_markdown(path: str, data: bytes, options: LoadOptions) -> list[Document]:
    return _structured_document(path, "markdown", parse_markdown(decode_text(path, data)))


def load_rst(path: str, data: bytes, options: LoadOptions) -> list[Document]:
    return _structured_document(path, "rst", parse_rst(decode_text(path, data)))


def load_html(path: str, data: bytes, options: LoadOptions) -> list[Document]:
    return _structured_document(path, "html", parse_html(decode_text(path, data)))


def _pdf_reader(path: str, data: bytes) -> PdfReader:
    try:
        from pypdf import PdfReader
    except ImportError as error:  # pypdf is a core dependency; only a broken install lacks it
        raise ConfigError(
            "the dependency 'pypdf' is not installed", hint="reinstall heron: `pip install heron`"
        ) from error
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(
                f"{path} is an encrypted PDF", hint="decrypt it first, e.g. `qpdf --decrypt`"
            )
    except IngestError:
        raise
    except Exception as error:  # pypdf raises many types on malformed input
        raise IngestError(
            f"{path} is not a readable PDF ({type(error).__name__}: {error})",
            hint="check that the file is a complete PDF, or exclude it",
        ) from error
    return reader


def load_pdf(path: str, data: bytes, options: LoadOptions) -> list[Document]:
    """One document per PDF; pages joined by a blank line, page starts in metadata."""
    reader = _pdf_reader(path, data)
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except Exception as error:  # pypdf raises many types on malformed input
        raise IngestError(
            f"{path}: text extraction failed ({type(error).__name__}: {error})"
        ) from error
    offsets: list[int] = []
    parts: list[str] = []
    length = 0
    for page_text in pages:
        offsets.append(length)
        cleaned = page_text.replace("\r\n", "\n").replace("\r", "\n").strip()
        parts.append(cleaned)
        length += len(cleaned) + 2
    text = "\n\n".join(parts)
    if pages and not text.strip():
        raise IngestError(
            f"{path} has {len(pages)} page(s) but no extractable text (a scanned PDF?)",
            hint="run OCR on it first (e.g. `ocrmypdf`), or exclude it",
        )
    title = getattr(info, "title", None) if info is not None else None
    metadata = _file_metadata(path, "pdf")
    metadata.update({"pages": len(pages), PAGE_OFFSETS_KEY: tuple(offsets)})
    doc_title = title.strip() if isinstance(title, str) and title.strip() else _stem(path)
    return [Document(text, path, metadata, doc_title)]


def _row_document(
    path: str, line: int, record: Mapping[str, object], options: LoadOptions, fmt: str
) -> Document:
    """One JSONL/CSV row as a document; the row must hold the text field as a string."""
    key = options.text_field
    if key not in record:
        fields = ", ".join(sorted(record)) or "none"
        raise IngestError(
            f"{path} line {line} has no '{key}' field (fields: {fields})",
            hint="add the field, or pass text_field=<name of the field that holds the text>",
        )
    text = record[key]
    if not isinstance(text, str):
        raise IngestError(
            f"{path} line {line}: field '{key}' is {type(text).__name__}, not a string",
            hint="store the text as a JSON string, or choose another text_field",
        )
    names: Iterable[str] = (
        options.metadata_fields if options.metadata_fields is not None else record
    )
    metadata: dict[str, object] = {}
    for name in names:
        value = _scalar(record.get(name)) if name != key else None
        if value is not None:
            metadata[name] = value
    metadata.update({"file": path, "format": fmt, "line": line})
    title = record.get("title")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return Document(text, f"{path}#{line}", metadata, title if isinstance(title, str) else None)


def load_jsonl(path: str, data: bytes, options: LoadOptions) -> list[Document]:
    """One document per JSON object line; blank lines are ignored."""
    documents: list[Document] = []
    for number, line in enumerate(decode_text(path, data).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise IngestError(
                f"{path} line {number} is not valid JSON ({error.msg} at column {error.colno})",
                hint="each line of a .jsonl file must be one JSON object",
            ) from error
        if not isinstance(record, dict):
            raise IngestError(
                f"{path} line {number} is a JSON {type(record).__name__}, not an object",
                hint="each line of a .jsonl file must be one JSON object",
            )
        documents.append(_row_document(path, number, record, options, "jsonl"))
    return documents


def _csv_rows(path: str, text: str) -> Iterable[tuple[int, list[str]]]:
    """(starting line, cells) for each non-blank record, the header included."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for row in reader:
            if row:
                yield start, row
            start = reader.line_num + 1
    except csv.Error as error:
        raise IngestError(
            f"{path} line {reader.line_num} is not valid CSV ({error})",
            hint="check the quoting; very long cells (over 128 KB) are better stored as JSONL",
        ) from error


def load_csv(path: str, data: bytes, options: LoadOptions) -> list[Document]:
    """One document per row of a comma-separated file whose first row names the columns."""
    rows = iter(_csv_rows(path, decode_text(path, data)))
    header_line, header = next(rows, (1, []))
    if header and options.text_field not in header:
        raise IngestError(
            f"{path} line {header_line} has no '{options.text_field}' column "
            f"(columns: {', '.join(header)})",
            hint="pass text_field=<name of the column that holds the text>",
        )
    documents: list[Document] = []
    for number, row in rows:
        if len(row) != len(header):
            raise IngestError(
                f"{path} line {number} has {len(row)} cells but the header has {len(header)}",
                hint="quote cells that contain commas or line breaks",
            )
        documents.append(
            _row_document(path, number, dict(zip(header, row, strict=True)), options, "csv")
        )
    return documents


#: The one registry of loaders, by lower-case file extension.
LOADERS: Mapping[str, Loader] = MappingProxyType(
    {
        ".txt": load_txt,
        ".md": load_markdown,
        ".markdown": load_markdown,
        ".rst": load_rst,
        ".html": load_html,
        ".htm": load_html,
        ".pdf": load_pdf,
        ".jsonl": load_jsonl,
        ".csv": load_csv,
    }
)
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(sorted(LOADERS))
DEFAULT_INCLUDE: tuple[str, ...] = tuple(f"*{ext}" for ext in SUPPORTED_EXTENSIONS)


# --- files and directories ------------------------------------------------------------


def _loader_for(path: Path) -> Loader:
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise IngestError(
            f"{path} has an unsupported extension '{path.suffix or '(none)'}'",
            hint=f"supported: {', '.join(SUPPORTED_EXTENSIONS)}; convert the file or exclude it",
        )
    return loader


def _load(path: Path, options: LoadOptions) -> LoadedFile:
    name = os.path.abspath(path)
    if not path.exists():
        raise IngestError(f"{name} does not exist", hint="check the path")
    if path.is_dir():
        raise IngestError(f"{name} is a directory", hint="use load_path to load a directory")
    loader = _loader_for(path)
    data = _read_bytes(Path(name), options.max_file_bytes)
    return LoadedFile(name, hashlib.sha256(data).hexdigest(), loader(name, data, options))


def _options(
    text_field: str, metadata_fields: Sequence[str] | None, max_file_bytes: int
) -> LoadOptions:
    fields = tuple(metadata_fields) if metadata_fields is not None else None
    return LoadOptions(text_field, fields, max_file_bytes)


def load_file(
    path: str | os.PathLike[str],
    *,
    text_field: str = "text",
    metadata_fields: Sequence[str] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> list[Document]:
    """The documents of one file; raises :class:`IngestError` if it cannot be loaded."""
    options = _options(text_field, metadata_fields, max_file_bytes)
    return _load(Path(path), options).documents


def _matches(relative: str, pattern: str) -> bool:
    """fnmatch on the relative POSIX path (``*`` crosses ``/``).

    A pattern without ``/`` also matches the bare file name, and ``**/x`` also
    matches ``x`` at the top, so ``*.md``, ``drafts/*`` and ``**/drafts/*`` all work.
    """
    if fnmatchcase(relative, pattern):
        return True
    if "/" not in pattern and fnmatchcase(relative.rsplit("/", 1)[-1], pattern):
        return True
    return pattern.startswith("**/") and _matches(relative, pattern[3:])


def _selected(relative: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    return any(_matches(relative, p) for p in include) and not any(
        _matches(relative, p) for p in exclude
    )


def _visible(name: str) -> bool:
    return not name.startswith(".") and name not in SKIPPED_DIRS


def find_files(
    root: str | os.PathLike[str],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> tuple[list[Path], list[SkippedFile]]:
    """Files under ``root`` to load, sorted by relative path, and unreadable directories.

    ``include`` defaults to every supported extension. Hidden files and directories
    (``.git``, ``.venv`` …), ``__pycache__`` and ``node_modules`` are never visited.
    A file selected by ``include`` whose extension has no loader is reported as
    skipped rather than silently dropped.
    """
    base = Path(root)
    patterns = tuple(include) or DEFAULT_INCLUDE
    skipped: list[SkippedFile] = []
    found: list[tuple[str, Path]] = []

    def unreadable(error: OSError) -> None:
        where = os.path.abspath(error.filename or base)
        skipped.append(SkippedFile(where, f"cannot list directory: {error.strerror or error}"))

    for folder, dirs, names in os.walk(base, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        for name in names:
            path = Path(folder, name)
            relative = path.relative_to(base).as_posix()
            # Default patterns are extensions: match them whatever the case (README.MD).
            candidate = relative if include else relative.lower()
            if _visible(name) and _selected(candidate, patterns, exclude):
                found.append((relative, path))
    files: list[Path] = []
    for _, path in sorted(found):
        if path.suffix.lower() in LOADERS:
            files.append(path)
        else:
            reason = f"unsupported extension '{path.suffix or '(none)'}'"
            skipped.append(SkippedFile(os.path.abspath(path), reason))
    return files, skipped


def load_path(
    path: str | os.PathLike[str],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    text_field: str = "text",
    metadata_fields: Sequence[str] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> LoadResult:
    """Load a file or, recursively, a directory.

    A named file is loaded regardless of ``include``/``exclude`` and any problem
    raises :class:`IngestError`. In a directory, files that fail are listed in
    ``skipped`` (with the error message as the reason) and the rest still load.
    ``text_field`` and ``metadata_fields`` apply to JSONL and CSV rows: the text
    comes from ``text_field``; metadata from ``metadata_fields``, or every other
    field when None (non-scalar values are stored as JSON strings, nulls dropped).
    """
    options = _options(text_field, metadata_fields, max_file_bytes)
    target = Path(path)
    if not target.exists():
        raise IngestError(f"{os.path.abspath(target)} does not exist", hint="check the path")
    if not target.is_dir():
        return LoadResult([_load(target, options)], [])
    files, skipped = find_files(target, include=include, exclude=exclude)
    result = LoadResult([], skipped)
    for file in files:
        try:
            result.files.append(_load(file, options))
        except IngestError as error:
            result.skipped.append(SkippedFile(os.path.abspath(file), str(error)))
    result.skipped.sort(key=lambda s: s.path)
    return result
