#!/usr/bin/env bash
# The scheduler under N idle workers: bench_sched registers N simulated
# workers that long-poll GET /workers/next and times the other API calls
# (p50/p99), while a classic deal of K standard tasks comes in; task
# dispatch is the time from a task's INITIALIZED to its RUNNING (handed to
# a waiting poll), from the scheduler's log.  Loopback only; the scheduler
# takes N + 64 connections from 127.0.0.1.
# Usage: bench/sched.sh TDEXEC BENCH_SCHED [N...]   (default: 100 1000)
set -uo pipefail
T=$(realpath "$1")
BS=$(realpath "$2")
shift 2
[ $# -gt 0 ] || set -- 100 1000
K=20
SECS=20
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=$(mktemp -d)
. "$ROOT/scripts/pool.sh"
trap 'pool_stop; rm -rf "$P"' EXIT
addr() { sed -n 's/.*"address": "\(.*\)".*/\1/p'; }
ms() { date -d "$1" +%s%3N; }

pool_start_chain || exit 1
pool_start_td
SMS_URL=http://127.0.0.1:9 # standard tasks only: the SMS is never asked
d=$(printf 'bench-sched' | sha256sum | cut -d' ' -f1)
app=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name bench --image "bench@sha256:$d" --json | addr)

for n in "$@"; do
	# a pool of its own: a fresh database reads every deal of its pool
	pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "bench $n" --json | addr)
	rm -rf "$P/sched.db"* "$P/results" "$P/sched.log"
	pool_start_scheduler "$pool" 3 --max-connections $((n + 256)) \
		--max-connections-per-ip $((n + 64)) || exit 1
	"$BS" "$SCHED_URL" "$P/chain/chain.json" "$P/td" "$n" "$SECS" >"$P/bench.out" 2>&1 &
	b=$!
	for _ in $(seq 1200); do grep -q 'long-polling' "$P/bench.out" && break; sleep 0.1; done
	deal=$(TAG=none TRUST=0 pool_deal "$app" "$pool" '{"iexec_args":"x"}' "" "$K")
	wait "$b"
	printf 'scheduler: %d idle workers, 4 server threads, 2 cores\n' "$n"
	sed -n '2,$p' "$P/bench.out"
	# dispatch: each task's INITIALIZED -> RUNNING, in ms
	lat=$(for t in $(grep -o 'task=0x[0-9a-f]* status=INITIALIZED' "$P/sched.log" | cut -d' ' -f1 | cut -d= -f2); do
		i=$(grep "task=$t status=INITIALIZED" "$P/sched.log" | head -1 | sed -n 's/^ts=\([^ ]*\) .*/\1/p')
		r=$(grep "task=$t status=RUNNING" "$P/sched.log" | head -1 | sed -n 's/^ts=\([^ ]*\) .*/\1/p')
		[ -n "$r" ] && echo $(($(ms "$r") - $(ms "$i")))
	done | sort -n)
	c=$(echo "$lat" | grep -c .)
	if [ "$c" -gt 0 ]; then
		printf '%-18s %7d %9d %9d %9d   (INITIALIZED -> RUNNING, deal %s, 1 ms resolution)\n' \
			task_dispatch "$c" "$(echo "$lat" | sed -n "$(((c + 1) / 2))p")" \
			"$(echo "$lat" | sed -n "$(((c * 99 + 99) / 100))p")" "$(echo "$lat" | tail -1)" "${deal:0:10}"
	else
		echo "task_dispatch: no task dispatched (deal ${deal:-not made})"
	fi
	echo
	kill "$SCHED_PID" && wait "$SCHED_PID" 2>/dev/null
done
