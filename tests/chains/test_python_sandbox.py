"""The Python tool's sandbox, layer by layer, with real processes.

Most escapes are tried twice: with the audit hook (what an agent gets) and with
the hook turned off, to show that the kernel layers (namespaces, seccomp,
rlimits) hold on their own. A layer the machine lacks skips its tests, saying why.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.chains.agents import PythonTool
from heron.chains.agents import python_tool as python_tool_module
from heron.chains.agents.sandbox import LAYERS, Isolation
from heron.chains.agents.seccomp import DENIED_X86_64, deny_program, x86_64_program
from heron.errors import ConfigError, HeronTimeout, InputError


@pytest.fixture
def tool() -> Iterator[PythonTool]:
    made = PythonTool(enabled=True, timeout_s=3)
    yield made
    made.close()


@pytest.fixture
def bare(tool: PythonTool) -> PythonTool:
    """The tool without its audit hook: only the kernel layers stand."""
    tool._audit_hook = False
    return tool


def need(tool: PythonTool, *layers: str) -> None:
    report = tool.isolation_report()
    missing = report.missing(layers)
    if missing:
        pytest.skip(f"this machine lacks {report.describe(missing)}")


def failure(tool: PythonTool, code: str) -> str:
    with pytest.raises(InputError) as info:
        tool.run(code=code)
    return str(info.value)


# --- the normal path ---------------------------------------------------------------


def test_plain_code_runs_prints_and_writes_its_scratch_folder(tool: PythonTool) -> None:
    code = textwrap.dedent("""
        import math, os, tempfile
        total = sum(i * i for i in range(10))
        with open("result.txt", "w") as handle:
            handle.write(str(total))
        print(total, math.factorial(5), os.getcwd() == os.environ["HOME"])
        print(tempfile.gettempdir() == os.getcwd())
    """)
    assert tool.run(code=code) == "285 120 True\nTrue"
    assert (tool.scratch / "result.txt").read_text() == "285"


def test_threads_still_work_under_seccomp(bare: PythonTool) -> None:
    code = "import threading\nt = threading.Thread(target=print, args=('thread',))\n"
    assert bare.run(code=code + "t.start(); t.join()") == "thread"


def test_isolation_reports_every_layer(tool: PythonTool) -> None:
    layers = tool.isolation
    assert set(layers) == set(LAYERS)
    assert layers["audit_hook"] is True
    report = tool.isolation_report()
    for name, up in layers.items():
        assert up or report.notes[name]  # a layer that is off says why


# --- network -----------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    yield server
    server.close()


def connect_code(port: int) -> str:
    return f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('in')"


def assert_no_connection(server: socket.socket) -> None:
    with pytest.raises(TimeoutError):
        server.accept()


def test_a_socket_to_a_listener_on_the_host_never_connects(
    tool: PythonTool, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    assert "importing socket" in failure(tool, connect_code(port))
    assert_no_connection(listener)


def test_seccomp_alone_refuses_the_socket(bare: PythonTool, listener: socket.socket) -> None:
    need(bare, "seccomp")
    assert "PermissionError" in failure(bare, connect_code(listener.getsockname()[1]))
    assert_no_connection(listener)


def test_the_network_namespace_alone_has_no_route_to_the_host(
    bare: PythonTool, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(bare, "netns")
    monkeypatch.setattr(python_tool_module, "deny_program", lambda: None)  # seccomp off
    names = bare.run(code="import socket\nprint([n for _, n in socket.if_nameindex()])")
    assert names == "['lo']"
    message = failure(bare, connect_code(listener.getsockname()[1]))
    assert "unreachable" in message or "refused" in message, message
    assert_no_connection(listener)


# --- the file system ---------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "print(open('/etc/passwd').read())",
        "print(open('../../../../etc/passwd').read())",
        "from pathlib import Path\nprint(Path('/etc/passwd').read_text())",
    ],
)
def test_etc_passwd_is_refused(tool: PythonTool, code: str) -> None:
    assert "/etc/passwd" in failure(tool, code)


def test_the_mount_namespace_alone_hides_the_host_files(bare: PythonTool) -> None:
    need(bare, "mountns")
    assert "FileNotFoundError" in failure(bare, "open('/etc/passwd')")
    top = bare.run(code="import os\nprint(sorted(os.listdir('/')))")
    for hidden in ("etc", "home", "proc", "work", "var"):
        assert f"'{hidden}'" not in top
    assert "/work" not in bare.run(
        code="import os\nprint(os.listdir(os.path.dirname(os.getcwd())))"
    )


@pytest.mark.parametrize("target", ["/tmp/heron-escaped", "/usr/heron-escaped"])
def test_writing_outside_the_scratch_folder_is_refused(tool: PythonTool, target: str) -> None:
    code = f"open({target!r}, 'w').write('x')"
    assert "is not allowed" in failure(tool, code)
    tool._audit_hook = False  # the mount namespace alone: a read-only root
    if tool.isolation["mountns"]:
        assert "Read-only file system" in failure(tool, code)
    assert not Path(target).exists()


# --- processes, the kernel ---------------------------------------------------------


def test_a_fork_bomb_is_refused(tool: PythonTool) -> None:
    bomb = "import os\nwhile True:\n    os.fork()"
    assert "os.fork is not allowed" in failure(tool, bomb)
    tool._audit_hook = False  # seccomp alone
    need(tool, "seccomp")
    assert "PermissionError" in failure(tool, bomb)


def test_without_seccomp_a_fork_bomb_is_bounded_and_killed(
    bare: PythonTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(bare, "unprivileged")  # the process limit binds only a non-root user
    monkeypatch.setattr(python_tool_module, "deny_program", lambda: None)
    code = "import os\nopen('group', 'w').write(str(os.getpgid(0)))\nwhile True:\n    os.fork()"
    start = time.perf_counter()
    with pytest.raises((InputError, HeronTimeout)):
        bare.run(code=code)
    assert time.perf_counter() - start < 30
    group = int((bare.scratch / "group").read_text())
    deadline = time.monotonic() + 10
    while live_members(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_members(group) == []  # killed to the last one (zombies wait for init)


def live_members(group: int) -> list[int]:
    """Processes of a process group that are not zombies."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[-1].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    "call",
    [
        "libc.ptrace(16, 1, 0, 0)",  # PTRACE_ATTACH to init
        "libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)",
        "libc.umount2(b'/usr', 2)",
        "libc.unshare(0x40000000)",
        "libc.syscall(321, 0, 0, 0)",  # bpf
        "libc.syscall(250, 0, 0, 0)",  # keyctl
        "libc.personality(0x0040000)",
    ],
)
def test_kernel_calls_fail_with_eperm(bare: PythonTool, call: str) -> None:
    need(bare, "seccomp")
    libc = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    code = f"{libc}print({call}, ctypes.get_errno())"
    assert bare.run(code=code) == "-1 1"


