#!/usr/bin/env bash
# Large memory through the pool: a Python 3 + numpy app (tests/apps/bigmem),
# imaged with `tdexec image build`, holds 4 GiB of float64 values in a
# worker's sandbox under the default memory limit (8192 MiB, read back
# from runc's memory cgroup while the app runs) and completes; its result
# is the one the same program gives on the host.  The same task under a
# worker with --memory 2048 is killed by the limit and reported so, and
# that worker goes on with the next task.
# Part 1 runs the commands of docs/apps.md section 3 as written.
# Usage: bigmem.sh TDEXEC
set -u
T=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
APP=$(cd "$HERE/../apps/bigmem" && pwd)/analytics.py
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
HOST_PID= WATCH=
pool_test_dir 'kill $HOST_PID $WATCH 2>/dev/null'
# Debian's python3, whatever else PATH holds: the image is made of its packages
/usr/bin/python3 -c 'import numpy' 2>/dev/null ||
	{ echo "FAIL: python3-numpy is not installed (scripts/install-deps)"; exit 1; }
unset SOURCE_DATE_EPOCH
GIB=$((1 << 30))
# 4 GiB and one pass: a few seconds of filling and one pass over it all
ARGS="--gib 4 --passes 1 --seed 13"

# The reference: the same program on the host, while the pool comes up.
/usr/bin/python3 "$APP" $ARGS --out "$W/host" >"$W/host.log" 2>&1 &
HOST_PID=$!

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
pool_start_sms || bad "sms"
CHAIN=$P/chain/chain.json
POLICY=$P/policy.json
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "bigmem pool" --json | addr)
pool_start_scheduler "$pool" 3 --order-volume 10 --order-price 0 || bad "scheduler"
MARKET=$SCHED_URL

# ---- docs/apps.md §3, as written (keep the two in sync)
mkdir -p "$W/dev" && cd "$W/dev" || exit 1
mkdir -p "$P/images" && ln -sfn "$P/images" images
cp "$APP" analytics.py
digest=$("$T" image build --layout images --ref bigmem --package python3-numpy \
	--add analytics.py:/app/analytics.py \
	--entrypoint '["/usr/bin/python3","/app/analytics.py"]' --env PYTHONDONTWRITEBYTECODE=1 2>"$W/image.log")
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] && ok || bad "image build: '$digest' $(tail -3 "$W/image.log")"
app=$("$T" app deploy --chain "$CHAIN" --account 1 --name bigmem \
	--image "bigmem@$digest" --layout images --tdx-policy "$POLICY" --json | sed -n 's/.*"address": "\(.*\)".*/\1/p')
[ -n "$app" ] && [ -n "$pool" ] && ok || bad "assets"
"$T" order init app --set app="$app" --set tag=tdx --set volume=10 -o app-order.json
"$T" order sign app app-order.json --chain "$CHAIN" --account 1 -o app-order.json >/dev/null
"$T" market publish app app-order.json --market "$MARKET" >/dev/null && ok || bad "publish app order"

# The host's run is over before a task starts: one 4 GiB table at a time.
wait "$HOST_PID" && ok || bad "host run: $(tail -5 "$W/host.log")"
HOST_PID=
sum=$(json_str "$W/host/result.json" checksum)
[ -n "$sum" ] && ok || bad "host run: no checksum"

