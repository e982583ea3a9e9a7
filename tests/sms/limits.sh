#!/usr/bin/env bash
# The services under the attacks that exhausted them, on loopback, each
# bounded in count and time: unfinished 60 MiB bodies against the scheduler
# (its RSS must barely move), 1,000 slow header senders against the SMS
# (/healthz must answer within 1 s meanwhile), 1,000 unauthenticated
# challenges against the scheduler (a worker must still register), and a
# nonce from before a scheduler restart (refused).
# Usage: limits.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
P=$W
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
trap 'pool_stop; rm -rf "$W"' EXIT
# 1,000 client sockets here, as many on the server side
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
L=(env CHAIN_FILE="$P/chain/chain.json" node "$HERE/limits.js")
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
pool_start_sms || bad "sms"
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "limits" --json |
	sed -n 's/.*"address": "\(.*\)".*/\1/p')
# Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
# default) before it is reused or returned: RSS would measure that, not the
# scheduler.  A small quarantine keeps the figure the scheduler's own.
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=8" \
	pool_start_scheduler "$pool" 3 || bad "scheduler"
sport=${SCHED_URL##*:}
mport=${SMS_URL##*:}

# 1. Eight unfinished 60 MiB POSTs to /workers/challenge (4 KiB cap): 413 at
# once, nothing buffered.  Before, the scheduler grew from 79 to 591 MiB.
before=$(rss "$SCHED_PID")
"${L[@]}" bodies 127.0.0.1 "$sport" /workers/challenge 8 60 >"$W/out" 2>&1
after=$(rss "$SCHED_PID")
echo "bodies: $(cat "$W/out") rss_kib_before=$before rss_kib_after=$after"
grep -q 'statuses=413,413,413,413,413,413,413,413' "$W/out" && ok || bad "bodies: $(cat "$W/out")"
[ $((after - before)) -lt 8192 ] && ok || bad "scheduler RSS grew by $((after - before)) KiB"
# the same against the result upload (64 MiB cap): buffered only up to the
# budget (128 MiB: two full uploads), the others refused with 503; the
# server keeps answering
"${L[@]}" bodies 127.0.0.1 "$sport" /results/0x$(printf '%064d' 0) 8 60 >"$W/out" 2>&1
after2=$(rss "$SCHED_PID")
echo "uploads: $(cat "$W/out") rss_kib_after=$after2"
# (a sanitizer build adds redzones and keeps some freed blocks: 200 MiB
# there, the budget's 128 MiB plus its overhead; 140 MiB otherwise)
cap=140
ldd "$T" 2>/dev/null | grep -q libasan && cap=200
[ $((after2 - before)) -lt $((cap * 1024)) ] && ok || bad "scheduler RSS grew by $((after2 - before)) KiB (cap $cap MiB)"
expect 0 'ok' -- curl -sS --max-time 2 "$SCHED_URL/healthz"

# 2. 1,000 slow header senders against the SMS, from 20 loopback addresses
# (50 each, under the per-address limit of 64), for 15 s: past the header
# deadline (10 s) they are dropped, and /healthz answers all along.
"${L[@]}" slow 127.0.0.1 "$mport" 1000 20 15 >"$W/out" 2>&1
echo "slowloris: $(cat "$W/out")"
grep -q 'failed=0 ' "$W/out" && ok || bad "healthz failed under slow clients: $(cat "$W/out")"
worst=$(sed -n 's/.*worst_ms=\([0-9]*\).*/\1/p' "$W/out")
[ -n "$worst" ] && [ "$worst" -lt 1000 ] && ok || bad "healthz took ${worst:-?} ms"
grep -q 'alive_at_end=0$\|alive_at_end=0 ' "$W/out" && ok || bad "slow clients outlived the deadline"
# from one address: past 64 connections, refused
"${L[@]}" slow 127.0.0.1 "$mport" 200 1 3 >"$W/out" 2>&1
echo "one address: $(cat "$W/out")"
grep -q 'failed=0 ' "$W/out" && ok || bad "healthz failed: $(cat "$W/out")"

# 3. 1,000 unauthenticated challenges, then a worker's registration.
"${L[@]}" flood "$SCHED_URL/workers/challenge" 1000 >"$W/out" 2>&1
echo "challenges: $(cat "$W/out")"
grep -q 'status_200=1000' "$W/out" && ok || bad "challenges: $(cat "$W/out")"
expect 0 'register=200' -- "${L[@]}" register "$SCHED_URL" "$T" "$P/td" "$W/nonce"
# its nonce is single use
expect 0 'register=403' -- "${L[@]}" register "$SCHED_URL" "$T" "$P/td" "$W/nonce"
# a fresh, unused nonce from before a restart is refused after it
rm -f "$W/nonce2"
curl -sS -X POST "$SCHED_URL/workers/challenge" | sed -n 's/.*"nonce":"\([0-9a-f]*\)".*/\1/p' >"$W/nonce2"
kill "$SCHED_PID"
wait "$SCHED_PID" 2>/dev/null
SCHED_PORT=$sport pool_start_scheduler "$pool" 3 || bad "scheduler restart"
expect 0 'register=403' -- "${L[@]}" register "$SCHED_URL" "$T" "$P/td" "$W/nonce2"
grep -q 'not a nonce of this server' "$P/sched.log" && ok || bad "the refusal says why"
expect 0 'register=200' -- "${L[@]}" register "$SCHED_URL" "$T" "$P/td"

finish
