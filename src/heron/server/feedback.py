"""User feedback on answers, stored durably in ``<home>/feedback.db`` by request id.

The server records every answer it serves (request id, collection, question) in
the same file, so feedback can only be given on an answer that exists; answers
made elsewhere (``heron ask``) are found in the trace log. ``heron feedback list``
reads this file; later exports (evaluation sets, MLflow) join it with the traces
by request id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from heron.rag.traces import TraceSink
from heron.server._sqlite import SmallDB

Rating = Literal["up", "down"]
FILE_NAME = "feedback.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    request_id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    question TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_request ON feedback (request_id, id);
"""


@dataclass(frozen=True)
class FeedbackRecord:
    id: int
    request_id: str
    rating: str
    comment: str
    created_at: str
    question: str | None = None
    collection: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FeedbackStore:
    """Served answers and the feedback given on them."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self._db = SmallDB(self.home / FILE_NAME, _SCHEMA)

    def record_answer(self, request_id: str, collection: str, question: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?)",
                (request_id, collection, question, _now()),
            )

    def knows(self, request_id: str) -> bool:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT 1 FROM answers WHERE request_id = ?", (request_id,)
            ).fetchone()
        return row is not None or TraceSink(self.home).find(request_id) is not None

    def add(self, request_id: str, rating: Rating, comment: str = "") -> FeedbackRecord:
        created = _now()
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO feedback (request_id, rating, comment, created_at) "
                "VALUES (?, ?, ?, ?)",
                (request_id, rating, comment, created),
            )
        return FeedbackRecord(int(cursor.lastrowid or 0), request_id, rating, comment, created)

    def list(self, request_id: str | None = None, limit: int = 100) -> list[FeedbackRecord]:
        """Newest first, with the question when the answer was served here."""
        sql = (
            "SELECT f.id, f.request_id, f.rating, f.comment, f.created_at, "
            "a.question, a.collection FROM feedback f "
            "LEFT JOIN answers a ON a.request_id = f.request_id"
        )
        args: tuple[Any, ...] = ()
        if request_id is not None:
            sql += " WHERE f.request_id = ?"
            args = (request_id,)
        sql += " ORDER BY f.id DESC LIMIT ?"
        with self._db.read() as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
        return [FeedbackRecord(*row) for row in rows]

    def close(self) -> None:
        self._db.close()
