"""The store's cross-process writer lock: an advisory ``flock`` on ``<store>/write.lock``.

One writer at a time, across processes: every write call takes the lock for the
length of its transaction (never for the life of a ``Store``; readers never take
it). A waiter retries with short sleeps until ``timeout_s`` and then raises
``StoreLocked``, naming the holder (pid, host, command, since when), which the
holder writes into the lock file right after acquiring it. The kernel releases a
``flock`` when its holder exits or is killed, so a crashed writer never leaves the
store locked; the holder line it leaves behind is only read while the lock is held.

Left out: fairness (waiters poll, so a writer that writes back to back can make a
waiter wait longer) and network file systems, where ``flock`` may not be shared
between hosts (SQLite's own write lock still keeps the data consistent there).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from heron.errors import StoreError

LOCK_NAME = "write.lock"
_FIRST_SLEEP_S = 0.001
_MAX_SLEEP_S = 0.02
_MAX_INFO_BYTES = 4096


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) the writer lock, as it wrote itself into the lock file."""

    pid: int
    hostname: str
    command: str
    since: float  # seconds since the epoch

    @classmethod
    def current(cls) -> LockHolder:
        return cls(os.getpid(), socket.gethostname(), _command(), time.time())

    def describe(self) -> str:
        stamp = time.localtime(self.since)
        fmt = "%H:%M:%S" if time.time() - self.since < 86400 else "%Y-%m-%d %H:%M:%S"
        return (
            f"pid {self.pid} on {self.hostname} ({self.command}, since {time.strftime(fmt, stamp)})"
        )

    def to_bytes(self) -> bytes:
        fields = {"pid": self.pid, "hostname": self.hostname, "command": self.command}
        return (json.dumps({**fields, "since": self.since}) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> LockHolder | None:
        """The holder line, or None while it is being written or if it is garbled."""
        try:
            raw = json.loads(data.decode())
            return cls(
                int(raw["pid"]), str(raw["hostname"]), str(raw["command"]), float(raw["since"])
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None


def _command() -> str:
    """``argv[0]``'s name plus a subcommand word, e.g. ``heron ingest``."""
    argv = sys.argv or [""]
    name = os.path.basename(argv[0])
    if not name or name.startswith("-"):  # python -c / -m / the REPL
        name = f"{os.path.basename(sys.executable) or 'python'} {name}".strip()
    words = [name]
    sub = argv[1] if len(argv) > 1 else ""
    if sub[:1].isalpha() and sub.replace("-", "").replace("_", "").isalnum():
        words.append(sub)
    return " ".join(words)[:80]


class StoreLocked(StoreError):
    """Another process kept the writer lock for longer than the lock timeout."""

    def __init__(self, message: str, *, hint: str, holder: LockHolder | None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder


class WriterLock:
    """The writer lock of one store folder; ``hold()`` wraps one write transaction."""

    def __init__(self, folder: Path, timeout_s: float) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self.timeout_s = timeout_s

    @contextmanager
    def hold(self, timeout_s: float | None = None) -> Iterator[None]:
        """Hold the lock, waiting up to ``timeout_s`` (default: the store's timeout)."""
        fd = self._open()
        try:
            self._acquire(fd, self.timeout_s if timeout_s is None else timeout_s)
            try:
                _write_holder(fd)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot open the writer lock {self.path}: {exc.strerror or exc}",
                hint="fix the store folder's permissions",
            ) from exc

    def _acquire(self, fd: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pause = _FIRST_SLEEP_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timeout(fd, timeout_s)
            time.sleep(min(pause, left))
            pause = min(pause * 2, _MAX_SLEEP_S)

    def _timeout(self, fd: int, timeout_s: float) -> StoreLocked:
        holder = LockHolder.from_bytes(os.pread(fd, _MAX_INFO_BYTES, 0))
        who = holder.describe() if holder else "another process"
        return StoreLocked(
            f"store {self.folder} is being written by {who}; waited {timeout_s:g} s",
            hint="wait for it to finish or raise lock_timeout_s "
            "(timeout_s= in open_store, HERON_LOCK_TIMEOUT_S for the CLI)",
            holder=holder,
        )


def _write_holder(fd: int) -> None:
    """Best effort: the lock works without it, only the timeout message gets vaguer."""
    data = LockHolder.current().to_bytes()
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    except OSError:
        pass
