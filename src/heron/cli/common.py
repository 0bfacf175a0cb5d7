"""What every CLI command shares: settings, the store, the model registry, output.

A ``CliState`` is built once per invocation in the root callback and handed to
commands through Typer's context; commands never read settings themselves.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from heron.config import Settings
from heron.errors import FilterError
from heron.models.registry import ModelRegistry
from heron.store import Store, open_store


@dataclass
class CliState:
    settings: Settings
    console: Console = field(default_factory=lambda: Console(highlight=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))
    _registry: ModelRegistry | None = None
    _store: Store | None = None

    @property
    def registry(self) -> ModelRegistry:
        if self._registry is None:
            self._registry = ModelRegistry(
                options={
                    "threads": self.settings.threads,
                    "model_cache": self.settings.cache / "models",
                    "onnx_cache": self.settings.cache / "onnx",
                }
            )
        return self._registry

    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(
                self.settings.home,
                registry=self.registry,
                timeout_s=self.settings.lock_timeout_s,
                progress=BuildBars(self),
            )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def progress(self) -> Progress:
        """A rich progress bar on stderr (silent when stderr is not a terminal)."""
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=False,
        )


class BuildBars:
    """The store's index-build progress hook: one rich bar per build, on stderr."""

    def __init__(self, st: CliState) -> None:
        self._st = st
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, label: str, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = self._st.progress()
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done)
        if done >= total:
            self._bar.stop()
            self._bar = self._task = None


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def parse_where(text: str | None) -> Mapping[str, Any] | None:
    """Parse a ``--where`` JSON filter; the store validates its operators."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FilterError(
            f"--where is not valid JSON: {exc.msg} at character {exc.pos}",
            hint='example: --where \'{"module": "shlex"}\'',
        ) from exc
    if not isinstance(value, dict):
        raise FilterError(
            "--where must be a JSON object", hint='example: --where \'{"module": "os"}\''
        )
    return value


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
