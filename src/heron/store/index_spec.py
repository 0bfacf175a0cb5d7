"""Which index family a collection uses: ``IndexSpec``, stored per collection.

``kind="auto"`` (the default) searches exactly (numpy, ``ExactIndex``) while the
collection holds fewer than ``AUTO_ANN_MIN`` records and switches to HNSW at that
size. ``"flat"`` is always exact. ``"hnsw"``, ``"ivf_flat"`` and ``"ivf_pq"`` are
FAISS families (``ann.py``) with their knobs.

Why 50,000: exact search on the 2-core dev box (384-d, one query; figures in
``index.py``) costs 0.12 ms at 10k vectors, 0.58 ms at 30k and 2.7 ms at 100k,
linear in n. HNSW (M 32, efC 200, ef 64; ``bench/index_threshold.py``,
machine shared with other jobs) answered in 0.16-0.29 ms at recall@10 0.98-1.0
from 10k to 50k vectors but cost 240-410 us per vector to build (20 s at 50k).
Below 50k an exact query stays near a millisecond, so the build time and the
loss of exactness buy nothing a user notices; above it, exact latency keeps
growing while HNSW's stays flat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heron.errors import ConfigError
from heron.store.ann import AnnConfig
from heron.store.results import Metric

IndexKind = Literal["auto", "flat", "hnsw", "ivf_flat", "ivf_pq"]
KINDS: tuple[str, ...] = get_args(IndexKind)

#: records from which ``auto`` builds HNSW instead of searching exactly (see module doc)
AUTO_ANN_MIN = 50_000


class IndexSpec(BaseModel):
    """A collection's index family and its build/search parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: IndexKind = "auto"
    m: int = Field(default=32, ge=2, le=512)
    ef_construction: int = Field(default=200, ge=1)
    ef_search: int = Field(default=64, ge=1)
    nlist: int | None = Field(default=None, ge=1)
    nprobe: int = Field(default=16, ge=1)
    pq_m: int | None = Field(default=None, ge=1)
    pq_nbits: int = Field(default=8, ge=1, le=16)
    rerank: int = Field(default=0, ge=0)

    @classmethod
    def parse(cls, value: IndexSpec | Mapping[str, Any] | str | None) -> IndexSpec:
        """An ``IndexSpec`` from itself, a dict, a kind name or ``None`` (auto)."""
        if isinstance(value, IndexSpec):
            return value
        if value is None:
            return cls()
        if isinstance(value, str):
            value = {"kind": value}
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"index must be a kind name or a dict of settings, got {type(value).__name__}",
                hint=f"e.g. index={{'kind': 'hnsw', 'm': 32}}; kinds: {', '.join(KINDS)}",
            )
        try:
            return cls(**dict(value))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'index'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(
                f"invalid index settings: {problems}",
                hint=f"kinds: {', '.join(KINDS)}; knobs: m, ef_construction, ef_search, "
                "nlist, nprobe, pq_m, pq_nbits, rerank",
            ) from None

    def resolve(self, metric: Metric, count: int) -> AnnConfig | None:
        """The FAISS config to build for ``count`` records, or ``None`` for exact search.

        IVF families search exactly until the collection has enough vectors to
        train them (``min_training``), so a new collection works from its first record.
        """
        kind = self.kind
        if kind == "auto":
            kind = "hnsw" if count >= AUTO_ANN_MIN else "flat"
        if kind == "flat" or count < self.min_training():
            return None
        return AnnConfig.parse(kind=kind, metric=metric, **self.model_dump(exclude={"kind"}))

    def check(self, dimension: int | None) -> None:
        """``ConfigError`` for settings that can never fit vectors of ``dimension``."""
        if self.kind == "ivf_pq" and dimension and self.pq_m and dimension % self.pq_m:
            raise ConfigError(
                f"pq_m={self.pq_m} does not divide the dimension {dimension}",
                hint=f"pick a divisor of {dimension} (or leave pq_m unset)",
            )

    def min_training(self) -> int:
        """Vectors an IVF family needs before it can be trained (1 for the others)."""
        if self.kind not in ("ivf_flat", "ivf_pq"):
            return 1
        need = self.nlist or 1  # the automatic nlist never exceeds the count
        return max(need, 2**self.pq_nbits) if self.kind == "ivf_pq" else need

    def describe(self) -> str:
        """One line for ``collections info``: the kind and the knobs that apply to it."""
        knobs: dict[str, object] = {}
        if self.kind in ("auto", "hnsw"):
            knobs |= {"m": self.m, "ef_construction": self.ef_construction}
            knobs["ef_search"] = self.ef_search
        if self.kind in ("ivf_flat", "ivf_pq"):
            knobs |= {"nlist": self.nlist or "auto", "nprobe": self.nprobe}
        if self.kind == "ivf_pq":
            knobs |= {"pq_m": self.pq_m or "auto", "pq_nbits": self.pq_nbits}
        if self.rerank and self.kind != "flat":
            knobs["rerank"] = self.rerank
        text = ", ".join(f"{key}={value}" for key, value in knobs.items())
        return f"{self.kind} ({text})" if text else self.kind
