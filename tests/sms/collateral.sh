#!/usr/bin/env bash
# Collateral that stays fresh, on real SMSes whose clock is moved with
# libfaketime (the chain's with evm_increaseTime): past the collateral's
# nextUpdate, an SMS given a directory re-reads it, logs the refresh, shows
# it in /status and /metrics and still admits a TD; one given a PCS URL (a
# PCS-compatible server on loopback) fetches the platform for the first
# quote and again once it nears its end; one given a plain file refuses with
# an error that names the missing refresh source.
# Usage: collateral.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	"$T" chain down --dir "$W/chain" >/dev/null 2>&1; rm -rf "$W"' EXIT
. "$HERE/../lib.sh"

FT=$(ls /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
[ -n "$FT" ] || { echo "FAIL: libfaketime is not installed (scripts/install-deps)"; exit 1; }

"$T" chain up --dir "$W/chain" --port 0 >/dev/null 2>&1 || { echo "FAIL: chain up"; exit 1; }
C=(--chain "$W/chain/chain.json")
rpc=$(sed -n 's/.*"rpc": "\(.*\)".*/\1/p' "$W/chain/chain.json")
app=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name app --json \
	--image "docker.io/library/app@sha256:$(printf 'app' | sha256sum | cut -d' ' -f1)" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description pool --json | addr)
requester=$("$T" wallet show "${C[@]}" --account 4 --json | addr)
deal() { # -> the id of a new TDX deal
	"$T" order init app --set app="$app" --set tag=tdx -o "$W/a.json" &&
	"$T" order sign app "$W/a.json" "${C[@]}" --account 1 -o "$W/a.json" >/dev/null &&
	"$T" order init workerpool --set workerpool="$pool" --set tag=tdx -o "$W/p.json" &&
	"$T" order sign workerpool "$W/p.json" "${C[@]}" --account 3 -o "$W/p.json" >/dev/null &&
	"$T" order init request --set app="$app" --set workerpool="$pool" --set tag=tdx \
		--set requester="$requester" --set beneficiary="$requester" \
		--set "params=$(date +%s%N)" -o "$W/r.json" &&
	"$T" order sign request "$W/r.json" "${C[@]}" --account 4 -o "$W/r.json" >/dev/null &&
	"$T" deal match "${C[@]}" --account 4 --app-order "$W/a.json" --workerpool-order "$W/p.json" \
		--request-order "$W/r.json" --boost --json | sed -n 's/.*"dealid": "\(.*\)".*/\1/p'
}

# A simulated TD with 30 days of collateral; the SMS reads a copy of its
# collateral directory (which an operator's job would keep current).
"$T" sim init --days 30 "$W/td" >/dev/null || bad "sim init"
m() { json_str "$W/td/td.json" "$1"; }
printf '{"measurements": {"MRTD": "%s", "RTMR0": "%s", "RTMR1": "%s", "RTMR2": "%s"}}\n' \
	"$(m MRTD)" "$(m RTMR0)" "$(m RTMR1)" "$(m RTMR2)" >"$W/policy.json"
cp -r "$W/td/collateral" "$W/coll"
cp "$W/td/collateral/collateral.json" "$W/plain.json"

# The PCS serves $W/td/collateral as it is at each request.  Its stdin is a
# pipe we hold open: closing it stops the server.
mkfifo "$W/pcs.in"
node "$HERE/../pcs/pcs_server.js" "$W/td" <"$W/pcs.in" >"$W/pcs.port" 2>"$W/pcs.err" &
PIDS+=($!)
exec 3>"$W/pcs.in"
for _ in $(seq 50); do grep -q port "$W/pcs.port" 2>/dev/null && break; sleep 0.1; done
PCS="http://127.0.0.1:$(sed -n 's/^port //p' "$W/pcs.port")"
requests() { curl -s "$PCS/stats"; }

# Both SMSes run under libfaketime with an offset read from $W/clock: the
# real clock at first.  The monotonic clock is left alone.
echo "+0" >"$W/clock"
start_sms() { # NAME COLLATERAL
	rm -f "$W/$1.port"
	LD_PRELOAD="$FT" FAKETIME_TIMESTAMP_FILE="$W/clock" FAKETIME_CACHE_DURATION=1 \
		FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0" \
		XDG_CACHE_HOME="$W/xdg" "$T" sms --port 0 --port-file "$W/$1.port" --db "$W/$1.db" --master-key "$W/$1.key" \
		"${C[@]}" --collateral "$2" --trust-sim-root "$W/td/root_ca.pem" \
		--policy "$W/policy.json" 2>>"$W/$1.log" &
	PIDS+=($!)
	for _ in $(seq 200); do [ -s "$W/$1.port" ] && break; sleep 0.05; done
	[ -s "$W/$1.port" ] && ok || bad "$1 did not start: $(cat "$W/$1.log")"
}
start_sms dir "$W/coll"
start_sms plain "$W/plain.json"
start_sms pcs "$PCS"
DIR_URL="http://127.0.0.1:$(cat "$W/dir.port")"
PCS_URL="http://127.0.0.1:$(cat "$W/pcs.port")"
PLAIN_URL="http://127.0.0.1:$(cat "$W/plain.port")"
admit() { node "$HERE/admit.js" "$1" "$W/chain/chain.json" "$(deal)" "$T" "$W/td" "$2"; }