def test_ctypes_is_refused_by_the_hook_even_though_the_runner_used_it(tool: PythonTool) -> None:
    assert "importing ctypes" in failure(tool, "import ctypes")


def test_an_endless_loop_is_stopped_at_the_timeout(bare: PythonTool) -> None:
    start = time.perf_counter()
    with pytest.raises(HeronTimeout, match="longer than 3 s"):
        bare.run(code="while True:\n    pass")
    assert time.perf_counter() - start < 12


def test_a_memory_hog_is_stopped(bare: PythonTool) -> None:
    assert "MemoryError" in failure(bare, "x = bytearray(1024 ** 3)")


# --- requiring the layers ----------------------------------------------------------


def test_full_isolation_can_be_required(tool: PythonTool) -> None:
    need(tool, "netns", "mountns", "unprivileged", "seccomp")
    strict = PythonTool(enabled=True, require_isolation=True)
    try:
        assert strict.run(code="print(6 * 7)") == "42"
    finally:
        strict.close()


def test_a_required_filter_that_cannot_be_installed_stops_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(python_tool_module, "deny_program", lambda: None)  # as off x86_64
    strict = PythonTool(enabled=True, require_isolation=["seccomp"])
    try:
        with pytest.raises(ConfigError, match="needs seccomp .* no code was run"):
            strict.run(code="open('marker', 'w').write('x')")
        assert not (strict.scratch / "marker").exists()
        assert "architecture" in strict.isolation_report().notes["seccomp"]
    finally:
        strict.close()


def test_unknown_layers_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown sandbox layer"):
        PythonTool(enabled=True, require_isolation=["chroot"])


