#!/usr/bin/env bash
# The marketplace from the command line on a fresh local chain: wallets,
# assets, escrow, orders signed and cancelled, a matched TDX deal (Boost),
# and clear errors for bad input.
# Usage: market.sh TDEXEC
set -u
T=$1
D=$(mktemp -d)
SCHED_PID=
trap '[ -n "$SCHED_PID" ] && kill "$SCHED_PID" 2>/dev/null; "$T" chain down --dir "$D/chain" >/dev/null 2>&1; "$T" chain down --dir "$D/native" >/dev/null 2>&1; rm -rf "$D"' EXIT
W=$D
. "$(dirname "$0")/../lib.sh"
val() { sed -n "s/.*\"$1\": \"\\([^\"]*\\)\".*/\\1/p" "$D/out" | head -1; }

"$T" chain up --dir "$D/chain" --port 0 >/dev/null 2>&1 || { echo "FAIL: chain up"; exit 1; }
C=(--chain "$D/chain/chain.json")
# chain status takes --chain as every other command (and --dir)
expect 0 '"up": true' -- "$T" chain status --chain "$D/chain/chain.json" --json
expect 0 'up +true' -- "$T" chain status --dir "$D/chain"

# Wallets
printf 'correct horse\n' >"$D/pw"
printf 'wrong\n' >"$D/pw-bad"
expect 0 '"address": "0x' -- "$T" wallet create -o "$D/w.json" --password-file "$D/pw" --scrypt-n 1024 --json
addr=$(val address)
expect 0 "$addr" -- "$T" wallet show --wallet "$D/w.json" --password-file "$D/pw" --json
expect 1 'wrong password' -- "$T" wallet show --wallet "$D/w.json" --password-file "$D/pw-bad"
expect 0 'rlc_nrlc' -- "$T" wallet balance "${C[@]}" --account 4 --json

# Assets
digest=$(printf 'hello' | sha256sum | cut -d' ' -f1)
echo '{"measurements": {"MRTD": "'"$(printf '%096d' 0)"'"}}' >"$D/policy.json"
expect 0 '"address"' -- "$T" app deploy --no-image-check "${C[@]}" --account 1 --name hello \
	--image "docker.io/library/hello@sha256:$digest" --tdx-policy "$D/policy.json" --json
app=$(val address)
expect 0 "\"checksum\": \"0x$digest\"" -- "$T" app show "${C[@]}" "$app" --json
grep -q '"framework\\":\\"TDX' "$D/out" && ok || bad "app mrenclave holds the TDX configuration: $(cat "$D/out")"
expect 0 '"address"' -- "$T" workerpool deploy "${C[@]}" --account 3 --description "tdexec pool" --json
pool=$(val address)
expect 0 'tdexec pool' -- "$T" workerpool show "${C[@]}" "$pool"
expect 1 'must be NAME@sha256:DIGEST' -- "$T" app deploy --no-image-check "${C[@]}" --account 1 --name x --image hello:latest
# Deployed again with the same parameters: the same asset (CREATE2), found
# before any transaction, with a note; a script that deploys twice goes on.
expect 0 "app \"hello\" already exists at $app" -- "$T" app deploy --no-image-check "${C[@]}" --account 1 --name hello \
	--image "docker.io/library/hello@sha256:$digest" --tdx-policy "$D/policy.json"
expect 0 '"existed": true' -- "$T" app deploy --no-image-check "${C[@]}" --account 1 --name hello \
	--image "docker.io/library/hello@sha256:$digest" --tdx-policy "$D/policy.json" --json
[ "$(val address)" = "$app" ] && ok || bad "app deployed again: $(cat "$D/out")"
expect 0 "workerpool \"tdexec pool\" already exists at $pool" -- "$T" workerpool deploy "${C[@]}" \
	--account 3 --description "tdexec pool"
expect 0 '"address"' -- "$T" dataset deploy "${C[@]}" --account 2 --name data --multiaddr https://example.com/d \
	--checksum "0x$digest" --json
ds=$(val address)
grep -q existed "$D/out" && bad "a new dataset said it existed: $(cat "$D/out")" || ok
expect 0 "dataset \"data\" already exists at $ds" -- "$T" dataset deploy "${C[@]}" --account 2 --name data \
	--multiaddr https://example.com/d --checksum "0x$digest"
# Not the same parameters (another owner): a new asset.
expect 0 '"address"' -- "$T" app deploy --no-image-check "${C[@]}" --account 2 --name hello \
	--image "docker.io/library/hello@sha256:$digest" --tdx-policy "$D/policy.json" --json
