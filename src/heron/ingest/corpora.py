"""Built-in corpora, loadable by name with no download: ``load_corpus("stdlib")``.

``stdlib`` is the running Python's standard library documentation as pydoc renders it
in plain text, one document per *section*: a module page (docstring plus a summary of
the classes and functions it defines), then one document per top-level public
function (signature and docstring) and per public class (signature, docstring and
its *own* public methods and properties). The title is the dotted name
(``shlex.split``, ``os.path.commonprefix``) so the module is part of what gets
embedded. Sources are ``stdlib:<module>`` for a module page and
``stdlib:<module>:<object>`` for an object. Metadata: ``corpus``, ``module``,
``object`` ("" for a module page), ``kind`` (``module``/``class``/``function``) and
``python`` (version).

Rendering imports several hundred modules, so it happens in a separate interpreter
(``_stdlib_render.py``, started with ``-S -P``: no site-packages, no current
directory on the path, fixed hash seed); the caller's process imports nothing. It
takes about half a second; pass ``cache_dir`` to keep the result as JSON Lines keyed
by Python version and renderer version anyway.

Left out (see ``_stdlib_render.py``): private modules and names, tests, IDLE,
tkinter/turtle, codecs, modules deprecated for removal, platform modules that do
not import here, module-level constants, inherited members, dunder methods other
than ``__init__``/``__call__``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from heron.errors import IngestError
from heron.types import Document

#: Bump when the rendering changes, so cached corpora are not reused.
STDLIB_FORMAT = 2
RENDER_TIMEOUT_S = 300
_RENDERER = Path(__file__).with_name("_stdlib_render.py")
_OVERSTRIKE = re.compile(r".\x08")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_BLANK_RUNS = re.compile(r"\n{3,}")

CorpusLoader = Callable[[Path | None, Sequence[str] | None], list[Document]]


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    description: str
    loader: CorpusLoader


def clean_pydoc(text: str) -> str:
    """Drop overstrike bold, memory addresses and trailing blanks from pydoc output."""
    text = _ADDRESS.sub("", _OVERSTRIKE.sub("", text))
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


def _render_env() -> dict[str, str]:
    """A minimal environment: deterministic hashing, UTF-8, nothing from the caller."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
    }


def _run_renderer(modules: Sequence[str], timeout_s: float) -> list[dict[str, object]]:
    """Run the renderer in a fresh interpreter and read its JSON Lines back."""
    if not sys.executable:
        raise IngestError("cannot render the stdlib corpus: no Python executable is known")
    with tempfile.TemporaryDirectory(prefix="heron-stdlib-") as tmp:
        out = Path(tmp, "stdlib.jsonl")
        command = [sys.executable, "-S", "-P", str(_RENDERER), str(out), *modules]
        try:
            proc = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=_render_env(),
                cwd=tmp,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise IngestError(
                f"rendering the stdlib corpus took over {timeout_s:.0f}s",
                hint="render fewer modules with modules=[...]",
            ) from error
        if proc.returncode != 0 or not out.exists():
            tail = proc.stderr.decode("utf-8", "replace").strip()[-500:]
            raise IngestError(
                f"rendering the stdlib corpus failed (exit {proc.returncode}): {tail}"
            )
        lines = out.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _stdlib_document(record: Mapping[str, object]) -> Document:
    module, obj, kind = str(record["module"]), str(record["object"]), str(record["kind"])
    name = f"{module}.{obj}" if obj else module
    metadata = {
        "corpus": "stdlib",
        "module": module,
        "object": obj,
        "kind": kind,
        "python": platform.python_version(),
    }
    # "module:object" keeps sources unique where a module and an object share a
    # dotted name (the module unittest.main and the object main in unittest).
    source = f"stdlib:{module}:{obj}" if obj else f"stdlib:{module}"
    return Document(clean_pydoc(str(record["text"])), source, metadata, name)


def render_stdlib(
    modules: Sequence[str] | None = None, *, timeout_s: float = RENDER_TIMEOUT_S
) -> list[Document]:
    """Render the whole standard library (``modules=None``) or exactly the named modules.

    Named modules that cannot be imported here raise :class:`IngestError`; in a full
    render they are left out silently (they are usually other platforms' modules).
    """
    records = _run_renderer(list(modules or ()), timeout_s)
    skipped: dict[str, object] = {}
    documents: list[Document] = []
    for record in records:
        if "skipped" in record and isinstance(record["skipped"], dict):
            skipped = record["skipped"]
        else:
            documents.append(_stdlib_document(record))
    if modules and skipped:
        reasons = "; ".join(f"{name}: {why}" for name, why in sorted(skipped.items()))
        raise IngestError(
            f"cannot document {len(skipped)} of the requested modules ({reasons})",
            hint="name modules that import on this Python (e.g. shlex, sched, os.path)",
        )
    return [doc for doc in documents if doc.text.strip()]


def _cache_file(cache_dir: Path, modules: Sequence[str] | None) -> Path:
    selection = (
        "all"
        if not modules
        else hashlib.sha256("\n".join(sorted(modules)).encode()).hexdigest()[:12]
    )
    version = f"{sys.implementation.name}{platform.python_version()}"
    return cache_dir / f"stdlib-{version}-v{STDLIB_FORMAT}-{selection}.jsonl"


def _read_cache(path: Path) -> list[Document] | None:
    """Cached documents, or None if there is no usable cache (it is then rebuilt)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        return [Document(r["text"], r["source"], r["metadata"], r["title"]) for r in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(path: Path, documents: Sequence[Document]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("w", encoding="utf-8") as handle:
            for doc in documents:
                row = {
                    "text": doc.text,
                    "source": doc.source,
                    "metadata": dict(doc.metadata),
                    "title": doc.title,
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(partial, path)
    except OSError as error:
        raise IngestError(
            f"cannot write the corpus cache {path}: {error.strerror or error}",
            hint="pass a writable cache_dir, or none",
        ) from error


def load_stdlib(
    cache_dir: Path | None = None, modules: Sequence[str] | None = None
) -> list[Document]:
    """The ``stdlib`` corpus, from ``cache_dir`` when a cache for this Python exists."""
    if cache_dir is None:
        return render_stdlib(modules)
    path = _cache_file(cache_dir, modules)
    cached = _read_cache(path) if path.exists() else None
    if cached is not None:
        return cached
    documents = render_stdlib(modules)
    _write_cache(path, documents)
    return documents


#: The one registry of built-in corpora, by name.
CORPORA: Mapping[str, CorpusInfo] = MappingProxyType(
    {
        "stdlib": CorpusInfo(
            "stdlib",
            "Python standard library documentation rendered with pydoc (no download)",
            load_stdlib,
        ),
    }
)


def available_corpora() -> list[str]:
    """Names accepted by :func:`load_corpus`, sorted."""
    return sorted(CORPORA)


def load_corpus(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    modules: Sequence[str] | None = None,
) -> list[Document]:
    """A built-in corpus by name, in a deterministic order.

    ``modules`` restricts ``stdlib`` to the named modules (exactly those, no
    submodules), which tests use to stay fast.
    """
    info = CORPORA.get(name)
    if info is None:
        raise IngestError(
            f"unknown corpus '{name}'", hint=f"available: {', '.join(available_corpora())}"
        )
    return info.loader(Path(cache_dir) if cache_dir is not None else None, modules)
