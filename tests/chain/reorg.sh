#!/usr/bin/env bash
# Chain reorganisations under the scheduler's follower (--confirmations 0):
# a deal removed by a reorganisation (evm_snapshot before it, evm_revert
# after the scheduler saw it, a few empty blocks mined) is noticed, its
# tasks are dropped and never handed out, and the follower goes on (a deal
# made afterwards is seen and initialized); the same deal transaction mined
# again after a reorganisation gives its tasks once, the one a worker held
# back to that worker; a reorganisation deeper than 64 blocks stops the
# follower with the reason.
# Usage: reorg.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
P=$W
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
trap 'pool_stop; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
result() { sed -n 's/.*"result":"\([^"]*\)".*/\1/p'; }
# the database, read or written only while no scheduler runs
q() { sqlite3 "$W/sched.db" "$1"; }
# statuses of the deal's tasks, by index, as the scheduler's API lists them
statuses() { curl -s "$SCHED_URL/tasks?deal=$1" | grep -o '"status": *"[A-Z_]*"' | grep -o '[A-Z_]*"$' | tr -d '"' | tr '\n' ' '; }
# wait_for SECONDS CMD...: until CMD succeeds
wait_for() {
	local n=$(($1 * 5))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.2; done
	return 1
}
all_init() { # DEAL N: the deal's N tasks all INITIALIZED
	[ "$(statuses "$1")" = "$(printf 'INITIALIZED %.0s' $(seq "$2"))" ]
}
reorgs() { grep -c 'sched.reorg.*fork=' "$W/sched.log"; }
more_reorgs() { [ "$(reorgs)" -gt "$1" ]; }
statuses_are() { [ "$(statuses "$1")" = "$2" ]; } # DEAL 'S1 S2 ... '
head_block() { printf '%d' "$(rpc eth_blockNumber | result)"; }
# removed FROM TO [SENDER]: the raw transactions of blocks FROM..TO (of
# SENDER only if given), in order, one a line: read before a revert, sent
# again after it, as a node puts a reorganisation's transactions back in its
# pool (evm_revert itself forgets them)
removed() {
	node -e '
	const [rpc, from, to, who] = process.argv.slice(1);
	const call = async (method, params) => (await (await fetch(rpc, {method: "POST",
		headers: {"Content-Type": "application/json"},
		body: JSON.stringify({jsonrpc: "2.0", id: 1, method, params})})).json()).result;
	(async () => {
		for (let n = +from; n <= +to; n++) {
			const b = await call("eth_getBlockByNumber", ["0x" + n.toString(16), true]);
			for (const t of b.transactions)
				if (!who || t.from.toLowerCase() === who.toLowerCase())
					console.log(await call("eth_getRawTransactionByHash", [t.hash]));
		}
	})();' "$RPC" "$@"
}
# resend FILE: the raw transactions in FILE, in order; fails if the first
# is refused (a later one may already have been replaced by the scheduler,
# which sends its own again at its next nonce: what counts is the outcome)
resend() {
	local raw first=1 rc=0
	while read -r raw; do
		rpc eth_sendRawTransaction "[\"$raw\"]" | grep -q '"result":"0x' || [ "$first" = 0 ] || rc=1
		first=0
	done <"$1"
	return "$rc"
}

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
RPC=$(sed -n 's/.*"rpc": "\(.*\)".*/\1/p' "$P/chain/chain.json")
pool_start_td
SMS_URL=http://127.0.0.1:9 # standard tasks only: the SMS is never asked
d=$(printf 'reorg' | sha256sum | cut -d' ' -f1)
app=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name reorg --image "reorg@sha256:$d" --json | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description reorg --json | addr)
owner=$("$T" wallet show "${C[@]}" --account 3 --json | addr)
pool_start_scheduler "$pool" 3 --confirmations 0 || bad "scheduler"
export TAG=none TRUST=0 # classic deals of standard tasks

# 1. A deal removed by a reorganisation.
snap=$(rpc evm_snapshot | result)
base=$(head_block)
gone=$(pool_deal "$app" "$pool" '{"iexec_args":"gone"}' "" 2)
[ -n "$gone" ] && ok || bad "no deal"
wait_for 60 all_init "$gone" 2 && ok || bad "the scheduler did not see the deal: $(statuses "$gone")"
# the deal is not mined again (its requester spent the nonce otherwise);
# the scheduler's own transaction (one initializeArray for both tasks) is,
# and now reverts
removed "$((base + 1))" "$(head_block)" "$owner" >"$W/txs"
[ "$(wc -l <"$W/txs")" = 1 ] && ok || bad "scheduler transactions removed: $(cat "$W/txs")"
rpc evm_revert "[\"$snap\"]" | grep -q '"result":true' && ok || bad "evm_revert"
for _ in 1 2 3; do rpc evm_mine >/dev/null; done
resend "$W/txs" && ok || bad "the scheduler's transactions not sent again"
wait_for 30 grep -q 'sched.reorg.*fork=' "$W/sched.log" && ok || bad "the reorganisation went unnoticed"
grep 'sched.reorg' "$W/sched.log"
grep -q 'sched.reorg.*deals_dropped=1 tasks_dropped=2 tasks_reorged=0' "$W/sched.log" && ok ||
	bad "the vanished deal's tasks were not dropped: $(grep sched.reorg "$W/sched.log")"