[ "$(val address)" != "$app" ] && ! grep -q existed "$D/out" && ok || bad "another owner's app: $(cat "$D/out")"

# Escrow
expect 0 '"stake": "100000000000"' -- "$T" account deposit "${C[@]}" --account 4 100000000000 --json
expect 0 '"stake": "10000000000"' -- "$T" account deposit "${C[@]}" --account 3 10000000000 --json
# A real revert, named by the whole signature, with the node's reason.
expect 1 '^tdexec: withdraw\(uint256\): eth_estimateGas: execution reverted' -- "$T" account withdraw "${C[@]}" --account 5 1
expect 1 'expected one amount' -- "$T" account deposit "${C[@]}" --account 4 lots

# Orders
requester=$("$T" wallet show "${C[@]}" --account 4 --json | sed -n 's/.*"address": "\(.*\)".*/\1/p')
"$T" order init app --set app="$app" --set appprice=1000000000 --set tag=tdx -o "$D/app.json" && ok || bad "order init app"
expect 0 '' -- "$T" order sign app "$D/app.json" "${C[@]}" --account 1 -o "$D/app.json"
appowner=$("$T" wallet show "${C[@]}" --account 1 --json | sed -n 's/.*"address": "\(.*\)".*/\1/p')
expect 0 "\"signer\": \"$appowner\"" -- "$T" order show app "$D/app.json" "${C[@]}" --json
"$T" order init workerpool --set workerpool="$pool" --set workerpoolprice=4000000000 --set tag=tdx -o "$D/wp.json" && ok || bad "order init workerpool"
expect 0 '' -- "$T" order sign workerpool "$D/wp.json" "${C[@]}" --account 3 -o "$D/wp.json"
"$T" order init request --set app="$app" --set appmaxprice=1000000000 --set workerpool="$pool" \
	--set workerpoolmaxprice=4000000000 --set requester="$requester" --set beneficiary="$requester" \
	--set tag=tdx --set 'params={"iexec_args":"hi"}' -o "$D/req.json" && ok || bad "order init request"
expect 0 '' -- "$T" order sign request "$D/req.json" "${C[@]}" --account 4 -o "$D/req.json"
expect 1 'has no field "colour"' -- "$T" order init app --set colour=blue

# A cancelled order cannot be matched.
"$T" order init app --set app="$app" --set tag=tdx -o "$D/app2.json"
"$T" order sign app "$D/app2.json" "${C[@]}" --account 1 -o "$D/app2.json" >/dev/null
expect 0 '"cancelled": true' -- "$T" order cancel app "$D/app2.json" "${C[@]}" --account 1 --json
expect 1 'revert' -- "$T" deal match "${C[@]}" --account 4 --app-order "$D/app2.json" \
	--workerpool-order "$D/wp.json" --request-order "$D/req.json"

# The deal: TDX tag, trust 1 -> PoCo Boost.
expect 0 '"boost": true' -- "$T" deal match "${C[@]}" --account 4 --app-order "$D/app.json" \
	--workerpool-order "$D/wp.json" --request-order "$D/req.json" --json
deal=$(val dealid)
expect 0 "\"requester\": \"$requester\"" -- "$T" deal show "${C[@]}" "$deal" --json
expect 0 '"locked": "5000000000"' -- "$T" account show "${C[@]}" "$requester" --json
expect 1 'expected one deal id' -- "$T" deal show "${C[@]}" 0x1234
# Its task, as a requester sees it: PoCo Boost records nothing of a task
# before it is pushed or claimed, so the deal is found by its event; open
# until its final deadline, then claimBoost refunds the requester.
expect 0 '"status_name": "ACTIVE"' -- "$T" task show "${C[@]}" "$deal" --index 0 --json
task=$(val taskid)
deadline=$(val finalDeadline)
expect 0 "\"dealid\": \"$deal\"" -- "$T" task show "${C[@]}" "$task" --json
grep -q '"boost": true' "$D/out" && grep -q '"claimable": false' "$D/out" && grep -q '"idx": "0"' "$D/out" &&
	[ "$(val finalDeadline)" = "$deadline" ] && [ "$deadline" -gt 0 ] && ok || bad "Boost task show: $(cat "$D/out")"
