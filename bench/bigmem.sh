#!/usr/bin/env bash
# Large memory: what the worker's sandbox costs a ~30 s numpy job holding
# 4 GiB (tests/apps/bigmem, imaged with `tdexec image build`), against the
# same image and input run directly by plain runc, measured in the same
# run, interleaved, N times each (medians):
#   sandbox    the app's run as the worker makes it (the worker's log,
#              app_seconds): runc in a user namespace with the seccomp
#              profile, memory (default 8192 MiB), pids, CPU and file-size
#              limits, the task's tmpfs workspace, the runc delete after;
#   plain runc `runc run` of a minimal config (`runc spec`: no user
#              namespace, no seccomp, no limits) over the rootfs the worker
#              unpacked, /iexec_out bound to a host directory.
# The goal is sandbox / plain runc <= 1.02.  Also printed, as a figure and
# not against the goal: the whole task through the pool (deal matched ->
# COMPLETED: the chain, the SMS, the result's upload and push, on a chain
# mining a block per transaction).
# Usage: bench/bigmem.sh TDEXEC [N] [PASSES]   (PASSES 4: ~30 s on 2 idle cores)
set -uo pipefail
T=$(realpath "$1")
N=${2:-3}
PASSES=${3:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=$(mktemp -d)
# the app sandbox (a user namespace) reaches the worker's directories through it
chmod 711 "$P"
. "$ROOT/scripts/pool.sh"
trap 'runc --root "$P/runc" delete -f bench-bigmem >/dev/null 2>&1; pool_stop; [ -n "${KEEP:-}" ] && echo "kept $P" || rm -rf "$P"' EXIT
addr() { sed -n 's/.*"address": "\(.*\)".*/\1/p'; }
now() { date +%s.%N; }
total() { tr -d ' \n' <"$1" | sed -n 's/.*"total":\([0-9.]*\).*/\1/p'; }
checksum() { sed -n 's/.*"checksum": "\([0-9a-f]*\)".*/\1/p' "$1"; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
command -v runc >/dev/null || { echo "bigmem: runc is not installed"; exit 1; }
dpkg-query -W python3-numpy >/dev/null 2>&1 || { echo "bigmem: python3-numpy is not installed (scripts/install-deps)"; exit 1; }
unset SOURCE_DATE_EPOCH
ARGS="--gib 4 --passes $PASSES --seed 13"

pool_start_chain || exit 1
pool_start_td
# plain http, no RA-TLS: the worker reaches it with --insecure-sms (pool.sh)
pool_start_sms
d=$("$T" image build --layout "$P/images" --ref bigmem --package python3-numpy \
	--add "$ROOT/tests/apps/bigmem/analytics.py:/app/analytics.py" \
	--entrypoint '["/usr/bin/python3","/app/analytics.py"]' --env PYTHONDONTWRITEBYTECODE=1 2>"$P/image.log") ||
	{ echo "bigmem: image build failed: $(tail -3 "$P/image.log")"; exit 1; }
app=$("$T" app deploy "${C[@]}" --account 1 --name bigmem --json --image "bigmem@$d" --no-image-check | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description bench --json | addr)
pool_start_scheduler "$pool" 3 --poll-ms 100
# category 1 (1200 s of wall time): the ~30 s job takes several times that
# on a loaded machine, past category 0's 300 s
pool_start_worker w1 5 --max-time 1200

status() { curl -s "$SCHED_URL/tasks/$1" | grep -o '"status": *"[A-Z_]*"' | grep -o '[A-Z_]*"$' | tr -d '"'; }
# pooled: one task through the pool; sets TASK_S (matched -> COMPLETED),
# APP_S (the worker's app_seconds) and IN_S (the app's own total)
pooled() {
	local deal t0 task st
	deal=$(CATEGORY=1 pool_deal "$app" "$pool" "{\"iexec_args\":\"$ARGS\"}") || { echo "bigmem: no deal"; exit 1; }
	t0=$(now)
	# polled once a second: polling every 50 ms (a curl and a few greps each
	# time) took a core's worth of CPU from the app on 2 cores
	while :; do
		task=$(curl -s "$SCHED_URL/tasks?deal=$deal" | grep -o '"taskId": *"0x[0-9a-f]*"' | grep -o '0x[0-9a-f]*')
		[ -n "$task" ] && break
		sleep 1
	done
	while :; do
		st=$(status "$task")
		case $st in COMPLETED) break ;; FAILED) echo "bigmem: task failed: $(curl -s "$SCHED_URL/tasks/$task")"; exit 1 ;; esac
		sleep 1
	done
	TASK_S=$(echo "$(now) - $t0" | bc -l)
	APP_S=$(grep -h "worker.app task=$task exit" "$P/w1.log" | sed 's/.*app_seconds=//')
	"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$P/r.zip" >/dev/null 2>&1 &&
		unzip -p "$P/r.zip" result.json >"$P/pooled.json"
	IN_S=$(total "$P/pooled.json")
	rm -f "$P/r.zip"
}

