"""API keys: created by ``heron keys create``, stored as salted hashes in ``<home>/keys.db``.

A key reads ``hk_<id>_<secret>``: the id finds the row, the secret is checked
against ``sha256(salt + secret)`` in constant time. The secret has 256 bits of
entropy, so a fast hash is enough (a slow KDF protects guessable passwords, and
would cost every request milliseconds). The key itself is shown once and never
stored. Scopes are ordered: ``read`` < ``write`` < ``admin``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from heron.errors import InputError
from heron.server._sqlite import SmallDB

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
FILE_NAME = "keys.db"
_PREFIX = "hk"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


def allows(granted: str, needed: Scope) -> bool:
    """Whether a key of scope ``granted`` may do what ``needed`` requires."""
    return granted in SCOPES and SCOPES.index(granted) >= SCOPES.index(needed)  # type: ignore[arg-type]


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    scope: str
    created_at: str
    revoked: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def key_id(key: str) -> str:
    """The public id part of ``hk_<id>_<secret>`` (safe to log; the secret is not)."""
    return key.split("_", 2)[1] if key.count("_") >= 2 else ""


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KeyStore:
    """The API keys of one store home."""

    def __init__(self, home: Path) -> None:
        self._db = SmallDB(Path(home) / FILE_NAME, _SCHEMA)
        with contextlib.suppress(OSError):  # e.g. a file system without modes
            os.chmod(self._db.path, 0o600)

    def create(self, scope: str, name: str = "") -> tuple[str, KeyInfo]:
        """Make a key; returns the full key (shown once) and its stored description."""
        if scope not in SCOPES:
            raise InputError(f"unknown scope '{scope}'", hint=f"use one of: {', '.join(SCOPES)}")
        key_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        info = KeyInfo(key_id, name, scope, _now(), False)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, scope, salt, hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, scope, salt, _digest(salt, secret), info.created_at),
            )
        return f"{_PREFIX}_{key_id}_{secret}", info

    def verify(self, key: str) -> str | None:
        """The scope of a valid, unrevoked key; None otherwise."""
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != _PREFIX or not key_id or not secret:
            return None
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT scope, salt, hash FROM api_keys WHERE id = ? AND revoked_at IS NULL",
                (key_id,),
            ).fetchone()
        if row is None or not hmac.compare_digest(_digest(row[1], secret), row[2]):
            return None
        return str(row[0])

    def list(self) -> list[KeyInfo]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT id, name, scope, created_at, revoked_at FROM api_keys "
                "ORDER BY created_at, id"
            ).fetchall()
        return [KeyInfo(r[0], r[1], r[2], r[3], r[4] is not None) for r in rows]

    def revoke(self, key_id: str) -> bool:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_now(), key_id),
            )
        return cursor.rowcount > 0

    def close(self) -> None:
        self._db.close()