expect 1 'is still open: it can be claimed after its final deadline, 20' -- "$T" task claim "${C[@]}" "$task" --account 4
rpc=$(sed -n 's/.*"rpc": *"\([^"]*\)".*/\1/p' "$D/chain/chain.json" | head -1)
rpc_call() { curl -s -H 'Content-Type: application/json' -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$rpc" >/dev/null; }
now=$(date +%s)
rpc_call evm_increaseTime "[$((deadline - now + 60))]" && rpc_call evm_mine '[]' || bad "evm_increaseTime"
expect 0 '"claimable": true' -- "$T" task show "${C[@]}" "$task" --json
expect 0 '"boost": true' -- "$T" task claim "${C[@]}" "$task" --account 4 --json
expect 0 '"status_name": "FAILED"' -- "$T" task show "${C[@]}" "$task" --json
expect 0 '"locked": "0"' -- "$T" account show "${C[@]}" "$requester" --json
expect 0 '"stake": "100000000000"' -- "$T" account show "${C[@]}" "$requester" --json
expect 1 'is FAILED already: nothing to claim' -- "$T" task claim "${C[@]}" "$task" --account 4
expect 1 'no Boost deal holds it' -- "$T" task show "${C[@]}" "0x$(printf '%064d' 5)"
# A classic deal (trust 0) that no scheduler initializes: shown by DEALID
# --index N, its deadline 10 reference durations of its category from its
# start, then claimed by initializeAndClaimArray.
"$T" order init app --set app="$app" --set appprice=1000000000 --set tag=tdx -o "$D/app5.json"
"$T" order sign app "$D/app5.json" "${C[@]}" --account 1 -o "$D/app5.json" >/dev/null
"$T" order init workerpool --set workerpool="$pool" --set workerpoolprice=4000000000 --set tag=tdx -o "$D/wp5.json"
"$T" order sign workerpool "$D/wp5.json" "${C[@]}" --account 3 -o "$D/wp5.json" >/dev/null
"$T" order init request --set app="$app" --set appmaxprice=1000000000 --set workerpool="$pool" \
	--set workerpoolmaxprice=4000000000 --set requester="$requester" --set beneficiary="$requester" \
	--set tag=tdx --set trust=0 --set 'params={"iexec_args":"hi"}' -o "$D/req5.json"
"$T" order sign request "$D/req5.json" "${C[@]}" --account 4 -o "$D/req5.json" >/dev/null
expect 0 '"boost": false' -- "$T" deal match "${C[@]}" --account 4 --app-order "$D/app5.json" \
	--workerpool-order "$D/wp5.json" --request-order "$D/req5.json" --json
cdeal=$(val dealid)
expect 0 '"status_name": "UNSET"' -- "$T" task show "${C[@]}" "$cdeal" --index 0 --json
ctask=$(val taskid)
cdeadline=$(val finalDeadline)
"$T" deal show "${C[@]}" "$cdeal" --json >"$D/cdeal.json"
start=$(sed -n 's/.*"startTime": "\([0-9]*\)".*/\1/p' "$D/cdeal.json")
[ "$cdeadline" -gt "$start" ] && [ $(((cdeadline - start) % 10)) = 0 ] && grep -q '"boost": false' "$D/out" && grep -q '"claimable": false' "$D/out" && ok ||
	bad "classic task show: start $start, $(cat "$D/out")"
expect 1 'not initialized on chain, and no Boost deal holds it' -- "$T" task show "${C[@]}" "$ctask"
expect 1 'is still open: it can be claimed after' -- "$T" task claim "${C[@]}" "$cdeal" --index 0 --account 4
now=$(date +%s)
rpc_call evm_increaseTime "[$((cdeadline - now + 60))]" && rpc_call evm_mine '[]' || bad "evm_increaseTime"
expect 0 '"boost": false' -- "$T" task claim "${C[@]}" "$cdeal" --index 0 --account 4 --json
expect 0 '"status_name": "FAILED"' -- "$T" task show "${C[@]}" "$ctask" --json
expect 0 '"locked": "0"' -- "$T" account show "${C[@]}" "$requester" --json
# A deal the requester cannot pay: the escrow's revert with the next step.
"$T" order init app --set app="$app" --set appprice=900000000000 --set tag=tdx -o "$D/app3.json"
"$T" order sign app "$D/app3.json" "${C[@]}" --account 1 -o "$D/app3.json" >/dev/null
"$T" order init workerpool --set workerpool="$pool" --set workerpoolprice=4000000000 --set tag=tdx -o "$D/wp3.json"
"$T" order sign workerpool "$D/wp3.json" "${C[@]}" --account 3 -o "$D/wp3.json" >/dev/null
"$T" order init request --set app="$app" --set appmaxprice=900000000000 --set workerpool="$pool" \
	--set workerpoolmaxprice=4000000000 --set requester="$requester" --set beneficiary="$requester" \
	--set tag=tdx --set 'params={"iexec_args":"hi"}' -o "$D/req3.json"
"$T" order sign request "$D/req3.json" "${C[@]}" --account 4 -o "$D/req3.json" >/dev/null
expect 1 "the escrow holds too little \\(Transfer amount exceeds balance\\): the requester's or the pool owner's account \\('tdexec account show ADDRESS' tells, 'tdexec account deposit AMOUNT' adds\\); matchOrdersBoost" -- \
	"$T" deal match "${C[@]}" --account 4 --app-order "$D/app3.json" --workerpool-order "$D/wp3.json" \
	--request-order "$D/req3.json"
expect 1 'no deal' -- "$T" deal show "${C[@]}" "0x$(printf '%064d' 7)"
# An app order signed by the wrong account is refused by PoCo with its reason.
"$T" order sign app "$D/app.json" "${C[@]}" --account 2 -o "$D/app-bad.json" >/dev/null
# The whole signature (376 characters) names the call.
expect 1 '^tdexec: matchOrdersBoost\(\(address,uint256,.*,address,address,string,bytes32,bytes\)\): eth_estimateGas: execution reverted: PocoBoost: Invalid app order signature' -- "$T" deal match "${C[@]}" --account 4 --app-order "$D/app-bad.json" \
	--workerpool-order "$D/wp.json" --request-order "$D/req.json" --boost

# The pool's orderbook (a real scheduler on loopback): only signed fields
# are kept, request params and publications are capped, and a signer keeps
# at most --max-orders-per-signer open orders of a kind.
P=$D/pool
mkdir -p "$P"
. "$(dirname "$0")/../../scripts/pool.sh"
C=(--chain "$D/chain/chain.json")
pool_start_td
SMS_URL=http://127.0.0.1:9 # never reached: no deal comes to this pool
pool_start_scheduler "$pool" 3 --max-orders-per-signer 3 || bad "scheduler"
# req FILE SIGNER-FLAGS...: a fresh signed request order of the signer
req() {
	local f=$1 who
	shift
	who=$("$T" wallet show "${C[@]}" "$@" --json | sed -n 's/.*"address": "\(.*\)".*/\1/p')
	"$T" order init request --set app="$app" --set workerpool="$pool" --set requester="$who" \
		--set beneficiary="$who" --set tag=tdx --set 'params={"iexec_args":"hi"}' -o "$f" &&
		"$T" order sign request "$f" "${C[@]}" "$@" -o "$f" >/dev/null
}
post() { curl -s -o "$D/out" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$1" "$SCHED_URL/orders/request"; }
dbsize() { cat "$P"/sched.db* | wc -c; }
throwaway=(--wallet "$D/w.json" --password-file "$D/pw")

# 8 MiB of params from a throwaway key: refused from the Content-Length,
# six times, and the database does not grow.
req "$D/r0.json" "${throwaway[@]}" || bad "request order of a throwaway key"
node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1])); o.params = "x".repeat(8 << 20);
	process.stdout.write(JSON.stringify(o))' "$D/r0.json" >"$D/big.json"
