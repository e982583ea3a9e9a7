#!/usr/bin/env bash
# The pool end to end, on a local chain mining a block every second (as a
# real chain would, only faster) with two workers in simulated TDs:
#   - per-task overhead: deal matched -> COMPLETED, minus the app's own run
#     time (from the worker's log), for a trivial app, N tasks one by one;
#   - throughput: one deal of BAG tasks across the two workers, with
#     pipelined pushes and without (--max-inflight 1), on 1-second and
#     5-second blocks;
#   - transactions and gas per TEE task on the pool's side.
# The floor it is compared with: one block interval, the least any task
# needs to get its pushResultBoost mined.
# Usage: bench/pool.sh TDEXEC [N] [BAG]   (N 0: the bag only)
set -uo pipefail
T=$(realpath "$1")
N=${2:-10}
BAG=${3:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=$(mktemp -d)
# the app sandbox (a user namespace) reaches the workers' directories through it
chmod 711 "$P"
. "$ROOT/scripts/pool.sh"
trap 'pool_stop; rm -rf "$P"' EXIT
addr() { sed -n 's/.*"address": "\(.*\)".*/\1/p'; }
now() { date +%s.%N; }

pool_start_chain || exit 1
rpc=$(sed -n 's/.*"rpc": "\(.*\)".*/\1/p' "$P/chain/chain.json")
pool_start_td
# plain http, no RA-TLS: the workers reach it with --insecure-sms (pool.sh)
pool_start_sms
d=$("$ROOT/scripts/mkimage" "$P/images" trivial '["/bin/sh","-c"]' /bin/sh)
app=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name trivial --json --image "trivial@$d" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description bench --json | addr)
pool_start_scheduler "$pool" 3 --poll-ms 100
pool_start_worker w1 5
WORKER_PID_1=$WORKER_PID
pool_start_worker w2 6
WORKER_PID_2=$WORKER_PID
sleep 1

status_of() { curl -s "$SCHED_URL/tasks?deal=$1" | grep -o '"status": *"[A-Z]*"' | grep -c "$2"; }

# 1. overhead, task by task: first with a block per transaction (the
#    software's own cost), then with a block every second.
overhead() { # LABEL
	local overheads=() deal t0 t1 task app_s sorted p50 p90
	for i in $(seq "$N"); do
		deal=$(pool_deal "$app" "$pool" '{"iexec_args":"\"echo '"$i"' > /iexec_out/r\""}')
		t0=$(now)
		while [ "$(status_of "$deal" COMPLETED)" != 1 ]; do sleep 0.02; done
		t1=$(now)
		task=$(curl -s "$SCHED_URL/tasks?deal=$deal" | grep -o '"taskId": *"0x[0-9a-f]*"' | grep -o '0x[0-9a-f]*')
		app_s=$(grep -h "worker.app task=$task exit" "$P"/w1.log "$P"/w2.log | sed 's/.*app_seconds=//')
		overheads+=("$(echo "$t1 - $t0 - ${app_s:-0}" | bc -l)")
	done
	sorted=$(printf '%s\n' "${overheads[@]}" | sort -n)
	p50=$(echo "$sorted" | sed -n "$(((N + 1) / 2))p")
	p90=$(echo "$sorted" | sed -n "$(((N * 9 + 9) / 10))p")
	printf 'pool: per-task overhead, deal matched -> COMPLETED minus app time (%d tasks, %s)\n' "$N" "$1"
	printf '  p50 %.2f s   p90 %.2f s\n' "$p50" "$p90"
	P50=$p50
}
if [ "$N" -gt 0 ]; then
	overhead "a block per transaction"
	soft=$P50
	curl -s -H 'Content-Type: application/json' "$rpc" \
		-d '{"jsonrpc":"2.0","id":1,"method":"evm_setIntervalMining","params":[1]}' >/dev/null
	overhead "1 s blocks"
	printf '  floor: one block (1.00 s) for pushResultBoost to be mined; p50 / floor = %.2f;\n' "$P50"
	printf '  software alone (p50 without block waits) = %.2f s\n' "$soft"
fi

