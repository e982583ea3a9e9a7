#!/usr/bin/env bash
# The pool seen by its operator: a live pool runs two tasks (one fails),
# then GET /workers, /tasks?status=, /stats and 'tdexec pool status' are
# checked field by field; the admin endpoints refuse a missing or wrong
# token, an old, replayed or stranger's signature; a worker refused at
# registration says why; the scheduler's database and token are 0600.
# Usage: status.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
pool_test_dir
lower() { tr 'A-F' 'a-f'; }
# jq_is EXPR WANT FILE: the JSON file's value at EXPR is WANT
jq_is() {
	local got
	got=$(jq -r "$1" "$3" 2>&1)
	[ "$got" = "$2" ] && ok || bad "$1 = '$got', want '$2' ($3)"
}
code() { curl -s -o "$W/body" -w '%{http_code}' "$@"; }

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
pool_start_sms || bad "sms"
d_sh=$("$HERE/../../scripts/mkimage" "$W/images" shell '["/bin/sh","-c"]' /bin/sh /usr/bin/sleep)
app=$("$T" app deploy "${C[@]}" --account 1 --name shell --json --image "shell@$d_sh" --layout "$W/images" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description status --json | addr)
[ -n "$app" ] && [ -n "$pool" ] && ok || bad "assets"
"$T" account deposit "${C[@]}" --account 4 100000000000 >/dev/null &&
	"$T" account deposit "${C[@]}" --account 3 100000000000 >/dev/null && ok || bad "deposit"
export PRICE=2000000 # nRLC per task: the owner's reward for the completed one
owner=$("$T" wallet show "${C[@]}" --account 3 --json | addr | lower)
wk=$("$T" wallet show "${C[@]}" --account 5 --json | addr | lower)

pool_start_scheduler "$pool" 3 --worker-timeout 10 || bad "scheduler"
[ -n "${SHOW:-}" ] && echo "scheduler up at ${SECONDS}s"
TOKEN=$(cat "$W/admin.token")
private "scheduler" "$W/sched.db" "$W/admin.token"
[ "${#TOKEN}" = 64 ] && ok || bad "admin token: '$TOKEN'"
ADMIN=(-H "Authorization: Bearer $TOKEN")

# A simulated TD is refused by a scheduler that does not trust the
# simulated root; the worker says why, in words.
mkdir -p "$W/strict"
"$T" scheduler "${C[@]}" --workerpool "$pool" --account 3 --sms "$SMS_URL" --db "$W/strict/sched.db" \
	--results "$W/strict/results" --port 0 --port-file "$W/strict/port" --poll-ms 200 \
	--collateral "$W/td/collateral/collateral.json" --policy "$W/policy.json" 2>"$W/strict.log" &
STRICT=$!
POOL_PIDS+=("$STRICT")
strict_url="http://127.0.0.1:$(wait_port "$W/strict/port")"
cp -r "$W/td" "$W/ws.td"
timeout 60 "$T" worker --scheduler "$strict_url" "${C[@]}" --account 7 --images "$W/images" \
	--work-dir "$W/ws" --work-dir-encrypted --provider sim --sim-dir "$W/ws.td" --insecure-sms \
	>"$W/ws.log" 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && ok || bad "the refused worker exited $rc"
grep -q "refused the registration (HTTP 403): simulated TD not trusted: .*--trust-sim-root" "$W/ws.log" &&
	ok || bad "the worker does not say why it was refused: $(tail -3 "$W/ws.log")"
grep -q '"error":"forbidden"' "$W/ws.log" && bad "the worker still prints a bare forbidden" || ok
kill "$STRICT" && wait "$STRICT" 2>/dev/null
[ -n "${SHOW:-}" ] && echo "refusal done at ${SECONDS}s"

