"""Render the running Python's standard library documentation, one record per section.

This file runs as a *script* in a separate interpreter (``python -S -P this.py OUT
[MODULE ...]``), started by :mod:`heron.ingest.corpora`: importing a few hundred
modules must not touch the caller's process (no imported modules, prints, threads or
signal handlers left behind), and a module that hangs on import must cost a timeout,
not the caller. It therefore imports nothing from Heron, only the standard library.

Output is JSON Lines in ``OUT``: one ``{"module", "object", "kind", "text"}`` record
per module page, top-level public function and top-level public class, in a
deterministic order (modules sorted, objects sorted), then one final
``{"skipped": {module: reason}}`` record. Text is pydoc's plain-text rendering; the
caller does the string clean-up (overstrike, memory addresses).

Left out: private modules and names, GUI toolkits (tkinter, turtle), tests and IDLE,
modules deprecated for removal, codec modules, module-level data (constants are
named in the module page's summary only), and everything a class inherits.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import io
import json
import pkgutil
import pydoc
import re
import signal
import sys
import warnings
from collections.abc import Iterator
from types import FrameType, ModuleType

#: Top-level modules never rendered: side effects on import, GUI toolkits, tests,
#: tooling internals, duplicates of a public module, and modules deprecated for removal.
EXCLUDED = frozenset(
    {
        # side effects, tests, tooling, GUI
        "antigravity", "this", "idlelib", "turtledemo", "turtle", "tkinter", "test",
        "lib2to3", "ensurepip", "venv", "pydoc_data", "encodings", "xxlimited",
        "xxsubtype", "xxlimited_35",
        # platform duplicates of os / os.path (posixpath is rendered as os.path)
        "posix", "nt", "ntpath", "genericpath", "macpath",
        # deprecated for removal (PEP 594 and friends)
        "aifc", "asynchat", "asyncore", "audioop", "cgi", "cgitb", "chunk", "crypt",
        "distutils", "imghdr", "imp", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev",
        "pipes", "smtpd", "sndhdr", "spwd", "sre_compile", "sre_constants", "sre_parse",
        "sunau", "telnetlib", "uu", "xdrlib",
    }
)  # fmt: skip

#: Submodule names never walked into (internals of a public package).
EXCLUDED_SUBMODULES = frozenset({"test", "tests", "idle_test", "__main__"})

#: Modules documented under the name users import them by.
ALIASES = {"posixpath": "os.path"}

#: Members of a class that are documented although they start with an underscore.
KEPT_DUNDERS = frozenset({"__init__", "__call__"})

IMPORT_TIMEOUT_S = 10


class _Timeout(Exception):
    """A module took longer than IMPORT_TIMEOUT_S to import or render."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout


def _alarm(seconds: int) -> None:
    """Arm (or with 0, disarm) the timeout; a no-op where there is no SIGALRM (Windows)."""
    if hasattr(signal, "SIGALRM"):
        signal.alarm(seconds)


@contextlib.contextmanager
def _quiet(seconds: int) -> Iterator[list[warnings.WarningMessage]]:
    """Silence prints and warnings, record the warnings, and bound the time taken."""
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("always")
        _alarm(seconds)
        try:
            yield caught
        finally:
            _alarm(0)


def _deprecated(name: str, caught: list[warnings.WarningMessage]) -> bool:
    """Whether importing ``name`` warned that the module itself is deprecated."""
    pattern = re.compile(rf"\b{re.escape(name.rsplit('.', 1)[-1])}\b.*\bdeprecated\b", re.I)
    return any(
        issubclass(w.category, DeprecationWarning) and pattern.search(str(w.message))
        for w in caught
    )


def import_module(name: str) -> ModuleType | str:
    """The imported module, or the reason it cannot be documented."""
    try:
        with _quiet(IMPORT_TIMEOUT_S) as caught:
            module = importlib.import_module(name)
    except _Timeout:
        return f"import took over {IMPORT_TIMEOUT_S}s"
    except (Exception, SystemExit) as error:  # any failure means "not on this platform"
        return f"import failed: {type(error).__name__}: {error}"
    if _deprecated(name, caught):
        return "deprecated"
    return module


def top_level_names() -> list[str]:
    """Public, documentable top-level standard library module names, sorted."""
    return sorted(
        name
        for name in sys.stdlib_module_names
        if not name.startswith("_") and name not in EXCLUDED
    )


def submodule_names(module: ModuleType) -> list[str]:
    """Public submodules of a package (one level), sorted; empty for a plain module."""
    path = getattr(module, "__path__", None)
    if path is None:
        return []
    return sorted(
        f"{module.__name__}.{info.name}"
        for info in pkgutil.iter_modules(path)
        if not info.name.startswith("_") and info.name not in EXCLUDED_SUBMODULES
    )


def public_objects(module: ModuleType) -> list[tuple[str, object]]:
    """Top-level public functions and classes, sorted by name.

    With ``__all__`` the module's own export list decides; without it only objects
    defined in the module count (not what it merely imports), as in pydoc.
    """
    exported = getattr(module, "__all__", None)
    has_all = isinstance(exported, list | tuple)
    names = sorted({str(n) for n in exported}) if has_all else sorted(vars(module))  # type: ignore[union-attr]
    found: list[tuple[str, object]] = []
    for key in names:
        if key.startswith("_"):
            continue
        try:
            value = getattr(module, key)
        except Exception:  # lazy attributes may fail to load; nothing to document
            continue
        if not (inspect.isclass(value) or inspect.isroutine(value)):
            continue
        if not has_all and not _defined_here(value, module):
            continue
        found.append((key, value))
    return found