CHECK_UNDER_NO_UNSHARE = """
import ctypes, sys
from heron.chains.agents import PythonTool
from heron.errors import ConfigError
libc = ctypes.CDLL(None, use_errno=True)
program = bytes.fromhex(sys.argv[1])

class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

buffer = ctypes.create_string_buffer(program, len(program))
fprog = Prog(len(program) // 8, ctypes.addressof(buffer))
u = ctypes.c_ulong
assert libc.prctl(u(38), u(1), u(0), u(0), u(0)) == 0
assert libc.prctl(u(22), u(2), ctypes.byref(fprog), u(0), u(0)) == 0
relaxed = PythonTool(enabled=True)
print(sorted(k for k, v in relaxed.isolation.items() if not v))
print(relaxed.run(code="print('ran')"))
strict = PythonTool(enabled=True, require_isolation=True)
try:
    strict.run(code="open('marker', 'w').write('x')")
except ConfigError as exc:
    print("refused:", exc)
print("marker" if (strict.scratch / "marker").exists() else "no marker")
relaxed.close()
strict.close()
"""


def test_a_machine_without_namespaces_is_reported_and_refused_when_required() -> None:
    """The whole tool runs in a process where ``unshare`` fails, as on a locked-down host."""
    deny_unshare = b"".join(
        struct.pack("=HBBI", *op)
        for op in [
            (0x20, 0, 0, 4),  # ld arch
            (0x15, 1, 0, 0xC000003E),  # x86_64?
            (0x06, 0, 0, 0x7FFF0000),  # another arch: allow (the test skips there)
            (0x20, 0, 0, 0),  # ld nr
            (0x15, 0, 1, DENIED_X86_64["unshare"]),
            (0x06, 0, 0, 0x00050001),  # EPERM
            (0x06, 0, 0, 0x7FFF0000),
        ]
    )
    if deny_program() is None:
        pytest.skip("the test filter is x86_64 only")
    child = subprocess.run(
        [sys.executable, "-c", CHECK_UNDER_NO_UNSHARE, deny_unshare.hex()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(python_tool_module.__file__).parents[3])},
    )
    assert child.returncode == 0, child.stderr
    off, ran, refused, marker = child.stdout.strip().splitlines()
    assert "'netns'" in off and "'mountns'" in off and "'seccomp'" not in off
    assert ran == "ran"
    assert refused.startswith("refused: the python sandbox needs")
    assert "netns" in refused and "no code was run" in refused
    assert marker == "no marker"


# --- the pieces --------------------------------------------------------------------


def test_the_seccomp_program_is_well_formed() -> None:
    program = x86_64_program()
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
    assert deny_program("x86_64") == program
    assert deny_program("riscv64") is None
    last = struct.unpack("=HBBI", program[-8:])
    assert last == (0x06, 0, 0, 0x7FFF0000)  # everything not listed is allowed


def test_isolation_parses_the_status_lines() -> None:
    report = Isolation.parse("netns on\nmountns off: EPERM\nseccomp on\n", audit_hook=True)
    assert report.layers == {
        "netns": True, "mountns": False, "unprivileged": False, "seccomp": True,
        "audit_hook": True,
    }  # fmt: skip
    assert report.notes["mountns"] == "EPERM"
    assert "not reached" in report.notes["unprivileged"]
    assert report.missing(["netns", "mountns"]) == ["mountns"]


AS_A_USER = """
import os
import shutil
from heron.chains.agents import PythonTool
tool = PythonTool(enabled=True, require_isolation=True)
tool._audit_hook = False
print(os.getuid(), sorted(k for k, v in tool.isolation.items() if not v))
code = "import os\\nopen('f', 'w').write('x')\\nprint(os.getuid(), os.path.exists('/etc'))"
print(tool.run(code=code))
tool.close()
"""


def test_an_unprivileged_caller_gets_every_layer_through_a_user_namespace() -> None:
    """Run the tool itself as ``nobody`` (with the system's Python of the same version)."""
    system_python = Path(f"/usr/bin/python3.{sys.version_info.minor}")
    setpriv = shutil.which("setpriv")
    if os.getuid() != 0 or setpriv is None or not system_python.exists():
        pytest.skip("needs root, setpriv and a system Python of this version to become nobody")
    src = Path(python_tool_module.__file__).parents[3]
    site = [p for p in sys.path if p.endswith("site-packages")]
    child = subprocess.run(
        [
            setpriv,
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            str(system_python),
            "-c",
            AS_A_USER,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
        env={"PYTHONPATH": ":".join([str(src), *site]), "HF_HUB_OFFLINE": "1"},
    )
    if "Permission denied" in child.stderr or "ModuleNotFoundError" in child.stderr:
        pytest.skip(f"nobody cannot import heron here: {child.stderr.strip()[-200:]}")
    if "ConfigError" in child.stderr:
        pytest.skip(f"unprivileged user namespaces are off here: {child.stderr.strip()[-300:]}")
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["65534 ['audit_hook']", "65534 False"]