[ -z "$(statuses "$gone")" ] && ok || bad "the vanished deal still lists tasks: $(statuses "$gone")"
# The follower goes on: a deal made after the reorganisation is seen and
# its tasks made ready for workers.
after=$(pool_deal "$app" "$pool" '{"iexec_args":"after"}')
[ -n "$after" ] && ok || bad "no deal after the reorganisation"
wait_for 60 all_init "$after" 1 && ok || bad "the deal after the reorganisation: $(statuses "$after")"
[ -z "$(statuses "$gone")" ] && ok || bad "the vanished deal came back: $(statuses "$gone")"

# 2. The same deal transaction mined again after a reorganisation.  One of
# its 3 tasks is held by a worker when the reorganisation comes (set in the
# database, the scheduler stopped meanwhile, as the worker API does when it
# hands a task out: no worker runs here); it becomes REORGED, not handed
# out, and gets its status back with the deal; the others are dropped and
# received once again.
snap=$(rpc evm_snapshot | result)
base=$(head_block)
same=$(pool_deal "$app" "$pool" '{"iexec_args":"same"}' "" 3)
[ -n "$same" ] && ok || bad "no deal"
wait_for 60 all_init "$same" 3 && ok || bad "the scheduler did not see the deal: $(statuses "$same")"
held=0x00000000000000000000000000000000000000aa
kill "$SCHED_PID" && wait "$SCHED_PID" || bad "scheduler did not stop"
q "UPDATE tasks SET status = 'RUNNING', worker = '$held', held_by = '$held', assigned = $(date +%s) WHERE dealid = '$same' AND idx = 0"
SCHED_PORT=${SCHED_URL##*:} pool_start_scheduler "$pool" 3 --confirmations 0 || bad "scheduler restart"
wait_for 30 statuses_are "$same" "RUNNING INITIALIZED INITIALIZED " && ok ||
	bad "the held task: $(statuses "$same")"
removed "$((base + 1))" "$(head_block)" >"$W/txs"
# (the deal's match, the initializeArray of its 3 tasks)
[ "$(wc -l <"$W/txs")" -ge 2 ] && ok || bad "transactions removed: $(cat "$W/txs")"
n=$(reorgs)
rpc evm_revert "[\"$snap\"]" | grep -q '"result":true' && ok || bad "evm_revert"
for _ in 1 2; do rpc evm_mine >/dev/null; done
wait_for 30 more_reorgs "$n" && ok || bad "the second reorganisation went unnoticed"
grep 'sched.reorg' "$W/sched.log" | tail -1 | grep -q 'deals_dropped=0 tasks_dropped=2 tasks_reorged=1' && ok ||
	bad "second reorganisation: $(grep sched.reorg "$W/sched.log" | tail -1)"
[ "$(statuses "$same")" = "REORGED " ] && ok || bad "after the reorganisation: $(statuses "$same")"
resend "$W/txs" && ok || bad "the deal's transactions not sent again"
wait_for 60 statuses_are "$same" "RUNNING INITIALIZED INITIALIZED " && ok ||
	bad "the deal mined again: $(statuses "$same")"
curl -s "$SCHED_URL/tasks?deal=$same" | grep -q "\"worker\": *\"$held\"" && ok ||
	bad "the held task lost its worker"
grep -q "sched.reorg.*deal=$same back block=[0-9]* tasks=1" "$W/sched.log" && ok || bad "no log of the deal back"

# 3. Deeper than 64 blocks: the follower stops with the reason, the API
# still serves.
snap=$(rpc evm_snapshot | result)
rpc anvil_mine '["0x50"]' >/dev/null
deep=$(pool_deal "$app" "$pool" '{"iexec_args":"deep"}')
wait_for 60 all_init "$deep" 1 && ok || bad "the follower did not reach the deal 80 blocks on: $(statuses "$deep")"
rpc evm_revert "[\"$snap\"]" | grep -q '"result":true' && ok || bad "evm_revert"
rpc evm_mine >/dev/null
wait_for 30 grep -q 'following=stopped' "$W/sched.log" && ok || bad "the deep reorganisation did not stop the follower"
grep -q 'level=error.*sched.reorg.*deeper than 64 blocks' "$W/sched.log" && ok ||
	bad "no reason given: $(grep sched.reorg "$W/sched.log" | tail -2)"
curl -sf "$SCHED_URL/healthz" >/dev/null && ok || bad "the API stopped serving"
kill "$SCHED_PID" && wait "$SCHED_PID" && ok || bad "scheduler did not stop cleanly"
# Stored, the scheduler stopped: the deals that are on chain, each task once.
[ "$(q "SELECT count(*) FROM deals WHERE dealid IN ('$after', '$same', '$deep')")" = 3 ] &&
	[ "$(q "SELECT count(*) FROM deals")" = 3 ] && ok || bad "deals stored: $(q "SELECT dealid FROM deals")"
[ "$(q "SELECT count(*) FROM tasks")" = 5 ] && ok || bad "tasks stored: $(q "SELECT taskid, status FROM tasks")"

finish
