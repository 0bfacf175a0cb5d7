"""What the routers share: the documented error responses and the auth dependencies."""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from heron.server.auth import require
from heron.server.schemas import ErrorResponse

_ERROR = {"model": ErrorResponse}

#: Every status a route may answer with besides its success (all one-line JSON).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**_ERROR, "description": "bad input (filter, spec, values)"},
    401: {**_ERROR, "description": "missing or invalid API key"},
    403: {**_ERROR, "description": "the API key's scope does not allow this"},
    404: {**_ERROR, "description": "unknown collection, record, model or request id"},
    409: {**_ERROR, "description": "the store refused the operation (e.g. the id exists)"},
    413: {**_ERROR, "description": "request body too large"},
    422: {**_ERROR, "description": "the body does not match the schema or a cap"},
    429: {
        **_ERROR,
        "description": "overloaded, or over the API key's rate limit; "
        "retry after Retry-After seconds",
    },
    502: {**_ERROR, "description": "the model failed"},
    503: {
        **_ERROR,
        "description": "the store is locked by another writer, or no work slot came "
        "free within the time budget; retry after Retry-After seconds",
    },
    504: {**_ERROR, "description": "the request ran past its time budget"},
}

READ = [Depends(require("read"))]
WRITE = [Depends(require("write"))]
ADMIN = [Depends(require("admin"))]
