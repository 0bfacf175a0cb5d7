"""Kernel-level layers of the Python tool's sandbox, set up in the child before ``exec``.

``child_setup(plan)`` returns the function ``subprocess`` runs in the child
between ``fork`` and ``exec``. In order, each step used where the machine allows
it, and each reported on a status pipe (``"<layer> on"`` or ``"<layer> off:
why"``) that the parent reads back into an ``Isolation``:

1. a new session and resource limits (memory, CPU, file size, open files,
   processes, no core files);
2. ``netns``: new network and mount namespaces (``unshare``; with a user
   namespace mapping the caller's own ids when not root);
3. ``mountns``: a new root: a read-only tmpfs holding read-only bind mounts of the
   system folders (``/usr``, ``/lib``…) and the Python install, the run folder
   (read-only) and the scratch folder (the only writable place, ``noexec``), then
   ``pivot_root``: ``/etc``, ``/home``, ``/root``, ``/proc``, the project and
   every other file are not there at all;
4. ``unprivileged``: when root, the child becomes ``nobody`` (no capabilities, and
   the process limit applies) — only with ``mountns``, which is what makes the
   interpreter readable by ``nobody`` wherever it is installed.

The seccomp filter (``heron.chains.agents.seccomp``) and the audit hook are
installed later, by the runner in the child. Nothing here may import or
``dlopen`` in the child (another thread of the parent may have held a lock at
the fork), so every C function is looked up in the parent.

Left out: a PID namespace (the child cannot signal anyone: seccomp), cgroups
(memory is bounded by ``RLIMIT_AS``), ``pivot_root`` on architectures other than
x86_64 and aarch64 (then ``mountns`` is off).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: every layer ``PythonTool.isolation`` reports, strongest last
LAYERS = ("netns", "mountns", "unprivileged", "seccomp", "audit_hook")

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
PIVOT_ROOT = {"x86_64": 155, "amd64": 155, "aarch64": 41, "arm64": 41}
#: system folders bound read-only into the child's root (or recreated as links)
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
NOBODY = 65534


@dataclass(frozen=True)
class Isolation:
    """Which layers were up in a child, and why the others were not."""

    layers: dict[str, bool]
    notes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, status: str, audit_hook: bool) -> Isolation:
        layers = dict.fromkeys(LAYERS, False)
        notes: dict[str, str] = {}
        for line in status.splitlines():
            name, _, rest = line.partition(" ")
            if name not in layers:
                continue
            layers[name] = rest == "on"
            if rest.startswith("off"):
                notes[name] = rest.removeprefix("off").lstrip(": ")
        layers["audit_hook"] = audit_hook
        if not audit_hook:
            notes["audit_hook"] = "turned off"
        for name in LAYERS:
            if not layers[name] and name not in notes:
                notes[name] = "not reached (the child stopped before it)"
        return cls(layers, notes)

    def missing(self, required: Iterable[str]) -> list[str]:
        return [name for name in required if not self.layers.get(name, False)]

    def describe(self, names: Iterable[str]) -> str:
        return "; ".join(f"{name}: {self.notes.get(name, 'off')}" for name in names)


@dataclass(frozen=True)
class Bind:
    """A folder or file mounted at the same path inside the child's root."""

    source: str
    flags: int  # MS_* flags of the read-only (or not) remount
    is_file: bool = False


@dataclass(frozen=True)
class ChildPlan:
    """Everything the child does before ``exec``, decided in the parent."""

    limits: tuple[tuple[int, int], ...]
    status_fd: int
    scratch: str
    root: str  # an empty folder that becomes the child's ``/``
    binds: tuple[Bind, ...]
    links: tuple[tuple[str, str], ...]  # (path, target) symlinks made in the new root
    required: frozenset[str]
    uid: int
    gid: int


class _Libc:
    """The C functions the child needs, resolved in the parent."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.unshare = libc.unshare
        self.unshare.argtypes = [ctypes.c_int]
        self.mount = libc.mount
        self.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
        self.umount2 = libc.umount2
        self.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self.syscall = libc.syscall  # only for pivot_root, which has no libc wrapper
        self.syscall.argtypes = [ctypes.c_long, ctypes.c_char_p, ctypes.c_char_p]
        self.get_errno = ctypes.get_errno
        self.pivot_nr = PIVOT_ROOT.get(platform.machine().lower())

    def check(self, result: int, what: str) -> None:
        if result != 0:
            err = self.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")


def _locked_flags(path: str) -> int:
    """The flags a remount must keep (a user namespace may not clear them)."""
    try:
        have = os.statvfs(path).f_flag
    except OSError:
        return 0
    pairs = (
        (os.ST_NOSUID, MS_NOSUID),
        (os.ST_NODEV, MS_NODEV),
        (os.ST_NOEXEC, MS_NOEXEC),
        (os.ST_NOATIME, MS_NOATIME),
        (os.ST_NODIRATIME, MS_NODIRATIME),
        (os.ST_RELATIME, MS_RELATIME),
    )
    return sum(ms for st, ms in pairs if have & st)


def plan_filesystem(
    python_dirs: Iterable[str], scratch: str, run_folder: str
) -> tuple[tuple[Bind, ...], tuple[tuple[str, str], ...]]:
    """The binds and links of the child's root: system, Python, run folder, scratch."""
    ro = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
    links: list[tuple[str, str]] = []
    sources: list[str] = []
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            links.append((folder, os.readlink(folder)))
        elif os.path.isdir(folder):
            sources.append(folder)
    sources += [os.path.realpath(p) for p in python_dirs]
    binds: list[Bind] = []
    for source in sorted(set(sources)):
        if not any(source.startswith(b.source + "/") for b in binds):
            binds.append(Bind(source, ro | _locked_flags(source)))
    binds.append(Bind(run_folder, ro | _locked_flags(run_folder)))
    rw = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC
    binds.append(Bind(scratch, rw | _locked_flags(scratch)))
    dev = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC
    binds += [Bind(d, dev, is_file=True) for d in DEVICES if os.path.exists(d)]
    return tuple(binds), tuple(links)