pool_start_worker w1 5 --max-time 30
# one task that completes, one whose app exits 1: both deals made, then
# the worker takes them in turn
deal_ok=$(pool_deal "$app" "$pool" '{"iexec_args":"\"echo hi > /iexec_out/out.txt\""}')
deal_bad=$(pool_deal "$app" "$pool" '{"iexec_args":"\"exit 1\""}')
task_of() {
	local task
	for _ in $(seq 50); do
		task=$(curl -s "$SCHED_URL/tasks?deal=$1" | jq -r '.[0].taskId // empty')
		[ -n "$task" ] && break
		sleep 0.2
	done
	echo "$task"
}
task_ok=$(task_of "$deal_ok")
task_bad=$(task_of "$deal_bad")
st_ok=$(task_wait "$task_ok" 60)
st_bad=$(task_wait "$task_bad" 60)
[ "$st_ok" = COMPLETED ] && ok || bad "the good task: $st_ok"
[ "$st_bad" = FAILED ] && ok || bad "the failing task: $st_bad"
[ -n "${SHOW:-}" ] && echo "tasks done at ${SECONDS}s"

# The admin endpoints: none of them without the token; a deal's tasks and
# a task stay open as they were.
for path in /workers /stats /tasks "/tasks?status=FAILED" "/tasks?deal=$deal_ok&status=COMPLETED"; do
	[ "$(code "$SCHED_URL$path")" = 401 ] && jq -e '.error == "unauthorized" and (.reason | length > 0)' \
		"$W/body" >/dev/null && ok || bad "GET $path without credentials: $(cat "$W/body")"
done
[ "$(code -H "Authorization: Bearer $(printf '%064d' 0)" "$SCHED_URL/workers")" = 401 ] &&
	jq -e '.reason == "wrong admin token"' "$W/body" >/dev/null && ok || bad "wrong token: $(cat "$W/body")"
[ "$(code -H "Authorization: Bearer ${TOKEN:0:63}" "$SCHED_URL/workers")" = 401 ] && ok || bad "short token"
[ "$(code "$SCHED_URL/tasks?deal=$deal_ok")" = 200 ] && jq -e 'length == 1' "$W/body" >/dev/null &&
	ok || bad "a deal's tasks: $(cat "$W/body")"
[ "$(code "$SCHED_URL/tasks/$task_bad")" = 200 ] && ok || bad "a task"

# GET /workers
[ "$(code "${ADMIN[@]}" "$SCHED_URL/workers")" = 200 ] && ok || bad "/workers: $(cat "$W/body")"
cp "$W/body" "$W/workers.json"
jq_is '.workers | length' 1 "$W/workers.json"
jq_is '.workers[0].address' "$wk" "$W/workers.json"
jq_is '.workers[0].alive' true "$W/workers.json"
jq_is '.workers[0].simulated' true "$W/workers.json"
jq_is '.workers[0].tcbStatus' UpToDate "$W/workers.json"
jq_is '.workers[0].mrtd' "$(jq -r .MRTD "$W/td/td.json" | lower)" "$W/workers.json"
jq_is '.workers[0].completed' 1 "$W/workers.json"
jq_is '.workers[0].failed' 1 "$W/workers.json"
jq_is '.workers[0].currentTasks | length' 0 "$W/workers.json"
jq_is '.workers[0].lastSeenAgo <= 10' true "$W/workers.json"
jq_is '.aliveWindow' 10 "$W/workers.json"