# The plain runc bundle: `runc spec`'s defaults, the worker's rootfs, the
# same args and env, /iexec_out bound to a directory of ours.  The process
# runs as the rootfs's owner (the worker's uid base): the worker keeps the
# rootfs 0700 to that uid, and runc spec's root has no CAP_DAC_OVERRIDE.
plain_bundle() {
	local rootfs=$P/w1/images/${d#sha256:}/rootfs id
	[ -d "$rootfs" ] || { echo "bigmem: no rootfs at $rootfs"; exit 1; }
	id=$(stat -c %u "$rootfs")
	mkdir -p "$P/plain/out" && chown "$id:$id" "$P/plain/out" &&
		(cd "$P/plain" && rm -f config.json && runc spec)
	node -e '
const fs = require("fs"), [f, rootfs, out, args, id] = process.argv.slice(1);
const c = JSON.parse(fs.readFileSync(f));
c.root = {path: rootfs, readonly: true};
c.process.terminal = false;
c.process.user = {uid: Number(id), gid: Number(id)};
c.process.args = ["/usr/bin/python3", "/app/analytics.py", ...args.split(" ")];
c.process.env = ["PATH=/usr/local/bin:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1", "IEXEC_OUT=/iexec_out"];
c.mounts.push({destination: "/iexec_out", type: "bind", source: out, options: ["rbind", "rw"]});
fs.writeFileSync(f, JSON.stringify(c));' "$P/plain/config.json" "$rootfs" "$P/plain/out" "$ARGS" "$id"
}
# plain: one run; sets PLAIN_S and PIN_S (the app's own total)
plain() {
	local t0
	rm -f "$P/plain/out"/*
	t0=$(now)
	runc --root "$P/runc" run --bundle "$P/plain" bench-bigmem >"$P/plain.log" 2>&1 ||
		{ echo "bigmem: plain runc failed: $(tail -3 "$P/plain.log")"; exit 1; }
	PLAIN_S=$(echo "$(now) - $t0" | bc -l)
	PIN_S=$(total "$P/plain/out/result.json")
	# the same computation: the same checksum, or the comparison means nothing
	[ "$(checksum "$P/plain/out/result.json")" = "$(checksum "$P/pooled.json")" ] ||
		{ echo "bigmem: plain runc and the pool disagree on the result"; exit 1; }
}

# a first task unpacks the image into the worker's cache (not measured)
pooled
plain_bundle
task_s=() app_s=() in_s=() plain_s=() pin_s=()
for i in $(seq "$N"); do
	pooled
	task_s+=("$TASK_S") app_s+=("$APP_S") in_s+=("$IN_S")
	plain
	plain_s+=("$PLAIN_S") pin_s+=("$PIN_S")
	printf '  run %d: sandbox %.2f s, plain runc %.2f s, whole task %.2f s\n' "$i" "$APP_S" "$PLAIN_S" "$TASK_S"
done
a=$(median "${app_s[@]}") b=$(median "${plain_s[@]}")
printf 'bigmem: numpy over 4 GiB, %d passes, same image and input (medians of %d, interleaved)\n' "$PASSES" "$N"
printf '  worker sandbox   %7.2f s   (app in runc: userns, seccomp, limits; runs %s)\n' "$a" "$(printf '%.2f ' "${app_s[@]}")"
printf '  plain runc       %7.2f s   (runc spec defaults; runs %s)\n' "$b" "$(printf '%.2f ' "${plain_s[@]}")"
printf '  sandbox / plain runc = %.3f   (overhead %+.1f%%, goal <= +2%%)\n' "$(echo "$a / $b" | bc -l)" \
	"$(echo "($a / $b - 1) * 100" | bc -l)"
printf '  the app'"'"'s own time inside: sandbox %.2f s, plain runc %.2f s\n' "$(median "${in_s[@]}")" "$(median "${pin_s[@]}")"
printf '  whole task through the pool (deal matched -> COMPLETED, to the second): %.2f s  (a figure, not against the goal)\n' \
	"$(median "${task_s[@]}")"
