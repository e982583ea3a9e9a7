#!/usr/bin/python3
"""Run a command under the system call filters of a systemd unit, as its
manager would load them: the calls of DENY_FILE refused with EPERM
(SystemCallFilter=~, SystemCallErrorNumber=EPERM), sockets of families
other than FAMILIES refused with EAFNOSUPPORT (RestrictAddressFamilies=),
other architectures' calls killed (SystemCallArchitectures=native).
Usage: filter-exec.py DENY_FILE FAMILY[,FAMILY...] COMMAND [ARGS...]"""
import errno
import os
import socket
import sys

import seccomp

deny_file, families, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
for name in open(deny_file).read().split():
    try:
        f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    except (RuntimeError, ValueError):
        pass  # a call this architecture does not have
allowed = {getattr(socket, fam) for fam in families.split(",")}
top = max(allowed) + 8
for fam in range(top):
    if fam not in allowed:
        f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, fam))
f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.GE, top))
f.load()
os.execv(argv[0], argv)