# GET /tasks?status=: exactly the failed one, with its reason and timeline
[ "$(code "${ADMIN[@]}" "$SCHED_URL/tasks?status=failed")" = 200 ] && ok || bad "/tasks?status=failed"
cp "$W/body" "$W/failed.json"
jq_is '.tasks | length' 1 "$W/failed.json"
jq_is '.tasks[0].taskId' "$task_bad" "$W/failed.json"
jq_is '.tasks[0].reason' "app exited with status 1" "$W/failed.json"
jq_is '.tasks[0].worker' "$wk" "$W/failed.json"
jq_is '[.tasks[0].timeline[].status] | join(",")' "RECEIVED,INITIALIZED,RUNNING,FAILED" "$W/failed.json"
jq_is '.next' null "$W/failed.json"
code "${ADMIN[@]}" "$SCHED_URL/tasks?status=COMPLETED,FAILED" >/dev/null
jq_is '[.tasks[].taskId] | join(",")' "$task_bad,$task_ok" "$W/body"
# (the worker's CONTRIBUTED report may come after the chain's COMPLETED)
jq_is '.tasks[1].timeline | map(.status) | join(",") | test("^RECEIVED,INITIALIZED,RUNNING,COMPUTED,CONTRIBUTING,(CONTRIBUTED,)?COMPLETED$")' \
	true "$W/body"
jq_is '.tasks[1].appMs >= 0' true "$W/body"
jq_is '[.tasks[1].timeline[].atMs] | . == sort' true "$W/body"
# paging: one at a time, newest first, then the cursor
code "${ADMIN[@]}" "$SCHED_URL/tasks?limit=1" >/dev/null
jq_is '.tasks[0].taskId' "$task_bad" "$W/body"
next=$(jq -r .next "$W/body")
code "${ADMIN[@]}" "$SCHED_URL/tasks?limit=1&before=$next" >/dev/null
jq_is '.tasks[0].taskId' "$task_ok" "$W/body"
code "${ADMIN[@]}" "$SCHED_URL/tasks?deal=$deal_ok&status=FAILED" >/dev/null
jq_is '.tasks | length' 0 "$W/body"
code "${ADMIN[@]}" "$SCHED_URL/tasks?since=$(($(date +%s) + 100))" >/dev/null
jq_is '.tasks | length' 0 "$W/body"
# refusals: never silently ignored
[ "$(code "${ADMIN[@]}" "$SCHED_URL/tasks?status=BOGUS")" = 400 ] &&
	jq -e '.error | test("unknown status .BOGUS.: one or more of RECEIVED, .*FAILED")' "$W/body" >/dev/null &&
	ok || bad "status=BOGUS: $(cat "$W/body")"
[ "$(code "${ADMIN[@]}" "$SCHED_URL/tasks?status=FAILED,")" = 400 ] && ok || bad "status=FAILED,"
for q in limit=0 limit=1001 limit=x since=-1 before=abc "status=FAILED&deal=0x12"; do
	[ "$(code "${ADMIN[@]}" "$SCHED_URL/tasks?$q")" = 400 ] && ok || bad "/tasks?$q: $(cat "$W/body")"
done

# GET /stats
[ "$(code "${ADMIN[@]}" "$SCHED_URL/stats")" = 200 ] && ok || bad "/stats"
cp "$W/body" "$W/stats.json"
jq_is '.tasks.COMPLETED' 1 "$W/stats.json"
jq_is '.tasks.FAILED' 1 "$W/stats.json"
jq_is '.tasks.RUNNING' 0 "$W/stats.json"
jq_is '.workers.registered' 1 "$W/stats.json"
jq_is '.workers.alive' 1 "$W/stats.json"
jq_is '.tasksPerMinute.completed | length' 60 "$W/stats.json"
jq_is '.tasksPerMinute.completed | add' 1 "$W/stats.json"
jq_is '.tasksPerMinute.failed | add' 1 "$W/stats.json"
jq_is '.overhead.samples' 1 "$W/stats.json"
jq_is '.overhead.medianMs >= 0 and .overhead.p90Ms == .overhead.medianMs' true "$W/stats.json"
jq_is '.assignedToCompleted.medianMs >= .overhead.medianMs' true "$W/stats.json"
jq_is '.pool.workerpool' "$(echo "$pool" | lower)" "$W/stats.json"
jq_is '.pool.owner' "$owner" "$W/stats.json"