task_of() { curl -s "$SCHED_URL/tasks?deal=$1" | grep -o '"taskId": *"0x[0-9a-f]*"' | grep -o '0x[0-9a-f]*'; }
detail() { curl -s "$SCHED_URL/tasks/$1" | sed -n 's/.*"detail": *"\([^"]*\)".*/\1/p'; }
# The memory cgroup runc makes for a worker's app (cgroup v1):
# /tdexec/tdexec-<first 8 hex digits of the worker's address, EIP-55 as the
# worker prints it>-<first 16 of the task id>.
cg_prefix() { # WORKER_ACCOUNT
	local wk
	wk=$("$T" wallet show "${C[@]}" --account "$1" --json | addr)
	echo "/sys/fs/cgroup/memory/tdexec/tdexec-${wk:2:8}"
}
# cg_read DIR: "LIMIT PEAK" of the cgroup DIR, nothing once it is gone
cg_read() {
	local l p
	l=$(cat "$1/memory.limit_in_bytes" 2>/dev/null) && p=$(cat "$1/memory.max_usage_in_bytes" 2>/dev/null) &&
		echo "$l $p"
}
# watch WORKER_ACCOUNT: in the background, until $W/watch.stop exists, the
# limits and the largest peak of that worker's apps' cgroups to $W/watch
watch() {
	local pre d lp limit=0 peak=0
	pre=$(cg_prefix "$1")
	rm -f "$W/watch.stop" "$W/watch"
	while [ ! -e "$W/watch.stop" ]; do
		for d in "$pre"-*; do
			lp=$(cg_read "$d") || continue
			limit=${lp% *}
			[ "${lp#* }" -gt "$peak" ] && peak=${lp#* }
		done
		echo "$limit $peak" >"$W/watch.tmp" && mv "$W/watch.tmp" "$W/watch"
		sleep 0.2
	done
}
# run WORKER_ACCOUNT ARGS: a deal, then its task followed to its end while
# the app's memory cgroup is read; prints "STATUS TASKID LIMIT PEAK".
run() {
	local deal task st="" cg limit=0 peak=0 lp
	cg=$(cg_prefix "$1")
	deal=$(pool_deal "$app" "$pool" "{\"iexec_args\":\"$2\"}") || { echo "NODEAL - 0 0"; return; }
	for _ in $(seq 50); do task=$(task_of "$deal"); [ -n "$task" ] && break; sleep 0.2; done
	cg=$cg-${task:2:16}
	for _ in $(seq 1500); do
		if lp=$(cg_read "$cg"); then
			limit=${lp% *}
			[ "${lp#* }" -gt "$peak" ] && peak=${lp#* }
		fi
		st=$(curl -s "$SCHED_URL/tasks/$task" | grep -o '"status": *"[A-Z_]*"' | grep -o '[A-Z_]*"$' | tr -d '"')
		case $st in COMPLETED | FAILED) break ;; esac
		sleep 0.2
	done
	echo "${st:-NONE} ${task:--} $limit $peak"
}

# 1. Under the default limit (no --memory): the requester's `tdexec run`
#    completes, with the host's result.
pool_start_worker w1 5 --max-time 300
W1=$WORKER_PID
watch 5 &
WATCH=$!
"$T" run "$app" --market "$MARKET" --chain "$CHAIN" --account 4 \
	--args "$ARGS" -o result >"$W/run.out" 2>&1 && ok ||
	bad "4 GiB task: $(tail -5 "$W/run.out"; grep -h 'level=error\|level=warn' "$P/w1.log" | tail -3)"
touch "$W/watch.stop"
wait "$WATCH"
WATCH=
read -r limit peak <"$W/watch"
[ "$limit" = $((8192 << 20)) ] && ok || bad "the app's memory cgroup limit read $limit, want 8192 MiB"
[ "$peak" -ge $((4 * GIB)) ] && ok || bad "the app's memory peaked at $peak bytes, not 4 GiB"
[ "$(json_str result/result.json checksum)" = "$sum" ] && ok ||
	bad "checksum in the pool $(json_str result/result.json checksum), on the host $sum"
# the whole result but its timings
/usr/bin/python3 - "$W/host/result.json" result/result.json <<'PY' && ok || bad "results differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for r in (a, b):
    del r["seconds"]
sys.exit(0 if a == b and a["bytes"] == 4 << 30 else 1)
PY
grep -q '"deterministic-output-path": *"/iexec_out/result.json"' result/computed.json && ok ||
	bad "computed.json: $(cat result/computed.json 2>&1)"
kill "$W1"
wait "$W1" 2>/dev/null

# 2. The same task under --memory 2048: killed by the limit, and said so;
#    the worker lives on and runs the next task.
pool_start_worker w2 6 --max-time 300 --memory 2048
W2=$WORKER_PID
read -r st task limit peak < <(run 6 "$ARGS")
[ "$st" = FAILED ] && detail "$task" | grep -q "killed by the memory limit" && ok ||
	bad "4 GiB task under 2048 MiB: $st $(detail "$task")"
[ "$limit" = $((2048 << 20)) ] && ok || bad "the app's memory cgroup limit read $limit, want 2048 MiB"
[ "$peak" -le $((2048 << 20)) ] && ok || bad "the app went over its limit: $peak bytes"
grep -q "task=$task .*killed\|task=$task .*memory limit" "$P/w2.log" && ok ||
	bad "w2 log says nothing of the kill: $(grep "task=$task" "$P/w2.log" | tail -3)"
kill -0 "$W2" 2>/dev/null && ok || bad "the worker died with its app"
read -r st task _ _ < <(run 6 "--gib 0.25 --passes 1")
[ "$st" = COMPLETED ] && ok || bad "a small task after the kill: $st $(detail "$task")"

finish
