#!/usr/bin/env bash
# Chain faults on Anvil, met by the worker's transaction manager
# (lib/eth/txm.c) in a whole pool (scheduler, SMS, simulated TDs):
#   - a dropped transaction is re-sent, as the same bytes;
#   - a base-fee spike is met by a replacement within --max-fee-gwei;
#   - a spike above the cap is waited out, never offering more than the cap;
#   - the RPC endpoint down for 30 s, then back;
#   - a worker killed with its pushes in flight (one of them then dropped by
#     the node) re-sends them from its journal when it starts again;
#   - a push that reverts (mined past the deal's deadline) is reported
#     FAILED with its reason.
# The first five: every task COMPLETED on chain, and the worker's transaction
# count equals its tasks (no transaction sent twice).  One worker account
# per case, so counts do not mix (the last reuses the first's).
# Usage: faults.sh TDEXEC   (CASES="drop crash": only those)
set -uo pipefail
T=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=$(mktemp -d)
chmod 711 "$P" # the app sandbox reaches the workers' directories through it
W=$P
. "$ROOT/tests/lib.sh"
. "$ROOT/scripts/pool.sh"
PROXY_PID=
# KEEP=1: leave the logs in $P
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null; pool_stop; [ "${KEEP:-0}" = 1 ] && echo "logs in $P" || rm -rf "$P"' EXIT
only() { [ -z "${CASES:-}" ] || [[ " $CASES " == *" $1 "* ]]; }

