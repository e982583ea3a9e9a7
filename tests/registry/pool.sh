#!/usr/bin/env bash
# An app from a registry through the whole pool: an image index pushed with
# skopeo to a real registry (docker-registry over TLS with bearer tokens),
# deployed by its index digest, pulled by a worker started with --pull and
# an empty image layout, run by `tdexec run` to COMPLETED with the image's
# whiteouts applied; a second task of the same app uses the worker's store
# (no second download of a layer from the registry).  Then the store is
# kept within --max-store: a second app, whose image shares the first's two
# lower layers, pushes the first image out (least recently used) but not
# the layers still shared; the first app then runs again, pulled again.
# This is docs/apps.md, "2. An image from a registry", step by step, with
# the suite's local chain (--account N for --wallet FILE, 127.0.0.1:PORT for
# the registry's name, the test CA for a public one's): keep them in sync.
# Usage: pool.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/lib.sh"
. "$HERE/../../scripts/pool.sh"
pool_test_dir reg_stop
for p in runc skopeo "$REGISTRY_BIN"; do
	command -v "$p" >/dev/null || { echo "FAIL: $p is not installed (scripts/install-deps)"; exit 1; }
done

reg_ca || { echo "FAIL: test PKI"; exit 1; }
reg_token_start 'dev:correct-horse' || { echo "FAIL: token server"; exit 1; }
reg_start registry token "$W/storage" || { echo "FAIL: registry"; exit 1; }
# The developer's image, as an OCI layout (a two-platform index; its amd64
# image has a zstd layer of whiteouts over a gzip one).
eval "$("$HERE/mkimages.sh" "$W/layout" 2)" || { echo "FAIL: images"; exit 1; }
# the registry's credentials, as `docker login` or `skopeo login` leave them
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REG" "$(printf dev:correct-horse | base64 -w0)" >"$W/config.json"
chmod 600 "$W/config.json"
TLSF=(--registry-ca "$W/pki/ca.crt" --registry-auth "$W/config.json")

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
pool_start_sms || bad "sms"

# 1. Push (docs/apps.md: "Push the image").
skopeo copy --quiet --all --preserve-digests --authfile "$W/config.json" --dest-cert-dir "$W/pki/certs.d" \
	"oci:$W/layout:multi" "docker://$REG/regtest/app:v1" >>"$W/skopeo.log" 2>&1 &&
	ok || bad "skopeo push: $(tail -3 "$W/skopeo.log")"

# 2. Inspect: the index digest the app is deployed with, its platforms.
expect 0 "$INDEX" -- "$T" app inspect "$REG/regtest/app:v1" "${TLSF[@]}"
grep -q "linux/arm64" "$W/out" && ok || bad "app inspect: $(cat "$W/out")"
expect 0 "" -- "$T" app inspect "$REG/regtest/app:v1" "${TLSF[@]}" --json
digest=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).digest)' "$W/out")
[ "$digest" = "$INDEX" ] && ok || bad "app inspect --json: digest $digest, want $INDEX"

# 3. Deploy by the index digest: checked against the registry first.
app=$("$T" app deploy "${C[@]}" --account 1 --name regapp --json --image "$REG/regtest/app@$digest" \
	"${TLSF[@]}" | addr)
[ -n "$app" ] && ok || bad "app deploy"
expect 0 "${digest#sha256:}" -- "$T" app show "$app" "${C[@]}" --json

# 4. The pool: its order on the book, a worker that pulls into an empty layout.
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "registry pool" --json | addr)
"$T" account deposit "${C[@]}" --account 4 100000000000 >/dev/null &&
	"$T" account deposit "${C[@]}" --account 3 100000000000 >/dev/null && ok || bad "deposit"
pool_start_scheduler "$pool" 3 --order-volume 10 --order-price 0 || bad "scheduler"
mkdir -p "$W/images"
echo '{"imageLayoutVersion":"1.0.0"}' >"$W/images/oci-layout"
echo '{"schemaVersion":2,"manifests":[]}' >"$W/images/index.json"
# (pool_start_worker adds --allow-private-inputs: the registry is on loopback)
pool_start_worker w1 5 --pull "${TLSF[@]}"
# registered, or gone with its reason (not left to the task's timeout)
for _ in $(seq 100); do
	grep -q 'event=worker.register' "$W/w1.log" && break
	kill -0 "$WORKER_PID" 2>/dev/null || break
	sleep 0.2
