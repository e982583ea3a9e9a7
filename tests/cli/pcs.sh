#!/usr/bin/env bash
# Collateral from a PCS-compatible server on loopback, and the cache:
# fetch, reuse while fresh, serve stale-but-valid when the server is gone,
# refuse when expired and unreachable.
# Usage: pcs.sh TDEXEC_BINARY TEST_DIR(source tests/)
set -u
T=$1
TESTS=$2
W=$(mktemp -d)
. "$(dirname "$0")/../lib.sh"
cleanup() { exec 3>&- 2>/dev/null; [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

AT=1751000000
"$T" sim init --at $AT "$W/sim" >/dev/null
"$T" quote get --provider sim --sim-dir "$W/sim" --report-data 01 -o "$W/q.dat"

# The server's stdin is a pipe we hold open: closing it stops the server.
mkfifo "$W/in"
node "$TESTS/pcs/pcs_server.js" "$W/sim" <"$W/in" >"$W/port" 2>"$W/srv.err" &
SRV=$!
exec 3>"$W/in"
for _ in $(seq 50); do grep -q port "$W/port" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^port //p' "$W/port")
[ -n "$PORT" ] || { echo "FAIL: server did not start: $(cat "$W/srv.err")"; exit 1; }
URL="http://127.0.0.1:$PORT"

requests() { node -e "require('http').get('$URL/stats',r=>{let d='';r.on('data',c=>d+=c);r.on('end',()=>console.log(d))})"; }

C="$W/cache"
if "$T" collateral fetch --pcs "$URL" --quote "$W/q.dat" --cache "$C" --at $((AT + 60)) -o "$W/c.json" --json \
	>"$W/fetch.json" 2>"$W/err"; then ok; else bad "fetch: $(cat "$W/err")"; fi
# --json: what was fetched, the hash of what was written
jq -e --arg o "$W/c.json" '.source == "pcs" and (.fmspc | ascii_downcase) == "53494d000000" and .output == $o
	and (.sha256 | test("^[0-9a-f]{64}$")) and (.tcbInfo.nextUpdate | length > 0)
	and (.qeIdentity.issueDate | length > 0)' "$W/fetch.json" >/dev/null && ok || bad "fetch --json: $(cat "$W/fetch.json")"
grep -q 'fetched and cached' "$W/err" && ok || bad "first fetch should fetch"
[ -f "$C/tdx-53494d000000-platform.json" ] && ok || bad "cache file"
[ "$(requests)" = 4 ] && ok || bad "4 requests expected, got $(requests)"
# The written file is collateral a verifier reads.
"$T" quote verify "$W/q.dat" --collateral "$W/c.json" --trust-sim-root "$W/sim/root_ca.pem" \
	--at $((AT + 60)) >/dev/null 2>&1 && ok || bad "verify with fetched collateral"
# Fresh: the cache answers, no request.
"$T" collateral fetch --pcs "$URL" --quote "$W/q.dat" --cache "$C" --at $((AT + 120)) --json >"$W/fetch2.json" \
	2>"$W/err" && ok || bad "refetch"
jq -e --slurpfile a "$W/fetch.json" '.source == "cache" and .sha256 == $a[0].sha256 and .output == null' \
	"$W/fetch2.json" >/dev/null && ok || bad "refetch --json: $(cat "$W/fetch2.json")"
grep -q 'from the cache' "$W/err" && ok || bad "second fetch should use the cache"
[ "$(requests)" = 4 ] && ok || bad "cache hit made requests"
# quote verify --pcs goes through the same cache.
out=$("$T" quote verify "$W/q.dat" --pcs "$URL" --cache "$C" --trust-sim-root "$W/sim/root_ca.pem" \
	--at $((AT + 180)) 2>&1) && ok || bad "verify --pcs: $out"
# Near expiry (30-day validity, last tenth): refreshed from the server.
"$T" collateral fetch --pcs "$URL" --fmspc 53494D000000 --cache "$C" --at $((AT + 28 * 86400)) 2>"$W/err" && ok || bad "refresh"
grep -q 'fetched' "$W/err" && ok || bad "refresh should fetch"
[ "$(requests)" = 8 ] && ok || bad "refresh should make 4 requests, got $(requests)"
# An unknown platform: the server's 404 reaches the user.
"$T" collateral fetch --pcs "$URL" --fmspc 00906ED50000 --cache "$C" 2>"$W/err" && bad "unknown fmspc fetched" || ok
grep -q 'HTTP 404' "$W/err" && ok || bad "404 message: $(cat "$W/err")"
"$T" collateral fetch --pcs "$URL" --fmspc 00906ED50000 --cache "$C" --json >"$W/e.json" 2>/dev/null
[ $? = 1 ] && jq -e '.code == 1 and (.error | test("HTTP 404"))' "$W/e.json" >/dev/null && ok ||
	bad "fetch --json error: $(cat "$W/e.json")"

# Server gone: stale-but-valid entries still serve, expired ones do not.
exec 3>&-
wait "$SRV" 2>/dev/null
SRV=
"$T" collateral fetch --pcs "$URL" --fmspc 53494D000000 --cache "$C" --at $((AT + 30 * 86400 - 3600)) 2>"$W/err" && ok || bad "stale fetch: $(cat "$W/err")"
grep -q "pcs.stale" "$W/err" && ok || bad "stale warning: $(cat "$W/err")"
"$T" collateral fetch --pcs "$URL" --fmspc 53494D000000 --cache "$C" --at $((AT + 40 * 86400)) 2>"$W/err" && bad "expired served" || ok
grep -q "$URL" "$W/err" && ok || bad "unreachable message: $(cat "$W/err")"
# A corrupt cache file is refetched (and here, with no server, an error) - never a crash.
echo '{broken' >"$C/tdx-53494d000000-platform.json"
"$T" collateral fetch --pcs "$URL" --fmspc 53494D000000 --cache "$C" --at $((AT + 60)) 2>"$W/err"
[ $? = 1 ] && ok || bad "corrupt cache exit code"

finish
