#!/usr/bin/env bash
# The marketplace from the command line on a fresh local chain: wallets,
# assets, escrow, orders signed and cancelled, a matched TDX deal (Boost),
# and clear errors for bad input.
# Usage: market.sh TDEXEC
set -u
T=$1
D=$(mktemp -d)
trap '"$T" chain down --dir "$D/chain" >/dev/null 2>&1; "$T" chain down --dir "$D/native" >/dev/null 2>&1; rm -rf "$D"' EXIT
W=$D
. "$(dirname "$0")/../lib.sh"
val() { sed -n "s/.*\"$1\": \"\\([^\"]*\\)\".*/\\1/p" "$D/out" | head -1; }

"$T" chain up --dir "$D/chain" --port 0 >/dev/null 2>&1 || { echo "FAIL: chain up"; exit 1; }
C=(--chain "$D/chain/chain.json")

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
expect 0 '"address"' -- "$T" app deploy "${C[@]}" --account 1 --name hello \
	--image "docker.io/library/hello@sha256:$digest" --tdx-policy "$D/policy.json" --json
app=$(val address)
expect 0 "\"checksum\": \"0x$digest\"" -- "$T" app show "${C[@]}" "$app" --json
grep -q '"framework\\":\\"TDX' "$D/out" && ok || bad "app mrenclave holds the TDX configuration: $(cat "$D/out")"
expect 0 '"address"' -- "$T" workerpool deploy "${C[@]}" --account 3 --description "tdexec pool" --json
pool=$(val address)
expect 0 'tdexec pool' -- "$T" workerpool show "${C[@]}" "$pool"
expect 2 'must be NAME@sha256:DIGEST' -- "$T" app deploy "${C[@]}" --account 1 --name x --image hello:latest

# Escrow
expect 0 '"stake": "100000000000"' -- "$T" account deposit "${C[@]}" --account 4 100000000000 --json
expect 0 '"stake": "10000000000"' -- "$T" account deposit "${C[@]}" --account 3 10000000000 --json
expect 1 'exceeds balance|revert' -- "$T" account withdraw "${C[@]}" --account 5 1
expect 2 'expected one amount' -- "$T" account deposit "${C[@]}" --account 4 lots

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
expect 2 'has no field "colour"' -- "$T" order init app --set colour=blue

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
expect 2 'expected one deal id' -- "$T" deal show "${C[@]}" 0x1234
expect 1 'no deal' -- "$T" deal show "${C[@]}" "0x$(printf '%064d' 7)"
# An app order signed by the wrong account is refused by PoCo with its reason.
"$T" order sign app "$D/app.json" "${C[@]}" --account 2 -o "$D/app-bad.json" >/dev/null
expect 1 'PocoBoost: Invalid app order signature' -- "$T" deal match "${C[@]}" --account 4 --app-order "$D/app-bad.json" \
	--workerpool-order "$D/wp.json" --request-order "$D/req.json" --boost

# The native flavour: the chain's coin is the escrow currency.
"$T" chain up --dir "$D/native" --port 0 --flavour native >/dev/null 2>&1 || bad "chain up --flavour native"
N=(--chain "$D/native/chain.json")
expect 0 '"stake": "5000000000"' -- "$T" account deposit "${N[@]}" --account 2 5000000000 --json
expect 0 '"stake": "3000000000"' -- "$T" account withdraw "${N[@]}" --account 2 2000000000 --json
"$T" chain down --dir "$D/native" >/dev/null 2>&1

finish