# a block every S seconds; 0: none but by evm_mine
mining() { rpc evm_setAutomine '[false]' >/dev/null; rpc evm_setIntervalMining "[$1]" >/dev/null; }
tx_count() { # ADDRESS: transactions mined from it
	printf '%d\n' "$(rpc eth_getTransactionCount '["'"$1"'","latest"]' | sed 's/.*"result":"\([^"]*\)".*/\1/')"
}
completed() { curl -s "$SCHED_URL/tasks?deal=$1" | grep -o '"status": *"COMPLETED"' | wc -l; }
# wait_for SECONDS CMD...: until CMD succeeds
wait_for() {
	local s=$1
	shift
	for _ in $(seq $((s * 5))); do "$@" && return 0; sleep 0.2; done
	return 1
}
pushes_sent() { [ "$(grep -c 'worker.push.*sent=1' "$P/$1.log" 2>/dev/null)" -ge "$2" ]; }
all_done() { [ "$(completed "$1")" = "$2" ]; }
first_hash() { grep -o 'worker.push .*tx=0x[0-9a-f]* sent=1' "$P/$1.log" | sed -n "${2:-1}p" | sed 's/.*tx=\(0x[0-9a-f]*\).*/\1/'; }
# the base fee back to where a quiet chain has it, before a case
calm() { rpc anvil_setNextBlockBaseFeePerGas '["0x3e8"]' >/dev/null; rpc evm_mine >/dev/null; }
stop_worker() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
wallet() { "$T" wallet show "${C[@]}" --account "$1" --json | addr; }

# check_case NAME DEAL N WORKER_ACCOUNT: N tasks COMPLETED, N transactions
check_case() {
	local name=$1 deal=$2 n=$3 a
	a=$(wallet "$4")
	if wait_for 180 all_done "$deal" "$n"; then ok; else
		bad "$name: $(completed "$deal") of $n tasks COMPLETED"
	fi
	[ "$(tx_count "$a")" = "$n" ] && ok || bad "$name: the worker sent $(tx_count "$a") transactions for $n tasks"
}

pool_start_chain || exit 1
RPC=$(sed -n 's/.*"rpc": "\(.*\)".*/\1/p' "$P/chain/chain.json")
pool_start_td
pool_start_sms
d=$("$ROOT/scripts/mkimage" "$P/images" trivial '["/bin/sh","-c"]' /bin/sh)
app=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name trivial --json --image "trivial@$d" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description faults --json | addr)
pool_start_scheduler "$pool" 3 --poll-ms 100
PARAMS='{"iexec_args":"\"echo $IEXEC_BOT_TASK_INDEX > /iexec_out/r\""}'

if only drop; then
	# 1. A dropped transaction is sent again, the same bytes.
	pool_start_worker drop 5
	mining 1
	deal=$(pool_deal "$app" "$pool" "$PARAMS")
	mining 0
	wait_for 120 pushes_sent drop 1 || bad "drop: no push sent: $(tail -3 "$P/drop.log")"
	h=$(first_hash drop)
	rpc anvil_dropTransaction '["'"$h"'"]' >/dev/null
	rpc eth_getTransactionByHash '["'"$h"'"]' | grep -q '"result":null' && ok ||
		bad "drop: $h is still in the node's pool"
	mining 1
	check_case drop "$deal" 1 5
	grep -q "eth.tx.resend hash=$h .*reason=dropped node=took-it" "$P/drop.log" && ok ||
		bad "drop: no re-send of $h: $(grep eth.tx "$P/drop.log" | tail -3)"
	stop_worker "$WORKER_PID"
fi

if only spike; then
	# 2. A base-fee spike (10 gwei, ten times what the push offered): after
	#    3 blocks the push is replaced with fees the chain now asks, under the
	#    50 gwei cap.
	pool_start_worker spike 6 --max-fee-gwei 50
	calm
	deal=$(pool_deal "$app" "$pool" "$PARAMS")
	mining 0
	wait_for 120 pushes_sent spike 1 || bad "spike: no push sent: $(tail -3 "$P/spike.log")"
	h=$(first_hash spike)
	rpc anvil_setNextBlockBaseFeePerGas '["0x2540be400"]' >/dev/null
	rpc evm_mine >/dev/null
	rpc eth_getTransactionReceipt '["'"$h"'"]' | grep -q '"result":null' && ok ||
		bad "spike: $h was mined under a 10 gwei base fee"
	mining 1
	check_case spike "$deal" 1 6
	grep -q "eth.tx.replace .*nonce=0 " "$P/spike.log" && ok ||
		bad "spike: no replacement: $(grep eth.tx "$P/spike.log" | tail -3)"
	# the worker hears of the receipt a poll after the scheduler may
	wait_for 30 grep -q 'worker.push task=[^ ]* tx=0x[0-9a-f]* gas=' "$P/spike.log"
	mined=$(grep -o 'worker.push task=[^ ]* tx=0x[0-9a-f]* gas=' "$P/spike.log" | sed 's/.*tx=\(0x[0-9a-f]*\).*/\1/')
	[ -n "$mined" ] && [ "$mined" != "$h" ] && ok || bad "spike: mined as $mined, first sent as $h"
	stop_worker "$WORKER_PID"
fi

if only capped; then
	# 3. The same spike (20 gwei) with a 3 gwei cap: no bump may pass it; the
	#    push waits for the base fee to fall (12.5 % a block) and is mined.
	pool_start_worker capped 7 --max-fee-gwei 3
	calm
	deal=$(pool_deal "$app" "$pool" "$PARAMS")
	mining 0
	wait_for 120 pushes_sent capped 1 || bad "capped: no push sent: $(tail -3 "$P/capped.log")"
	rpc anvil_setNextBlockBaseFeePerGas '["0x4a817c800"]' >/dev/null
	rpc evm_mine >/dev/null
	mining 1
	check_case capped "$deal" 1 7
	grep -q 'eth.fee .*a bump would pass the fee cap' "$P/capped.log" && ok ||
		bad "capped: the cap was not what held the push: $(grep eth. "$P/capped.log" | tail -3)"
	over=$(grep -o 'eth.tx[a-z.]* .*max_fee=[0-9]*' "$P/capped.log" | sed 's/.*max_fee=//' |
		awk '$1 > 3000000000' | wc -l)
	[ "$over" = 0 ] && ok || bad "capped: $over versions offered more than 3 gwei"
	stop_worker "$WORKER_PID"
fi

if only down; then
	# 4. The worker's RPC endpoint (a proxy in front of Anvil) down for 30 s
	#    while its pushes confirm, then back on the same port.
	anvil_port=${RPC##*:}
	anvil_port=${anvil_port%%/*}
	node "$ROOT/tests/chain/proxy.js" "$anvil_port" "$P/proxy.port" &
	PROXY_PID=$!
	pport=$(wait_port "$P/proxy.port")
	sed "s|\"rpc\": \"[^\"]*\"|\"rpc\": \"http://127.0.0.1:$pport\"|" "$P/chain/chain.json" >"$P/chain-proxy.json"
	C0=("${C[@]}")
	C=(--chain "$P/chain-proxy.json")
	pool_start_worker down 8
	C=("${C0[@]}")
	mining 1
	deal=$(pool_deal "$app" "$pool" "$PARAMS" "" 6)
	wait_for 120 pushes_sent down 1 || bad "down: no push sent: $(tail -3 "$P/down.log")"
	kill "$PROXY_PID"
	wait "$PROXY_PID" 2>/dev/null
	sleep 30
	node "$ROOT/tests/chain/proxy.js" "$anvil_port" "$P/proxy.port" "$pport" &
	PROXY_PID=$!
	check_case down "$deal" 6 8
	grep -q 'event=eth.poll ' "$P/down.log" && ok || bad "down: the worker never saw its endpoint go"
	grep -q 'worker.task .*status=FAILED' "$P/down.log" &&
		bad "down: a task failed: $(grep 'status=FAILED' "$P/down.log" | head -1)" || ok
	stop_worker "$WORKER_PID"
fi

if only crash; then
	# 5. kill -9 with three pushes in flight, the node then dropping the first:
	#    the restarted worker re-sends the journaled bytes; none is signed anew.
	pool_start_worker crash 9
	mining 1
	deal=$(pool_deal "$app" "$pool" "$PARAMS" "" 3)
	mining 0
	wait_for 120 pushes_sent crash 3 || bad "crash: not three pushes: $(tail -3 "$P/crash.log")"
	kill -9 "$WORKER_PID"
	wait "$WORKER_PID" 2>/dev/null
	h=$(first_hash crash)
	rpc anvil_dropTransaction '["'"$h"'"]' >/dev/null
	pool_start_worker crash 9
	wait_for 30 grep -q 'resumed=1' "$P/crash.log" || bad "crash: no push resumed"
	mining 1
	check_case crash "$deal" 3 9
	[ "$(grep -c 'worker.push .*resumed=1' "$P/crash.log")" = 3 ] && ok ||
		bad "crash: $(grep -c 'resumed=1' "$P/crash.log") pushes resumed, want 3"
	grep -q "eth.tx.resend hash=$h .*node=took-it" "$P/crash.log" && ok ||
		bad "crash: the dropped push $h was not re-sent: $(grep eth.tx "$P/crash.log" | tail -3)"
	[ "$(grep -c 'event=eth.tx hash=' "$P/crash.log")" = 3 ] && ok ||
		bad "crash: $(grep -c 'event=eth.tx hash=' "$P/crash.log") transactions signed for 3 tasks"
	stop_worker "$WORKER_PID"
fi

if only revert; then
	# 6. A push mined only after the deal's deadline reverts: the task is
	#    reported FAILED with PoCo's reason, as an unpipelined push was.
	#    (Last: the time warp makes the scheduler claim what is left.)
	pool_start_worker revert 5
	mining 1
	deal=$(pool_deal "$app" "$pool" "$PARAMS")
	mining 0
	wait_for 120 pushes_sent revert 1 || bad "revert: no push sent: $(tail -3 "$P/revert.log")"
	rpc evm_increaseTime '[86400]' >/dev/null
	mining 1
	wait_for 60 grep -q 'worker.task .*status=FAILED' "$P/revert.log" ||
		bad "revert: no FAILED: $(grep -E 'eth.receipt|worker.task' "$P/revert.log" | tail -2)"
	grep -q 'worker.task .*status=FAILED reason="pushResultBoost: transaction 0x[0-9a-f]*: .*revert' \
		"$P/revert.log" && ok || bad "revert: $(grep 'status=FAILED' "$P/revert.log" | head -1)"
	grep -q 'report=FAILED detail="pushResultBoost: transaction' "$P/sched.log" && ok ||
		bad "revert: the scheduler heard no FAILED report"
	stop_worker "$WORKER_PID"
fi

finish