[ -n "${SHOW:-}" ] && echo "endpoints done at ${SECONDS}s"
# The pool owner's signature, made by an independent implementation
# (admin-sign.js): taken once; refused when old, from the future, replayed
# (also with its v written 0/1 instead of 27/28),
# made for another path or by another key.
node "$HERE/admin-sign.js" "$W/chain/chain.json" "$SCHED_URL" "$pool" 3 4 >"$W/sign.out" 2>&1
signed() { # CASE PATTERN
	grep -Eq "^$1 $2" "$W/sign.out" && ok || bad "signed request '$1': $(grep "^$1 " "$W/sign.out" || cat "$W/sign.out")"
}
signed owner '200 $'
signed replay '401 signature already used'
signed replay-v '401 signature already used'
signed listing '200 $'
signed old '401 signature time is more than 300 s away'
signed ahead '401 signature time is more than 300 s away'
signed other-key "401 the signature is not the workerpool owner's"
signed other-path "401 the signature is not the workerpool owner's"
[ "$(code -H "Authorization: PoolOwner 12 0x00" "$SCHED_URL/stats")" = 401 ] &&
	jq -e '.reason | test("malformed")' "$W/body" >/dev/null && ok || bad "malformed PoolOwner: $(cat "$W/body")"

[ -n "${SHOW:-}" ] && echo "signatures done at ${SECONDS}s"
# tdexec pool status: with the token, then signed with the owner's key
PS=("$T" pool status --scheduler "$SCHED_URL")
expect 0 "" -- "${PS[@]}" --token-file "$W/admin.token" --json "${C[@]}"
cp "$W/out" "$W/ps.json"
jq_is '.pool.workerpool' "$(echo "$pool" | lower)" "$W/ps.json"
jq_is '.workers | length' 1 "$W/ps.json"
jq_is '.workers[0].address' "$wk" "$W/ps.json"
jq_is '.workers[0].simulated' true "$W/ps.json"
jq_is '.workers[0].tcbStatus' UpToDate "$W/ps.json"
jq_is '.workers[0].alive' true "$W/ps.json"
jq_is '.workers[0].currentTasks | length' 0 "$W/ps.json"
jq_is '.workerCounts.alive' 1 "$W/ps.json"
jq_is '.tasks.COMPLETED' 1 "$W/ps.json"
jq_is '.tasks.FAILED' 1 "$W/ps.json"
jq_is '.failures | length' 1 "$W/ps.json"
jq_is '.failures[0].taskId' "$task_bad" "$W/ps.json"
jq_is '.failures[0].reason' "app exited with status 1" "$W/ps.json"
jq_is '.earnings.unit' nRLC "$W/ps.json"
jq_is '[.earnings.accounts[] | .role + " " + .address] | join(",")' "owner $owner,worker $wk" "$W/ps.json"
# The earnings, exact to the nRLC, against the chain read here with
# another client (ethers): the scheduler's sums of the escrow's events to
# each account and its viewAccount, once its follower reached the head
# (within a few rounds: a stale figure fails).
node "$HERE/escrow.js" "$W/chain/chain.json" "$deal_ok" "$owner" "$wk" >"$W/escrow.json" 2>&1 ||
	bad "escrow.js: $(cat "$W/escrow.json")"
head_block=$(jq -r .head "$W/escrow.json")
earned() { # the scheduler's figures, as in the chain's JSON shape
	curl -s "${ADMIN[@]}" "$SCHED_URL/stats" >"$W/e.stats" && curl -s "${ADMIN[@]}" "$SCHED_URL/workers" >"$W/e.workers" &&
		jq -n --slurpfile s "$W/e.stats" --slurpfile w "$W/e.workers" --arg o "$owner" --arg k "$wk" \
			'{($o): $s[0].ownerEarnings, ($k): ($w[0].workers[] | select(.address == $k) | .earnings)}
			 | map_values(if . == null then null else {rewards, seized, locks, unlocks, stake, locked, toBlock} end)'
}
want=$(jq -c --argjson h "$head_block" '.accounts | map_values(. + {toBlock: $h})' "$W/escrow.json")
for _ in $(seq 50); do
	got=$(earned | jq -c --argjson h "$head_block" 'map_values(if . and .toBlock >= $h then .toBlock = $h else . end)')
	[ "$got" = "$want" ] && break
	sleep 0.2
