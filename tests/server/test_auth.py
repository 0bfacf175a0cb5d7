"""API keys: hashed at rest, required for writes, for everything off loopback; 401 vs 403."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.server.conftest import Live, Serve, make_home

from heron.cli.main import main
from heron.server.keys import FILE_NAME, KeyStore
from heron.server.settings import ServerSettings


def new_key(home: Path, scope: str) -> str:
    keys = KeyStore(home)
    key, _ = keys.create(scope)
    keys.close()
    return key


def test_cli_creates_a_key_once_and_stores_only_a_salted_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "keys", "create", "--scope", "write", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    key = created["key"]
    assert created["scope"] == "write" and key.startswith(f"hk_{created['id']}_")
    secret = key.split("_", 2)[2]
    raw = b"".join(p.read_bytes() for p in home.glob(f"{FILE_NAME}*"))
    assert secret.encode() not in raw and key.encode() not in raw
    assert main(["--home", str(home), "keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    keys = KeyStore(home)
    assert keys.verify(key) == "write"
    assert keys.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    keys.close()
    assert main(["--home", str(home), "keys", "revoke", created["id"]]) == 0
    keys = KeyStore(home)
    assert keys.verify(key) is None
    keys.close()
    assert main(["--home", str(home), "keys", "create", "--scope", "root"]) == 2


def test_writes_need_a_write_key_on_loopback(live: Live) -> None:
    doc = {"ids": ["x"], "documents": ["some text"]}
    read, write = new_key(live.home, "read"), new_key(live.home, "write")
    with live.client() as http:
        anonymous = http.post("/v1/collections/kb/documents", json=doc)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert "heron keys create --scope write" in anonymous.json()["error"]["message"]
        assert http.post("/v1/search", json={"query": "shell"}).status_code == 200  # reads open
    with live.client(read) as http:
        forbidden = http.post("/v1/collections/kb/documents", json=doc)
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["type"] == "forbidden"
    with live.client("hk_00000000_wrong") as http:
        assert http.post("/v1/search", json={"query": "shell"}).status_code == 401
    with live.client(write) as http:
        assert http.post("/v1/collections/kb/documents", json=doc).status_code == 201
        assert http.delete("/v1/collections/kb").status_code == 403  # admin only
    with live.client(headers={"X-API-Key": write}) as http:
        assert http.delete("/v1/collections/kb/documents/x").json() == {"deleted": 1}


def test_everything_needs_a_key_when_required(serve: Serve) -> None:
    live = serve(require_keys=True)
    read = new_key(live.home, "read")
    with live.client() as http:
        assert http.get("/healthz").json()["auth"] == "everything"
        for method, path, body in (
            ("POST", "/v1/search", {"query": "shell"}),
            ("POST", "/v1/ask", {"question": "shell"}),
            ("GET", "/v1/collections", None),
            ("GET", "/metrics", None),
            ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ):
            assert http.request(method, path, json=body).status_code == 401, path
    with live.client(read) as http:
        assert http.post("/v1/search", json={"query": "shell"}).status_code == 200
        assert http.get("/metrics").status_code == 200


def test_non_loopback_binding_requires_keys_for_reads() -> None:
    assert not ServerSettings(host="127.0.0.1").keys_for_everything
    assert not ServerSettings(host="::1").keys_for_everything
    assert ServerSettings(host="0.0.0.0").keys_for_everything
    assert ServerSettings(host="192.168.1.5").keys_for_everything
    assert not ServerSettings(host="0.0.0.0", require_keys=False).keys_for_everything


def test_keys_file_is_private(tmp_path: Path) -> None:
    make_home(tmp_path / "h")
    new_key(tmp_path / "h", "read")
    assert (tmp_path / "h" / FILE_NAME).stat().st_mode & 0o077 == 0