done
grep -q 'event=worker.register' "$W/w1.log" || { echo "FAIL: worker: $(tail -3 "$W/w1.log")"; exit 1; }
"$T" order init app --set app="$app" --set tag=tdx --set volume=10 -o "$W/ao.json" &&
	"$T" order sign app "$W/ao.json" "${C[@]}" --account 1 -o "$W/ao.json" >/dev/null &&
	"$T" market publish app "$W/ao.json" --market "$SCHED_URL" >/dev/null && ok || bad "app order"

# what the registry served before any task (app inspect and deploy read
# the manifests and the config)
gets() { grep -c "\"GET /v2/regtest/app/blobs/$1 HTTP/[0-9.]*\" 200 " "$W/registry.log"; }
blobs=("$LAYER_GZ" "$LAYER_ZSTD" "$LAYER_BIG" "$CONFIG")
before=$(for d in "${blobs[@]}"; do gets "$d"; done | tr '\n' ' ')

# 5. The requester's task: pulled, run, COMPLETED; the result shows what
#    the layers left once applied in order.
expect 0 '"status": "COMPLETED"' -- "$T" run "$app" --market "$SCHED_URL" "${C[@]}" --account 4 \
	-o "$W/run1" --timeout 120 --json
want=$'data: kept.txt\nopq: new.txt\ngreeting: hello from the registry'
[ "$(cat "$W/run1/result.txt" 2>/dev/null)" = "$want" ] && ok ||
	bad "run 1: $(cat "$W/run1/result.txt" 2>&1) / $(tail -5 "$W/out") / $(tail -5 "$W/w1.log")"
kill -0 "$WORKER_PID" 2>/dev/null || { bad "the worker died: $(grep -m1 -A12 'ERROR\|panic' "$W/w1.log" || tail -5 "$W/w1.log")"; finish; exit; }
in_layout() { [ -f "$W/images/blobs/sha256/${1#sha256:}" ]; }
in_layout "$INDEX" && in_layout "$AMD64" && in_layout "$LAYER_ZSTD" && in_layout "$LAYER_BIG" &&
	ok || bad "the worker's layout: $(ls "$W/images/blobs/sha256" 2>&1)"
# each layer and the config sent once more (the registry's access log)
after=$(for d in "${blobs[@]}"; do gets "$d"; done | tr '\n' ' ')
read -r -a b <<<"$before"
[ "$after" = "$((b[0] + 1)) $((b[1] + 1)) $((b[2] + 1)) $((b[3] + 1)) " ] && ok ||
	bad "first task: the registry served the blobs $after times (before: $before)"

# 6. A second task of the same app: the store serves it, the registry
#    sends no blob again.
expect 0 '"status": "COMPLETED"' -- "$T" run "$app" --market "$SCHED_URL" "${C[@]}" --account 4 \
	-o "$W/run2" --timeout 120 --json
[ "$(cat "$W/run2/result.txt" 2>/dev/null)" = "$want" ] && ok || bad "run 2: $(cat "$W/run2/result.txt" 2>&1)"
now=$(for d in "${blobs[@]}"; do gets "$d"; done | tr '\n' ' ')
[ "$now" = "$after" ] && ok || bad "second task: the registry served the blobs $now times (after the first: $after)"