done
[ "$got" = "$want" ] && ok || bad "the scheduler's earnings: $got, the chain's: $want"
# and what the deal implies: one task completed, so the worker earned its
# workerReward and the owner the rest of the workerpool price; the owner's
# stake for the two tasks was locked, the completed one's given back
wr=$(jq -r .deal.workerReward "$W/escrow.json")
wp=$(jq -r .deal.workerpoolPrice "$W/escrow.json")
[ "$wp" = "$PRICE" ] && [ "$wr" -gt 0 ] && [ "$wr" -lt "$wp" ] && ok || bad "the deal: workerReward $wr, price $wp"
jq_is ".ownerEarnings.rewards" "$((wp - wr))" "$W/e.stats"
jq_is ".ownerEarnings.net" "$((wp - wr))" "$W/e.stats"
jq_is ".ownerEarnings.seized" 0 "$W/e.stats"
jq_is "(.ownerEarnings.locks | tonumber) == 2 * (.ownerEarnings.unlocks | tonumber) and (.ownerEarnings.unlocks | tonumber) > 0" true "$W/e.stats"
jq_is ".workers[0].earnings.rewards" "$wr" "$W/e.workers"
jq_is ".workers[0].earnings.locks" 0 "$W/e.workers"
jq_is ".ownerEarnings.sinceBlock <= .workers[0].earnings.sinceBlock" true <(jq -s '.[0] + {workers: .[1].workers}' "$W/e.stats" "$W/e.workers")
# pool status prints the same figures, and 'tdexec account show' agrees
expect 0 "" -- "${PS[@]}" --token-file "$W/admin.token" --json
cp "$W/out" "$W/ps.json"
acct() { "$T" account show "$1" "${C[@]}" --json; }
for who in "$owner" "$wk"; do
	want=$(acct "$who")
	for k in stake locked; do
		jq_is ".earnings.accounts[] | select(.address == \"$who\") | .$k" "$(echo "$want" | jq -r ".$k")" "$W/ps.json"
	done
	for k in rewards seized locks unlocks; do
		jq_is ".earnings.accounts[] | select(.address == \"$who\") | .$k" "$(jq -r ".accounts[\"$who\"].$k" "$W/escrow.json")" "$W/ps.json"
	done
done
expect 0 "Workers: 1 registered, 1 alive" -- "${PS[@]}" --account 3 --workerpool "$pool" "${C[@]}"
[ -n "${SHOW:-}" ] && cat "$W/out"
grep -q "app exited with status 1" "$W/out" &&
	grep -Eq "^  owner   $owner  stake [0-9]+  locked [0-9]+  rewards $((wp - wr))  seized 0  since block [0-9]+" "$W/out" &&
	grep -Eq "^  worker  $wk  stake [0-9]+  locked 0  rewards $wr  seized 0 " "$W/out" &&
	grep -Eq "^  $wk  +[0-9]+s ago +yes +UpToDate +sim +1 +1  -" "$W/out" && ok ||
	bad "the table: $(cat "$W/out")"
# --watch --json: one object per line until interrupted
"${PS[@]}" --token-file "$W/admin.token" --json --watch 1 >"$W/watch.out" 2>&1 &
wp=$!
sleep 3.5
kill -INT "$wp"
wait "$wp"
rc=$?
n=$(grep -c '^{"scheduler"' "$W/watch.out")
[ "$rc" = 0 ] && [ "$n" -ge 2 ] && [ "$n" = "$(wc -l <"$W/watch.out")" ] && ok ||
	bad "--watch --json exited $rc with $n objects: $(head -c 300 "$W/watch.out")"
