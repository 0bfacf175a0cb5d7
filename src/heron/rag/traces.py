"""Where answers (and later chain and agent runs) are recorded by request id.

A trace is one JSON line in ``<home>/traces/<kind>.jsonl``. Lines are written with
a single ``write`` on a file opened in append mode, so concurrent processes do not
interleave partial records. Exporting traces (MLflow, evaluation sets) reads these
files; callers never change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


class TraceSink:
    """Appends trace records under a store home."""

    def __init__(self, home: Path) -> None:
        self.folder = Path(home) / "traces"

    def record(self, kind: str, request_id: str, payload: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {"request_id": request_id, "kind": kind, "time": time.time(), **payload},
            ensure_ascii=False,
            default=str,
        )
        with (self.folder / f"{kind}.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def read(self, kind: str) -> Iterator[dict[str, Any]]:
        path = self.folder / f"{kind}.jsonl"
        if not path.exists():
            return
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def find(self, request_id: str, kind: str = "ask") -> dict[str, Any] | None:
        return next((r for r in self.read(kind) if r["request_id"] == request_id), None)