# 7. --max-store: room for about one image.
h1=${INDEX#sha256:}
[ -d "$W/w1/images/$h1" ] && ok || bad "the unpacked tree of the first image: $(ls "$W/w1/images" 2>&1)"
used=$(du -sB1 "$W/w1/images" "$W/images/blobs" | awk '{n += $1} END {print n}')
limit=$(((used >> 20) + 4))
eval "$("$HERE/mkimages.sh" "$W/layout2" 8 | sed 's/^/IMG2_/')" || bad "images 2"
[ "$IMG2_LAYER_GZ" = "$LAYER_GZ" ] && [ "$IMG2_INDEX" != "$INDEX" ] && ok ||
	bad "the second image should share the first's lower layer only"
skopeo copy --quiet --all --preserve-digests --authfile "$W/config.json" --dest-cert-dir "$W/pki/certs.d" \
	"oci:$W/layout2:multi" "docker://$REG/regtest/app2:v1" >>"$W/skopeo.log" 2>&1 &&
	ok || bad "skopeo push 2: $(tail -3 "$W/skopeo.log")"
app2=$("$T" app deploy "${C[@]}" --account 1 --name regapp2 --json \
	--image "$REG/regtest/app2@$IMG2_INDEX" "${TLSF[@]}" | addr)
[ -n "$app2" ] && ok || bad "app deploy 2"
"$T" order init app --set app="$app2" --set tag=tdx --set volume=10 -o "$W/ao2.json" &&
	"$T" order sign app "$W/ao2.json" "${C[@]}" --account 1 -o "$W/ao2.json" >/dev/null &&
	"$T" market publish app "$W/ao2.json" --market "$SCHED_URL" >/dev/null && ok || bad "app order 2"
expect 1 "--max-store" -- "$T" worker --max-store -1
kill "$WORKER_PID" && wait "$WORKER_PID" 2>/dev/null
pool_start_worker w1 5 --pull "${TLSF[@]}" --max-store "$limit"
for _ in $(seq 100); do
	[ "$(grep -c 'event=worker.register' "$W/w1.log")" -ge 2 ] && break
	sleep 0.2
done
# the first image was the only one: within the limit, kept
[ -d "$W/w1/images/$h1" ] && ok || bad "the first image evicted at start, under the limit ($limit MiB)"
expect 0 '"status": "COMPLETED"' -- "$T" run "$app2" --market "$SCHED_URL" "${C[@]}" --account 4 \
	-o "$W/run3" --timeout 120 --json
[ "$(cat "$W/run3/result.txt" 2>/dev/null)" = "$want" ] && ok || bad "run 3: $(cat "$W/run3/result.txt" 2>&1)"
grep -q "event=worker.store .*evicted=$INDEX tree=1 layout=1" "$W/w1.log" && ok ||
	bad "no eviction of the first image: $(grep worker.store "$W/w1.log" | tail -3)"
[ ! -e "$W/w1/images/$h1" ] && ! in_layout "$INDEX" && ! in_layout "$AMD64" && ! in_layout "$LAYER_BIG" &&
	ok || bad "the first image's tree or blobs are left: $(ls "$W/w1/images" "$W/images/blobs/sha256")"
in_layout "$LAYER_GZ" && in_layout "$LAYER_ZSTD" && in_layout "$IMG2_INDEX" && in_layout "$IMG2_LAYER_BIG" &&
	[ -d "$W/w1/images/${IMG2_INDEX#sha256:}" ] && ok || bad "the second image lost blobs it uses"
grep -q '"index.json"\|regtest' "$W/images/index.json" 2>/dev/null
grep -q "$INDEX" "$W/images/index.json" && bad "index.json still names the first image" || ok
# 8. The first app again: pulled again, all but the layers it shares.
before=$(for d in "${blobs[@]}"; do gets "$d"; done | tr '\n' ' ')
expect 0 '"status": "COMPLETED"' -- "$T" run "$app" --market "$SCHED_URL" "${C[@]}" --account 4 \
	-o "$W/run4" --timeout 120 --json
[ "$(cat "$W/run4/result.txt" 2>/dev/null)" = "$want" ] && ok || bad "run 4: $(cat "$W/run4/result.txt" 2>&1)"
now=$(for d in "${blobs[@]}"; do gets "$d"; done | tr '\n' ' ')
read -r -a b <<<"$before"
[ "$now" = "${b[0]} ${b[1]} $((b[2] + 1)) $((b[3] + 1)) " ] && ok ||
	bad "the first image again: blobs served $now times (before: $before; want the big layer and the config only)"
# back within the limit: the second image went in turn
[ ! -e "$W/w1/images/${IMG2_INDEX#sha256:}" ] && ! in_layout "$IMG2_INDEX" && ok ||
	bad "the second image was not evicted after the first came back"
left=$(du -sB1 "$W/w1/images" "$W/images/blobs" | awk '{n += $1} END {print n}')
[ "$left" -le $((limit << 20)) ] && ok || bad "the store holds $left bytes past --max-store $limit MiB"

pool_stop
reg_stop
reg_sanitized

finish
