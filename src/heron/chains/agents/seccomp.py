"""A seccomp-BPF deny list for the Python tool's child, built by hand (no libseccomp).

``deny_program()`` returns the classic-BPF program as bytes (``struct sock_filter``
entries), or ``None`` where this module has no syscall table for the machine. The
child installs it with ``prctl(PR_SET_NO_NEW_PRIVS)`` then
``prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`` just before the snippet runs.

Policy: a denied call fails with ``EPERM`` (the snippet sees a ``PermissionError``
it can report), except ``clone3`` (``ENOSYS``, so the C library falls back to
``clone``, whose flags a filter can read: threads pass, new processes do not)
and a call from another ABI (i386 ``int 0x80``, x32), which kills the process:
those are only ever used to get around a filter.

Left out: architectures other than x86_64 (their syscall numbers differ; the
tool then reports seccomp as off), filtering by path (seccomp cannot read
pointers; the mount namespace and the audit hook cover files).
"""

from __future__ import annotations

import errno
import platform
import struct

#: the result of a denied call, per the policy above
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
CLONE_THREAD = 0x00010000

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
# offsets in struct seccomp_data: nr, arch, instruction pointer, args[6] (little endian)
_NR, _ARCH, _ARG0 = 0, 4, 16

#: x86_64 numbers of the calls the snippet never gets (name -> number)
DENIED_X86_64: dict[str, int] = {
    # network: no sockets at all (the namespace has no interface; unix sockets could
    # reach a host daemon through the file system)
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "accept4": 288,
    # other processes: none may be started, traced, read or signalled
    "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
    "rt_tgsigqueueinfo": 297, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
    # namespaces and mounts: the set-up is done before the filter
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
    "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    # the kernel itself
    "kexec_load": 246, "kexec_file_load": 320, "reboot": 169, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "bpf": 321, "perf_event_open": 298,
    "keyctl": 250, "add_key": 248, "request_key": 249, "personality": 135, "syslog": 103,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_by_handle_at": 304, "name_to_handle_at": 303,
    "swapon": 167, "swapoff": 168, "acct": 163, "quotactl": 179, "iopl": 172, "ioperm": 173,
    "settimeofday": 164, "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305,
    "sethostname": 170, "setdomainname": 171, "vhangup": 153, "uselib": 134,
    "lookup_dcookie": 212,
}  # fmt: skip
CLONE_X86_64 = 56
CLONE3_X86_64 = 435


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _ret(value: int) -> bytes:
    return _op(_RET_K, value)


def x86_64_program() -> bytes:
    """The filter for x86_64, whatever machine builds it (for tests and for the child)."""
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    code = [
        _op(_LD_W_ABS, _ARCH),
        _op(_JEQ_K, AUDIT_ARCH_X86_64, jt=1),
        _ret(SECCOMP_RET_KILL_PROCESS),
        _op(_LD_W_ABS, _NR),
        _op(_JGE_K, X32_SYSCALL_BIT, jf=1),
        _ret(SECCOMP_RET_KILL_PROCESS),
        _op(_JEQ_K, CLONE3_X86_64, jf=1),
        _ret(SECCOMP_RET_ERRNO | errno.ENOSYS),
    ]
    for number in sorted(set(DENIED_X86_64.values())):
        code += [_op(_JEQ_K, number, jf=1), _ret(eperm)]
    code += [
        _op(_JEQ_K, CLONE_X86_64, jf=3),  # not clone: on to the last "allow"
        _op(_LD_W_ABS, _ARG0),  # the low word of clone's flags
        _op(_JSET_K, CLONE_THREAD, jt=1),  # a thread: allowed
        _ret(eperm),  # a new process: refused
        _ret(SECCOMP_RET_ALLOW),
    ]
    return b"".join(code)


def deny_program(machine: str | None = None) -> bytes | None:
    """The filter for this machine, or ``None`` where there is no syscall table for it."""
    arch = (machine or platform.machine()).lower()
    if arch in ("x86_64", "amd64"):
        return x86_64_program()
    return None
