"""Everything one server process shares between requests, built once by ``create_app``.

It lives on ``app.state.heron``; routes reach it through the ``get_state``
dependency. Models and the store are loaded once per process and shared: the
store serialises its own SQLite access, LLMs are wrapped so generations never
overlap, and the work pools bound how much model work runs at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from heron.config import Settings
from heron.models.registry import ModelRegistry
from heron.rag.traces import TraceSink
from heron.server.feedback import FeedbackStore
from heron.server.inline import InlineLane
from heron.server.keys import KeyStore
from heron.server.limits import WorkPool
from heron.server.metrics import Metrics
from heron.server.models import ServedModels
from heron.server.settings import ServerSettings
from heron.store import Collection, Store
from heron.tasks import TaskModels

#: at most this many cached collection handles (a name that does not exist is never cached)
MAX_HANDLES = 256


@dataclass
class ServerState:
    settings: Settings
    server: ServerSettings
    registry: ModelRegistry
    store: Store
    models: ServedModels
    keys: KeyStore
    feedback: FeedbackStore
    traces: TraceSink
    generate_pool: WorkPool
    search_pool: WorkPool
    inline: InlineLane
    metrics: Metrics = field(default_factory=Metrics)
    #: built on first use by the tasks route (holds loaded ``hf:`` task models)
    task_models: TaskModels | None = None
    #: collection handles by name, reused by searches (see ``collection``)
    _handles: dict[str, Collection] = field(default_factory=dict, repr=False)

    def collection(self, name: str) -> Collection:
        """A handle on collection ``name``, reused between requests.

        Looking a collection up by name costs a catalog read per request; a handle
        re-reads its row by id on every query anyway (so it sees new records and
        fails with ``CollectionNotFound`` once the collection is deleted). Callers
        that get that error call ``forget_collection`` and retry with a fresh one,
        which covers a collection deleted and created again under the same name.
        """
        handle = self._handles.get(name)
        if handle is None:
            handle = self.store.get_collection(name)
            if len(self._handles) >= MAX_HANDLES:
                self._handles.clear()
            self._handles[name] = handle
        return handle

    def forget_collection(self, name: str) -> None:
        self._handles.pop(name, None)

    @property
    def default_collection(self) -> str:
        return self.server.collection or self.settings.collection

    @property
    def pools(self) -> tuple[WorkPool, WorkPool]:
        return (self.generate_pool, self.search_pool)

    def collection_embedders(self) -> tuple[str, ...]:
        return tuple(c.embedder for c in self.store.list_collections() if c.embedder)

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown()
        self.feedback.close()
        self.keys.close()
        self.store.close()


async def get_state(request: Request) -> ServerState:
    """The shared state (async: FastAPI would run a plain function on a worker thread)."""
    state = request.app.state.heron
    assert isinstance(state, ServerState)
    return state


#: The route parameter type that receives the shared state.
StateDep = Annotated[ServerState, Depends(get_state)]