before=$(dbsize)
for _ in 1 2 3 4 5 6; do
	st=$(post "$D/big.json")
	[ "$st" = 413 ] && ok || bad "8 MiB request order: HTTP $st, want 413: $(head -c 200 "$D/out")"
done
grep -q 'too large' "$D/out" && ok || bad "8 MiB request order: unclear error: $(head -c 200 "$D/out")"
after=$(dbsize)
[ $((after - before)) -lt 65536 ] && ok || bad "the database grew from $before to $after bytes"
# Signed params past the cap (8 KiB) are refused by name.
"$T" order init request --set app="$app" --set requester="$addr" --set tag=tdx \
	--set "params=$(head -c 9000 /dev/zero | tr '\0' x)" -o "$D/r9k.json"
"$T" order sign request "$D/r9k.json" "${C[@]}" "${throwaway[@]}" -o "$D/r9k.json" >/dev/null
expect 1 'params is 9000 bytes, more than the 8192 allowed' -- \
	"$T" market publish request "$D/r9k.json" --market "$SCHED_URL"
# An unsigned field is not stored: the listing does not hold it.
sed 's/^{/{"note": "pay 0xdead", /' "$D/r0.json" >"$D/note.json"
st=$(post "$D/note.json")
[ "$st" = 200 ] && ok || bad "order with an unsigned field: HTTP $st: $(head -c 200 "$D/out")"
hash=$(sed -n 's/.*"orderHash": *"\([^"]*\)".*/\1/p' "$D/out")
[ -n "$hash" ] && ok || bad "no order hash: $(head -c 200 "$D/out")"
expect 0 "$hash" -- "$T" market list request --market "$SCHED_URL" --json
# without --json: a table, the order on a line of its own
expect 0 "^$hash +0x[0-9a-fA-F]{40} +[0-9]+ +[0-9]+ " -- "$T" market list request --market "$SCHED_URL"
grep -Eq '^ORDER +REQUESTER +MAX PRICE' "$W/out" && ok || bad "market list table header: $(head -c 200 "$W/out")"
grep -q 'note\|0xdead' "$D/out" && bad "the listing serves the unsigned field: $(grep -m1 note "$D/out")" || ok
chain_id=$(sed -n 's/.*"chain_id": *\([0-9]*\).*/\1/p' "$D/chain/chain.json" | head -1)
curl -s "$SCHED_URL/requestorders?chainId=$chain_id" >"$D/api.json"
grep -q "$hash" "$D/api.json" && ! grep -q 'note' "$D/api.json" && ok ||
	bad "the iExec listing: $(head -c 300 "$D/api.json")"
