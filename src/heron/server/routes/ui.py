"""The web page at ``/``: plain HTML, CSS and JavaScript shipped in ``heron/server/ui``.

Only the files named here are served (no directory listing, no path from the URL
reaches the file system).
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from heron.server.errors import NotFound

router = APIRouter(include_in_schema=False)

FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}


def _file(name: str) -> Response:
    if name not in FILES:
        raise NotFound(f"no page '{name}'")
    body = resources.files("heron.server.ui").joinpath(name).read_bytes()
    return Response(body, media_type=FILES[name], headers=_HEADERS)


@router.get("/")
async def index() -> Response:
    return _file("index.html")


@router.get("/ui/{name}")
async def asset(name: str) -> Response:
    return _file(name)