# Today: both admit; /status and /metrics say about 30 days are left.
admit "$DIR_URL" 200 >"$W/out" 2>&1 && ok || bad "dir: admission now: $(cat "$W/out")"
admit "$PLAIN_URL" 200 >"$W/out" 2>&1 && ok || bad "plain: admission now: $(cat "$W/out")"
# The PCS SMS holds nothing at start; the first quote fetches its platform
# (4 requests), the second is served from what it holds.
[ "$(requests)" = 0 ] && ok || bad "pcs: requests before any quote: $(requests)"
admit "$PCS_URL" 200 >"$W/out" 2>&1 && ok || bad "pcs: admission now: $(cat "$W/out") $(tail -3 "$W/pcs.log")"
admit "$PCS_URL" 200 >"$W/out" 2>&1 && ok || bad "pcs: second admission: $(cat "$W/out")"
[ "$(requests)" = 4 ] && ok || bad "pcs: 4 requests expected, got $(requests)"
grep -q 'event=collateral.fetch who=sms.attest fmspc=53494d000000 ca=platform' "$W/pcs.log" &&
	ok || bad "pcs: fetch not logged"
[ -f "$W/xdg/tdexec/pcs/tdx-53494d000000-platform.json" ] && ok || bad "pcs: nothing cached"
left() { node -e "const p=JSON.parse(require('fs').readFileSync(0)).collateral.platforms[0];
	console.log(p.fmspc, p.seconds_left, p.refreshes, p.next_update)"; }
curl -s "$DIR_URL/status" | left >"$W/st" 2>&1
read -r fmspc secs refreshes next0 <"$W/st"
[ "$fmspc" = 53494d000000 ] && [ "$secs" -gt $((29 * 86400)) ] && [ "$secs" -le $((30 * 86400)) ] &&
	ok || bad "status now: $(cat "$W/st")"
curl -s "$DIR_URL/metrics" | grep -Eq '^tdexec_collateral_seconds_left\{fmspc="53494d000000",ca="platform"\} [0-9]+$' &&
	ok || bad "metrics gauge: $(curl -s "$DIR_URL/metrics" | grep collateral)"

# Intel publishes new collateral; the operator's directory gets it.  Then
# 40 days pass, for the SMSes and for the chain.
now=$(date +%s)
"$T" sim collateral --days 30 --at $((now + 40 * 86400 - 3600)) "$W/td" >/dev/null || bad "reissue"
cp "$W/td/collateral/"* "$W/coll/"
curl -s -H 'Content-Type: application/json' "$rpc" \
	-d '{"jsonrpc":"2.0","id":1,"method":"evm_increaseTime","params":[3456000]}' >/dev/null
curl -s -H 'Content-Type: application/json' "$rpc" \
	-d '{"jsonrpc":"2.0","id":2,"method":"evm_mine","params":[]}' >/dev/null
echo "+40d" >"$W/clock"

# The directory SMS notices within its tick (5 s of the monotonic clock)
# and swaps the new set in.
for _ in $(seq 120); do
	curl -s "$DIR_URL/status" | left >"$W/st" 2>&1
	read -r fmspc secs refreshes next1 <"$W/st"
	[ "$next1" != "$next0" ] && break
	sleep 0.5
done
[ "$next1" != "$next0" ] && [ "$secs" -gt $((29 * 86400)) ] && ok ||
	bad "no refresh after the clock moved: $(cat "$W/st") $(tail -5 "$W/dir.log")"
grep -Eq 'event=collateral.refresh who=sms.attest fmspc=53494d000000 ca=platform changed=1 .*next_update=' "$W/dir.log" &&
	ok || bad "refresh not logged: $(grep collateral "$W/dir.log")"
admit "$DIR_URL" 200 >"$W/out" 2>&1 && ok || bad "dir: admission after 40 days: $(cat "$W/out") $(tail -3 "$W/dir.log")"

# The PCS SMS fetched the new set (4 more requests) and admits.
for _ in $(seq 120); do [ "$(requests)" = 8 ] && break; sleep 0.5; done
[ "$(requests)" = 8 ] && ok || bad "pcs: no refetch after the clock moved: $(requests) requests"
for _ in $(seq 20); do grep -q 'event=collateral.refresh who=sms.attest .*changed=1' "$W/pcs.log" && break; sleep 0.5; done
admit "$PCS_URL" 200 >"$W/out" 2>&1 && ok || bad "pcs: admission after 40 days: $(cat "$W/out") $(tail -3 "$W/pcs.log")"

# The plain file: nothing to refresh from, an explicit refusal.
admit "$PLAIN_URL" 403 >"$W/out" 2>&1 && ok || bad "plain: admitted after expiry: $(cat "$W/out")"
grep -q 'collateral for FMSPC 53494d000000 expired at .*; no refresh source: give --collateral a PCS URL, cache or directory' "$W/plain.log" &&
	ok || bad "plain: error not explicit: $(tail -3 "$W/plain.log")"
curl -s "$PLAIN_URL/status" | node -e "const c=JSON.parse(require('fs').readFileSync(0)).collateral;
	process.exit(c.refreshable === false && c.platforms[0].seconds_left < 0 ? 0 : 1)" &&
	ok || bad "plain status: $(curl -s "$PLAIN_URL/status")"
for _ in $(seq 40); do grep -q 'event=collateral.expired' "$W/plain.log" && break; sleep 0.5; done
grep -q 'level=error event=collateral.expired who=sms.attest fmspc=53494d000000' "$W/plain.log" &&
	ok || bad "plain: expiry not logged"
finish
