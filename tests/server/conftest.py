"""A real uvicorn server on a loopback port, over a small store, with fake models."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from heron.config import Settings
from heron.models.base import GenerateOptions, Prompt
from heron.models.registry import ModelRegistry
from heron.server import ServerSettings, create_app
from heron.store import open_store
from heron.testing.fakes import ScriptedLLM

DOCS = {
    "shlex": "shlex.split splits a shell command line into arguments, respecting quotes.",
    "sched": "sched.scheduler runs a function at a later time, after a delay.",
    "json": "json.dumps turns a Python object into a JSON formatted string.",
    "sqlite": "sqlite3 stores rows in a database file and runs SQL queries.",
}
REPLY = "Use shlex.split to split the line."


class SlowLLM(ScriptedLLM):
    """Streams a fixed reply word by word, ``delay_s`` per word (for overload and disconnects)."""

    def __init__(self, delay_s: float, words: int = 20) -> None:
        super().__init__([" ".join(["shlex.split"] * words)])
        self.delay_s = delay_s
        self.active = 0
        self.max_active = 0
        self.closed = threading.Event()

    def stream(self, prompt: Prompt, options: GenerateOptions | None = None) -> Iterator[str]:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            for piece in re.findall(r"\S+\s*", self.generate(prompt, options).text):
                time.sleep(self.delay_s)
                yield piece
        finally:
            self.active -= 1
            self.closed.set()


@dataclass
class Live:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    home: Path
    registry: ModelRegistry

    def client(
        self, key: str | None = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Client:
        headers = dict(headers or {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, trust_env=False, **kw)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def make_home(path: Path) -> Path:
    with open_store(path) as store:
        kb = store.create_collection("kb", embedder="hash:64")
        kb.add(
            list(DOCS),
            documents=list(DOCS.values()),
            metadatas=[{"module": name, "title": f"{name} docs"} for name in DOCS],
        )
    return path


def start(app: Any, home: Path, registry: ModelRegistry) -> Live:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return Live(f"http://127.0.0.1:{port}", server, thread, home, registry)


Serve = Callable[..., Live]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start a server; keyword arguments become ``ServerSettings`` fields."""
    running: list[Live] = []

    def run(registry: ModelRegistry | None = None, **server: Any) -> Live:
        home = tmp_path / "home"
        if not home.exists():
            make_home(home)
        registry = registry or ModelRegistry()
        server.setdefault("llms", (f"fake:{REPLY.replace(' ', '_')}",))
        server.setdefault("embedders", ("hash:64",))
        settings = Settings(home=home, collection="kb", cache=tmp_path / "cache")
        app = create_app(settings, ServerSettings(**server), registry=registry)
        live = start(app, home, registry)
        running.append(live)
        return live

    yield run
    for live in running:
        live.stop()


@pytest.fixture
def live(serve: Serve) -> Live:
    return serve()
