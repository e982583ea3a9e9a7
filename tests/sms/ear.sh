#!/usr/bin/env bash
# Attestation-result tokens (EAR) from a real release: a real SMS on
# loopback, a real Anvil chain with the PoCo, a simulated TD.  ear.js checks
# the token with jose (signature, claims, JWKS, refusals); here `tdexec ear
# verify` takes it from the JWKS URL and file and refuses a tampered token,
# another key, another task and a wrong profile, and takes a token jose
# signed; the signing key survives a restart (same kid), the RA-TLS
# certificate of the restarted SMS carries that key, and after a rotation
# the old key stays published so that its tokens still verify.
# Usage: ear.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
sms_test_chain
app=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name app --json \
	--image "docker.io/library/app@sha256:$(printf 'app' | sha256sum | cut -d' ' -f1)" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description pool --json | addr)
requester=$("$T" wallet show "${C[@]}" --account 4 --json | addr)
"$T" order init app --set app="$app" --set tag=tdx -o "$W/a.json" &&
	"$T" order sign app "$W/a.json" "${C[@]}" --account 1 -o "$W/a.json" >/dev/null &&
	"$T" order init workerpool --set workerpool="$pool" --set tag=tdx -o "$W/p.json" &&
	"$T" order sign workerpool "$W/p.json" "${C[@]}" --account 3 -o "$W/p.json" >/dev/null &&
	"$T" order init request --set app="$app" --set workerpool="$pool" --set tag=tdx \
		--set requester="$requester" --set beneficiary="$requester" -o "$W/r.json" &&
	"$T" order sign request "$W/r.json" "${C[@]}" --account 4 -o "$W/r.json" >/dev/null
deal=$("$T" deal match "${C[@]}" --account 4 --app-order "$W/a.json" --workerpool-order "$W/p.json" \
	--request-order "$W/r.json" --boost --json | sed -n 's/.*"dealid": "\(.*\)".*/\1/p')
[ -n "$app" ] && [ -n "$deal" ] && ok || bad "app and deal"

sms_sim_td
sms_start_sim
[ -s "$W/port" ] && ok || bad "sms did not start: $(cat "$W/sms.log")"
URL="http://127.0.0.1:$(cat "$W/port")"

