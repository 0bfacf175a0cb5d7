from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from heron.errors import IngestError
from heron.ingest import available_corpora, load_corpus, make_chunker
from heron.ingest._stdlib_render import public_objects, render_class
from heron.ingest.corpora import clean_pydoc
from heron.types import Document

SUBSET = ["os.path", "sched", "shlex", "threading"]


@pytest.fixture(scope="module")
def subset() -> list[Document]:
    return load_corpus("stdlib", modules=SUBSET)


@pytest.fixture(scope="module")
def full() -> list[Document]:
    return load_corpus("stdlib")  # about half a second: one full render is cheap


def by_title(docs: list[Document]) -> dict[str, Document]:
    return {doc.title or "": doc for doc in docs}


def test_registry_lists_stdlib_and_refuses_unknown_names() -> None:
    assert available_corpora() == ["stdlib"]
    with pytest.raises(IngestError, match="unknown corpus 'wiki'.*available: stdlib"):
        load_corpus("wiki")


def test_functions_are_their_own_documents_with_docstrings(subset: list[Document]) -> None:
    docs = by_title(subset)
    split = docs["shlex.split"]
    assert split.text.startswith("split(s, comments=False, posix=True)")
    assert "Split the string *s* using shell-like syntax." in split.text
    assert dict(split.metadata) == {
        "corpus": "stdlib",
        "module": "shlex",
        "object": "split",
        "kind": "function",
        "python": split.metadata["python"],
    }
    assert split.source == "stdlib:shlex:split"
    assert "longest common leading component" in docs["os.path.commonprefix"].text
    assert "longest common sub-path" in docs["os.path.commonpath"].text


def test_module_pages_hold_the_docstring_and_a_summary(subset: list[Document]) -> None:
    sched = by_title(subset)["sched"]
    assert sched.metadata["kind"] == "module" and sched.metadata["object"] == ""
    assert sched.source == "stdlib:sched"
    assert "event scheduler" in sched.text
    assert "Classes: scheduler" in sched.text
    assert "Functions:" in by_title(subset)["os.path"].text


def test_classes_hold_their_own_methods_but_nothing_inherited(subset: list[Document]) -> None:
    timer = by_title(subset)["threading.Timer"]
    assert timer.metadata["kind"] == "class"
    assert timer.text.startswith("class Timer(Thread)")
    assert "Call a function after a specified number of seconds" in timer.text
    assert "cancel(self)" in timer.text
    for inherited in ("inherited", "is_alive", "daemon", "Data descriptors", "__repr__"):
        assert inherited not in timer.text
    scheduler = by_title(subset)["sched.scheduler"]
    assert "enterabs(self, time, priority, action" in scheduler.text


def test_rendering_is_deterministic_and_clean(subset: list[Document]) -> None:
    assert load_corpus("stdlib", modules=SUBSET) == subset
    titles = [d.title or "" for d in subset]
    modules = [str(d.metadata["module"]) for d in subset]
    assert modules == sorted(modules)
    assert titles[0] == "os.path"
    for doc in subset:
        assert "\b" not in doc.text and " at 0x" not in doc.text
        assert doc.text == doc.text.strip()


def test_requested_modules_that_cannot_be_imported_are_an_error() -> None:
    with pytest.raises(IngestError, match="no_such_module_xyz: import failed"):
        load_corpus("stdlib", modules=["shlex", "no_such_module_xyz"])


def test_cache_is_written_keyed_by_python_version_and_reused(tmp_path: Path) -> None:
    first = load_corpus("stdlib", cache_dir=tmp_path, modules=["shlex"])
    (cache,) = tmp_path.glob("*.jsonl")
    assert f"{sys.version_info.major}.{sys.version_info.minor}." in cache.name
    rows = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in rows] == [d.source for d in first]
    rows[0]["text"] = "served from the cache"
    cache.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    again = load_corpus("stdlib", cache_dir=tmp_path, modules=["shlex"])
    assert again[0].text == "served from the cache"
    assert again[1:] == first[1:]


def test_a_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    first = load_corpus("stdlib", cache_dir=tmp_path, modules=["sched"])
    (cache,) = tmp_path.glob("*.jsonl")
    cache.write_text("{not json\n", encoding="utf-8")
    assert load_corpus("stdlib", cache_dir=tmp_path, modules=["sched"]) == first
    assert cache.read_text(encoding="utf-8").count("\n") == len(first)


def test_clean_pydoc_strips_overstrike_addresses_and_blank_runs() -> None:
    raw = "N\bNA\bAM\bME\bE\n\n\n\nf(x=<object object at 0x7f00ab>)   \n"
    assert clean_pydoc(raw) == "NAME\n\nf(x=<object object>)"


class _Base:
    def inherited(self) -> None:
        """Documented on the base only."""


class _Sample(_Base):
    """A sample class."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __repr__(self) -> str:
        return "sample"

    def own(self) -> int:
        """Own method."""
        return self.x

    def _private(self) -> None:
        """Hidden."""

    @property
    def size(self) -> int:
        """The size."""
        return 1

    @classmethod
    def build(cls) -> _Sample:
        """Alternate constructor."""
        return cls(0)


def test_render_class_keeps_own_public_members_only() -> None:
    text = render_class(_Sample, "_Sample")
    assert text.startswith("class _Sample(_Base)")
    kept_parts = ["A sample class.", "__init__(self, x:", "own(self)", "Own method."]
    kept_parts += ["size", "The size.", "build(cls)", "Alternate constructor."]
    for kept in kept_parts:
        assert kept in text
    for dropped in ("inherited", "__repr__", "_private", "Hidden."):
        assert dropped not in text


def test_public_objects_without_all_skip_imports() -> None:
    import shlex

    names = [name for name, _ in public_objects(shlex)]
    assert names == ["join", "quote", "shlex", "split"]  # __all__ decides
    import sched

    assert [name for name, _ in public_objects(sched)] == ["scheduler"]


def test_full_stdlib_corpus(full: list[Document]) -> None:
    docs = by_title(full)
    assert 2000 < len(full) < 6000
    assert len({d.source for d in full}) == len(full)
    expected = ["shlex.split", "sched.scheduler", "threading.Timer", "os.path.commonprefix"]
    expected += ["os.path.commonpath", "json.dumps", "collections.Counter", "builtins.sorted"]
    for title in expected:
        assert title in docs, title
    modules = {str(d.metadata["module"]) for d in full}
    left_out_names = ["antigravity", "this", "idlelib", "tkinter", "turtle", "test", "lib2to3"]
    left_out_names += ["posixpath", "ntpath", "encodings.utf_8", "_collections_abc"]
    for left_out in left_out_names:
        assert left_out not in modules
    assert {str(d.metadata["kind"]) for d in full} == {"module", "class", "function"}
    assert sum(len(d.text) for d in full) < 4_000_000
    assert "idlelib" not in sys.modules and "antigravity" not in sys.modules


def test_full_corpus_chunks_within_the_demo_budget(full: list[Document]) -> None:
    chunks = make_chunker("structure", size=200, overlap=40).chunk_many(full)
    assert 3000 < len(chunks) < 12_000
    assert len({c.id for c in chunks}) == len(chunks)
    assert all(isinstance(v, str | int | float | bool) for c in chunks for v in c.metadata.values())
