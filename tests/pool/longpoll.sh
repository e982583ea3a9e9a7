#!/usr/bin/env bash
# Long polls hold no thread: with 16 idle workers long-polling a scheduler
# of 4 server threads, registration, the orderbook, /healthz, task queries
# and result uploads still answer within a second (p99; each once took up
# to a poll's 20 s), and a task that becomes ready is handed at once to a
# waiting poll.
# Usage: longpoll.sh TDEXEC BENCH_SCHED
set -u
T=$1
B=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
P=$W
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
trap 'pool_stop; rm -rf "$W"' EXIT

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
SMS_URL=http://127.0.0.1:9 # standard tasks only: the SMS is never asked
d=$(printf 'longpoll' | sha256sum | cut -d' ' -f1)
app=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name longpoll --image "longpoll@sha256:$d" --json | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description longpoll --json | addr)
pool_start_scheduler "$pool" 3 || bad "scheduler"

"$B" "$SCHED_URL" "$W/chain/chain.json" "$W/td" 16 10 1000 >"$W/bench.out" 2>&1 &
bench=$!
for _ in $(seq 300); do grep -q 'idle workers long-polling' "$W/bench.out" && break; sleep 0.1; done
grep -q '16 idle workers long-polling (.*, 16 polls deferred)' "$W/bench.out" && ok ||
	bad "the 16 polls are not all waiting: $(cat "$W/bench.out")"

# A standard task of a classic deal: INITIALIZED once the scheduler has
# initialized it on chain, then handed to one of the waiting polls.
deal=$(TAG=none TRUST=0 pool_deal "$app" "$pool" '{"iexec_args":"x"}')
[ -n "$deal" ] && ok || bad "no deal"
st=
for _ in $(seq 100); do
	st=$(curl -s "$SCHED_URL/tasks?deal=$deal" | grep -o '"status": *"[A-Z]*"' | grep -o '[A-Z]*"$' | tr -d '"')
	[ "$st" = RUNNING ] && break
	sleep 0.1
done
[ "$st" = RUNNING ] && ok || bad "the task was not handed to a waiting worker: $st"
init=$(grep -h 'status=INITIALIZED' "$W/sched.log" | tail -1 | sed -n 's/^ts=\([^ ]*\) .*/\1/p')
run=$(grep -h 'status=RUNNING' "$W/sched.log" | tail -1 | sed -n 's/^ts=\([^ ]*\) .*/\1/p')
ms=$(( ($(date -d "$run" +%s%3N) - $(date -d "$init" +%s%3N)) ))
[ "$ms" -lt 1000 ] && ok || bad "INITIALIZED -> RUNNING took $ms ms"

wait "$bench" && ok || bad "calls slow or failing under 16 idle polls: $(cat "$W/bench.out")"
grep -q ', 1 with a task, 0 failed; 0 calls failed' "$W/bench.out" && ok ||
	bad "polls: $(grep polls: "$W/bench.out")"
cat "$W/bench.out"
curl -sf "$SCHED_URL/healthz" >/dev/null && ok || bad "scheduler not serving"
# Stopping with polls waiting: each is answered (204), the scheduler exits.
kill "$SCHED_PID" && wait "$SCHED_PID" && ok || bad "scheduler did not stop cleanly"

finish
