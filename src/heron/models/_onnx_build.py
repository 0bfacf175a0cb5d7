"""Build step of the ``onnx:`` backend: export, quantise and cache ONNX graphs.

Graphs are derived data. Each lives under ``<cache>/<key>/`` where the key hashes
the model's config and weights together with the versions of the tools that made
the graph, so an edited model or an upgraded torch never reuses a stale file.
Every file is written under a temp name beside its target and renamed into place:
a reader in another process sees either no file or a whole one. Two processes
that build at once both do the work; the last rename wins.

The exporter is torch's TorchScript-based one (``dynamo=False``): it needs only
the ``onnx`` package, and encoder-only models trace cleanly with dynamic batch
and sequence axes. The export is checked against torch on a padded batch before
it is kept.

Left out: the dynamo exporter (needs onnxscript), graph fusions beyond what ONNX
Runtime applies at load time, static (calibrated) quantisation, models over 2 GB
(external-data graphs).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import inspect
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from heron.errors import ModelError
from heron.models._runtime import one_line, require

#: bump when the export recipe changes, so cached graphs are rebuilt
EXPORT_FORMAT = 1
OPSET = 17
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
CHECK_FILE = "int8-check.json"
EXTRA = "onnx"
WEIGHT_PATTERNS = ("model.safetensors", "model-*.safetensors", "pytorch_model*.bin")
_TOOLS = ("torch", "transformers", "onnx", "onnxruntime")


def cache_root(override: Path | str | None = None) -> Path:
    """``override``, else ``$HERON_CACHE/onnx``, else ``~/.cache/heron/onnx``."""
    if override is not None:
        return Path(override).expanduser()
    root = os.environ.get("HERON_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "heron"
    return base / "onnx"


def weight_files(model_dir: Path) -> list[Path]:
    """The files holding a transformers model's weights (sharded or not)."""
    return sorted({p for pattern in WEIGHT_PATTERNS for p in model_dir.glob(pattern)})


def _tool_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def cache_key(files: Sequence[Path]) -> str:
    """sha256 over the recipe, the tool versions and the files' names and bytes."""
    digest = hashlib.sha256(f"format={EXPORT_FORMAT} opset={OPSET}\n".encode())
    for tool in _TOOLS:
        digest.update(f"{tool}={_tool_version(tool)}\n".encode())
    for path in sorted(files):
        digest.update(f"{path.name}\n".encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:32]