# refusals: clear errors, non-zero exits
expect 1 "refused the credentials: wrong admin token" -- "${PS[@]}" --token-file <(printf '%064d\n' 0)
expect 1 "refused the credentials: the signature is not the workerpool owner's" -- \
	"${PS[@]}" --account 4 --workerpool "$pool" "${C[@]}"
expect 1 "" -- "$T" pool status --scheduler http://127.0.0.1:9 --token-file "$W/admin.token"
expect 1 "--token-file F\) or the pool owner's key" -- "$T" pool status --scheduler "$SCHED_URL"
expect 1 "--workerpool ADDR is required" -- "${PS[@]}" --account 3 "${C[@]}"
expect 1 "not an admin token" -- "${PS[@]}" --token-file "$W/policy.json"

# A chain reorganisation takes back what its blocks added: with the worker
# stopped, a deal locks the owner's stake; once the scheduler counted it,
# its blocks are reverted (evm_revert, then empty blocks), and the owner's
# figures are the chain's again.
kill "$WORKER_PID" && wait "$WORKER_PID" 2>/dev/null
RPC=$(jq -r .rpc "$W/chain/chain.json")
owner_is() { curl -s "${ADMIN[@]}" "$SCHED_URL/stats" | jq -r ".ownerEarnings.$1"; }
locks0=$(owner_is locks)
snap=$(rpc evm_snapshot | jq -r .result)
[ -n "$(pool_deal "$app" "$pool" '{"iexec_args":"\"true\""}')" ] && ok || bad "the deal to revert"
for _ in $(seq 100); do [ "$(owner_is locks)" != "$locks0" ] && break; sleep 0.2; done
locks1=$(owner_is locks)
[ "$locks1" -gt "$locks0" ] 2>/dev/null && ok || bad "the deal's lock was not counted: $locks0 -> $locks1"
rpc evm_revert "[\"$snap\"]" | jq -e '.result == true' >/dev/null && ok || bad "evm_revert"
for _ in 1 2 3 4 5 6; do rpc evm_mine >/dev/null; done
for _ in $(seq 100); do [ "$(owner_is locks)" = "$locks0" ] && break; sleep 0.2; done
[ "$(owner_is locks)" = "$locks0" ] && ok || bad "after the reorganisation the owner's locks are $(owner_is locks), want $locks0"
grep -q 'sched.earnings.*reorg fork=[0-9]* events_undone=[1-9]' "$W/sched.log" && ok ||
	bad "no earnings undone: $(grep 'sched.reorg\|sched.earnings' "$W/sched.log" | tail -3)"
node "$HERE/escrow.js" "$W/chain/chain.json" - "$owner" >"$W/escrow2.json" 2>&1 || bad "escrow.js: $(cat "$W/escrow2.json")"
want=$(jq -c --arg o "$owner" '.accounts[$o] | [.stake, .locked, .locks]' "$W/escrow2.json")
for _ in $(seq 50); do
	got=$(curl -s "${ADMIN[@]}" "$SCHED_URL/stats" | jq -c '.ownerEarnings | [.stake, .locked, .locks]')
	[ "$got" = "$want" ] && break
	sleep 0.2
done
[ "$got" = "$want" ] && ok || bad "the owner's account after the reorganisation: $got, the chain's $want"

