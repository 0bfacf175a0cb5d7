"""``--access-log``: one line per request, text or JSON, never a body or a key."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import Live, Serve, make_home
from tests.server.test_cli_serve import free_port

from heron.server.access_log import LOGGER
from heron.server.keys import KeyStore, key_id

QUESTION = "a private question about shells"


def _lines(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    """The access log's lines, once ``count`` are there (each is written as its response ends)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def _key(live: Live, scope: str) -> str:
    keys = KeyStore(live.home)
    key, _ = keys.create(scope)
    keys.close()
    return key


def test_json_lines_carry_ids_and_never_keys_or_bodies(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    live = serve(access_log=True, log_format="json")
    read = _key(live, "read")
    wrong = f"hk_{key_id(read)}_not-the-secret"
    with live.client() as http:
        ok = http.post(
            "/v1/search",
            json={"query": QUESTION},
            headers={"Authorization": f"Bearer {read}", "X-Request-ID": "req-1"},
        )
        refused = http.post(
            "/v1/search", json={"query": QUESTION}, headers={"Authorization": f"Bearer {wrong}"}
        )
        header = http.get("/v1/collections", headers={"X-API-Key": read})
        health = http.get("/healthz", params={"token": "query-secret"})
    assert [r.status_code for r in (ok, refused, header, health)] == [200, 401, 200, 200]
    assert ok.headers["x-request-id"] == "req-1"
    assert re.fullmatch(r"[0-9a-f]{32}", health.headers["x-request-id"])
    lines = _lines(caplog, 4)
    records = [json.loads(line) for line in lines]
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", "/v1/search", 200),
        ("POST", "/v1/search", 401),
        ("GET", "/v1/collections", 200),
        ("GET", "/healthz", 200),
    ]
    assert [r["key_id"] for r in records] == [key_id(read), None, key_id(read), None]
    assert records[0]["request_id"] == "req-1"
    assert records[3]["request_id"] == health.headers["x-request-id"]
    for record in records:
        assert set(record) == {
            "time",
            "method",
            "path",
            "status",
            "latency_ms",
            "request_id",
            "key_id",
        }
        assert isinstance(record["latency_ms"], float) and record["latency_ms"] >= 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    text = "\n".join(lines)
    secret = read.split("_", 2)[2]
    for leak in (secret, "not-the-secret", read, "Bearer", QUESTION, "query-secret"):
        assert leak not in text


def test_text_lines_are_one_line_each(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    live = serve(access_log=True)
    bogus = "bad\nid"  # not a safe request id: a fresh one is used
    with live.client() as http:
        found = http.post("/v1/search", json={"query": "shell"})
        missing = http.get("/v1/collections/kb/documents/a%0Ab%20c")
        other = http.get("/healthz", headers={"X-Request-ID": bogus.replace("\n", " ")})
    assert found.status_code == 200 and missing.status_code == 404
    lines = _lines(caplog, 3)
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    pattern = r"\S+Z (GET|POST) (\S+) (\d{3}) [\d.]+ms id=([\w.:-]+) key=-"
    parsed = [re.fullmatch(pattern, line) for line in lines]
    assert all(parsed), lines
    assert [(m[2], m[3]) for m in parsed if m] == [
        ("/v1/search", "200"),
        ("/v1/collections/kb/documents/a%0Ab%20c", "404"),
        ("/healthz", "200"),
    ]
    assert parsed[2] and parsed[2][4] == other.headers["x-request-id"] != "bad id"


def test_off_by_default(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with live.client() as http:
        response = http.get("/healthz")
    assert "x-request-id" not in response.headers
    time.sleep(0.1)
    assert not [r for r in caplog.records if r.name == LOGGER]


def test_heron_serve_access_log_prints_json_lines(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    port = free_port()
    env = {**os.environ, "HERON_HOME": str(home), "HERON_COLLECTION": "kb"}
    cmd = [sys.executable, "-c", "from heron.cli.main import run; run()", "serve"]
    cmd += ["--port", str(port), "--llm", "fake:hello", "--embedder", "hash:64"]
    cmd += ["--access-log", "--log-format", "json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False).is_success
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(r["path"] == "/healthz" and r["status"] == 200 for r in lines), out + err
    assert "GET /healthz HTTP/1.1" not in out + err  # uvicorn's own access log stays off
