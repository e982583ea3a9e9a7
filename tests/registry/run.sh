#!/usr/bin/env bash
# tdexec image pull / app inspect / app deploy's check against a fake
# registry on loopback (fake_registry.js): the Bearer token flow, Basic
# credentials from a docker config.json, no Authorization to the blob CDN,
# a download cut halfway resumed with Range, a tampered blob and an
# oversize blob refused and not kept, an index without linux/amd64 refused
# listing its platforms, plain HTTP only where opted in, concurrent pulls
# of one image into one store.
# Usage: run.sh TDEXEC_BINARY
set -u
T=$1
W=$(mktemp -d)
. "$(dirname "$0")/../lib.sh"
cleanup() {
	[ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null
	[ -n "${SRV2:-}" ] && kill "$SRV2" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

node "$(dirname "$0")/fake_registry.js" "$W" 2>"$W/srv.err" &
SRV=$!
for _ in $(seq 100); do [ -s "$W/ports" ] && break; sleep 0.1; done
read -r RP CP <"$W/ports" || { echo "FAIL: registry did not start: $(cat "$W/srv.err")"; exit 1; }
R=127.0.0.1:$RP
# what each repository should pull as, read once (a node start is slow on
# a loaded machine)
declare -A DG
while read -r k v; do DG[$k]=$v; done < <(node -e "const d = require('$W/digests.json'); for (const k in d) console.log(k, d[k])")
dg() { echo "${DG[$1]}"; }
echo '{}' >"$W/none.json"
# plain HTTP for the registry and its CDN, opted in; no credentials
P=(--registry-plain-http "$R" --registry-plain-http "127.0.0.1:$CP" --registry-auth "$W/none.json")
L="$W/L"
blob() { echo "$L/blobs/sha256/${1#sha256:}"; }
reqs() { grep -c "$1" "$W/requests.log"; }

# 1. A two-platform image by tag: the token flow, the index digest printed,
#    the amd64 image's blobs in the store, index.json naming it.
expect 0 "^$(dg app)\$" -- "$T" --log-level info image pull "$R/app:latest" --layout "$L" "${P[@]}"
grep -q 'resume=1572864 total=3145728' "$W/out" && ok || bad "no resume line: $(grep resume "$W/out")"
grep -q 'event=image.pull ref=.*rate_mib_s=' "$W/out" && ok || bad "no final rate line"
grep -q '"server":"registry","method":"GET","path":"/token?service=fake-registry&scope=repository%3Aapp%3Apull","auth":null' \
	"$W/requests.log" && ok || bad "no anonymous token request"
# Authorization went to the registry (Bearer), never to the CDN
[ "$(grep '"server":"cdn"' "$W/requests.log" | grep -vc '"auth":null')" = 0 ] && ok ||
	bad "Authorization sent to the CDN: $(grep '"server":"cdn"' "$W/requests.log" | grep -v '"auth":null')"
[ "$(grep -c '"server":"cdn"' "$W/requests.log")" -ge 5 ] && ok || bad "blobs not fetched from the CDN"
# the cut blob: a second request with Range, answered from where it stopped
grep '"server":"cdn"' "$W/requests.log" | grep -q "$(dg app_big_layer | cut -c8-20).*\"range\":\"bytes=1572864-\"" &&
	ok || bad "no Range request after the cut"
for d in "$(dg app)" "$(dg app_manifest)" "$(dg app_big_layer)"; do
	[ "$(sha256sum <"$(blob "$d")" | cut -d' ' -f1)" = "${d#sha256:}" ] && ok || bad "blob $d missing or wrong"
done
ls "$L"/blobs/sha256/*.partial >/dev/null 2>&1 && bad "a .partial left behind" || ok
grep -q "\"org.opencontainers.image.ref.name\": \"$R/app:latest\"" "$L/index.json" && ok || bad "index.json: $(cat "$L/index.json")"
grep -q '"imageLayoutVersion"' "$L/oci-layout" && ok || bad "no oci-layout"

# 2. Again by digest: nothing downloaded again, every blob re-verified.
n=$(reqs '"server":"cdn"')
expect 0 "\"digest\": \"$(dg app)\"" -- "$T" --log-level info image pull "$R/app@$(dg app)" --layout "$L" "${P[@]}" --json
[ "$(grep -c 'cached=1' "$W/out")" = 4 ] && ok || bad "blobs not reused: $(cat "$W/out")"
[ "$(reqs '"server":"cdn"')" = "$n" ] && ok || bad "blobs downloaded again"
#    A blob changed in the store is noticed and fetched again.
printf 'x' >>"$(blob "$(dg app_big_layer)")"
expect 0 "store=mismatch action=remove" -- "$T" --log-level info image pull "$R/app:latest" --layout "$L" "${P[@]}"
[ "$(sha256sum <"$(blob "$(dg app_big_layer)")" | cut -d' ' -f1)" = "$(dg app_big_layer | cut -c8-)" ] && ok ||
	bad "the damaged blob was not replaced"

# 3. inspect, from the registry and from the layout
expect 0 '"digest": "'"$(dg app)"'"' -- "$T" app inspect "$R/app:latest" "${P[@]}" --json
for pat in '"platform": "linux/arm64/v8"' '"platform": "linux/amd64"' '"layers": 3' '"compressedSize": 3149924' \
	'"/bin/app"' '"MODE=app"' '"workingDir": "/srv"' '"user": "1000:1000"'; do
	grep -qF "$pat" "$W/out" && ok || bad "inspect lacks $pat: $(cat "$W/out")"
done
expect 0 "manifest +$(dg app_manifest)" -- "$T" app inspect "$R/app:latest" --layout "$L"
expect 0 "entrypoint +/bin/app" -- "$T" app inspect "$R/app@$(dg app)" --layout "$L"

# 4. Plain HTTP is never a fallback: the CDN without its opt-in is refused.
expect 1 "plain HTTP to 127.0.0.1:$CP is not allowed" -- \
	"$T" image pull "$R/app:latest" --layout "$W/L2" --registry-plain-http "$R" --registry-auth "$W/none.json"

# 5. Credentials: the private repository's token needs them.
expect 1 "token from http://127.0.0.1:$RP: HTTP 401 \(credentials needed\)" -- \
	"$T" image pull "$R/private:v1" --layout "$L" "${P[@]}"
user=$(dg user) pw=$(dg password)
printf '{"auths":{"%s":{"auth":"%s"}}}' "$R" "$(printf '%s:%s' "$user" "$pw" | base64 -w0)" >"$W/auth.json"
expect 0 "^$(dg private)\$" -- "$T" image pull "$R/private:v1" --layout "$L" "${P[@]}" --registry-auth "$W/auth.json"
grep -q '"server":"registry","method":"GET","path":"/token?service=fake-registry&scope=repository%3Aprivate%3Apull","auth":"Basic"' \
	"$W/requests.log" && ok || bad "no Basic credentials to the realm"
#    username/password, found through $REGISTRY_AUTH_FILE
rm -f "$(blob "$(dg private)")"
printf '{"auths":{"http://%s":{"username":"%s","password":"%s"}}}' "$R" "$user" "$pw" >"$W/auth2.json"
expect 0 "^$(dg private)\$" -- env REGISTRY_AUTH_FILE="$W/auth2.json" \
	"$T" image pull "$R/private:v1" --layout "$L" --registry-plain-http "$R" --registry-plain-http "127.0.0.1:$CP"
#    credentials saved for the host without a port are not for host:port
#    (they are for its port 443, as docker reads them)
printf '{"auths":{"127.0.0.1":{"auth":"%s"}}}' "$(printf '%s:%s' "$user" "$pw" | base64 -w0)" >"$W/noport.json"
expect 1 "HTTP 401 \(credentials needed\)" -- "$T" image pull "$R/private:v1" --layout "$W/L7" "${P[@]}" --registry-auth "$W/noport.json"
#    a credential helper is out of scope, and says so
printf '{"credsStore":"desktop"}' >"$W/helper.json"
expect 1 "HTTP 401 \(credentials needed\); .*credential helper" -- \
	"$T" image pull "$R/private:v1" --layout "$L" "${P[@]}" --registry-auth "$W/helper.json"
#    ... which does not stand in the way of anonymous pulls
expect 0 "^$(dg app)\$" -- "$T" image pull "$R/app:latest" --layout "$L" "${P[@]}" --registry-auth "$W/helper.json"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$R" "$(printf '%s:%s' "$user" nope | base64 -w0)" >"$W/wrong.json"
expect 1 "HTTP 401 \(credentials refused\)" -- "$T" image pull "$R/private:v1" --layout "$L" "${P[@]}" --registry-auth "$W/wrong.json"
expect 1 "no such file" -- "$T" image pull "$R/private:v1" --layout "$L" "${P[@]}" --registry-auth "$W/absent.json"
#    no credentials or tokens in what the client prints
"$T" --log-level debug image pull "$R/private:v1" --layout "$W/L3" "${P[@]}" --registry-auth "$W/auth.json" >"$W/dbg" 2>&1
grep -qF -e "$pw" -e "$(printf '%s:%s' "$user" "$pw" | base64 -w0)" "$W/dbg" && bad "a credential in the log" || ok

# 6. Refusals, each leaving nothing in the store.
expect 1 "blob $(dg tampered_layer) from $R does not match its digest" -- \
	"$T" image pull "$R/tampered:latest" --layout "$L" "${P[@]}"
[ ! -e "$(blob "$(dg tampered_layer)")" ] && [ ! -e "$(blob "$(dg tampered_layer)").partial" ] && ok ||
	bad "the tampered blob was kept"
[ ! -e "$(blob "$(dg tampered)")" ] && ok || bad "the tampered image's manifest was stored"
expect 1 "more bytes than the 5000 expected" -- "$T" image pull "$R/oversize:latest" --layout "$L" "${P[@]}"
[ ! -e "$(blob "$(dg oversize_layer)")" ] && ok || bad "the oversize blob was kept"
#    a layer whose every download dies: the pull fails after its retries
#    and leaves no .partial behind (kept only between the retries)
expect 1 "blob $(dg dies_layer) from $R" -- "$T" image pull "$R/dies:latest" --layout "$L" "${P[@]}"
[ "$(grep -c "$(dg dies_layer | cut -c8-20).*\"range\":\"bytes=" "$W/requests.log")" -ge 1 ] && ok ||
	bad "the dying layer was not resumed between retries"
[ ! -e "$(blob "$(dg dies_layer)").partial" ] && [ ! -e "$(blob "$(dg dies_layer)")" ] && ok ||
	bad "a failed pull left $(ls "$L/blobs/sha256/" | grep partial)"
expect 1 "no linux/amd64 manifest \(platforms: linux/arm64/v8, linux/s390x\)" -- \
	"$T" image pull "$R/armonly:latest" --layout "$L" "${P[@]}"
expect 1 "over 1 MiB compressed \(--max-image-size\)" -- \
	"$T" image pull "$R/app:latest" --layout "$W/L4" "${P[@]}" --max-image-size 1
expect 1 "not found" -- "$T" image pull "$R/app:nosuchtag" --layout "$L" "${P[@]}"
#    a registry's error body is shown as it was sent, no more (the buffer
#    holding it has no NUL after it), and only printable ASCII leaves
expect 1 "manifest latest: HTTP 403 x\$" -- "$T" image pull "$R/denied:latest" --layout "$L" "${P[@]}"
expect 1 'manifest latest: HTTP 403 b\\xff\\x1b\\xc3$' -- "$T" image pull "$R/garbled:latest" --layout "$L" "${P[@]}"
#    a registry trickling bytes (never slow enough for a stall) is given
#    up at the pull's deadline, in seconds not days
s0=$SECONDS
expect 1 "pull deadline of 2 s passed" -- "$T" image pull "$R/trickle:latest" --layout "$L" "${P[@]}" --pull-timeout 2
[ $((SECONDS - s0)) -lt 30 ] && ok || bad "--pull-timeout 2 took $((SECONDS - s0)) s"
expect 1 "pull-timeout" -- "$T" image pull "$R/app:latest" --layout "$L" --pull-timeout 0
expect 1 "expected one image reference" -- "$T" image pull --layout "$L"
expect 1 "bad name component 'App'" -- "$T" image pull "$R/App:1" --layout "$L"
expect 1 "the digest must be sha256: and 64" -- "$T" image pull "$R/app@sha256:abc" --layout "$L"

# 7. Two pulls of one image into one new store at once: both succeed, the
#    store is whole.
"$T" image pull "$R/app@$(dg app)" --layout "$W/L5" "${P[@]}" >"$W/p1" 2>&1 &
p1=$!
"$T" image pull "$R/app@$(dg app)" --layout "$W/L5" "${P[@]}" >"$W/p2" 2>&1
r2=$?
wait $p1
r1=$?
[ "$r1.$r2" = 0.0 ] && ok || bad "concurrent pulls: $r1 $r2 $(cat "$W/p1" "$W/p2")"
for f in "$W/L5"/blobs/sha256/*; do
	[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad "concurrent pulls: $f is wrong"
done
[ "$(ls "$W/L5/blobs/sha256" | wc -l)" = 6 ] && ok || bad "concurrent pulls: $(ls "$W/L5/blobs/sha256")"

# 8. TLS with a CA of the test's own: trusted with --registry-ca only (the
#    CDN stays plain HTTP, opted in).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=test-ca \
	-keyout "$W/ca.key" -out "$W/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
	-keyout "$W/srv.key" -out "$W/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$W/ext"
openssl x509 -req -in "$W/srv.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial -days 2 \
	-extfile "$W/ext" -out "$W/srv.pem" 2>/dev/null
mkdir "$W/tls"
node "$(dirname "$0")/fake_registry.js" "$W/tls" "$W/srv.pem" "$W/srv.key" 2>"$W/tls.err" &
SRV2=$!
for _ in $(seq 100); do [ -s "$W/tls/ports" ] && break; sleep 0.1; done
read -r TP TC <"$W/tls/ports" || bad "TLS registry did not start: $(cat "$W/tls.err")"
expect 1 "127.0.0.1:$TP.*(certificate|SSL)" -- "$T" image pull "127.0.0.1:$TP/app:latest" --layout "$W/L6" \
	--registry-plain-http "127.0.0.1:$TC" --registry-auth "$W/none.json"
expect 0 "^$(dg app)\$" -- "$T" image pull "127.0.0.1:$TP/app:latest" --layout "$W/L6" \
	--registry-plain-http "127.0.0.1:$TC" --registry-auth "$W/none.json" --registry-ca "$W/ca.pem"
kill "$SRV2"

# 9. app deploy checks its image before anything else (no chain is needed
#    to see the refusal); --no-image-check skips the check.
expect 1 "app image $R/armonly@$(dg armonly) \(--no-image-check skips this check\).*no linux/amd64" -- \
	"$T" app deploy --name x --image "$R/armonly@$(dg armonly)" "${P[@]}" --chain "$W/nochain.json" --account 1
expect 1 "not in $L" -- "$T" app deploy --name x --image "nowhere@$(dg armonly)" --layout "$L" \
	--chain "$W/nochain.json" --account 1
"$T" app deploy --name x --image "$R/app@$(dg app)" "${P[@]}" --chain "$W/nochain.json" --account 1 >"$W/out" 2>&1
grep -q "nochain.json" "$W/out" && ! grep -q "app image" "$W/out" && ok || bad "a good image not passed: $(cat "$W/out")"
"$T" app deploy --name x --image "$R/armonly@$(dg armonly)" --no-image-check --chain "$W/nochain.json" --account 1 >"$W/out" 2>&1
grep -q "nochain.json" "$W/out" && ok || bad "--no-image-check: $(cat "$W/out")"

finish