# task_events retention: the timelines of tasks finished longer ago than
# --events-retention DAYS go, in batches; recent ones and those of
# unfinished tasks stay; 0 keeps everything.  The scheduler is stopped, the
# tasks made older in its database, and started again each time.
kill "$SCHED_PID" && wait "$SCHED_PID" 2>/dev/null
DB=$W/sched.db
now=$(date +%s)
ev() { sqlite3 "$DB" "SELECT count(*) FROM task_events WHERE taskid $1"; }
n_ok=$(ev "= '$task_ok'")
[ "$n_ok" -ge 5 ] && [ "$(ev "= '$task_bad'")" = 4 ] && ok || bad "timelines before: ok $n_ok, bad $(ev "= '$task_bad'")"
old_open=0x$(printf 'e%.0s' $(seq 64))
{
	echo "BEGIN;"
	echo "UPDATE tasks SET updated = $now - 40 * 86400 WHERE taskid = '$task_bad';"
	echo "UPDATE tasks SET updated = $now - 29 * 86400 WHERE taskid = '$task_ok';"
	echo "INSERT INTO tasks(taskid, dealid, idx, status, updated) VALUES ('$old_open', lower('$deal_ok'), 99, 'REORGED', $now - 50 * 86400);"
	# 450 more old failed tasks (claim_tx set: never claimed), for batches
	for n in $(seq 100 549); do
		printf "INSERT INTO tasks(taskid, dealid, idx, status, updated, claim_tx) VALUES ('0x%064x', lower('%s'), %d, 'FAILED', %d, '0x');\n" \
			"$n" "$deal_ok" "$n" "$((now - 35 * 86400 - n))"
	done
	echo "COMMIT;"
} | sqlite3 "$DB" || bad "sqlite3"
n_all=$(ev "IS NOT NULL")
restart() { # FLAGS...: the scheduler again, its log from now on apart
	: >"$W/sched.log"
	pool_start_scheduler "$pool" 3 --worker-timeout 10 "$@" || bad "scheduler restart $*"
}
restart --events-retention 0
sleep 2
[ "$(ev "IS NOT NULL")" = "$n_all" ] && ! grep -q sched.retention "$W/sched.log" && ok ||
	bad "--events-retention 0 deleted events: $n_all -> $(ev "IS NOT NULL")"
kill "$SCHED_PID" && wait "$SCHED_PID" 2>/dev/null
restart # the default: 30 days
for _ in $(seq 100); do grep -q sched.retention "$W/sched.log" && break; sleep 0.1; done
grep -Eq 'sched.retention.* days=30 tasks=451 events_deleted=454 batches=3 ' "$W/sched.log" && ok ||
	bad "retention log: $(grep sched.retention "$W/sched.log")"
[ "$(ev "= '$task_bad'")" = 0 ] && ok || bad "the old failed task's timeline is still there"
[ "$(ev "LIKE '0x00000000%'")" = 0 ] && ok || bad "the old synthetic tasks' events: $(ev "LIKE '0x00000000%'")"
[ "$(ev "= '$task_ok'")" = "$n_ok" ] && ok || bad "the recent task's timeline: $(ev "= '$task_ok'") events, want $n_ok"
[ "$(ev "= '$old_open'")" = 1 ] && ok || bad "the unfinished task's timeline: $(ev "= '$old_open'")"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM tasks")" = 453 ] && ok || bad "tasks themselves were deleted"
ADMIN=(-H "Authorization: Bearer $(cat "$W/admin.token")")
code "${ADMIN[@]}" "$SCHED_URL/tasks?deal=$deal_bad&status=FAILED" >/dev/null
jq_is '.tasks[0].timeline | length' 0 "$W/body"
code "${ADMIN[@]}" "$SCHED_URL/tasks?deal=$deal_ok&status=COMPLETED" >/dev/null
jq_is '.tasks[0].timeline | length' "$n_ok" "$W/body"
kill "$SCHED_PID" && wait "$SCHED_PID" 2>/dev/null
restart --events-retention 28
for _ in $(seq 100); do grep -q sched.retention "$W/sched.log" && break; sleep 0.1; done
[ "$(ev "= '$task_ok'")" = 0 ] && [ "$(ev "= '$old_open'")" = 1 ] && ok ||
	bad "--events-retention 28: ok $(ev "= '$task_ok'"), unfinished $(ev "= '$old_open'")"
expect 1 "--events-retention" -- "$T" scheduler --events-retention -1

finish
