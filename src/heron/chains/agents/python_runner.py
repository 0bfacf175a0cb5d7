"""The program the Python tool's child runs: seccomp, the audit hook, then the snippet.

``RUNNER`` is run as ``python -I -S -B runner.py SCRATCH SNIPPET STATUS_FD FILTER
FLAGS READABLE...``. Before any model-written code it:

1. installs the seccomp filter read from ``FILTER`` (``-``: none for this
   machine) with ``PR_SET_NO_NEW_PRIVS``, reports ``seccomp on|off: why`` on the
   status pipe ``STATUS_FD`` and closes it; ``ctypes`` is then dropped from
   ``sys.modules`` so that the snippet's ``import ctypes`` is a real import, which
   the hook refuses; with ``s`` in ``FLAGS`` a missing filter ends the run (exit 97);
2. with ``h`` in ``FLAGS``, adds the PEP 578 audit hook (everything it uses bound
   when it is made, so patching modules or builtins later changes nothing);
3. changes to ``SCRATCH`` and executes the snippet.

The audit hook is a defence layer, not a boundary: C code (a bug in an extension
module, a crafted code object) can get around it; the kernel layers below it
(namespaces, seccomp, rlimits) do not depend on it.
"""

#: exit status of a run refused because a required seccomp filter could not be installed
NO_SECCOMP_EXIT = 97

#: what runs in the child (see the module docstring)
RUNNER = r"""
import os, posix, sys, pathlib
with open(sys.argv[2], encoding="utf-8") as handle:
    SOURCE = handle.read()


def install_seccomp(path):
    if path == "-":
        return "off: no syscall table for this machine's architecture"
    try:
        import ctypes
        with open(path, "rb") as handle:
            program = handle.read()
        libc = ctypes.CDLL(None, use_errno=True)

        class Program(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = Program(len(program) // 8, ctypes.addressof(buffer))
        ulong = ctypes.c_ulong
        if libc.prctl(ulong(38), ulong(1), ulong(0), ulong(0), ulong(0)) != 0:  # NO_NEW_PRIVS
            return "off: PR_SET_NO_NEW_PRIVS: " + os.strerror(ctypes.get_errno())
        if libc.prctl(ulong(22), ulong(2), ctypes.byref(fprog), ulong(0), ulong(0)) != 0:
            return "off: PR_SET_SECCOMP: " + os.strerror(ctypes.get_errno())
        return "on"
    except (ImportError, OSError) as exc:
        return "off: " + str(exc)
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] in ("ctypes", "_ctypes")]:
            del sys.modules[name]


SECCOMP = install_seccomp(sys.argv[4])
os.write(int(sys.argv[3]), ("seccomp " + SECCOMP + "\n").encode())
os.close(int(sys.argv[3]))
if "s" in sys.argv[5] and SECCOMP != "on":
    sys.exit(97)


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


HOOK = make_hook(
    os.path.realpath(sys.argv[1]),
    tuple(os.path.realpath(p) for p in sys.argv[6:]),
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
)
if "h" in sys.argv[5]:
    sys.addaudithook(HOOK)
os.chdir(sys.argv[1])
del make_hook, install_seccomp, handle, HOOK
exec(compile(SOURCE, "<snippet>", "exec"), {"__name__": "__main__"})
"""
