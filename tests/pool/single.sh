#!/usr/bin/env bash
# One active scheduler per pool: a second scheduler on the same database is
# refused while the first runs, a database of another pool is refused, and a
# standby started on the same database after the first stopped takes over.
# Usage: single.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
P=$W
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
trap 'pool_stop; rm -rf "$W"' EXIT

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
SMS_URL=http://127.0.0.1:9 # never reached: no deal comes to these pools
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description one --json | addr)
other=$("$T" workerpool deploy "${C[@]}" --account 3 --description two --json | addr)
lower() { tr 'A-F' 'a-f'; }

# sched POOL DB: a scheduler in the foreground (one refused exits at once)
sched() {
	timeout 30 "$T" scheduler "${C[@]}" --workerpool "$1" --account 3 --sms "$SMS_URL" \
		--db "$2" --results "$W/results" --port 0 --poll-ms 200 "${ATTEST[@]}"
}

pool_start_scheduler "$pool" 3 || bad "first scheduler"
first=$SCHED_PID
curl -sf "$SCHED_URL/healthz" >/dev/null && ok || bad "first scheduler not serving"

# A second scheduler on the same database, same pool: refused, naming the
# holder; the first one is untouched.
expect 1 "database $W/sched.db is in use by another scheduler \\(pid $first\\)" -- sched "$pool" "$W/sched.db"
curl -sf "$SCHED_URL/healthz" >/dev/null && ok || bad "first scheduler stopped serving"
kill -0 "$first" 2>/dev/null && ok || bad "first scheduler died"

# The database records its pool and chain.
chain_id=$(sed -n 's/.*"chain_id": *\([0-9]*\).*/\1/p' "$W/chain/chain.json")
[ "$(sqlite3 "$W/sched.db" "SELECT value FROM meta WHERE key = 'workerpool'")" = "$(echo "$pool" | lower)" ] &&
	ok || bad "meta workerpool: $(sqlite3 "$W/sched.db" "SELECT * FROM meta" 2>&1)"
[ "$(sqlite3 "$W/sched.db" "SELECT value FROM meta WHERE key = 'chain_id'")" = "$chain_id" ] &&
	ok || bad "meta chain_id: $(sqlite3 "$W/sched.db" "SELECT * FROM meta" 2>&1), want $chain_id"

# Stopped: a database of another pool is refused with whose it is, both
# when the first holds it and once it is free; the database is unchanged.
expect 1 'in use by another scheduler' -- sched "$other" "$W/sched.db"
kill "$first" && wait "$first" 2>/dev/null
expect 1 "database $W/sched.db belongs to workerpool $(echo "$pool" | lower) on chain $chain_id, not to workerpool $(echo "$other" | lower)" -- \
	sched "$other" "$W/sched.db"
[ "$(sqlite3 "$W/sched.db" "SELECT value FROM meta WHERE key = 'workerpool'")" = "$(echo "$pool" | lower)" ] &&
	ok || bad "the refused scheduler changed the database's pool"

# Fail-over: a standby on the same database once the first is gone.
pool_start_scheduler "$pool" 3 || bad "standby scheduler"
curl -sf "$SCHED_URL/healthz" >/dev/null && ok || bad "standby not serving"
grep -q "^$SCHED_PID\$" "$W/sched.db.lock" && ok || bad "lock file names $(cat "$W/sched.db.lock"), not $SCHED_PID"
# killed without a chance to clean up, the lock goes with the process
kill -9 "$SCHED_PID" && wait "$SCHED_PID" 2>/dev/null
pool_start_scheduler "$pool" 3 || bad "standby after kill -9"
curl -sf "$SCHED_URL/healthz" >/dev/null && ok || bad "standby after kill -9 not serving"

finish
