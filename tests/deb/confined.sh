#!/usr/bin/env bash
# The worker unit's confinement is enough to run tasks: every tdexec process
# of a pool (tests/pool/failures.sh: tasks completed, failed by their app,
# killed by the time and memory limits, refused by runc) runs under what
# packaging/systemd/tdexec-worker.service asks of systemd, read from the
# unit: its capability bounding set and no_new_privs (setpriv), its system
# call deny list and socket families (a seccomp filter, filter-exec.py).
# No systemd manager runs here; this is the same confinement applied by
# other means.  Skipped (77) for a sanitizer build: the pool is the same,
# and twice as slow.
# Usage: confined.sh TDEXEC_BINARY SOURCE_DIR
set -u
T=$(realpath "$1")
SRC=$2
U=$SRC/packaging/systemd/tdexec-worker.service
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/../lib.sh"

if ldd "$T" | grep -q 'lib[at]san'; then
	echo "a sanitizer build: skipped"
	exit 77
fi
[ "$(id -u)" = 0 ] || { echo "FAIL: root is needed (the worker runs as root)"; exit 1; }
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || { echo "FAIL: python3-seccomp is not installed"; exit 1; }

setting() { sed -n "s/^$1=//p" "$U"; }
[ "$(setting NoNewPrivileges)" = yes ] && ok || bad "the unit does not set NoNewPrivileges=yes"
[ "$(setting SystemCallErrorNumber)" = EPERM ] && ok || bad "refused calls do not fail with EPERM"
caps=$(setting CapabilityBoundingSet | tr ' ' '\n' | grep . | sed 's/^CAP_/+/' | tr '[:upper:]' '[:lower:]' | paste -sd,)
[ -n "$caps" ] && ok || bad "no CapabilityBoundingSet in the unit"
fams=$(setting RestrictAddressFamilies | tr ' ' ',')
[ -n "$fams" ] && ok || bad "no RestrictAddressFamilies in the unit"
# the deny list, its groups expanded by this systemd
expand() { # expand NAME...: the system calls, groups followed
	local n
	for n in "$@"; do
		case $n in
		@*) expand $(systemd-analyze syscall-filter "$n" | sed -n 's/^ \+\([@a-z_0-9]\+\)$/\1/p') ;;
		*) echo "$n" ;;
		esac
	done
}
setting SystemCallFilter | grep -v '^~' && bad "the worker's call filter is not a deny list" || ok
# shellcheck disable=SC2046  # the words of the unit's setting
expand $(setting SystemCallFilter | sed 's/^~//') | sort -u >"$W/deny"
for c in ptrace init_module reboot swapon settimeofday; do
	grep -qx "$c" "$W/deny" && ok || bad "$c is not in the expanded deny list"
done
for c in mount unshare clone setns pivot_root keyctl; do # runc's
	grep -qx "$c" "$W/deny" && bad "$c, which runc needs, is denied" || ok
done

mkdir -p "$W/bin"
cat >"$W/bin/tdexec" <<EOF
#!/bin/sh
exec setpriv --bounding-set=-all,$caps --no-new-privs /usr/bin/python3 \\
	"$SRC/tests/deb/filter-exec.py" "$W/deny" "$fams" "$T" "\$@"
EOF
chmod +x "$W/bin/tdexec"
# the confinement holds: a family and a call it refuses, the set it keeps
setpriv --bounding-set=-all,$caps --no-new-privs /usr/bin/python3 "$SRC/tests/deb/filter-exec.py" \
	"$W/deny" "$fams" /usr/bin/python3 -c '
import ctypes, socket, sys
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sys.exit("AF_PACKET opened")
except OSError as e:
    assert e.errno == 97, e
libc = ctypes.CDLL(None, use_errno=True)
assert libc.ptrace(0, 0, 0, 0) == -1 and ctypes.get_errno() == 1, "ptrace not refused"
bnd = [l for l in open("/proc/self/status") if l.startswith(("CapBnd", "NoNewPrivs"))]
print("".join(bnd), end="")' >"$W/probe" 2>&1 && ok || bad "the confinement does not hold: $(cat "$W/probe")"
grep -q '^NoNewPrivs:.1$' "$W/probe" && ok || bad "no_new_privs: $(cat "$W/probe")"
grep -q '^CapBnd:.0000000000000000$' "$W/probe" && bad "an empty bounding set" || ok

echo "confined: capabilities $caps; families $fams; $(wc -l <"$W/deny") calls denied"
"$SRC/tests/pool/failures.sh" "$W/bin/tdexec" >"$W/pool" 2>&1 && ok ||
	bad "the pool under the worker unit's confinement: $(grep -E 'FAIL|passed' "$W/pool" | head -10)"
tail -1 "$W/pool"
finish
