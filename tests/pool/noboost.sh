#!/usr/bin/env bash
# iExec's own networks, and PoCo without Boost as iExec deploys it on
# Arbitrum: --network resolves the @iexec/poco package's addresses, the hub
# says whether it has Boost, and on a chain without it a TDX task (in a
# simulated TD) goes the classic way to COMPLETED: matchOrders, initialize
# by the scheduler, contributeAndFinalize by the worker, with no Boost call,
# and 'tdexec task verify' reads that contribution.  The tasks of a deal
# are initialized in one initializeArray, claimed in one claimArray.
# Usage: noboost.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PKG=$ROOT/node_modules/@iexec/poco
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
pool_test_dir '"$T" chain down --dir "$W/boost" >/dev/null 2>&1'
# jget FILE KEY: a top-level value of a JSON file, as text
jget() { node -e 'const v = require(process.argv[1])[process.argv[2]]; console.log(v === undefined ? "" : v)' "$1" "$2"; }

# 1. The networks, from the package's files alone (no node is reached).
expect 0 "arbitrum, arbitrum-sepolia, bellecour" -- "$T" chain network
for net in arbitrum:arbitrum arbitrum-sepolia:arbitrumSepolia; do
	name=${net%%:*} dir=$PKG/deployments/${net#*:}
	"$T" chain network "$name" --json >"$W/$name.json" || bad "chain network $name"
	[ "$(jget "$W/$name.json" chain_id)" = "$(cat "$dir/.chainId")" ] && ok ||
		bad "$name: chain id $(jget "$W/$name.json" chain_id)"
	[ "$(jget "$W/$name.json" flavour)" = token ] && ok || bad "$name: flavour"
	for kv in hub:Diamond token:RLC app_registry:AppRegistry dataset_registry:DatasetRegistry \
		workerpool_registry:WorkerpoolRegistry; do
		want=$(jget "$dir/${kv#*:}.json" address)
		[ -n "$want" ] && [ "$(jget "$W/$name.json" "${kv%%:*}")" = "$want" ] && ok ||
			bad "$name: ${kv%%:*} is $(jget "$W/$name.json" "${kv%%:*}"), the package says $want"
	done
done
# The 6.1.0 Arbitrum deployments have no Boost facet (the reason for all this).
ls "$PKG"/deployments/arbitrum*/IexecPocoBoost* >/dev/null 2>&1 && bad "the package lists a Boost facet" || ok
# Bellecour: the chain id from the package, the proxy and registries from iExec's ENS names.
"$T" chain network bellecour --json >"$W/bellecour.json"
[ "$(jget "$W/bellecour.json" chain_id)" = "$(cat "$PKG/deployments/bellecour/.chainId")" ] &&
	[ "$(jget "$W/bellecour.json" hub)" = 0x3eca1B216A7DF1C7689aEb259fFB83ADFB894E7f ] &&
	[ "$(jget "$W/bellecour.json" flavour)" = native ] && ok || bad "bellecour: $(cat "$W/bellecour.json")"
expect 1 "network 'mainnet': not one of arbitrum, arbitrum-sepolia, bellecour" -- "$T" chain network mainnet
# Bad combinations are usage errors.
expect 1 "--network arbitrum needs --rpc URL" -- "$T" deal show 0x01 --network arbitrum
expect 1 "--chain FILE and --network NAME exclude each other" -- \
	"$T" run 0x0000000000000000000000000000000000000001 --market http://127.0.0.1:1 \
	--chain "$W/x.json" --network arbitrum --rpc http://127.0.0.1:1 --account 4
# A package whose deployment file holds no address is refused by name.
mkdir -p "$W/broken/deployments/arbitrum"
cp "$PKG/deployments/arbitrum/.chainId" "$W/broken/deployments/arbitrum/"
echo '{"address": "0x12"}' >"$W/broken/deployments/arbitrum/Diamond.json"
expect 1 "Diamond.json: \"address\"" -- env TDEXEC_POCO_DIR="$W/broken" "$T" chain network arbitrum
# So is one that lacks a file, or whose .chainId is not a number.
cp "$PKG/deployments/arbitrum/Diamond.json" "$W/broken/deployments/arbitrum/"
expect 1 "AppRegistry.json: not in the package" -- env TDEXEC_POCO_DIR="$W/broken" "$T" chain network arbitrum
echo "0x42161" >"$W/broken/deployments/arbitrum/.chainId"
expect 1 "arbitrum/.chainId: not a chain id" -- env TDEXEC_POCO_DIR="$W/broken" "$T" chain network arbitrum
expect 1 "TDEXEC_POCO_DIR=$W/nowhere: not found" -- env TDEXEC_POCO_DIR="$W/nowhere" "$T" chain network arbitrum

# 2. PoCo deployed as on Arbitrum: no Boost facet.
pool_start_chain --no-boost || { echo "FAIL: chain up --no-boost"; exit 1; }
CF=$W/chain/chain.json
RPC=$(jget "$CF" rpc)
[ "$(jget "$CF" boost)" = false ] && ok || bad "chain file: boost=$(jget "$CF" boost)"
grep -q "left out IexecPocoBoostFacet" "$W/chain.log" && grep -q "left out IexecPocoBoostAccessorsFacet" "$W/chain.log" &&
	ok || bad "chain up --no-boost: $(tail -3 "$W/chain.log")"
# iExec's real arbitrum addresses name another chain than this node's.
expect 1 "network arbitrum: the node is on chain 31337, not 42161" -- "$T" chain network arbitrum --rpc "$RPC"
# A package whose arbitrum deployment is this chain's (as an operator's
# node would be Arbitrum's): the same files, the local addresses.
mkdir -p "$W/poco/deployments/arbitrum"
for kv in hub:Diamond token:RLC app_registry:AppRegistry dataset_registry:DatasetRegistry \
	workerpool_registry:WorkerpoolRegistry; do
	printf '{"address": "%s"}\n' "$(jget "$CF" "${kv%%:*}")" >"$W/poco/deployments/arbitrum/${kv#*:}.json"
done
jget "$CF" chain_id >"$W/poco/deployments/arbitrum/.chainId"
export TDEXEC_POCO_DIR=$W/poco
NET=(--network arbitrum --rpc "$RPC")
expect 0 '"boost": false' -- "$T" chain network arbitrum --rpc "$RPC" --json
grep -q '"boost_reason": "the hub .* routes no matchOrdersBoost (0x[0-9a-f]\{8\}): no Boost facet"' "$W/out" &&
	ok || bad "boost reason: $(cat "$W/out")"
# A hub without a diamond loupe (bellecour's proxy has none): no Boost either.
mkdir -p "$W/noloupe/deployments" && cp -r "$W/poco/deployments/arbitrum" "$W/noloupe/deployments/"
cp "$W/poco/deployments/arbitrum/RLC.json" "$W/noloupe/deployments/arbitrum/Diamond.json"
expect 0 '"boost_reason": "the hub 0x[0-9a-fA-F]{40} has no diamond loupe' -- \
	env TDEXEC_POCO_DIR="$W/noloupe" "$T" chain network arbitrum --rpc "$RPC" --json
# And the same check on a chain deployed with Boost finds its facet.
unset TDEXEC_POCO_DIR
"$T" chain up --dir "$W/boost" --port 0 >"$W/boost.log" 2>&1 || bad "chain up (Boost)"
mkdir -p "$W/boostpkg/deployments/arbitrum"
for kv in hub:Diamond token:RLC app_registry:AppRegistry dataset_registry:DatasetRegistry \
	workerpool_registry:WorkerpoolRegistry; do
	printf '{"address": "%s"}\n' "$(jget "$W/boost/chain.json" "${kv%%:*}")" \
		>"$W/boostpkg/deployments/arbitrum/${kv#*:}.json"
done
jget "$W/boost/chain.json" chain_id >"$W/boostpkg/deployments/arbitrum/.chainId"
expect 0 '"boost_reason": "the hub .* routes matchOrdersBoost \(0x[0-9a-f]{8}\) to facet 0x' -- \
	env TDEXEC_POCO_DIR="$W/boostpkg" "$T" chain network arbitrum --rpc "$(jget "$W/boost/chain.json" rpc)" --json
"$T" chain down --dir "$W/boost" >/dev/null 2>&1
# A chain up in the same directory with Boost is not silently reused.
expect 1 "deployed without Boost" -- "$T" chain up --dir "$W/chain"
export TDEXEC_POCO_DIR=$W/poco

# 3. The pool on it, every role but the SMS through --network arbitrum.
#    Network chains have no local accounts: keys are plain key files.
for i in 1 3 4 5; do
	node -e 'console.log(require(process.argv[1]).accounts[process.argv[2]].private_key)' "$CF" "$i" >"$W/k$i"
	chmod 600 "$W/k$i"
done
expect 1 "network arbitrum: no local account 4 .*--wallet or --plain-key" -- \
	"$T" account show "${NET[@]}" --account 4
pool_start_td
pool_start_sms || bad "sms"
d_sh=$("$HERE/../../scripts/mkimage" "$W/images" shell '["/bin/sh","-c"]' /bin/sh)
app=$("$T" app deploy --no-image-check "${NET[@]}" --plain-key "$W/k1" --name shell --json --image "shell@$d_sh" | addr)
pool=$("$T" workerpool deploy "${NET[@]}" --plain-key "$W/k3" --description "classic pool" --json | addr)
[ -n "$app" ] && [ -n "$pool" ] && ok || bad "assets"
"$T" account deposit "${NET[@]}" --plain-key "$W/k4" 100000000000 >/dev/null &&
	"$T" account deposit "${NET[@]}" --plain-key "$W/k3" 100000000000 >/dev/null && ok || bad "deposit"
rm -f "$W/sched.port"
"$T" scheduler "${NET[@]}" --workerpool "$pool" --plain-key "$W/k3" --sms "$SMS_URL" \
	--db "$W/sched.db" --results "$W/results" --port 0 --port-file "$W/sched.port" --poll-ms 200 \
	"${ATTEST[@]}" --order-volume 3 --order-price 0 2>>"$W/sched.log" &
SCHED=$!
POOL_PIDS+=("$SCHED")
SCHED_URL="http://127.0.0.1:$(wait_port "$W/sched.port")"
grep -q 'event=sched.chain chain_id=31337 mode=classic reason="the hub 0x[0-9a-fA-F]* routes no matchOrdersBoost' \
	"$W/sched.log" && ok || bad "scheduler mode: $(grep sched.chain "$W/sched.log")"
rm -rf "$W/w1.td" && cp -r "$W/td" "$W/w1.td"
"$T" worker --scheduler "$SCHED_URL" "${NET[@]}" --plain-key "$W/k5" --images "$W/images" \
	--work-dir "$W/w1" --work-dir-encrypted --provider sim --sim-dir "$W/w1.td" --insecure-sms \
	--memory 5000 --max-time 20 --max-pids 64 2>>"$W/w1.log" &
W1=$!
POOL_PIDS+=("$W1")
"$T" order init app --set app="$app" --set tag=tdx --set volume=10 -o "$W/ao.json" &&
	"$T" order sign app "$W/ao.json" "${NET[@]}" --plain-key "$W/k1" -o "$W/ao.json" >/dev/null &&
	"$T" market publish app "$W/ao.json" --market "$SCHED_URL" >/dev/null && ok || bad "app order"

# The requester's one command: a TDX task to COMPLETED, by the classic path.
expect 0 '"status": "COMPLETED"' -- "$T" run "$app" --market "$SCHED_URL" "${NET[@]}" --plain-key "$W/k4" \
	-o "$W/run1" --timeout 120 --json --args '"echo classic > /iexec_out/result.txt"'
cp "$W/out" "$W/run1.json"
grep -q '"boost": false' "$W/run1.json" && ok || bad "run: not a classic deal: $(cat "$W/run1.json")"
[ "$(cat "$W/run1/result.txt" 2>/dev/null)" = classic ] && ok || bad "run result: $(cat "$W/run1/result.txt" 2>&1)"
deal=$(jget "$W/run1.json" deal)
task=$(jget "$W/run1.json" task)
# On chain: the deal is in the classic view (viewDeal names its app), the
# task COMPLETED, finalized by the worker's contributeAndFinalize.
expect 0 "\"pointer\": \"$app\"" -- "$T" deal show "$deal" "${NET[@]}" --json
grep -q '"boost"' "$W/out" && bad "deal show: a Boost deal" || ok
expect 0 '"status_name": "COMPLETED"' -- "$T" task show "$task" "${NET[@]}" --json
grep -q "task=$task .*call=contributeAndFinalize" "$W/w1.log" && ok || bad "no contributeAndFinalize in the worker's log"
grep -q "pushResultBoost" "$W/w1.log" && bad "the worker tried pushResultBoost" || ok
grep -q "deal=$deal .*boost=0" "$W/sched.log" && grep -q "task=$task status=INITIALIZING" "$W/sched.log" &&
	ok || bad "scheduler: $(grep "$deal\|$task" "$W/sched.log" | head -5)"
# Every transaction the hub received and every event it emitted: the
# classic calls and events, no Boost one.
node "$HERE/calls.js" "$CF" >"$W/calls.json" || bad "calls.js"
node -e '
	const { calls, events } = require(process.argv[1]);
	const boost = Object.keys(calls).concat(Object.keys(events)).filter((k) => /Boost/.test(k));
	const need = { matchOrders: calls, initialize: calls, contributeAndFinalize: calls,
		SchedulerNotice: events, TaskInitialize: events, TaskFinalize: events };
	const missing = Object.keys(need).filter((k) => !(need[k][k] >= 1));
	if (boost.length || missing.length) {
		console.log("boost:", boost, "missing:", missing, JSON.stringify(calls), JSON.stringify(events));
		process.exit(1);
	}' "$W/calls.json" && ok || bad "hub transactions: $(cat "$W/calls.json")"
# An explicit Boost match is refused with the reason, before any transaction.
cp "$W/ao.json" "$W/a2.json"
expect 1 "--boost: the hub 0x[0-9a-fA-F]{40} routes no matchOrdersBoost" -- "$T" deal match "${NET[@]}" \
	--plain-key "$W/k4" --app-order "$W/ao.json" --workerpool-order "$W/ao.json" \
	--request-order "$W/ao.json" --boost
# And run without --json says which deal it made.
expect 0 "classic deal: the hub 0x[0-9a-fA-F]{40} routes no matchOrdersBoost" -- "$T" run "$app" \
	--market "$SCHED_URL" "${NET[@]}" --plain-key "$W/k4" -o "$W/run2" --timeout 120 \
	--args '"echo again > /iexec_out/result.txt"'
[ "$(cat "$W/run2/result.txt" 2>/dev/null)" = again ] && ok || bad "second run: $(tail -3 "$W/out")"
# The beneficiary downloads the first result again, checked against viewTask.
expect 0 "matches the on-chain digest" -- "$T" result get "$task" --scheduler "$SCHED_URL" "${NET[@]}" \
	--plain-key "$W/k4" -o "$W/r1.zip"
unzip -p "$W/r1.zip" result.txt | grep -qx classic && ok || bad "result get: $(unzip -l "$W/r1.zip" 2>&1)"
# Which TD ran it, checked the classic way: the enclave challenge and the
# worker from its contribution, the result digest from viewTask.
expect 0 "^task $task ran app sha256:[0-9a-f]{64} in a TD with MRTD [0-9a-f]{96} \\(TCB UpToDate" -- \
	"$T" task verify "$task" --sms "$SMS_URL" --collateral "$W/td/collateral/collateral.json" \
	--trust-sim-root "$W/td/root_ca.pem" "${NET[@]}" --result "$W/r1.zip"
expect 2 "result $task does not match the on-chain digest" -- \
	"$T" task verify "$task" --sms "$SMS_URL" --collateral "$W/td/collateral/collateral.json" \
	--trust-sim-root "$W/td/root_ca.pem" "${NET[@]}" --result "$W/run2.zip"

# 4. A classic deal of many tasks: the scheduler initializes them in one
#    initializeArray (one block), not one initialize (one block) each.
#    Anyone may initialize a task, and one initialized already would make
#    the whole array revert: a task the requester initialized before the
#    scheduler saw the deal is left out, the others still go in one batch.
# calls NAME...: how many transactions to the hub called each NAME
calls() { node "$HERE/calls.js" "$CF" | node -e 'let s = ""; process.stdin.on("data", (d) => s += d).on("end",
	() => console.log(process.argv.slice(1).map((k) => JSON.parse(s).calls[k] || 0).join(" ")))' "$@"; }
# tasks DEAL STATUS: how many of the deal's tasks the scheduler has in STATUS
tasks() { curl -s "$SCHED_URL/tasks?deal=$1" | grep -o "\"status\": *\"$2\"" | wc -l; }
single=$(calls initialize)
kill -STOP "$SCHED"
deal4=$(TRUST=0 pool_deal "$app" "$pool" '{"iexec_args":"\"echo batch > /iexec_out/result.txt\""}' "" 3)
node "$HERE/initialize.js" "$CF" "$deal4" 1 && ok || bad "initialize by the requester"
kill -CONT "$SCHED"
for _ in $(seq 300); do [ "$(tasks "$deal4" COMPLETED)" = 3 ] && break; sleep 0.2; done
[ "$(tasks "$deal4" COMPLETED)" = 3 ] && ok || bad "batch deal: $(curl -s "$SCHED_URL/tasks?deal=$deal4")"
n=$(calls initializeArray initialize)
[ "$n" = "1 $((single + 1))" ] && ok || bad "initializeArray, initialize: $n (initialize was $single)"
grep -q "call=initializeArray tasks=2 gas=" "$W/sched.log" && ok || bad "$(grep initializeArray "$W/sched.log")"
kill "$W1" && wait "$W1" 2>/dev/null
# A task initialized by another after the scheduler checked it: the batch
# reverts, and each task is sent alone (the one initialized left out).
kill -STOP "$SCHED"
deal6=$(TRUST=0 pool_deal "$app" "$pool" '{"iexec_args":"\"true\""}' "" 3)
rpc evm_setAutomine "[false]" >/dev/null
node "$HERE/initialize.js" "$CF" "$deal6" 1 pending && ok || bad "initialize by the requester, pending"
kill -CONT "$SCHED"
# the scheduler's transaction waits in the pool beside the requester's
for _ in $(seq 100); do rpc txpool_status | grep -q '"pending":"0x2"' && break; sleep 0.2; done
rpc txpool_status | grep -q '"pending":"0x2"' && ok || bad "pool: $(rpc txpool_status)"
rpc evm_mine >/dev/null
rpc evm_setAutomine "[true]" >/dev/null
for _ in $(seq 100); do [ "$(tasks "$deal6" INITIALIZED)" = 3 ] && break; sleep 0.2; done
[ "$(tasks "$deal6" INITIALIZED)" = 3 ] && ok || bad "after a reverted batch: $(curl -s "$SCHED_URL/tasks?deal=$deal6")"
grep -q 'call=initializeArray tasks=3 error=".*revert' "$W/sched.log" && ok ||
	bad "no reverted batch: $(grep initializeArray "$W/sched.log")"
# then at once one initialize each for tasks 0 and 2, none for task 1
curl -s "$SCHED_URL/tasks?deal=$deal6" | grep -o '"taskId": *"0x[0-9a-f]*"' | grep -o '0x[0-9a-f]*' >"$W/deal6"
for i in 1 3; do
	grep -q "task=$(sed -n ${i}p "$W/deal6") status=INITIALIZING gas=" "$W/sched.log" && ok || bad "task $((i - 1)) of deal $deal6 not sent alone"
done
grep -q "task=$(sed -n 2p "$W/deal6") status=INITIALIZING" "$W/sched.log" && bad "task 1 initialized twice" || ok
# Past the final deadline, tasks no worker ran are claimed in one claimArray.
deal5=$(TRUST=0 pool_deal "$app" "$pool" '{"iexec_args":"\"true\""}' "" 3)
for _ in $(seq 100); do [ "$(tasks "$deal5" INITIALIZED)" = 3 ] && break; sleep 0.2; done
[ "$(tasks "$deal5" INITIALIZED)" = 3 ] && grep -q "call=initializeArray tasks=3 gas=" "$W/sched.log" && ok ||
	bad "second batch: $(curl -s "$SCHED_URL/tasks?deal=$deal5")"
rpc evm_increaseTime "[1000000]" >/dev/null
rpc evm_mine >/dev/null
for _ in $(seq 100); do [ "$(tasks "$deal5" FAILED)" = 3 ] && break; sleep 0.2; done
claims=$(curl -s "$SCHED_URL/tasks?deal=$deal5" | grep -o '"claimTx": *"0x[0-9a-f]*"' | sort -u | wc -l)
n=$(calls claimArray claim)
[ "$(tasks "$deal5" FAILED)" = 3 ] && [ "$claims" = 1 ] && [ "$n" = "1 0" ] && ok ||
	bad "claimArray, claim: $n: $(curl -s "$SCHED_URL/tasks?deal=$deal5")"
expect 0 '"status_name": "FAILED"' -- "$T" task show "$deal5" --index 2 "${NET[@]}" --json

# The services stop cleanly; under the sanitizers none reported anything.
pool_stop
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W"/*.log >/dev/null 2>&1; then
	bad "sanitizer report in $(grep -l "Sanitizer\|runtime error:" "$W"/*.log | tr '\n' ' ')"
else ok; fi

finish