mkdir -p "$W/ear"
node "$HERE/ear.js" "$URL" "$W/chain/chain.json" "$deal" "$T" "$W/td" "$W/ear" && ok || bad "ear.js"
task=$(cat "$W/ear/task" 2>/dev/null)
kid=$(sed -n 's/.*"kid":"\([^"]*\)".*/\1/p' "$W/ear/jwks.json" 2>/dev/null)
[ ${#kid} = 43 ] && ok || bad "kid '$kid'"

# tdexec ear verify: the token from a release, the keys by URL and by file
expect 0 "status +contraindicated \(a simulated TD\)" -- "$T" ear verify "@$W/ear/token" \
	--jwks "$URL/.well-known/jwks.json" --task "$task"
grep -Eq "^kid +$kid" "$W/out" && ok || bad "verify does not name kid $kid"
expect 0 '"status": "contraindicated"' -- "$T" ear verify "$(cat "$W/ear/token")" \
	--jwks "$W/ear/jwks.json" --json
grep -q "\"iexec_task_id\": \"$task\"" "$W/out" && ok || bad "--json claims"
# refusals: exit 2 for a token that does not verify, 3 for claims, 4 status
expect 2 "does not verify" -- "$T" ear verify "@$W/ear/tampered" --jwks "$URL/.well-known/jwks.json"
expect 2 "does not verify" -- "$T" ear verify "@$W/ear/token" --jwks "$W/ear/wrong-jwks.json"
expect 2 '"code": 2' -- "$T" ear verify "@$W/ear/token" --jwks "$W/ear/wrong-jwks.json" --json
expect 2 "holds no key" -- "$T" ear verify "@$W/ear/token" --jwks "$W/ear/jose-jwks.json"
expect 3 "is for task" -- "$T" ear verify "@$W/ear/token" --jwks "$W/ear/jwks.json" \
	--task "0x$(printf '%064d' 1)"
expect 4 "not affirming" -- "$T" ear verify "@$W/ear/token" --jwks "$W/ear/jwks.json" \
	--require-affirming
# a token signed by jose (the same claims): taken with jose's key
expect 0 "status +contraindicated" -- "$T" ear verify "@$W/ear/jose-token" \
	--jwks "$W/ear/jose-jwks.json" --task "$task"
# ... but not in its other form, (r, n - s): one valid text per token
expect 2 "s is above n/2" -- "$T" ear verify "@$W/ear/jose-high-s" --jwks "$W/ear/jose-jwks.json"
expect 3 "eat_profile" -- "$T" ear verify "@$W/ear/jose-profile" --jwks "$W/ear/jose-jwks.json"
expect 3 "in the future" -- "$T" ear verify "@$W/ear/jose-future" --jwks "$W/ear/jose-jwks.json"
# alg none with the real token's claims
printf '%s.%s.' "$(printf '{"alg":"none","kid":"%s"}' "$kid" | basenc --base64url -w0 | tr -d =)" \
	"$(cut -d. -f2 "$W/ear/token")" >"$W/none"
expect 2 "not ES256" -- "$T" ear verify "@$W/none" --jwks "$W/ear/jwks.json"
# bad input: a clear error, never a crash
expect 2 "three parts" -- "$T" ear verify "not-a-token" --jwks "$W/ear/jwks.json"
expect 1 "" -- "$T" ear verify "@$W/ear/token" --jwks "$W/missing.json"
echo '{"keys": 1}' >"$W/badset.json"
expect 1 "not a JWK Set" -- "$T" ear verify "@$W/ear/token" --jwks "$W/badset.json"
expect 1 "required" -- "$T" ear verify "@$W/ear/token"

# The key survives a restart: the same kid, the old token still verifies;
# with RA-TLS, the certificate carries it.
stop_sms
sms_start_sim --ra-tls --provider sim --sim-dir "$W/td"
[ -s "$W/port" ] && ok || bad "sms did not restart: $(tail -3 "$W/sms.log")"
URLS="https://127.0.0.1:$(cat "$W/port")"
"$T" ratls check "$URLS" --collateral "$W/td/collateral/collateral.json" \
	--trust-sim-root "$W/td/root_ca.pem" --json >"$W/ratls.json" 2>"$W/ratls.err" && ok ||
	bad "ratls check: $(cat "$W/ratls.err")"
[ "$(json_str "$W/ratls.json" ear_kid)" = "$kid" ] && ok ||
	bad "the RA-TLS certificate's EAR key is '$(json_str "$W/ratls.json" ear_kid)', not $kid"
stop_sms
sms_start_sim
URL="http://127.0.0.1:$(cat "$W/port")"
curl -sf "$URL/.well-known/jwks.json" >"$W/jwks2.json" || bad "jwks after restart"
grep -q "\"kid\":\"$kid\"" "$W/jwks2.json" && ok || bad "kid changed over a restart: $(cat "$W/jwks2.json")"
expect 0 "valid" -- "$T" ear verify "@$W/ear/token" --jwks "$URL/ear/jwks" --task "$task"
grep -q "event=sms.ear kid=$kid" "$W/sms.log" && ok || bad "sms.ear not logged"
stop_sms

# Rotation: a new kid signs, the old one stays published, its tokens verify.
expect 0 "\"previous\": \"$kid\"" -- "$T" sms ear-rotate --db "$W/sms.db" \
	--master-key "$W/master.key" --json
kid2=$(sed -n 's/.*"kid": "\([^"]*\)".*/\1/p' "$W/out")
[ ${#kid2} = 43 ] && [ "$kid2" != "$kid" ] && ok || bad "rotated kid '$kid2'"
sms_start_sim
URL="http://127.0.0.1:$(cat "$W/port")"
curl -sf "$URL/.well-known/jwks.json" >"$W/jwks3.json" || bad "jwks after rotation"
grep -q "^{\"keys\":\[{[^}]*\"kid\":\"$kid2\".*\"kid\":\"$kid\"" "$W/jwks3.json" && ok ||
	bad "after rotation the set is not [new, previous]: $(cat "$W/jwks3.json")"
grep -q "event=sms.ear kid=$kid2 previous=yes" "$W/sms.log" && ok || bad "the SMS signs with $kid2"
expect 0 "kid +$kid" -- "$T" ear verify "@$W/ear/token" --jwks "$URL/.well-known/jwks.json"
stop_sms
expect 1 "required" -- "$T" sms ear-rotate --db "$W/sms.db"

finish
