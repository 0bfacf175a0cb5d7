"""Plumbing shared by the model backends: optional imports, lazy loading, sources.

Nothing here imports a heavy library at module import time; each helper imports
what it needs when called, so ``heron.models`` stays cheap to import.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Generic, TypeVar

from heron.errors import ConfigError, ModelError, missing_extra
from heron.types import Message

T = TypeVar("T")

# owner/name or a bare name, as the Hugging Face hub spells repository ids.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_TRUTHY = {"1", "true", "yes", "on"}


def require(module: str, package: str, extra: str) -> ModuleType:
    """Import ``module`` or raise the ConfigError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing and missing != module.split(".", maxsplit=1)[0]:
            raise ConfigError(
                f"importing '{module}' failed: {exc}",
                hint=f"reinstall it with `pip install --force-reinstall 'heron[{extra}]'`",
            ) from exc
        raise missing_extra(package, extra) from exc


class Lazy(Generic[T]):
    """A value built once, on first use, under a lock (double-checked)."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value


def hub_offline() -> bool:
    """Whether the Hugging Face libraries are told not to touch the network."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUTHY
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@dataclass(frozen=True)
class ModelSource:
    """Where a Hugging Face-style model comes from: a local folder or a hub id."""

    name: str
    local: bool

    @property
    def local_files_only(self) -> bool:
        """Local folders never need the network; hub ids only when not offline."""
        return self.local or hub_offline()


def resolve_source(target: str, scheme: str, what: str) -> ModelSource:
    """Turn a spec target into a folder or a plausible hub id, or explain why not."""
    path = Path(target).expanduser()
    if path.is_dir():
        return ModelSource(str(path.resolve()), local=True)
    if path.exists():
        raise ConfigError(
            f"{scheme}:{target} is a file, but {what} is loaded from a folder",
            hint="give the folder that holds config.json (save_pretrained's output)",
        )
    if target.startswith((".", "/", "~")) or not _HUB_ID.fullmatch(target):
        raise ConfigError(
            f"{scheme}:{target}: no such folder",
            hint=f"give the folder of a {what}, or a hub id such as owner/name",
        )
    return ModelSource(target, local=False)


def hf_load_hint(source: ModelSource) -> str:
    """The advice attached to a failed Hugging Face load."""
    if source.local:
        return "check that the folder is a complete save_pretrained() output"
    if hub_offline():
        return (
            f"'{source.name}' is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            "download it once while online, or pass a local folder"
        )
    return f"check the hub id '{source.name}' and your network, or pass a local folder"


def plain_prompt(messages: Sequence[Message]) -> str:
    """The prompt for a model without a chat template: contents, blank-line separated."""
    return "\n\n".join(m.content for m in messages)


def one_line(text: object, limit: int = 300) -> str:
    """Collapse an exception message (often multi-line) into one short line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block with torch's intra-op thread count set, then restore it.

    torch's thread pool is process-wide; scoping the change keeps one backend's
    setting from leaking into the rest of the program.
    """
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if before != threads:
            torch.set_num_threads(before)


@contextmanager
def quiet_hf_loading() -> Iterator[None]:
    """Hide transformers' "Loading weights" progress bars while a model loads."""
    hf_logging = importlib.import_module("transformers.utils.logging")
    was_enabled = hf_logging.is_progress_bar_enabled()
    if was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextmanager
def hf_load_errors(source: ModelSource) -> Iterator[None]:
    """Quiet HF loading, and any failure as a ``ModelError`` naming the model and a fix."""
    try:
        with quiet_hf_loading():
            yield
    except Exception as exc:  # HF raises OSError, ValueError, HTTP errors...
        raise ModelError(
            f"cannot load Hugging Face model '{source.name}': {one_line(exc)}",
            hint=hf_load_hint(source),
        ) from exc
