"""A Python tool: runs a snippet in a separate, locked-down process. Off unless enabled.

Layers, each of which alone stops the obvious attacks:

1. **A separate process** (``python -I -S``: no site-packages, no user paths, no
   ``PYTHON*`` variables), started in a new session with an empty environment,
   stdin from ``/dev/null`` and ``cwd`` a fresh scratch folder. On timeout the
   whole process group is killed.
2. **Resource limits** (``setrlimit`` before ``exec``): address space (memory),
   CPU seconds, size of files written (output included), open files, and (when
   not root, where the kernel enforces it) number of processes.
3. **No network**: the child is moved into a new, empty network namespace
   (``unshare(CLONE_NEWNET)``, with a user namespace when not root) where that is
   allowed; in any case (4) refuses sockets.
4. **An audit hook** (PEP 578, installed before the snippet runs and impossible to
   remove from Python) refuses: opening or listing files outside the scratch folder
   (the standard library stays readable, for imports), sockets, starting processes
   (``fork``, ``exec``, ``system``, ``posix_spawn``, ``subprocess``), signals to
   other processes, ``ctypes``, changing resource limits, and importing the
   modules that get around it (``_posixsubprocess``, ``ctypes``, ``_ctypes``).

Left out: a seccomp filter and a chroot/mount namespace. The audit hook is a
Python-level guard; native extension code could bypass it, which is why the
process cannot load ``ctypes`` or site-packages and runs with rlimits.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heron.chains.agents.tools import Tool
from heron.errors import ConfigError, HeronTimeout, InputError

MAX_CODE = 4000
MAX_OUTPUT = 4000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

#: what runs in the child: install the hook, then exec the snippet read from a file
RUNNER = r"""
import os, posix, sys, pathlib
with open(sys.argv[2], encoding="utf-8") as handle:
    SOURCE = handle.read()


def make_hook(scratch, readable, blocked_imports, blocked_events, path_events, protected,
              getcwd=posix.getcwd, str_type=str, bytes_type=bytes, int_type=int, type_=type,
              tuple_type=tuple, len_=len, refuse_error=PermissionError,
              path_str=pathlib.PurePath.__str__,
              path_types=(pathlib.PosixPath, pathlib.PurePosixPath), write_flags=(
                  os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)):
    # Everything the hook uses is bound here: patching modules or builtins later changes nothing.

    def text(target):
        kind = type_(target)
        if kind is str_type:
            return target
        if kind is bytes_type:
            return target.decode("utf-8", "surrogateescape")
        if kind in path_types:
            return "".join([path_str(target)])
        return None

    def norm(path):
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        parts = []
        for part in path.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/" + "/".join(parts)

    def inside(path, roots):
        for root in roots:
            if path == root or path.startswith(root + "/"):
                return True
        return False

    def refuse(what):
        raise refuse_error("sandbox: " + what + " is not allowed")

    def hook(event, args):
        if event == "import":
            name = str_type(args[0]).split(".")[0]
            if name in blocked_imports:
                refuse("importing " + name)
            origin = args[1] if len_(args) > 1 else None
            if origin is not None and not inside(norm(text(origin) or "/"), readable):
                refuse("loading code from " + str_type(origin))
            return
        if event.startswith(blocked_events):
            refuse(event)
        if event == "object.__setattr__" and args and args[0] in protected:
            refuse("changing " + str_type(args[0]))
        if event not in path_events:
            return
        positions, dir_fds = path_events[event]
        for index in dir_fds:
            if len_(args) > index and args[index] is not None and args[index] != -1:
                refuse(event + " with dir_fd")
        for position in positions:
            if len_(args) > position:
                check_path(event, args, args[position])

    def check_path(event, args, target):
        if target is None or type_(target) is int_type:
            return
        raw = text(target)
        if raw is None:
            refuse(event + " on a " + type_(target).__name__)
        if event == "open" and args[1] is None and not raw.startswith("/"):
            refuse("os.open with a relative path")
        path = norm(raw)
        if inside(path, (scratch,)):
            return
        writes = event not in ("open", "os.listdir", "os.scandir")
        if event == "open":
            mode, flags = args[1], args[2]
            writes = bool(mode) and any(c in str_type(mode) for c in "wax+")
            writes = writes or (type_(flags) is int_type and bool(flags & write_flags))
        if writes or not inside(path, readable):
            refuse(event + " " + path)

    return hook