def _defined_here(value: object, module: ModuleType) -> bool:
    """Whether ``value`` belongs to ``module`` (pydoc's rule for modules without ``__all__``).

    Functions implemented in a C accelerator (``bisect.bisect_left`` lives in
    ``_bisect``) are built-ins and count as the public module's own, as in pydoc.
    """
    return inspect.isbuiltin(value) or getattr(value, "__module__", None) == module.__name__


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _own_doc(obj: object) -> str:
    doc = vars(obj).get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line.strip() else "" for line in text.splitlines())


def render_routine(obj: object, name: str) -> str:
    """Signature line and the routine's *own* docstring (pydoc would inherit one)."""
    head = f"{name}{_signature(obj) or '(...)'}"
    doc = _own_doc(obj)
    return f"{head}\n{_indent(doc)}" if doc else head


def render_member(name: str, raw: object) -> str:
    """One method or property of a class, as pydoc renders it; "" for plain data."""
    if isinstance(raw, property | functools.cached_property) or inspect.isdatadescriptor(raw):
        doc = inspect.getdoc(raw) or ""
        return f"{name}\n{_indent(doc)}" if doc else name
    if isinstance(raw, classmethod | staticmethod):
        return render_routine(raw.__func__, name)
    if inspect.isroutine(raw):
        return render_routine(raw, name)
    return ""


def render_class(cls: type, name: str) -> str:
    """Class header, signature and docstring, then its *own* public methods and properties."""
    bases = ", ".join(pydoc.classname(base, cls.__module__) for base in cls.__bases__)
    parts = [f"class {name}({bases})"]
    signature = _signature(cls)
    if signature:
        parts.append(_indent(f"{name}{signature}"))
    doc = _own_doc(cls)
    if doc:
        parts.append(_indent(doc))
    for member, raw in vars(cls).items():
        if member.startswith("_") and member not in KEPT_DUNDERS:
            continue
        text = render_member(member, raw)
        if text.strip():
            parts.append(_indent(text.rstrip()))
    return "\n\n".join(parts)


def render_module_page(name: str, module: ModuleType, objects: list[tuple[str, object]]) -> str:
    """The module docstring plus a one-line summary of what it defines."""
    parts = [name]
    doc = _own_doc(module)
    if doc:
        parts.append(doc)
    classes = [key for key, value in objects if inspect.isclass(value)]
    functions = [key for key, value in objects if not inspect.isclass(value)]
    if classes:
        parts.append("Classes: " + ", ".join(classes))
    if functions:
        parts.append("Functions: " + ", ".join(functions))
    return "\n\n".join(parts)


def _record(module: str, obj: str, kind: str, text: str) -> dict[str, object]:
    return {"module": module, "object": obj, "kind": kind, "text": text}


def render_module(name: str, module: ModuleType, seen: set[int]) -> Iterator[dict[str, object]]:
    """Records for one module: its page, then each object not documented elsewhere yet."""
    objects = [(k, v) for k, v in public_objects(module) if id(v) not in seen]
    seen.update(id(v) for _, v in objects)
    yield _record(name, "", "module", render_module_page(name, module, objects))
    for key, value in objects:
        if isinstance(value, type):
            yield _record(name, key, "class", render_class(value, key))
        elif _own_doc(value):
            yield _record(name, key, "function", render_routine(value, key))


def expand(names: list[str], skipped: dict[str, str]) -> list[tuple[str, ModuleType]]:
    """Import the named modules and, recursively, their public submodules."""
    modules: dict[str, ModuleType] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in modules or name in skipped:
            continue
        result = import_module(name)
        if isinstance(result, str):
            skipped[name] = result
            continue
        modules[name] = result
        pending.extend(submodule_names(result))
    return sorted(((ALIASES.get(n, n), m) for n, m in modules.items()), key=lambda p: p[0])


def render(names: list[str], *, walk: bool) -> Iterator[dict[str, object]]:
    """All records for ``names`` (and their submodules when ``walk``), then the skip list."""
    skipped: dict[str, str] = {}
    if walk:
        modules = expand(names, skipped)
    else:
        modules = []
        for name in names:
            result = import_module(name)
            if isinstance(result, str):
                skipped[name] = result
            else:
                modules.append((ALIASES.get(name, name), result))
    seen: set[int] = set()
    for name, module in modules:
        try:
            with _quiet(IMPORT_TIMEOUT_S):
                records = list(render_module(name, module, seen))
        except (Exception, _Timeout) as error:  # one broken module must not sink the corpus
            skipped[name] = f"render failed: {type(error).__name__}: {error}"
            continue
        yield from records
    yield {"skipped": skipped}


def main(argv: list[str]) -> int:
    """``OUT [MODULE ...]``: render the named modules, or the whole library if none."""
    if not argv:
        print("usage: _stdlib_render.py OUT [MODULE ...]", file=sys.stderr)
        return 2
    out, names = argv[0], argv[1:]
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, _on_alarm)
    records = render(names or top_level_names(), walk=not names)
    with open(out, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
