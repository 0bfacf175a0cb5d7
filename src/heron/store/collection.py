"""``Collection``: the public, Chroma-shaped API over one named set of records.

A record is an id, an optional document, a metadata dict and a float32 vector.
This class only orchestrates: arguments are checked in ``validation``, write
semantics live in ``writes``, SQL in ``records``, search strategy in ``planner``.
Each method is one transaction, so a failed call writes nothing and every read
sees one consistent snapshot. A handle notices a deletion (``CollectionNotFound``)
or another process's writes on its next call: a query re-reads its collection's row
whenever anything was committed since the previous query (``Catalog.state``), and
otherwise reuses the row and index cached with that state (``_view``); an unfiltered
query for ids and scores then needs no read transaction (``_quick_query``).
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from heron.errors import CollectionNotFound, ConfigError, InputError
from heron.models.base import Embedder
from heron.store import catalog, records
from heron.store.ann import check_trainable
from heron.store.filters import SqlFragment, compile_filter, parse_filter
from heron.store.index import Neighbours, distance_from_score, distances_from_scores
from heron.store.index_spec import IndexSpec
from heron.store.indexing import PRUNE_EVERY, CompactReport, Index, load_spec
from heron.store.keyword import fts_match
from heron.store.live import LiveIndex
from heron.store.lock import StoreLocked
from heron.store.planner import QueryPlan, execute, plan
from heron.store.results import CollectionInfo, GetResult, Metric
from heron.store.validation import (
    Matrix,
    RecordBatch,
    as_matrix,
    build_batch,
    check_count,
    check_ids,
    check_include,
    check_vectors,
)
from heron.store.writes import (
    WriteMode,
    WriteSplit,
    apply_split,
    check_content,
    check_source,
    refuse_foreign_ids,
    split_batch,
    with_source,
)
from heron.types import Hit

if TYPE_CHECKING:
    from heron.store.store import Store

#: what the write methods accept; anything else is refused at run time with an InputError
Ids = Sequence[str] | str
Documents = Sequence[str | None] | None
Embeddings = ArrayLike | None
Metadatas = Sequence[Mapping[str, Any] | None] | None

log = logging.getLogger(__name__)

GET_FIELDS = ("documents", "metadatas", "embeddings")
#: how long pruning the changes log waits for the writer lock before leaving it for later
PRUNE_LOCK_WAIT_S = 0.5
QUERY_FIELDS = ("documents", "metadatas", "distances")
#: fields a query reads from the catalog (ids, scores and distances come from the index)
BODY_FIELDS = frozenset({"documents", "metadatas"})
Where = Mapping[str, Any] | None


class Collection:
    """A named set of records with documents, metadata and vectors of one dimension."""

    def __init__(self, store: Store, row: catalog.CollectionRow) -> None:
        self._store = store
        self._id = row.id
        self.name: str = row.name
        self.metric: Metric = row.metric
        self.embedder_spec: str | None = row.embedder
        self._dimension = row.dimension
        self._embedder: Embedder | None = None

    def __repr__(self) -> str:
        return f"Collection(name={self.name!r}, metric={self.metric!r}, dimension={self.dimension})"

    @property
    def dimension(self) -> int | None:
        """Fixed at creation, or by the first write when the collection has no embedder."""
        return self._dimension

    @property
    def embedder(self) -> Embedder:
        """The collection's embedder, resolved on first use (loading a model is slow)."""
        if self.embedder_spec is None:
            raise ConfigError(
                f"collection '{self.name}' has no embedder, so it cannot embed text",
                hint="pass embeddings=... instead, or create the collection with embedder=SPEC",
            )
        if self._embedder is None:
            self._embedder = self._store.registry.embedder(self.embedder_spec)
        return self._embedder

    # ------------------------------------------------------------ writes

    def add(
        self,
        ids: Ids,
        documents: Documents = None,
        embeddings: Embeddings = None,
        metadatas: Metadatas = None,
    ) -> None:
        """Insert new records; refused (nothing written) if any id exists already."""
        self._write(build_batch(ids, documents, embeddings, metadatas), "add")

    def upsert(
        self,
        ids: Ids,
        documents: Documents = None,
        embeddings: Embeddings = None,
        metadatas: Metadatas = None,
    ) -> None:
        """Update the ids that exist, add the others."""
        self._write(build_batch(ids, documents, embeddings, metadatas), "upsert")

    def update(
        self,
        ids: Ids,
        documents: Documents = None,
        embeddings: Embeddings = None,
        metadatas: Metadatas = None,
    ) -> None:
        """Change only the given fields of existing records; refused if any id is missing."""
        self._write(build_batch(ids, documents, embeddings, metadatas), "update")

    def delete(self, ids: Ids | None = None, where: Where = None) -> int:
        """Delete by ids and/or filter; returns how many records were deleted."""
        node = parse_filter(where)
        if ids is None and node is None:
            raise InputError(
                "delete needs ids or a non-empty where filter",
                hint="to remove everything, delete the collection "
                f"(`heron collections delete {self.name}`)",
            )
        wanted = None if ids is None else check_ids(ids, allow_empty=True)
        with self._store.catalog.write() as conn:
            row = self._live_row(conn)
            doomed = records.find_record_ids(conn, row.id, wanted, self._compile(node, row))
            deleted = records.delete_records(conn, row, doomed)
        self._after_write()
        return deleted

    def _write(self, batch: RecordBatch, mode: WriteMode) -> None:
        check_content(batch, mode)
        vectors, from_embedder = self._batch_vectors(batch)
        with self._store.catalog.write() as conn:
            row = self._live_row(conn)
            if vectors is not None:
                self._check_vectors(row, vectors, from_embedder)
            existing = records.existing_ids(conn, row.id, batch.ids)
            split = split_batch(batch, vectors, existing, mode, self.name)
            self._fix_dimension(conn, row, vectors)
            apply_split(conn, row, batch, vectors, split)
        self._remember_dimension(vectors)
        self._after_write()

    def _after_write(self) -> None:
        """Compact once tombstones pass ``indexing.COMPACT_RATIO`` of the saved index;
        prune the changes log after compaction and every ``indexing.PRUNE_EVERY`` seqs."""
        indexer = self._store.indexer
        with self._store.catalog.read() as conn:
            row = self._live_row(conn)
            if row.dimension is None:
                return
            compacted = indexer.needs_compaction(conn, row)
            if compacted:
                indexer.compact(conn, row)
            elif row.last_seq - row.pruned_seq < PRUNE_EVERY:
                return
            through = indexer.prunable(conn, row)
        self._prune(through)

    def _prune(self, through: int) -> int:
        """Delete the changes log up to ``through``: housekeeping, so it waits briefly
        for the writer lock and skips (until the next time) if another write holds it."""
        if not through:
            return 0
        try:
            with self._store.catalog.write(timeout_s=PRUNE_LOCK_WAIT_S) as conn:
                return records.prune_changes(conn, self._id, through)
        except StoreLocked:
            log.info("changes log of '%s' not pruned: the store is busy writing", self.name)
            return 0

    def _batch_vectors(self, batch: RecordBatch) -> tuple[Matrix | None, bool]:
        """The batch's vectors (embedding documents if needed) and whether we embedded them."""
        if batch.embeddings is not None or batch.documents is None or not len(batch):
            return batch.embeddings, False
        missing = [i for i, doc in enumerate(batch.documents) if doc is None]
        if missing:
            raise InputError(
                f"documents[{missing[0]}] is None and no embeddings were given",
                hint="pass a text to embed or an embedding for every record",
            )
        texts = [doc for doc in batch.documents if doc is not None]
        return self._embed(texts), True

    def _embed(self, texts: Sequence[str]) -> Matrix:
        return as_matrix(self.embedder.embed_many(texts), "embedder output")

    def _check_vectors(
        self, row: catalog.CollectionRow, vectors: Matrix, from_embedder: bool
    ) -> None:
        check_vectors(
            vectors,
            collection=row.name,
            dimension=row.dimension,
            metric=row.metric,
            embedder=row.embedder,
            from_embedder=from_embedder,
        )

    def _remember_dimension(self, vectors: Matrix | None) -> None:
        """After a commit: the first write of a collection without embedder fixed it."""
        if vectors is not None and vectors.shape[0]:
            self._dimension = int(vectors.shape[1])

    def _fix_dimension(
        self, conn: sqlite3.Connection, row: catalog.CollectionRow, vectors: Matrix | None
    ) -> None:
        if row.dimension is None and vectors is not None and vectors.shape[0]:
            catalog.set_dimension(conn, row.id, int(vectors.shape[1]))

    # ------------------------------------------------------------ reads

    def count(self) -> int:
        with self._store.catalog.read() as conn:
            return records.count_records(conn, self._live_row(conn).id)

    def get(
        self,
        ids: Ids | None = None,
        where: Where = None,
        limit: int | None = None,
        offset: int = 0,
        include: Sequence[str] = ("documents", "metadatas"),
    ) -> GetResult:
        """Records by ids (in that order) and/or filter (in insertion order)."""
        fields = check_include(include, GET_FIELDS)
        wanted = None if ids is None else check_ids(ids, allow_empty=True)
        node = parse_filter(where)
        stop = None if limit is None else check_count(limit, "limit", minimum=0)
        start = check_count(offset, "offset", minimum=0)
        page = None if wanted is not None else (-1 if stop is None else stop, start)
        with self._store.catalog.read() as conn:
            row = self._live_row(conn)
            found = records.fetch_records(
                conn,
                row.id,
                external_ids=wanted,
                where=self._compile(node, row),
                with_vectors="embeddings" in fields,
                page=page,
            )
        if wanted is not None:
            by_id = {record.external_id: record for record in found}
            found = [by_id[i] for i in wanted if i in by_id]
            found = found[start:] if stop is None else found[start : start + stop]
        return _get_result(found, fields)

    def query(  # noqa: PLR0913 - Chroma's arguments plus the two search knobs
        self,
        texts: Sequence[str] | str | None = None,
        embeddings: Embeddings = None,
        k: int = 10,
        where: Where = None,
        include: Sequence[str] = ("documents", "metadatas", "distances"),
        *,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> list[list[Hit]]:
        """Nearest records for each query text or vector; one ranked list per query.

        ``ef_search`` (HNSW) and ``nprobe`` (IVF) override the index's settings for
        this call; the planner may widen them for a filter (see ``explain``).
        """
        fields = check_include(include, QUERY_FIELDS)
        k = check_count(k, "k", minimum=1)
        knobs = _knobs(ef_search, nprobe)
        node = parse_filter(where)
        queries, from_embedder = self._query_vectors(texts, embeddings)
        if node is None and not fields & BODY_FIELDS:
            quick = self._quick_query(queries, from_embedder, k, knobs, "distances" in fields)
            if quick is not None:
                return quick
        with self._store.catalog.read() as conn:
            view = self._view(conn)
            if view is None:
                return [[] for _ in range(queries.shape[0])]
            row, index = view
            self._check_vectors(row, queries, from_embedder)
            candidates = self._candidates(conn, row, node)
            chosen = plan(index, candidates, k, **knobs)
            dimension = row.dimension
            assert dimension is not None  # a view exists only once the dimension is set
            found = execute(
                chosen,
                index,
                queries,
                k,
                candidates,
                lambda ids: records.vectors_by_id(conn, row.id, ids, dimension),
            )
            return self._hits(conn, row, index, found, fields)

    def _quick_query(
        self,
        queries: Matrix,
        from_embedder: bool,
        k: int,
        knobs: dict[str, int | None],
        distances: bool,
    ) -> list[list[Hit]] | None:
        """An unfiltered query for ids and scores while nothing was committed since the
        last query (``None``: take the full path).

        No read transaction: one ``PRAGMA data_version`` says the cached row and index
        are current, and nothing after it reads SQL (ids come from the index's names,
        vectors from its memory), so the answer is exactly the committed state that
        check saw. It skips the ~20 us of SQL and parsing the full path costs.
        """
        catalog = self._store.catalog
        with catalog.lock:
            cached = self._store.indexer.current(self._id, catalog.state(catalog.conn))
            if cached is None:
                return None
            row, index = cached
            self._dimension = row.dimension  # another handle may have fixed it
            # an exact index has no names; completing a short result of an IVF index
            # without rerank would read vectors from SQL
            if not isinstance(index, LiveIndex) or not index.keeps_vectors:
                return None
            self._check_vectors(row, queries, from_embedder)
            found = execute(plan(index, None, k, **knobs), index, queries, k, None, _no_fetch)
            return _id_hits(row, found, index.names, distances)

    def explain(
        self,
        texts: Sequence[str] | str | None = None,
        embeddings: Embeddings = None,
        k: int = 10,
        where: Where = None,
        *,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> QueryPlan:
        """How ``query`` with these arguments would run: strategy, match estimate, knobs."""
        k = check_count(k, "k", minimum=1)
        knobs = _knobs(ef_search, nprobe)
        node = parse_filter(where)
        queries, from_embedder = self._query_vectors(texts, embeddings)
        with self._store.catalog.read() as conn:
            view = self._view(conn)
            if view is None:
                return QueryPlan("empty", "flat", 0, reason="the collection is empty")
            row, index = view
            self._check_vectors(row, queries, from_embedder)
            return plan(index, self._candidates(conn, row, node), k, **knobs)

    def _candidates(
        self, conn: sqlite3.Connection, row: catalog.CollectionRow, node: Any
    ) -> records.SqlCandidates | None:
        fragment = self._compile(node, row)
        if fragment is None:
            return None
        cache = self._store.indexer.filters
        return records.SqlCandidates(conn, row.id, fragment, cache, row.last_seq)

    def _query_vectors(self, texts: Any, embeddings: Any) -> tuple[Matrix, bool]:
        if (texts is None) == (embeddings is None):
            raise InputError("query needs texts or embeddings (exactly one of them)")
        if embeddings is not None:
            return as_matrix(embeddings, "query embeddings"), False
        items = [texts] if isinstance(texts, str) else texts
        if not isinstance(items, Sequence) or not items:
            raise InputError("texts must be a non-empty list of strings")
        if not all(isinstance(text, str) for text in items):
            raise InputError("texts must contain only strings")
        return self._embed(list(items)), True

    def _view(self, conn: sqlite3.Connection) -> tuple[catalog.CollectionRow, Index] | None:
        """The collection's row and index in the snapshot ``conn`` reads (None while it
        has no dimension, i.e. nothing to search).

        Must run first in its read transaction. While nothing was committed since the
        last call (``Catalog.state`` is unchanged: no write here, none by another handle
        or process) the cached pair is current and no SQL runs; otherwise the row is
        read again, which notices a deleted collection, and the index catches up.
        """
        state = self._store.catalog.state(conn)
        cached = self._store.indexer.current(self._id, state)
        if cached is not None:
            self._dimension = cached[0].dimension  # another handle may have fixed it
            return cached
        row = self._live_row(conn)
        if row.dimension is None:
            return None
        return row, self._store.indexer.index(conn, row, state)

    # ------------------------------------------------------------ index settings

    @property
    def index_spec(self) -> IndexSpec:
        """The collection's index family and knobs (``auto`` unless set)."""
        with self._store.catalog.read() as conn:
            return load_spec(conn, self._live_row(conn).id)

    def set_index(self, spec: IndexSpec | Mapping[str, Any] | str) -> IndexSpec:
        """Choose the index family; the next query (or ``build_index``) rebuilds it.

        The settings are checked against the collection now (e.g. a PQ ``pq_m`` that
        does not divide the dimension), so a bad choice fails here, not at the next
        query. IVF families search exactly until there are enough vectors to train.
        """
        parsed = IndexSpec.parse(spec)
        with self._store.catalog.write() as conn:
            row = self._live_row(conn)
            count = records.count_records(conn, row.id)
            parsed.check(row.dimension)
            config = parsed.resolve(row.metric, count)
            if config is not None and row.dimension is not None:
                check_trainable(config, count, row.dimension)
            catalog.set_index_spec_json(conn, row.id, parsed.model_dump_json())
        self._store.indexer.forget(self._id, files=True)
        return parsed

    def build_index(self) -> str:
        """Build (or bring up to date) the index now instead of at the next query;
        returns the family in use."""
        with self._store.catalog.read() as conn:
            view = self._view(conn)
            return "flat" if view is None else getattr(view[1], "kind", "flat")

    def compact(self) -> CompactReport:
        """Rebuild the ANN index from the catalog, purging deleted and replaced vectors,
        and prune the changes log that no index needs any more."""
        indexer = self._store.indexer
        with self._store.catalog.read() as conn:
            row = self._live_row(conn)
            if row.dimension is None:
                return CompactReport("flat", 0, 0, 0.0)
            report = indexer.compact(conn, row)
            through = indexer.prunable(conn, row)
        return dataclasses.replace(report, log_pruned=self._prune(through))

    def _hits(
        self,
        conn: sqlite3.Connection,
        row: catalog.CollectionRow,
        index: Index,
        found: Neighbours,
        fields: frozenset[str],
    ) -> list[list[Hit]]:
        if not fields & BODY_FIELDS and isinstance(index, LiveIndex):
            return _id_hits(row, found, index.names, "distances" in fields)
        wanted = np.unique(found.ids[found.ids >= 0]).tolist()
        if not fields & BODY_FIELDS:
            names = records.external_ids(conn, row.id, wanted)
            return _id_hits(row, found, names, "distances" in fields)
        stored = {r.record_id: r for r in records.fetch_records(conn, row.id, record_ids=wanted)}
        return _body_hits(row, found, stored, fields)

    def keyword_search(self, text: str, k: int = 10, where: Where = None) -> list[Hit]:
        """BM25 ranking of documents (FTS5, porter stemming); score = -bm25, higher is better."""
        if not isinstance(text, str):
            raise InputError(f"keyword query must be a string, got {type(text).__name__}")
        k = check_count(k, "k", minimum=1)
        node = parse_filter(where)
        match = fts_match(text)
        with self._store.catalog.read() as conn:
            row = self._live_row(conn)
            if match is None:
                return []
            where_sql = (
                None if node is None else compile_filter(node, row.id, f"+{row.fts_table}.rowid")
            )
            found = records.keyword_matches(conn, row, match, where_sql, k)
        return [
            _hit(record, -rank, row.metric, frozenset({"documents", "metadatas"}))
            for record, rank in found
        ]

    # ------------------------------------------------------------ sources

    def sources(self) -> dict[str, str]:
        """Source -> content hash of everything ingested, for incremental re-ingest."""
        with self._store.catalog.read() as conn:
            return records.list_sources(conn, self._live_row(conn).id)

    def replace_source(  # noqa: PLR0917 - the positional order is the public API
        self,
        source: str,
        content_hash: str,
        ids: Ids,
        documents: Documents,
        embeddings: Embeddings,
        metadatas: Metadatas,
    ) -> None:
        """Swap a source's records for new ones and record its hash, in one transaction.

        Every new record gets ``metadata["source"] = source`` (a different value is
        refused), so the next replacement finds them. ``embeddings=None`` embeds the
        documents.
        """
        check_source(source, content_hash)
        batch = with_source(
            build_batch(ids, documents, embeddings, metadatas, allow_empty=True), source
        )
        vectors, from_embedder = self._batch_vectors(batch)
        if len(batch) and vectors is None:
            raise InputError("replace_source needs documents or embeddings for its records")
        with self._store.catalog.write() as conn:
            row = self._live_row(conn)
            old = records.source_record_ids(conn, row.id, source)
            if vectors is not None:
                self._check_vectors(row, vectors, from_embedder)
                refuse_foreign_ids(conn, row, batch.ids, old, source)
            records.delete_records(conn, row, old)
            if vectors is not None:
                self._fix_dimension(conn, row, vectors)
                apply_split(conn, row, batch, vectors, WriteSplit.all_new(len(batch)))
            records.set_source(conn, row.id, source, content_hash)
        self._remember_dimension(vectors)
        self._after_write()

    def remove_source(self, source: str) -> int:
        """Delete a source's records and forget its hash; returns how many records went."""
        check_source(source, "-")
        with self._store.catalog.write() as conn:
            row = self._live_row(conn)
            removed = records.delete_records(
                conn, row, records.source_record_ids(conn, row.id, source)
            )
            records.delete_source(conn, row.id, source)
        self._after_write()
        return removed

    # ------------------------------------------------------------ info

    def info(self) -> CollectionInfo:
        with self._store.catalog.read() as conn:
            row = self._live_row(conn)
            count = records.count_records(conn, row.id)
            spec = load_spec(conn, row.id)
        return collection_info(row, count, spec)

    def _live_row(self, conn: sqlite3.Connection) -> catalog.CollectionRow:
        try:
            row = catalog.collection_by_id(conn, self._id, self.name)
        except CollectionNotFound:
            self._store.indexer.forget(self._id)  # deleted, maybe by another process
            raise
        self._dimension = row.dimension
        return row

    def _compile(self, node: Any, row: catalog.CollectionRow) -> SqlFragment | None:
        return None if node is None else compile_filter(node, row.id)


def _ranked(
    row: catalog.CollectionRow, found: Neighbours, distances: bool
) -> Iterator[Iterator[tuple[int, float, float | None]]]:
    """Per query, (record id, score, distance or None) of each result, best first."""
    dist = distances_from_scores(row.metric, found.scores) if distances else None
    for q, (ids, scores) in enumerate(zip(found.ids.tolist(), found.scores.tolist(), strict=True)):
        gaps = dist[q].tolist() if dist is not None else [None] * len(ids)
        yield zip(ids, scores, gaps, strict=True)


def _id_hits(
    row: catalog.CollectionRow, found: Neighbours, names: Mapping[int, str], distances: bool
) -> list[list[Hit]]:
    """Hits with ids and scores only (no documents or metadata to read)."""
    return [
        [
            Hit(name, score, None, None, gap)
            for rid, score, gap in ranked
            if (name := names.get(rid)) is not None
        ]
        for ranked in _ranked(row, found, distances)
    ]


def _body_hits(
    row: catalog.CollectionRow,
    found: Neighbours,
    stored: Mapping[int, records.StoredRecord],
    fields: frozenset[str],
) -> list[list[Hit]]:
    """Hits with the requested documents and metadata (ids missing from ``stored``,
    e.g. padding, are skipped)."""
    documents, metadatas = "documents" in fields, "metadatas" in fields
    return [
        [
            Hit(
                record.external_id,
                score,
                record.document if documents else None,
                record.metadata if metadatas else None,
                gap,
            )
            for rid, score, gap in ranked
            if (record := stored.get(rid)) is not None
        ]
        for ranked in _ranked(row, found, "distances" in fields)
    ]


def _no_fetch(ids: np.ndarray) -> tuple[np.ndarray, Matrix]:
    """The vector fetch of ``_quick_query``, whose index holds every vector itself."""
    raise AssertionError(f"no catalog read expected for {ids.shape[0]} vectors")


def _knobs(ef_search: int | None, nprobe: int | None) -> dict[str, int | None]:
    return {
        "ef_search": None if ef_search is None else check_count(ef_search, "ef_search", minimum=1),
        "nprobe": None if nprobe is None else check_count(nprobe, "nprobe", minimum=1),
    }


def collection_info(
    row: catalog.CollectionRow, count: int, spec: IndexSpec | None = None
) -> CollectionInfo:
    return CollectionInfo(
        name=row.name,
        count=count,
        dimension=row.dimension,
        metric=row.metric,
        embedder=row.embedder,
        created_at=row.created_at,
        last_seq=row.last_seq,
        metadata=row.metadata,
        index=(spec or IndexSpec()).describe(),
    )


def _hit(record: records.StoredRecord, score: float, metric: Metric, fields: frozenset[str]) -> Hit:
    return Hit(
        id=record.external_id,
        score=score,
        document=record.document if "documents" in fields else None,
        metadata=record.metadata if "metadatas" in fields else None,
        distance=distance_from_score(metric, score) if "distances" in fields else None,
    )


def _get_result(found: list[records.StoredRecord], fields: frozenset[str]) -> GetResult:
    return GetResult(
        ids=[r.external_id for r in found],
        documents=[r.document for r in found] if "documents" in fields else None,
        metadatas=[r.metadata for r in found] if "metadatas" in fields else None,
        embeddings=[r.vector for r in found if r.vector is not None]
        if "embeddings" in fields
        else None,
    )
