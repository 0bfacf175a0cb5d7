"""A Python tool: runs a snippet in a separate, locked-down process. Off unless enabled.

Layers, from the outside in; each is used where the machine allows it, and
``PythonTool.isolation`` says which were up (``require_isolation`` refuses to run
code without them):

1. **A separate process** (``python -I -S -B``: no site-packages, no user paths, no
   ``PYTHON*`` variables), in a new session, with an environment of ``PATH``,
   ``LANG``, ``HOME`` and ``TMPDIR`` (the last two: the scratch folder), stdin from
   ``/dev/null`` and ``cwd`` a fresh scratch folder. On timeout the whole process
   group is killed. Resource limits: address space, CPU seconds, size of files
   written (output included), open files, processes, no core files.
2. **Namespaces** (``heron.chains.agents.sandbox``): ``netns`` (no network
   interface but a loopback that is down), ``mountns`` (a new, read-only root
   with only the system folders, the Python install and the scratch folder) and,
   when root, ``unprivileged`` (the child becomes ``nobody``).
3. **seccomp** (``heron.chains.agents.seccomp``): sockets, new processes,
   ``exec``, ``ptrace``, signals, mounts, namespaces, ``bpf``, ``keyctl``,
   ``perf_event_open``, kernel modules… fail with ``EPERM``.
4. **An audit hook** (``heron.chains.agents.python_runner``): Python-level
   refusals with readable messages (files outside the scratch folder, sockets,
   processes, ``ctypes``…).

Left out: architectures other than x86_64 for seccomp; a PID namespace and
cgroups.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from heron.chains.agents import sandbox
from heron.chains.agents.python_runner import NO_SECCOMP_EXIT, RUNNER
from heron.chains.agents.sandbox import LAYERS, ChildPlan, Isolation
from heron.chains.agents.seccomp import deny_program
from heron.chains.agents.tools import Tool
from heron.errors import ConfigError, HeronTimeout, InputError

MAX_CODE = 4000
MAX_OUTPUT = 4000
MAX_PROCESSES = 64
#: the layers ``require_isolation=True`` asks for (the audit hook is always there)
FULL_ISOLATION = ("netns", "mountns", "unprivileged", "seccomp")


def _readable_roots() -> list[str]:
    """The standard library folder, so that ``import json`` works in the child."""
    roots = {sysconfig.get_paths()["stdlib"], os.path.dirname(os.__file__)}
    return sorted(str(Path(p).resolve()) for p in roots if p)


def _interpreter() -> str:
    """The base interpreter (not a venv's link to it: the child needs no venv)."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


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
        require_isolation: bool | Collection[str] = False,
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
        self.required = _required_layers(require_isolation)
        self._scratch: Path | None = None
        self._isolation: Isolation | None = None
        #: tests turn it off to check that the kernel layers hold on their own
        self._audit_hook = True

    @property
    def scratch(self) -> Path:
        """The only folder the code may write (and read outside the standard library)."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="heron-python-")).resolve()
            sandbox.prepare_for_nobody([self._scratch], *sandbox.nobody_ids())
        return self._scratch

    @property
    def isolation(self) -> dict[str, bool]:
        """Which layers are up on this machine (``netns``, ``mountns``, ``seccomp``…)."""
        return dict(self.isolation_report().layers)

    def isolation_report(self) -> Isolation:
        """The layers of the last run (a probe run when there was none), with reasons."""
        if self._isolation is None:
            self._run_code("pass", enforce=False)
        assert self._isolation is not None
        return self._isolation

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def run(self, **args: Any) -> str:
        code = str(args.get("code", ""))
        if not code.strip():
            raise InputError("the code is empty", hint="pass a Python program that prints")
        if len(code) > MAX_CODE:
            raise InputError(f"the code is longer than {MAX_CODE} characters")
        return self._run_code(code, enforce=True)

    def _run_code(self, code: str, enforce: bool) -> str:
        with tempfile.TemporaryDirectory(prefix="heron-python-run-") as private:
            folder = Path(private).resolve()
            (folder / "runner.py").write_text(RUNNER, encoding="utf-8")
            (folder / "snippet.py").write_text(code, encoding="utf-8")
            (folder / "root").mkdir()
            program = deny_program()
            if program is not None:
                (folder / "filter.bpf").write_bytes(program)
            sandbox.prepare_for_nobody([folder], *sandbox.nobody_ids())
            return self._execute(folder, program is not None, enforce)

    def _limits(self) -> tuple[tuple[int, int], ...]:
        return (
            (resource.RLIMIT_AS, self.memory_bytes),
            (resource.RLIMIT_CPU, max(1, int(self.run_timeout_s) + 1)),
            (resource.RLIMIT_FSIZE, self.file_bytes),
            (resource.RLIMIT_NOFILE, 64),
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_NPROC, MAX_PROCESSES),
        )

    def _plan(self, folder: Path, status_fd: int, enforce: bool) -> ChildPlan:
        binds, links = sandbox.plan_filesystem(
            [*sandbox.python_dirs(), *_readable_roots()], str(self.scratch), str(folder)
        )
        uid, gid = sandbox.nobody_ids()
        return ChildPlan(
            limits=self._limits(),
            status_fd=status_fd,
            scratch=str(self.scratch),
            root=str(folder / "root"),
            binds=binds,
            links=links,
            required=self.required if enforce else frozenset(),
            uid=uid,
            gid=gid,
        )

    def _command(self, folder: Path, has_filter: bool, status_fd: int, enforce: bool) -> list[str]:
        flags = ("h" if self._audit_hook else "") + (
            "s" if enforce and "seccomp" in self.required else ""
        )
        return [
            _interpreter(), "-I", "-S", "-B", str(folder / "runner.py"),
            str(self.scratch), str(folder / "snippet.py"), str(status_fd),
            str(folder / "filter.bpf") if has_filter else "-", flags or "-",
            *_readable_roots(),
        ]  # fmt: skip

    def _execute(self, folder: Path, has_filter: bool, enforce: bool) -> str:
        status_read, status_write = os.pipe()
        failure: subprocess.SubprocessError | None = None
        try:
            code = self._spawn(folder, has_filter, enforce, status_write)
        except subprocess.SubprocessError as exc:  # the set-up before exec failed
            failure, code = exc, -1
        except OSError as exc:  # exec failed (e.g. `nobody` is at its process limit)
            raise ConfigError(
                f"the python sandbox could not start the interpreter: {exc}",
                hint="try again; if it persists, check the processes of user nobody",
            ) from exc
        finally:
            os.close(status_write)
            self._isolation = self._read_status(status_read)
        if failure is not None:
            raise self._refusal(failure) from failure
        if enforce and code == NO_SECCOMP_EXIT and self._isolation.missing(self.required):
            raise self._refusal(None)
        stdout = _tail(folder / "out")
        if code != 0:
            reason = _signal_reason(code) or _last_line(_tail(folder / "err"))
            raise InputError(f"the python code failed: {reason}", hint=f"output: {stdout[-300:]}")
        return stdout or "(no output; use print())"

    def _spawn(self, folder: Path, has_filter: bool, enforce: bool, status_fd: int) -> int:
        """Run the child to its end (or the timeout); its exit status."""
        plan = self._plan(folder, status_fd, enforce)
        scratch = str(self.scratch)
        with (folder / "out").open("wb") as out, (folder / "err").open("wb") as err:
            process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self._command(folder, has_filter, status_fd, enforce),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=scratch,
                env={
                    "PATH": "/usr/bin:/bin",
                    "LANG": "C.UTF-8",
                    "HOME": scratch,
                    "TMPDIR": scratch,
                },  # fmt: skip
                close_fds=True,
                pass_fds=(status_fd,),
                preexec_fn=sandbox.child_setup(plan),  # noqa: PLW1509 - namespaces, rlimits
            )
            try:
                return _wait(process, self.run_timeout_s)
            except subprocess.TimeoutExpired as exc:
                _kill_group(process.pid)
                process.wait()
                raise HeronTimeout(
                    f"the python code ran longer than {self.run_timeout_s:g} s and was stopped",
                    hint="make it shorter or faster",
                ) from exc
            finally:
                _kill_group(process.pid)  # anything it left behind

    def _read_status(self, read_fd: int) -> Isolation:
        os.set_blocking(read_fd, False)
        chunks: list[bytes] = []
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(read_fd, 4096):
                chunks.append(chunk)
        os.close(read_fd)
        text = b"".join(chunks).decode("utf-8", errors="replace")
        return Isolation.parse(text, audit_hook=self._audit_hook)

    def _refusal(self, failure: Exception | None) -> ConfigError:
        assert self._isolation is not None
        missing = self._isolation.missing(self.required)
        if not missing:
            return ConfigError(
                f"the python sandbox could not be set up: {failure}",
                hint="see PythonTool(...).isolation_report() for the layers",
            )
        return ConfigError(
            f"the python sandbox needs {', '.join(missing)} and this machine does not allow "
            f"it ({self._isolation.describe(missing)}); no code was run",
            hint="run as root or where user namespaces and seccomp are allowed (x86_64 "
            "Linux), or accept fewer layers with require_isolation=False",
        )


def _required_layers(require: bool | Collection[str]) -> frozenset[str]:
    if require is True:
        return frozenset(FULL_ISOLATION)
    if require is False:
        return frozenset()
    unknown = sorted(set(require) - set(LAYERS))
    if unknown:
        raise ConfigError(
            f"unknown sandbox layer(s): {', '.join(unknown)}",
            hint=f"layers: {', '.join(LAYERS)}",
        )
    return frozenset(require)


def _wait(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    """``process.wait(timeout)`` without its polling (which adds up to 50 ms a run)."""
    try:
        handle = os.pidfd_open(process.pid)
    except OSError:  # before Linux 5.3
        return process.wait(timeout=timeout_s)
    try:
        ready, _, _ = select.select([handle], [], [], timeout_s)
    finally:
        os.close(handle)
    if not ready:
        raise subprocess.TimeoutExpired(process.args, timeout_s)
    return process.wait()


def _kill_group(group: int, patience_s: float = 1.0) -> None:
    """SIGKILL a process group until it is gone (killed members linger until reaped)."""
    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.01)


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
        signal.SIGSYS: "killed by the seccomp filter (a forbidden system call)",
    }
    return reasons.get(signal.Signals(-code), f"killed by signal {-code}")
