"""``heron serve`` as a user runs it: a subprocess that prints its URL and auth mode."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.server.conftest import make_home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_heron_serve_prints_url_and_auth_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    port = free_port()
    env = {**os.environ, "HERON_HOME": str(home), "HERON_COLLECTION": "kb"}
    cmd = [
        sys.executable,
        "-c",
        "from heron.cli.main import run; run()",
        "serve",
        "--port",
        str(port),
        "--llm",
        "fake:hello",
        "--embedder",
        "hash:64",
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        second = proc.stdout.readline() if proc.stdout else ""
        assert re.search(rf"serving http://127\.0\.0\.1:{port}\b", first), first
        assert "auth: on for writes (reads open)" in second
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert health.json()["collection"] == "kb" and health.json()["llm"] == "fake:hello"
        ask = httpx.post(
            f"http://127.0.0.1:{port}/v1/ask",
            json={"question": "shell line"},
            trust_env=False,
            timeout=30,
        )
        assert ask.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status says why it ended
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out
    assert "Traceback" not in out
