"""Retrieval metrics: recall@k, MRR and nDCG@k over a query file.

A query names what is relevant by metadata values, e.g.
``{"query": "split a shell command line", "relevant": {"module": ["shlex"]}}``:
a hit is relevant when any listed field has one of the listed values. The listed
values are *alternatives* — any one of them answers the query — so recall@k is
the share of queries with a relevant hit in the top k (recall@1: the right
module comes first), MRR is the mean of 1/rank of the first relevant hit, and
nDCG@k uses binary gains where each relevant value counts once (several chunks
of ``shlex`` are one relevant item).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heron.errors import InputError
from heron.types import Hit


@dataclass(frozen=True)
class RetrievalQuery:
    query: str
    relevant: Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class QueryResult:
    query: str
    recall: float
    reciprocal_rank: float
    ndcg: float
    top: list[str]


@dataclass(frozen=True)
class RetrievalReport:
    k: int
    recall: float
    mrr: float
    ndcg: float
    queries: int
    per_query: list[QueryResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            f"recall@{self.k}": self.recall,
            "mrr": self.mrr,
            f"ndcg@{self.k}": self.ndcg,
            "queries": self.queries,
        }


def load_queries(path: Path) -> list[RetrievalQuery]:
    """Read a JSONL query file; every error names the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read query file {path}: {exc}") from exc
    queries = [_parse_query(line, path, n) for n, line in enumerate(lines, 1) if line.strip()]
    if not queries:
        raise InputError(f"query file {path} has no queries", hint="one JSON object per line")
    return queries


def _parse_query(line: str, path: Path, number: int) -> RetrievalQuery:
    where = f"{path}:{number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg})") from exc
    query, relevant = data.get("query") if isinstance(data, dict) else None, None
    if isinstance(data, dict):
        relevant = data.get("relevant")
    if not isinstance(query, str) or not query.strip():
        raise InputError(f'{where}: needs a non-empty "query" string')
    if (
        not isinstance(relevant, dict)
        or not relevant
        or not all(isinstance(v, list) and v for v in relevant.values())
    ):
        raise InputError(
            f'{where}: "relevant" must map a metadata field to a non-empty list of values',
            hint='e.g. {"query": "...", "relevant": {"module": ["shlex"]}}',
        )
    return RetrievalQuery(query, relevant)


def _relevant_value(hit: Hit, relevant: Mapping[str, Sequence[Any]]) -> tuple[str, Any] | None:
    meta = hit.metadata or {}
    for key, values in relevant.items():
        if meta.get(key) in values:
            return (key, meta.get(key))
    return None


def score_ranking(hits: Sequence[Hit], query: RetrievalQuery, k: int) -> QueryResult:
    """Metrics for one ranked list."""
    total = sum(len(set(map(str, v))) for v in query.relevant.values())
    found: set[tuple[str, Any]] = set()
    first_rank = 0
    dcg = 0.0
    for rank, hit in enumerate(hits[:k], start=1):
        value = _relevant_value(hit, query.relevant)
        if value is None or value in found:
            continue
        found.add(value)
        first_rank = first_rank or rank
        dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(k, total) + 1))
    return QueryResult(
        query.query,
        1.0 if found else 0.0,
        1.0 / first_rank if first_rank else 0.0,
        dcg / ideal if ideal else 0.0,
        [hit.id for hit in hits[:k]],
    )


def evaluate_retrieval(
    search: Callable[[str], Sequence[Hit]],
    queries: Iterable[RetrievalQuery],
    k: int,
) -> RetrievalReport:
    """Run every query through ``search`` and average the metrics."""
    results = [score_ranking(search(q.query), q, k) for q in queries]
    n = len(results)
    if n == 0:
        raise InputError("no queries to evaluate")
    return RetrievalReport(
        k,
        sum(r.recall for r in results) / n,
        sum(r.reciprocal_rank for r in results) / n,
        sum(r.ndcg for r in results) / n,
        n,
        results,
    )
