"""The embedded vector store: collections of documents, metadata and vectors in SQLite.

``open_store(path)`` gives a ``Store``; a ``Store`` holds named ``Collection``s
with a Chroma-shaped API (add, upsert, update, get, delete, query,
keyword_search). Module map: ``catalog`` (SQLite schema and transactions),
``lock`` (the cross-process writer lock), ``records`` (record SQL), ``filters``
(filter language -> SQL), ``index`` (vector indexes and their cache),
``planner`` (how a query runs), ``validation`` and ``writes`` (argument checks
and write semantics), ``collection`` and ``store`` (the public classes).

Left for later: FAISS ANN indexes persisted with the change sequence they
cover, a selectivity-based filter planner, and compaction of the change log.
"""

from heron.store.collection import Collection
from heron.store.lock import StoreLocked
from heron.store.results import CollectionInfo, GetResult
from heron.store.store import Store, open_store

__all__ = ["Collection", "CollectionInfo", "GetResult", "Store", "StoreLocked", "open_store"]
