#!/usr/bin/env bash
# The units' confinement is enough for the services: a pool's tasks
# (tests/pool/failures.sh: completed, failed by their app, killed by the
# time and memory limits, refused by runc) with its SMS, scheduler and
# workers each under what its unit in packaging/systemd asks of systemd
# (tests/deb/unit-exec.py: no_new_privs, the capability bounding set, the
# umask, the system call filter, socket families, namespaces, W^X memory).
# No systemd manager runs here; this is the same confinement applied by
# other means, without the units' user and file system sandboxing.
# Skipped (77) for a sanitizer build: the pool is the same, and twice as
# slow.
# Usage: confined.sh TDEXEC_BINARY SOURCE_DIR
set -u
T=$(realpath "$1")
SRC=$2
UNITS=$SRC/packaging/systemd
X=$SRC/tests/deb/unit-exec.py
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/../lib.sh"

if ldd "$T" | grep -q 'lib[at]san'; then
	echo "a sanitizer build: skipped"
	exit 77
fi
[ "$(id -u)" = 0 ] || { echo "FAIL: root is needed (the worker runs as root)"; exit 1; }
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || { echo "FAIL: python3-seccomp is not installed"; exit 1; }

# probe UNIT PYTHON: run PYTHON under UNIT's confinement
probe() {
	/usr/bin/python3 "$X" "$UNITS/$1" /usr/bin/python3 -c "
import ctypes, errno, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def refused(rc, want):
    return rc == -1 and ctypes.get_errno() == want
status = dict(l.split(':', 1) for l in open('/proc/self/status'))
$2" >"$W/probe" 2>&1 && ok || bad "$1: $(cat "$W/probe")"
}
# the worker: no AF_PACKET, no ptrace, no_new_privs, and the set it keeps
# (CHOWN DAC_OVERRIDE FOWNER KILL SETGID SETUID SYS_CHROOT SYS_PTRACE
# SYS_ADMIN SETFCAP)
probe tdexec-worker.service '
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sys.exit("AF_PACKET opened")
except OSError as e:
    assert e.errno == errno.EAFNOSUPPORT, e
assert refused(libc.ptrace(0, 0, 0, 0), errno.EPERM), "ptrace"
assert status["NoNewPrivs"].strip() == "1"
want = sum(1 << c for c in (0, 1, 3, 5, 6, 7, 18, 19, 21, 31))
assert int(status["CapBnd"], 16) == want, status["CapBnd"]'
# the SMS and the scheduler: no capabilities, no mount, no namespace, no
# memory both writable and executable
for u in tdexec-sms.service tdexec-scheduler.service; do
	probe $u '
assert int(status["CapBnd"], 16) == 0, status["CapBnd"]
assert status["NoNewPrivs"].strip() == "1"
assert refused(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None), errno.EPERM), "mount"
assert refused(libc.unshare(0x10000000), errno.EPERM), "unshare"
libc.mmap.restype = ctypes.c_void_p
p = libc.mmap(None, 4096, 7, 0x22, -1, 0)
assert p == 2**64 - 1 and ctypes.get_errno() == errno.EPERM, "W+X mmap"'
done
# and the scheduler has no vsock, which the SMS keeps for the QGS
probe tdexec-scheduler.service '
try:
    socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    sys.exit("AF_VSOCK opened")
except OSError as e:
    assert e.errno == errno.EAFNOSUPPORT, e'

# every service of the pool under its unit's confinement
mkdir -p "$W/bin"
{
	echo '#!/bin/sh'
	echo 'case $1 in'
	echo "sms | scheduler | worker) exec /usr/bin/python3 \"$X\" \"$UNITS/tdexec-\$1.service\" \"$T\" \"\$@\" ;;"
	echo "*) exec \"$T\" \"\$@\" ;;"
	echo 'esac'
} >"$W/bin/tdexec"
chmod +x "$W/bin/tdexec"
"$SRC/tests/pool/failures.sh" "$W/bin/tdexec" >"$W/pool" 2>&1 && ok ||
	bad "the pool under its units' confinement: $(grep -E 'FAIL|passed' "$W/pool" | head -10)"
tail -1 "$W/pool"
finish