# The quota: the throwaway key has one open order; two more, then 429.
for i in 1 2; do
	req "$D/q$i.json" "${throwaway[@]}"
	expect 0 'published 0x' -- "$T" market publish request "$D/q$i.json" --market "$SCHED_URL"
done
req "$D/q3.json" "${throwaway[@]}"
st=$(post "$D/q3.json")
[ "$st" = 429 ] && ok || bad "past the quota: HTTP $st, want 429: $(head -c 200 "$D/out")"
grep -q '3 open request orders, the most a signer may have' "$D/out" && ok ||
	bad "past the quota: unclear error: $(head -c 300 "$D/out")"
# ... publishing the same order again is no new order
st=$(post "$D/q1.json")
[ "$st" = 200 ] && ok || bad "the same order again: HTTP $st: $(head -c 200 "$D/out")"
# ... another signer still publishes
req "$D/other.json" --account 4
expect 0 'published 0x' -- "$T" market publish request "$D/other.json" --market "$SCHED_URL"
# A cancelled order no longer counts.
for i in 1 2 3; do
	req "$D/c$i.json" --account 5
	"$T" market publish request "$D/c$i.json" --market "$SCHED_URL" >/dev/null 2>&1 || bad "publish c$i"
done
req "$D/c4.json" --account 5
expect 1 '429' -- "$T" market publish request "$D/c4.json" --market "$SCHED_URL"
expect 0 '"cancelled": true' -- "$T" order cancel request "$D/c2.json" "${C[@]}" --account 5 --json
expect 0 'published 0x' -- "$T" market publish request "$D/c4.json" --market "$SCHED_URL"
# Orders from keys with no stake (anyone can make such keys by the
# thousand) share one bound for the whole book: with room for one more,
# a new unfunded requester publishes, the next is refused and told to
# deposit, and once it has deposited its order is published.
unfunded() { sqlite3 "$P/sched.db" "SELECT count(*) FROM orders WHERE unfunded = 1 AND closed = 0"; }
n=$(unfunded)
[ "$n" -ge 3 ] && ok || bad "orders of throwaway keys not marked unfunded: $n"
kill "$SCHED_PID" 2>/dev/null
wait "$SCHED_PID" 2>/dev/null
pool_start_scheduler "$pool" 3 --max-orders-per-signer 3 --max-unfunded-orders $((n + 1)) || bad "scheduler"
req "$D/u6.json" --account 6
expect 0 'published 0x' -- "$T" market publish request "$D/u6.json" --market "$SCHED_URL"
req "$D/u7.json" --account 7
st=$(post "$D/u7.json")
[ "$st" = 429 ] && grep -q "stake does not cover one task; deposit first" "$D/out" && ok ||
	bad "past the unfunded bound: HTTP $st: $(head -c 300 "$D/out")"
"$T" account deposit "${C[@]}" --account 7 1000 >/dev/null 2>&1 || bad "deposit"
expect 0 'published 0x' -- "$T" market publish request "$D/u7.json" --market "$SCHED_URL"
[ "$(unfunded)" = $((n + 1)) ] && ok || bad "unfunded orders: $(unfunded), want $((n + 1))"
kill "$SCHED_PID" 2>/dev/null
wait "$SCHED_PID" 2>/dev/null
SCHED_PID=

# The native flavour: the chain's coin is the escrow currency.
"$T" chain up --dir "$D/native" --port 0 --flavour native >/dev/null 2>&1 || bad "chain up --flavour native"
N=(--chain "$D/native/chain.json")
expect 0 '"stake": "5000000000"' -- "$T" account deposit "${N[@]}" --account 2 5000000000 --json
expect 0 '"stake": "3000000000"' -- "$T" account withdraw "${N[@]}" --account 2 2000000000 --json
"$T" chain down --dir "$D/native" >/dev/null 2>&1

finish