sys.addaudithook(make_hook(
    os.path.realpath(sys.argv[1]),
    tuple(os.path.realpath(p) for p in sys.argv[3:]),
    frozenset({"_posixsubprocess", "ctypes", "_ctypes", "subprocess", "multiprocessing",
               "_multiprocessing", "socket", "_socket", "ssl", "_ssl", "resource", "pty", "mmap",
               "signal", "faulthandler", "gc", "pwd", "grp", "select", "selectors", "asyncio",
               "_posixshmem", "fcntl", "termios"}),
    ("socket.", "subprocess.", "os.fork", "os.forkpty", "os.exec", "os.spawn", "os.posix_spawn",
     "os.system", "os.kill", "os.killpg", "os.setuid", "os.symlink", "os.link", "ctypes.",
     "resource.", "os.chroot", "os.putenv", "os.unsetenv", "sys.setprofile", "sys.settrace",
     "code.__new__", "function.__new__", "urllib.", "http.", "ftplib.", "smtplib.", "webbrowser.",
     "sys.remote_exec", "os.add_dll_directory", "os.startfile"),
    {"open": ((0,), ()), "os.listdir": ((0,), ()), "os.scandir": ((0,), ()),
     "os.remove": ((0,), (1,)), "os.rename": ((0, 1), (2, 3)), "os.replace": ((0, 1), (2, 3)),
     "os.mkdir": ((0,), (2,)), "os.rmdir": ((0,), (1,)), "os.chmod": ((0,), (2,)),
     "os.chown": ((0,), (3,)), "os.truncate": ((0,), ()), "os.utime": ((0,), (3,)),
     "os.chdir": ((0,), ()), "os.listxattr": ((0,), ()), "os.getxattr": ((0,), ()),
     "os.setxattr": ((0,), ()), "os.removexattr": ((0,), ())},
    frozenset({pathlib.PurePath, pathlib.PurePosixPath, pathlib.Path, pathlib.PosixPath}),
))
os.chdir(sys.argv[1])
del make_hook, handle
exec(compile(SOURCE, "<snippet>", "exec"), {"__name__": "__main__"})
"""


def _readable_roots() -> list[str]:
    """The standard library folders, so that ``import json`` works in the child."""
    paths = sysconfig.get_paths()
    roots = {paths["stdlib"], paths["platstdlib"]}
    return sorted(str(Path(p).resolve()) for p in roots if p)


def _network_unsharer() -> Callable[[], None]:
    """A function that moves the calling process into an empty network namespace.

    Made in the parent: the child, between fork and exec, must not import or
    ``dlopen`` anything (another thread may have held those locks at the fork).
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def unshare() -> None:
        if libc.unshare(CLONE_NEWNET) != 0:
            libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)  # unprivileged; the audit hook still blocks

    return unshare


class PythonTool(Tool):
    """Runs Python code in a sandboxed subprocess and returns what it printed."""

    name = "python"
    description = (
        "run a short Python program (standard library only, no files outside the "
        "current folder, no network) and return what it prints"
    )
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 800}},
        "required": ["code"],
    }

    def __init__(
        self,
        enabled: bool = False,
        timeout_s: float = 10.0,
        memory_mb: int = 256,
        max_file_mb: int = 8,
    ) -> None:
        if not enabled:
            raise ConfigError(
                "the python tool runs model-written code and is off",
                hint="enable it explicitly (PythonTool(enabled=True), or `heron agent "
                "--allow-python`)",
            )
        self.run_timeout_s = timeout_s
        # the agent waits a little longer than the child may run, so the child is killed first
        self.timeout_s = timeout_s + 5.0
        self.memory_bytes = memory_mb * 2**20
        self.file_bytes = max_file_mb * 2**20
        self._scratch: Path | None = None

    @property
    def scratch(self) -> Path:
        """The only folder the code may write (and read outside the standard library)."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="heron-python-"))
        return self._scratch

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _limits(self, unshare: Callable[[], None]) -> Callable[[], None]:
        """What runs in the child between fork and exec (no imports there)."""
        cpu = max(1, int(self.run_timeout_s) + 1)
        limits = (
            (resource.RLIMIT_AS, self.memory_bytes),
            (resource.RLIMIT_CPU, cpu),
            (resource.RLIMIT_FSIZE, self.file_bytes),
            (resource.RLIMIT_NOFILE, 64),
            (resource.RLIMIT_CORE, 0),
        )

        def apply() -> None:
            os.setsid()
            for limit, value in limits:
                resource.setrlimit(limit, (value, value))
            if os.getuid() != 0:
                resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))
            with contextlib.suppress(OSError, AttributeError):
                unshare()

        return apply

    def run(self, **args: Any) -> str:
        code = str(args.get("code", ""))
        if not code.strip():
            raise InputError("the code is empty", hint="pass a Python program that prints")
        if len(code) > MAX_CODE:
            raise InputError(f"the code is longer than {MAX_CODE} characters")
        with tempfile.TemporaryDirectory(prefix="heron-python-run-") as private:
            folder = Path(private)
            (folder / "runner.py").write_text(RUNNER, encoding="utf-8")
            (folder / "snippet.py").write_text(code, encoding="utf-8")
            return self._execute(folder)

    def _execute(self, folder: Path) -> str:
        command = [
            sys.executable, "-I", "-S", "-B", str(folder / "runner.py"),
            str(self.scratch), str(folder / "snippet.py"), *_readable_roots(),
        ]  # fmt: skip
        with (folder / "out").open("wb") as out, (folder / "err").open("wb") as err:
            process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=self.scratch,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                close_fds=True,
                preexec_fn=self._limits(_network_unsharer()),  # noqa: PLW1509 - rlimits in the child
            )
            try:
                code = process.wait(timeout=self.run_timeout_s)
            except subprocess.TimeoutExpired as exc:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise HeronTimeout(
                    f"the python code ran longer than {self.run_timeout_s:g} s and was stopped",
                    hint="make it shorter or faster",
                ) from exc
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)  # anything it left behind
        stdout = _tail(folder / "out")
        if code != 0:
            reason = _signal_reason(code) or _last_line(_tail(folder / "err"))
            raise InputError(f"the python code failed: {reason}", hint=f"output: {stdout[-300:]}")
        return stdout or "(no output; use print())"


def _tail(path: Path) -> str:
    data = path.read_bytes()[:MAX_OUTPUT]
    return data.decode("utf-8", errors="replace").strip()


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def _signal_reason(code: int) -> str:
    if code >= 0:
        return ""
    reasons = {
        signal.SIGKILL: "killed (memory or CPU limit)",
        signal.SIGXCPU: "CPU time limit reached",
        signal.SIGXFSZ: "file size limit reached",
        signal.SIGSEGV: "crashed (segmentation fault)",
    }
    return reasons.get(signal.Signals(-code), f"killed by signal {-code}")
