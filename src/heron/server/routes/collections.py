"""Collections and documents: create/list/info/delete, add/upsert/update/get/delete.

Writes that embed documents run in the search pool (they use the embedder);
plain reads run there too, so no request blocks the event loop. Every write is
one store transaction: on any error nothing is written.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from heron.server.errors import NotFound
from heron.server.routes._common import ADMIN, ERRORS, READ, WRITE
from heron.server.schemas import (
    CollectionCreate,
    CollectionList,
    CollectionOut,
    Deleted,
    DocumentList,
    DocumentOut,
    DocumentsDelete,
    DocumentsGet,
    DocumentsWrite,
    WriteResult,
)
from heron.server.state import ServerState, StateDep
from heron.store.results import GetResult

Name = Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
RecordPath = Annotated[str, Path(min_length=1, max_length=512)]

router = APIRouter(prefix="/v1/collections", tags=["collections"], responses=ERRORS)


def _info(state: ServerState, name: str) -> CollectionOut:
    info = state.store.get_collection(name).info()
    return CollectionOut.model_validate(dataclasses.asdict(info))


@router.get("", response_model=CollectionList, dependencies=READ)
async def list_collections(state: StateDep) -> CollectionList:
    def run() -> CollectionList:
        infos = state.store.list_collections()
        return CollectionList(
            collections=[CollectionOut.model_validate(dataclasses.asdict(i)) for i in infos]
        )

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)


@router.post("", response_model=CollectionOut, status_code=201, dependencies=WRITE)
async def create_collection(body: CollectionCreate, state: StateDep) -> CollectionOut:
    """Create a collection (409 if it exists)."""

    def run() -> CollectionOut:
        spec = state.models.embedder_spec(body.embedder, state.collection_embedders())
        state.store.create_collection(
            body.name,
            embedder=spec,
            metric=body.metric,
            dimension=body.dimension,
            metadata=body.metadata,
        )
        return _info(state, body.name)

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)


@router.get("/{name}", response_model=CollectionOut, dependencies=READ)
async def get_collection(name: Name, state: StateDep) -> CollectionOut:
    return await state.search_pool.run(_info, state, name, timeout_s=state.server.request_timeout_s)


@router.delete("/{name}", status_code=204, response_class=Response, dependencies=ADMIN)
async def delete_collection(name: Name, state: StateDep) -> Response:
    """Delete a collection and everything in it (admin scope)."""
    await state.search_pool.run(
        state.store.delete_collection, name, timeout_s=state.server.request_timeout_s
    )
    return Response(status_code=204)


WriteMode = Literal["add", "upsert", "update"]


async def _write(
    name: str, body: DocumentsWrite, mode: WriteMode, state: ServerState
) -> WriteResult:
    def run() -> WriteResult:
        collection = state.store.get_collection(name)
        method = getattr(collection, mode)
        method(
            body.ids, documents=body.documents, embeddings=body.embeddings, metadatas=body.metadatas
        )
        return WriteResult(collection=name, ids=body.ids, count=collection.count())

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)


@router.post("/{name}/documents", response_model=WriteResult, status_code=201, dependencies=WRITE)
async def add_documents(name: Name, body: DocumentsWrite, state: StateDep) -> WriteResult:
    """Add new records (refused, nothing written, if any id exists)."""
    return await _write(name, body, "add", state)


@router.put("/{name}/documents", response_model=WriteResult, dependencies=WRITE)
async def upsert_documents(name: Name, body: DocumentsWrite, state: StateDep) -> WriteResult:
    """Update the ids that exist, add the others."""
    return await _write(name, body, "upsert", state)


@router.patch("/{name}/documents", response_model=WriteResult, dependencies=WRITE)
async def update_documents(name: Name, body: DocumentsWrite, state: StateDep) -> WriteResult:
    """Change only the given fields of existing records (refused if any id is missing)."""
    return await _write(name, body, "update", state)


def _documents(name: str, found: GetResult) -> DocumentList:
    out = []
    for i, record_id in enumerate(found.ids):
        out.append(
            DocumentOut(
                id=record_id,
                document=found.documents[i] if found.documents is not None else None,
                metadata=found.metadatas[i] if found.metadatas is not None else None,
                embedding=[float(x) for x in found.embeddings[i]]
                if found.embeddings is not None
                else None,
            )
        )
    return DocumentList(collection=name, documents=out)


@router.post("/{name}/documents/get", response_model=DocumentList, dependencies=READ)
async def get_documents(name: Name, body: DocumentsGet, state: StateDep) -> DocumentList:
    """Records by ids (in that order) and/or a filter (in insertion order)."""

    def run() -> DocumentList:
        found = state.store.get_collection(name).get(
            ids=body.ids,
            where=body.where,
            limit=body.limit,
            offset=body.offset,
            include=body.include,
        )
        return _documents(name, found)

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)


@router.get("/{name}/documents/{record_id}", response_model=DocumentOut, dependencies=READ)
async def get_document(
    name: Name,
    record_id: RecordPath,
    state: StateDep,
    embedding: Annotated[bool, Query(description="include the stored vector")] = False,
) -> DocumentOut:
    def run() -> DocumentOut:
        include = ["documents", "metadatas", *(["embeddings"] if embedding else [])]
        found = _documents(
            name, state.store.get_collection(name).get(ids=[record_id], include=include)
        )
        if not found.documents:
            raise NotFound(f"no record '{record_id}' in collection '{name}'")
        return found.documents[0]

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)


@router.post("/{name}/documents/delete", response_model=Deleted, dependencies=WRITE)
async def delete_documents(name: Name, body: DocumentsDelete, state: StateDep) -> Deleted:
    """Delete by ids and/or a filter; returns how many went."""

    def run() -> Deleted:
        return Deleted(
            deleted=state.store.get_collection(name).delete(ids=body.ids, where=body.where)
        )

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)


@router.delete("/{name}/documents/{record_id}", response_model=Deleted, dependencies=WRITE)
async def delete_document(name: Name, record_id: RecordPath, state: StateDep) -> Deleted:
    def run() -> Deleted:
        return Deleted(deleted=state.store.get_collection(name).delete(ids=[record_id]))

    return await state.search_pool.run(run, timeout_s=state.server.request_timeout_s)