# 2. a bag of tasks over two workers, pipelined (a worker takes its next
#    task while its pushes confirm) and not (--max-inflight 1: each task
#    waits for its receipt), on 1-second then 5-second blocks.
W1=$WORKER_PID_1 W2=$WORKER_PID_2
workers() { # FLAGS...: the two workers again, with these flags
	kill "$W1" "$W2" 2>/dev/null
	wait "$W1" "$W2" 2>/dev/null
	pool_start_worker w1 5 "$@"
	W1=$WORKER_PID
	pool_start_worker w2 6 "$@"
	W2=$WORKER_PID
	sleep 1
}
# CPU seconds the pool's processes (and their children: runc, the apps)
# have used so far: the chain, the SMS, the scheduler, the workers.
cpu_s() {
	local p t=0 f
	for p in "${POOL_PIDS[@]}" "$(cat "$P/chain/anvil.pid" 2>/dev/null)"; do
		f=$(cut -d' ' -f14-17 "/proc/$p/stat" 2>/dev/null) || continue
		for v in $f; do t=$((t + v)); done
	done
	echo "$t / $(getconf CLK_TCK)" | bc -l
}
bag() { # LABEL: one deal of BAG tasks; BAG_S its seconds
	local deal t0 t1 by c0 c1
	deal=$(pool_deal "$app" "$pool" '{"iexec_args":"\"echo $IEXEC_BOT_TASK_INDEX > /iexec_out/r\""}' "" "$BAG")
	c0=$(cpu_s)
	t0=$(now)
	while [ "$(status_of "$deal" COMPLETED)" != "$BAG" ]; do
		sleep 0.2
		[ "$(echo "$(now) - $t0 > 900" | bc)" = 1 ] && { echo "pool: bag did not finish in 900 s"; break; }
	done
	t1=$(now)
	BAG_S=$(echo "$t1 - $t0" | bc -l)
	by=$(curl -s "$SCHED_URL/tasks?deal=$deal" | grep -o '"worker": *"0x[0-9a-f]*"' | sort | uniq -c | awk '{print $1}' | tr '\n' '/')
	c1=$(cpu_s)
	printf 'pool: bag of %d tasks, 2 workers, %s: %.1f s, %.1f tasks/min (split %s)\n' "$BAG" "$1" \
		"$BAG_S" "$(echo "$BAG * 60 / $BAG_S" | bc -l)" "${by%/}"
	printf '  the pool used %.1f CPU s (%.0f ms a task): %.1f s on %d cores at best; load average %s\n' \
		"$(echo "$c1 - $c0" | bc -l)" "$(echo "($c1 - $c0) * 1000 / $BAG" | bc -l)" \
		"$(echo "($c1 - $c0) / $(nproc)" | bc -l)" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)"
}
# the CPU's own bound: a block per transaction (automine), no block to wait
curl -s -H 'Content-Type: application/json' "$rpc" \
	-d '{"jsonrpc":"2.0","id":1,"method":"evm_setIntervalMining","params":[0]}' >/dev/null
curl -s -H 'Content-Type: application/json' "$rpc" \
	-d '{"jsonrpc":"2.0","id":1,"method":"evm_setAutomine","params":[true]}' >/dev/null
bag "a block per transaction, pipelined"
for bt in 1 5; do
	curl -s -H 'Content-Type: application/json' "$rpc" \
		-d '{"jsonrpc":"2.0","id":1,"method":"evm_setIntervalMining","params":['"$bt"']}' >/dev/null
	bag "$bt s blocks, pipelined"
	piped=$BAG_S
	# a worker's 16 pushes in flight last ~2.5 s of tasks: a longer block
	# needs more to stay bounded by the CPU
	if [ "$bt" = 5 ]; then
		workers --max-inflight 64
		bag "$bt s blocks, pipelined, --max-inflight 64"
	fi
	workers --max-inflight 1
	bag "$bt s blocks, --max-inflight 1"
	printf '  pipelined / unpipelined time = %.2f (%.1fx the throughput); floor unpipelined: %d blocks\n' \
		"$(echo "$piped / $BAG_S" | bc -l)" "$(echo "$BAG_S / $piped" | bc -l)" "$((BAG / 2))"
	workers
done

# 3. transactions and gas per TEE task, pool side
pushes=$(grep -h 'worker.push.*gas=' "$P"/w1.log "$P"/w2.log | wc -l)
gas=$(grep -h 'worker.push.*gas=' "$P"/w1.log "$P"/w2.log | sed 's/.*gas=\([0-9]*\).*/\1/' | sort -n | sed -n "$(((pushes + 1) / 2))p")
sched_tx=$(grep -c 'claimed=' "$P/sched.log")
printf 'pool: %d tasks, %d pushResultBoost (1 transaction per task), %d scheduler transactions\n' \
	"$pushes" "$pushes" "$sched_tx"
printf '  pushResultBoost gas: median %s per task\n' "$gas"
