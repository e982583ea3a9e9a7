#!/usr/bin/python3
"""Run a command under the process confinement a systemd unit asks for, as
the manager would set it up, for machines where no manager runs:
NoNewPrivileges=, CapabilityBoundingSet=, UMask=, and the seccomp filters
of SystemCallFilter= (allow or deny list, groups expanded by this machine's
systemd-analyze, SystemCallErrorNumber=), SystemCallArchitectures=native,
RestrictAddressFamilies=, RestrictNamespaces=yes and
MemoryDenyWriteExecute=yes, each a filter of its own as systemd loads them
(the kernel takes the strictest answer).  Not applied: User=, the mount
namespace settings (ProtectSystem=, PrivateTmp=, ProtectHome=, ...), device
policies, ProtectClock=, ProtectKernel*=, RestrictRealtime=,
RestrictSUIDSGID=, LockPersonality=.
Usage: unit-exec.py UNIT_FILE COMMAND [ARGS...]"""
import ctypes
import errno
import os
import re
import socket
import subprocess
import sys

import seccomp

CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
NS_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
            0x40000000]  # mnt, cgroup, uts, ipc, user, pid, net
PROT_WRITE, PROT_EXEC = 2, 4


def settings(path):
    out = {}
    for line in open(path):
        m = re.match(r"^([A-Za-z]+)=(.*)$", line.strip())
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def expand(names, seen=None):
    seen = set() if seen is None else seen
    calls = set()
    for n in names:
        if not n.startswith("@"):
            calls.add(n)
        elif n not in seen:
            seen.add(n)
            text = subprocess.run(["systemd-analyze", "syscall-filter", n], check=True,
                                  capture_output=True, text=True).stdout
            calls |= expand(re.findall(r"^\s+([@a-z_0-9-]+)\s*$", text, re.M), seen)
    return calls


def add(f, action, name, *args):
    try:
        f.add_rule(action, name, *args)
    except (RuntimeError, ValueError, OSError):
        pass  # a call this architecture does not have


def main():
    s = settings(sys.argv[1])
    argv = sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    filters = []

    err = getattr(errno, s.get("SystemCallErrorNumber", ["EPERM"])[-1])
    lines = s.get("SystemCallFilter", [])
    if lines:
        allow = not lines[0].startswith("~")
        listed, removed = set(), set()
        for line in lines:
            (removed if line.startswith("~") == allow else listed).update(
                expand(line.lstrip("~").split()))
        if allow:
            f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(err))
            for c in (listed | expand(["@default"])) - removed:
                add(f, seccomp.ALLOW, c)
        else:
            f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
            for c in listed:
                add(f, seccomp.ERRNO(err), c)
        filters.append(f)

    fams = " ".join(s.get("RestrictAddressFamilies", [])).split()
    if fams:
        keep = {getattr(socket, a) for a in fams}
        f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        top = max(keep) + 8
        for fam in set(range(top)) - keep:
            add(f, seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, fam))
        add(f, seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.GE, top))
        filters.append(f)

    if s.get("RestrictNamespaces", [""])[-1] == "yes":
        f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for flag in NS_FLAGS:
            add(f, seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
            add(f, seccomp.ERRNO(errno.EPERM), "unshare", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        add(f, seccomp.ERRNO(errno.EPERM), "setns")
        add(f, seccomp.ERRNO(errno.ENOSYS), "clone3")  # its flags cannot be seen
        filters.append(f)

    if s.get("MemoryDenyWriteExecute", [""])[-1] == "yes":
        f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        wx = PROT_WRITE | PROT_EXEC
        add(f, seccomp.ERRNO(errno.EPERM), "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, wx, wx))
        for c in ("mprotect", "pkey_mprotect"):
            add(f, seccomp.ERRNO(errno.EPERM), c, seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
        filters.append(f)

    keep = set()
    for line in s.get("CapabilityBoundingSet", []):
        keep |= {c.removeprefix("CAP_") for c in line.split()}
    if "CapabilityBoundingSet" in s:
        for i, name in enumerate(CAPS):
            if name not in keep and libc.prctl(PR_CAPBSET_DROP, i, 0, 0, 0) != 0:
                sys.exit(f"unit-exec: cannot drop CAP_{name}: {os.strerror(ctypes.get_errno())}")
    if "UMask" in s:
        os.umask(int(s["UMask"][-1], 8))
    if s.get("NoNewPrivileges", [""])[-1] == "yes" or filters:
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            sys.exit("unit-exec: cannot set no_new_privs")
    # the call filter last: an allow list may not allow loading the others
    for f in reversed(filters):
        f.load()
    os.execv(argv[0], argv)


main()