def python_dirs() -> list[str]:
    """The folders the child's interpreter needs: its install (prefix) and its stdlib."""
    base = os.path.realpath(sys.base_prefix)
    exe = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    return [base, os.path.dirname(exe), stdlib]


def nobody_ids() -> tuple[int, int]:
    try:
        import pwd

        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except (ImportError, KeyError):
        return NOBODY, NOBODY


def child_setup(plan: ChildPlan) -> Callable[[], None]:
    """The function run in the child before ``exec`` (see the module docstring)."""
    libc = _Libc()
    real_uid, real_gid = os.getuid(), os.getgid()

    def report(line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(plan.status_fd, (line + "\n").encode())

    def layer(name: str, error: BaseException | None) -> bool:
        if error is None:
            report(f"{name} on")
            return True
        report(f"{name} off: {error}")
        if name in plan.required:
            raise RuntimeError(f"{name} is required")
        return False

    def apply() -> None:
        os.setsid()
        for limit, value in plan.limits:
            resource.setrlimit(limit, (value, value))
        error, mount_ns = _unshare(libc, real_uid, real_gid)
        layer("netns", error)
        if mount_ns:
            error = _new_root(libc, plan)
        mounted = layer("mountns", error or (None if mount_ns else _no_ns()))
        if real_uid != 0:
            layer("unprivileged", None)
        elif mounted:
            layer("unprivileged", _drop_root(plan))
        else:
            layer("unprivileged", OSError("root, and without mountns nobody may not read Python"))

    return apply


def _no_ns() -> OSError:
    return OSError("no mount namespace (only the network one could be made)")


def _unshare(libc: _Libc, uid: int, gid: int) -> tuple[OSError | None, bool]:
    """Enter new namespaces: (error or None, whether a mount namespace came too)."""
    user = CLONE_NEWUSER if uid != 0 else 0
    last: OSError | None = None
    for flags, mount_ns in ((CLONE_NEWNET | CLONE_NEWNS, True), (CLONE_NEWNET, False)):
        try:
            libc.check(libc.unshare(flags | user), "unshare")
        except OSError as exc:
            last = exc
            continue
        try:
            if user:
                _map_ids(uid, gid)
        except OSError as exc:  # in a user namespace without ids: go no further
            return exc, False
        return None, mount_ns
    return last, False


def _map_ids(uid: int, gid: int) -> None:
    """Map the caller's own ids in its new user namespace (files keep their owner)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def _new_root(libc: _Libc, plan: ChildPlan) -> OSError | None:
    """Build the read-only root and ``pivot_root`` into it; an error leaves the old root."""
    if libc.pivot_nr is None:
        return OSError(f"no pivot_root number for {platform.machine()}")
    root = plan.root
    try:
        libc.check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        libc.check(
            libc.mount(b"tmpfs", root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755"),
            "tmpfs root",
        )
        for path, target in plan.links:
            os.symlink(target, root + path)
        for bind in plan.binds:
            _bind(libc, root, bind)
        remount = MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
        libc.check(libc.mount(None, root.encode(), None, remount, None), "read-only root")
        os.chdir(root)
        libc.check(libc.syscall(libc.pivot_nr, b".", b"."), "pivot_root")
        libc.check(libc.umount2(b".", MNT_DETACH), "detach the old root")
        os.chdir(plan.scratch)
    except OSError as exc:
        return exc
    return None


def _bind(libc: _Libc, root: str, bind: Bind) -> None:
    target = root + bind.source
    if bind.is_file:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    else:
        os.makedirs(target, exist_ok=True)
    source_b, target_b = bind.source.encode(), target.encode()
    libc.check(libc.mount(source_b, target_b, None, MS_BIND, None), f"bind {bind.source}")
    libc.check(libc.mount(None, target_b, None, bind.flags, None), f"remount {bind.source}")


def _drop_root(plan: ChildPlan) -> OSError | None:
    try:
        os.setgroups([])
        os.setgid(plan.gid)
        os.setuid(plan.uid)
    except OSError as exc:
        return exc
    return None


def prepare_for_nobody(paths: Collection[Path], uid: int, gid: int) -> None:
    """Hand the scratch and run folders to ``nobody`` (when root) so the child can use them."""
    if os.getuid() != 0:
        return
    for path in paths:
        for item in [path, *path.rglob("*")]:
            with contextlib.suppress(OSError):
                os.chown(item, uid, gid)
