"""Typed settings, read from ``heron.toml`` and ``HERON_*`` environment variables.

Precedence, lowest first: defaults, the ``[heron]`` table of ``heron.toml`` in the
working directory (or the file named by ``HERON_CONFIG``), then ``HERON_*``
variables. Settings are passed explicitly to whatever needs them; nothing here is
global.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heron.errors import ConfigError

DEFAULT_EMBEDDER = "bundled:minilm"
DEFAULT_LLM = "bundled:smollm2"


class Settings(BaseModel):
    """Everything a Heron command needs to know before it starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(default=Path(".heron"), description="store home folder")
    cache: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "heron",
        description="rendered corpora and assembled model files, shared by all homes",
    )
    embedder: str = DEFAULT_EMBEDDER
    llm: str = DEFAULT_LLM
    collection: str = "pydocs"
    #: passages retrieved by `heron search` and given to the model by `heron ask`
    k: int = Field(default=4, ge=1, le=100)
    threads: int | None = Field(default=None, ge=1, description="CPU threads for models")
    lock_timeout_s: float = Field(default=10.0, gt=0)
    retrieval_timeout_s: float = Field(default=30.0, gt=0)
    generation_timeout_s: float = Field(default=120.0, gt=0)


_ENV_FIELDS = {
    "HERON_HOME": "home",
    "HERON_CACHE": "cache",
    "HERON_EMBEDDER": "embedder",
    "HERON_LLM": "llm",
    "HERON_COLLECTION": "collection",
    "HERON_K": "k",
    "HERON_THREADS": "threads",
    "HERON_LOCK_TIMEOUT_S": "lock_timeout_s",
    "HERON_RETRIEVAL_TIMEOUT_S": "retrieval_timeout_s",
    "HERON_GENERATION_TIMEOUT_S": "generation_timeout_s",
}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"cannot read settings file {path}: {exc}", hint="fix or remove the file"
        ) from exc
    table = data.get("heron", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [heron] must be a table", hint="see docs/configuration.md")
    return dict(table)


def load_settings(
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from file, environment and explicit overrides (highest)."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    values: dict[str, Any] = {}
    config_path = Path(env["HERON_CONFIG"]) if env.get("HERON_CONFIG") else cwd / "heron.toml"
    if config_path.is_file():
        values.update(_read_toml(config_path))
    elif env.get("HERON_CONFIG"):
        raise ConfigError(f"HERON_CONFIG names {config_path}, which does not exist")
    for var, field_name in _ENV_FIELDS.items():
        if env.get(var):
            values[field_name] = env[var]
    values.update({key: value for key, value in overrides.items() if value is not None})
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"invalid setting '{where}': {first['msg']}",
            hint="check heron.toml and HERON_* variables",
        ) from exc
    if not settings.home.is_absolute():
        settings = settings.model_copy(update={"home": (cwd / settings.home).resolve()})
    return settings
