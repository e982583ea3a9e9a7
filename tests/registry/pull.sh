#!/usr/bin/env bash
# Pulls from a real registry (Debian's docker-registry, distribution 2.8)
# on loopback: by index digest over TLS with the test CA (refused without
# it), over plain HTTP only when told, through bearer-token auth with a
# docker config.json (refused with wrong credentials), by tag; what `app
# inspect` shows; and the refusals: a tampered blob, a registry that dies
# in the middle of a big blob (retried, then a clean failure naming it),
# an index without linux/amd64, `app deploy` of an image it cannot run or
# reach.  A download cut once resumes with a Range request.  The
# docker-archive import of docs/apps.md ("Images you already have").
# Usage: pull.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
P=$W
. "$HERE/../lib.sh"
. "$HERE/lib.sh"
. "$HERE/../../scripts/pool.sh"
trap 'reg_stop; pool_stop; [ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"' EXIT
for p in skopeo "$REGISTRY_BIN"; do
	command -v "$p" >/dev/null || { echo "FAIL: $p is not installed (scripts/install-deps)"; exit 1; }
done
# sha256 FILE: "sha256:<hex>" of a file
sha256() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
# in_store LAYOUT DIGEST: the blob is there, whole and right
in_store() { [ -f "$1/blobs/sha256/${2#sha256:}" ] && [ "$(sha256 "$1/blobs/sha256/${2#sha256:}")" = "$2" ]; }

reg_ca || { echo "FAIL: test PKI"; exit 1; }
eval "$("$HERE/mkimages.sh" "$W/layout" 4)" || { echo "FAIL: images"; exit 1; }
ST=$W/storage
# Three registries over one storage: plain HTTP, TLS, TLS with tokens.
reg_start plain plain "$ST" && PLAIN=$REG || { echo "FAIL: plain registry"; exit 1; }
reg_start tls tls "$ST" && TLS=$REG || { echo "FAIL: TLS registry"; exit 1; }
reg_token_start 'alice:wonderland' || { echo "FAIL: token server"; exit 1; }
reg_start token token "$ST" && TOK=$REG || { echo "FAIL: token registry"; exit 1; }
CA=(--registry-ca "$W/pki/ca.crt")

# Pushed with skopeo, the index digest unchanged.
reg_push "oci:$W/layout:multi" "docker://$PLAIN/regtest/app:v1" --dest-tls-verify=false && ok || bad "push multi"
# through the token flow, with the right credentials only
reg_push "oci:$W/layout:noamd64" "docker://$TOK/regtest/noamd64:v1" --dest-cert-dir "$W/pki/certs.d" \
	--dest-creds alice:wonderland && ok || bad "push noamd64 through token auth"
reg_push "oci:$W/layout:noamd64" "docker://$TOK/regtest/other:v1" --dest-cert-dir "$W/pki/certs.d" \
	--dest-creds alice:rabbit 2>/dev/null && bad "push with wrong credentials accepted" || ok
grep -q 'token=refused .*credentials=wrong' "$W/token.log" && ok || bad "token server: $(tail -3 "$W/token.log")"
skopeo inspect --raw --cert-dir "$W/pki/certs.d" "docker://$TLS/regtest/app:v1" >"$W/raw.json" &&
	[ "$(sha256 "$W/raw.json")" = "$INDEX" ] && ok || bad "the registry holds $(sha256 "$W/raw.json"), not $INDEX"
grep -q '"architecture":"arm64"' "$W/raw.json" && ok || bad "the registry's index: $(cat "$W/raw.json")"

# 1. By index digest over TLS with the test CA: the index, the amd64
#    manifest, its config and its three layers, each checked; not arm64's.
expect 0 "$INDEX" -- "$T" image pull "$TLS/regtest/app@$INDEX" --layout "$W/s1" "${CA[@]}"
for d in "$INDEX" "$AMD64" "$CONFIG" "$LAYER_GZ" "$LAYER_ZSTD" "$LAYER_BIG"; do
	in_store "$W/s1" "$d" && ok || bad "TLS pull: $d not in the store"
done
[ -e "$W/s1/blobs/sha256/${ARM64#sha256:}" ] && bad "TLS pull: the arm64 manifest was fetched" || ok
grep -q "$INDEX" "$W/s1/index.json" && ok || bad "index.json: $(cat "$W/s1/index.json")"
# the same registry, no CA: the certificate is refused, nothing stored
expect 1 "certificate" -- "$T" image pull "$TLS/regtest/app@$INDEX" --layout "$W/s2"
[ -z "$(ls "$W/s2/blobs/sha256" 2>/dev/null)" ] && ok || bad "no CA: $(ls "$W/s2/blobs/sha256")"

# 2. Plain HTTP only when named with --registry-plain-http.
expect 0 "$INDEX" -- "$T" image pull "$PLAIN/regtest/app@$INDEX" --layout "$W/p1" \
	--registry-plain-http "$PLAIN" --json
in_store "$W/p1" "$LAYER_ZSTD" && in_store "$W/p1" "$LAYER_BIG" && ok || bad "plain pull: layers"
expect 1 "https://$PLAIN/.*(SSL|TLS)" -- "$T" image pull "$PLAIN/regtest/app@$INDEX" --layout "$W/p2"
[ -z "$(ls "$W/p2/blobs/sha256" 2>/dev/null)" ] && ok || bad "https to a plain registry stored $(ls "$W/p2/blobs/sha256")"

# 3. By tag: the index digest the registry shows for it.
expect 0 "$INDEX" -- "$T" image pull "$PLAIN/regtest/app:v1" --layout "$W/p3" \
	--registry-plain-http "$PLAIN"

# 4. Bearer tokens: Basic credentials from a docker config.json to the realm.
auth() { printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$TOK" "$(printf %s "$1" | base64 -w0)" >"$W/$2"; }
auth alice:wonderland config.json
auth alice:rabbit wrong.json
expect 0 "$INDEX" -- "$T" image pull "$TOK/regtest/app@$INDEX" --layout "$W/k1" "${CA[@]}" \
	--registry-auth "$W/config.json"
in_store "$W/k1" "$LAYER_BIG" && ok || bad "token pull: big layer"
grep -q 'token=issued scope="repository:regtest/app:pull"' "$W/token.log" && ok ||
	bad "token server: $(tail -3 "$W/token.log")"
expect 1 "HTTP 401 \\(credentials refused\\)" -- "$T" image pull "$TOK/regtest/app@$INDEX" --layout "$W/k2" \
	"${CA[@]}" --registry-auth "$W/wrong.json"
[ -z "$(ls "$W/k2/blobs/sha256" 2>/dev/null)" ] && ok || bad "wrong credentials stored $(ls "$W/k2/blobs/sha256")"
# anonymous: the token server refuses, so does the registry
expect 1 "HTTP 401 \\(credentials needed\\)" -- env -u REGISTRY_AUTH_FILE -u DOCKER_CONFIG HOME="$W" \
	"$T" image pull "$TOK/regtest/app@$INDEX" --layout "$W/k3" "${CA[@]}"

# 5. app inspect: the index, its platforms, and amd64's manifest and config.
expect 0 "linux/arm64" -- "$T" app inspect "$TLS/regtest/app@$INDEX" "${CA[@]}"
grep -q "linux/amd64" "$W/out" && grep -q "$AMD64" "$W/out" && grep -q "/app/check.sh" "$W/out" &&
	ok || bad "app inspect: $(cat "$W/out")"
expect 0 "" -- "$T" app inspect "$TLS/regtest/app@$INDEX" "${CA[@]}" --json
cp "$W/out" "$W/inspect.json"
node -e '
	const [f, index, amd] = process.argv.slice(1);
	const j = JSON.parse(require("fs").readFileSync(f));
	const a = j["linux/amd64"] || {};
	const plats = (j.platforms || []).map((p) => p.platform).sort().join(",");
	const want = {
		digest: [j.digest, index], platforms: [plats, "linux/amd64,linux/arm64"], amd64: [a.digest, amd],
		entrypoint: [JSON.stringify(a.entrypoint), "[\"/bin/sh\",\"/app/check.sh\"]"],
		env: [(a.env || []).includes("GREETING=hello from the registry"), true],
		workingDir: [a.workingDir, "/app"],
		layers: [Array.isArray(a.layers) ? a.layers.length : a.layers, 3],
	};
	const wrong = Object.keys(want).filter((k) => want[k][0] !== want[k][1]);
	if (wrong.length) { console.log(wrong.map((k) => `${k}: ${want[k][0]}`).join("; ")); process.exit(1); }
' "$W/inspect.json" "$INDEX" "$AMD64" && ok || bad "app inspect --json: $(cat "$W/inspect.json")"

# 6. A tampered blob in the registry's storage (same size, one byte
#    changed): refused by digest, nothing kept under it.
blobf=$(reg_blob "$ST" "$LAYER_ZSTD")
cp "$blobf" "$W/zstd.orig"
printf '\xff' | dd of="$blobf" bs=1 seek=20 conv=notrunc status=none
[ "$(sha256 "$blobf")" != "$LAYER_ZSTD" ] && ok || bad "the blob was not changed"
expect 1 "digest" -- "$T" image pull "$PLAIN/regtest/app@$INDEX" --layout "$W/t1" \
	--registry-plain-http "$PLAIN"
grep -q "${LAYER_ZSTD#sha256:}" "$W/out" && ok || bad "tampered: the error does not name the blob: $(cat "$W/out")"
[ -z "$(ls "$W/t1/blobs/sha256/${LAYER_ZSTD#sha256:}"* 2>/dev/null)" ] && ok ||
	bad "tampered blob kept: $(ls "$W/t1/blobs/sha256/")"
cp "$W/zstd.orig" "$blobf"

# 7. The registry dies 1.5 MiB into the big layer: retried, then a clean
#    failure naming the blob; the rest of the store stays verified.
big=${LAYER_BIG#sha256:}
reg_proxy die $((1536 * 1024)) "${PLAIN#*:}" "$big" || bad "proxy"
start=$(date +%s)
expect 1 "$big" -- "$T" image pull "$PROXY/regtest/app@$INDEX" --layout "$W/d1" \
	--registry-plain-http "$PROXY"
took=$(($(date +%s) - start))
cp "$W/out" "$W/die.out"
# retried (the pull logs each failed try of a blob) before giving up
grep -q "try=[2-9]" "$W/die.out" && ok || bad "the dead registry was not retried: $(cat "$W/die.out")"
grep -q 'cut after=' "$W/proxy.log" && ok || bad "the proxy did not cut: $(tail -3 "$W/proxy.log")"
[ "$took" -lt 60 ] && ok || bad "a dead registry held the pull $took s"
[ -e "$W/d1/blobs/sha256/$big" ] && bad "a cut blob in the store" || ok
[ -f "$W/d1/index.json" ] && grep -q "$INDEX" "$W/d1/index.json" &&
	bad "a failed pull named the image in index.json" || ok
kill "$PROXY_PID" 2>/dev/null

# 8. Cut once, then served: the pull completes by resuming from the bytes
#    it holds (a Range request for the big blob).
: >"$W/proxy.log"
reg_proxy once $((1536 * 1024)) "${PLAIN#*:}" "$big" || bad "proxy"
expect 0 "$INDEX" -- "$T" image pull "$PROXY/regtest/app@$INDEX" --layout "$W/r1" \
	--registry-plain-http "$PROXY" --jobs 2
grep -q 'cut after=' "$W/proxy.log" && ok || bad "the proxy did not cut: $(tail -3 "$W/proxy.log")"
grep -q "request=\"GET [^\"]*$big[^\"]*\" range=\"bytes=[1-9][0-9]*-" "$W/proxy.log" && ok ||
	bad "no resumed request: $(grep "$big" "$W/proxy.log")"
in_store "$W/r1" "$LAYER_BIG" && ok || bad "resumed blob is wrong"
kill "$PROXY_PID" 2>/dev/null

# 9. An index without linux/amd64: refused, listing what it has.
expect 1 "linux/amd64" -- "$T" image pull "$PLAIN/regtest/noamd64@$NOAMD64" --layout "$W/n1" \
	--registry-plain-http "$PLAIN"
grep -q "linux/arm64" "$W/out" && grep -q "linux/s390x" "$W/out" && ok || bad "platforms not listed: $(cat "$W/out")"

# 10. Images you already have (docs/apps.md): a docker-archive (as `docker
#     save` writes) imported with skopeo into a layout, seen by app inspect.
#     Docker's archives hold no zstd layer (skopeo refuses to write one):
#     the image is made all-gzip first, as Docker would have it.
skopeo copy --quiet --dest-compress --dest-compress-format gzip "oci:$W/layout:multi" "oci:$W/gz:app" \
	>>"$W/skopeo.log" 2>&1 &&
	skopeo copy --quiet "oci:$W/gz:app" "docker-archive:$W/img.tar:regtest/app:v1" >>"$W/skopeo.log" 2>&1 &&
	ok || bad "docker-archive export: $(tail -2 "$W/skopeo.log")"
skopeo copy --quiet "docker-archive:$W/img.tar" "oci:$W/images:app" >>"$W/skopeo.log" 2>&1 &&
	ok || bad "docker-archive import: $(tail -2 "$W/skopeo.log")"
imported=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$W/images/index.json" | head -1 | cut -d'"' -f4)
expect 0 "/app/check.sh" -- "$T" app inspect app --layout "$W/images" --json
grep -q "GREETING=hello from the registry" "$W/out" && grep -q "\"$imported\"" "$W/out" && ok ||
	bad "app inspect --layout ($imported): $(cat "$W/out")"

# 11. app deploy checks what it deploys: an image without linux/amd64, or
#     one it cannot reach, is refused before any transaction.
pool_start_chain || { echo "FAIL: chain up"; exit 1; }
expect 1 "linux/amd64" -- "$T" app deploy "${C[@]}" --account 1 --name noamd64 \
	--image "$PLAIN/regtest/noamd64@$NOAMD64" --registry-plain-http "$PLAIN"
grep -q "linux/arm64" "$W/out" && ok || bad "deploy: platforms not listed: $(cat "$W/out")"
gone=$(_reg_free_port)
expect 1 "127.0.0.1:$gone" -- "$T" app deploy "${C[@]}" --account 1 --name gone \
	--image "127.0.0.1:$gone/regtest/app@$INDEX" --registry-plain-http "127.0.0.1:$gone"
# and the index digest of an image it reaches is deployed
expect 0 '"address": "0x' -- "$T" app deploy "${C[@]}" --account 1 --name regapp --json \
	--image "$TLS/regtest/app@$INDEX" "${CA[@]}"

pool_stop
reg_stop
reg_sanitized
finish