@contextlib.contextmanager
def atomic_target(target: Path) -> Iterator[Path]:
    """Yield a temp path beside ``target``; rename it onto ``target`` if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # keep the real suffix last: onnx.save picks the serialisation from it
    handle, name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp makes it private; the cache is shared like ~/.cache
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# -- fp32 export ----------------------------------------------------------------------
def export_fp32(model_dir: Path, target: Path, pad_id: int) -> None:
    """Export the transformer in ``model_dir`` to ``target`` (token embeddings out)."""
    torch = require("torch", "torch", EXTRA)
    transformers = require("transformers", "transformers", EXTRA)
    require("onnx", "onnx", EXTRA)  # torch.onnx imports it late, with a vaguer error
    try:
        model = transformers.AutoModel.from_pretrained(
            str(model_dir), attn_implementation="eager", local_files_only=True
        ).eval()
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError...
        raise ModelError(
            f"cannot load the transformer in {model_dir} for export: {one_line(exc)}",
            hint="check that the folder is a complete sentence-transformers save()",
        ) from exc
    names = input_names(model)
    wrapper = _token_embeddings_module(torch, model, names)
    example = _example_batch(torch, len(names), pad_id)
    with torch.no_grad():
        reference = wrapper(*example).numpy()
    with atomic_target(target) as tmp:
        _trace_export(torch, wrapper, example, names, tmp)
        _check_export(tmp, names, example, reference)


def input_names(model: Any) -> tuple[str, ...]:
    """The inputs the graph takes: ids and mask, plus token types where the model has them."""
    accepted = inspect.signature(model.forward).parameters
    extra = ("token_type_ids",) if "token_type_ids" in accepted else ()
    return ("input_ids", "attention_mask", *extra)


def _token_embeddings_module(torch: Any, model: Any, names: tuple[str, ...]) -> Any:
    """Wrap ``model`` so it takes positional tensors and returns the last hidden state.

    Keyword calls sidestep transformers' changing positional argument order.
    """

    class TokenEmbeddings(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(names, tensors, strict=True))).last_hidden_state

    return TokenEmbeddings().eval()


def _example_batch(torch: Any, n_inputs: int, pad_id: int) -> tuple[Any, ...]:
    """Two rows, the second padded: tracing an unpadded batch can bake in "no mask"."""
    ids = torch.tensor([[2, 7, 8, 9, 10, 11, 12, 3], [2, 7, 8, 3, pad_id, pad_id, pad_id, pad_id]])
    mask = (torch.arange(8) < torch.tensor([[8], [4]])).long()
    types = torch.zeros_like(ids)
    return (ids, mask, types)[:n_inputs]


def _trace_export(
    torch: Any, wrapper: Any, example: tuple[Any, ...], names: tuple[str, ...], path: Path
) -> None:
    axes = {name: {0: "batch", 1: "sequence"} for name in (*names, "token_embeddings")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter
            torch.onnx.export(
                wrapper,
                example,
                str(path),
                input_names=list(names),
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many types for unsupported graphs
        raise ModelError(
            f"ONNX export failed: {one_line(exc)}",
            hint="this architecture may not export; use the st: backend for this model",
        ) from exc


def _check_export(
    path: Path, names: tuple[str, ...], example: tuple[Any, ...], reference: np.ndarray
) -> None:
    """Refuse a graph whose output differs from torch's on the real tokens."""
    session = open_session(path, threads=1)
    feed = {name: tensor.numpy() for name, tensor in zip(names, example, strict=True)}
    got = session.run(None, feed)[0]
    valid = feed["attention_mask"].astype(bool)
    if not np.allclose(got[valid], reference[valid], atol=1e-3, rtol=1e-3):
        error = float(np.abs(got[valid] - reference[valid]).max())
        raise ModelError(
            f"the exported ONNX graph disagrees with torch (max abs error {error:.3g})",
            hint="use the st: backend for this model and report the model type",
        )


# -- int8 -----------------------------------------------------------------------------
def quantize_int8(source: Path, target: Path) -> None:
    """Dynamically quantise ``source``'s weight matmuls to int8, except FFN down-projections.

    Per-channel uint8 weights (per-tensor int8 drifted far more on MiniLM). The
    feed-forward output projections (weights taller than wide) stay fp32: they read
    GELU outputs with outliers that 8 bits lose; keeping them lifts the worst cosine
    to fp32 on 400 MiniLM document chunks from 0.984 to 0.993.
    """
    onnx = require("onnx", "onnx", EXTRA)
    quantization = require("onnxruntime.quantization", "onnxruntime", EXTRA)
    keep = down_projections(onnx.load(str(source), load_external_data=False))
    with atomic_target(target) as tmp, _quiet_root_logger():
        quantization.quantize_dynamic(
            source,
            tmp,
            per_channel=True,
            weight_type=quantization.QuantType.QUInt8,
            nodes_to_exclude=keep,
        )


def down_projections(model: Any) -> list[str]:
    """Names of MatMul nodes whose weight has more rows than columns."""
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    names = []
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        dims = [shapes[name] for name in node.input if name in shapes]
        if len(dims) == 1 and len(dims[0]) == 2 and dims[0][0] > dims[0][1]:
            names.append(node.name)
    return names


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Mute the quantiser's root-logger advice ("consider pre-processing") for one call."""
    before = logging.root.manager.disable
    logging.disable(max(before, logging.WARNING))
    try:
        yield
    finally:
        logging.disable(before)


# -- sessions -------------------------------------------------------------------------
def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def open_session(path: Path, threads: int | None) -> Any:
    """An ONNX Runtime CPU session with full graph optimisation and ``threads`` intra-op threads."""
    ort = require("onnxruntime", "onnxruntime", EXTRA)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_count()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's pybind errors share no useful base class
        raise ModelError(
            f"ONNX Runtime cannot load {path}: {one_line(exc)}",
            hint="delete the file to rebuild it, or check that it is an ONNX model",
        ) from exc
