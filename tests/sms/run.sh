#!/usr/bin/env bash
# The SMS on loopback against a fresh local chain: the secrets API through an
# independent client (ethers) and through the iExec SDK, enclave challenges,
# task sessions and attested release to a simulated TD, persistence across a
# restart, nothing stored in clear, and a master key readable by others
# refused.  Replayed secret-write signatures are refused (secrets.js), and
# the session released after a refused rollback carries the new value
# (attest.js).
# Usage: run.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
sms_test_chain
app=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name app --json \
	--image "docker.io/library/app@sha256:$(printf 'app' | sha256sum | cut -d' ' -f1)" | addr)
dataset=$("$T" dataset deploy "${C[@]}" --account 2 --name data --multiaddr ipfs://x --json \
	--checksum "0x$(printf 'data' | sha256sum | cut -d' ' -f1)" | addr)
[ -n "$app" ] && [ -n "$dataset" ] && ok || bad "assets"
# Fresh assets for the iExec SDK's pushes.
app2=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name app2 --json \
	--image "docker.io/library/app2@sha256:$(printf 'app2' | sha256sum | cut -d' ' -f1)" | addr)
dataset2=$("$T" dataset deploy "${C[@]}" --account 2 --name data2 --multiaddr ipfs://y --json \
	--checksum "0x$(printf 'data2' | sha256sum | cut -d' ' -f1)" | addr)
# Two Boost deals on a workerpool of account 3: one TDX, one without a tag.
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description pool --json | addr)
requester=$("$T" wallet show "${C[@]}" --account 4 --json | addr)
deal() { # TAG [PARAMS] -> deal id
	"$T" order init app --set app="$app" --set tag="$1" -o "$W/a.json" &&
	"$T" order sign app "$W/a.json" "${C[@]}" --account 1 -o "$W/a.json" >/dev/null &&
	"$T" order init workerpool --set workerpool="$pool" --set tag="$1" -o "$W/p.json" &&
	"$T" order sign workerpool "$W/p.json" "${C[@]}" --account 3 -o "$W/p.json" >/dev/null &&
	"$T" order init request --set app="$app" --set workerpool="$pool" --set tag="$1" \
		--set requester="$requester" --set beneficiary="$requester" \
		--set "params=${2:-}" -o "$W/r.json" &&
	"$T" order sign request "$W/r.json" "${C[@]}" --account 4 -o "$W/r.json" >/dev/null &&
	"$T" deal match "${C[@]}" --account 4 --app-order "$W/a.json" --workerpool-order "$W/p.json" \
		--request-order "$W/r.json" --boost --json | sed -n 's/.*"dealid": "\(.*\)".*/\1/p'
}
tdx_deal=$(deal tdx '{"iexec_secrets":{"1":"token-1"}}')
plain_deal=$(deal none)
[ -n "$tdx_deal" ] && [ -n "$plain_deal" ] && ok || bad "deals"

# A simulated TD, and the pool's policy: its measurements.
sms_sim_td
m() { json_str "$W/td/td.json" "$1"; }

# A wallet password in the SMS's environment (it never needs one) does not
# stay there.
TDEXEC_WALLET_PASSWORD=pw-the-sms-drops sms_start_sim
[ -s "$W/port" ] && ok || bad "sms did not start: $(cat "$W/sms.log")"
hardened sms "$SMS" pw-the-sms-drops
node "$HERE/secrets.js" "$URL" "$W/chain/chain.json" "$dataset" "$app" push && ok || bad "secrets push"
# The replays secrets.js tried are logged with the kind they were used for.
grep -q 'event=sms.refused op=PUT kind=web2 .*reason=replay consumed_as=web2' "$W/sms.log" &&
	grep -q 'event=sms.refused op=POST kind=requester .*reason=replay consumed_as=web2' "$W/sms.log" &&
	ok || bad "replays not logged"
node "$HERE/sdk.js" "$URL" "$W/chain/chain.json" "$app2" "$dataset2" && ok || bad "iExec SDK interop"
node "$HERE/challenge.js" "$URL" "$W/chain/chain.json" "$tdx_deal" "$plain_deal" "$W/challenge" first &&
	ok || bad "enclave challenges"
node "$HERE/attest.js" "$URL" "$W/chain/chain.json" "$tdx_deal" "$T" "$W/td" "$W/attest" first &&
	ok || bad "attestation refusals"
grep -q 'event=sms.refused op=attest .*reason="the runtime log replays RTMR2 to' "$W/sms.log" &&
	ok || bad "an event log's RTMR2 not checked"
[ "$(stat -c %a "$W/master.key")" = 600 ] && ok || bad "master key mode"
# The store's files are the SMS's alone, whatever the umask it started with.
private "sms files" "$W/sms.db" "$W/sms.db-wal" "$W/sms.db-shm"
stop_sms
# Nothing in clear in the database files.
if grep -a -q -e 'my api key' -e 'Cy8ZfW1X3wFMk5' "$W"/sms.db*; then bad "a secret is stored in clear"; else ok; fi
# Values never reach the log.
if grep -q -e 'my api key' -e 'Cy8ZfW1X3wFMk5' "$W/sms.log"; then bad "a secret reached the log"; else ok; fi
# A store left readable by others (an older SMS, a copy) is made private.
chmod 644 "$W/sms.db"
sms_start_sim
private "sms store after a restart" "$W/sms.db" "$W/sms.db-wal" "$W/sms.db-shm"
grep -q 'event=db.mode path=".*/sms.db" was=644 now=600' "$W/sms.log" && ok ||
	bad "the too open store is not logged"
node "$HERE/secrets.js" "$URL" "$W/chain/chain.json" "$dataset" "$app" check && ok || bad "secrets kept"
node "$HERE/challenge.js" "$URL" "$W/chain/chain.json" "$tdx_deal" "$plain_deal" "$W/challenge" again &&
	ok || bad "enclave challenge kept"
node "$HERE/attest.js" "$URL" "$W/chain/chain.json" "$tdx_deal" "$T" "$W/td" "$W/attest" again &&
	ok || bad "attested release"
# The binary form of attest (the quote as the body): malformed is 400 too.
code() { curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' "$@"; }
z=00000000000000000000000000000000
[ "$(code --data-binary 'xx' "$URL/tdx/sessions/$z/attest?appDigest=$z$z")" = 400 ] &&
	[ "$(code --data-binary 'xx' "$URL/tdx/sessions/$z/attest?publicKey=zz&appDigest=$z$z")" = 400 ] &&
	[ "$(code --data-binary 'xx' "$URL/tdx/sessions/$z/attest?publicKey=$z$z&appDigest=$z$z&eventLogBytes=9")" = 400 ] &&
	[ "$(code --data-binary 'xx' "$URL/tdx/sessions/$z/attest?publicKey=$z$z&appDigest=$z$z&eventLogBytes=-1")" = 400 ] &&
	[ "$(code --data-binary 'xx' -H 'X-Event-Log: !!' "$URL/tdx/sessions/$z/attest?publicKey=$z$z&appDigest=$z$z")" = 400 ] &&
	[ "$(code --data-binary 'xx' "$URL/tdx/sessions/$z/attest?publicKey=$z$z&appDigest=$z$z")" = 404 ] &&
	ok || bad "binary attest: malformed requests"
# The audit trail names the release, and no session secret reached the log.
grep -q 'event=sms.release .*simulated=1' "$W/sms.log" && ok || bad "release not logged"
stop_sms
# Each release of the reassigned task (attest.js) has its receipt, which
# names the worker it took over from; the refused ones have none.
acct() { "$T" wallet show "${C[@]}" --account "$1" --json | sed -n 's/.*"address": "\(.*\)".*/\1/p' | tr A-F a-f; }
want="$(acct 7)|
$(acct 9)|$(acct 8)
$(acct 6)|$(acct 9)"
got=$(sqlite3 "$W/sms.db" "SELECT worker, coalesce(replaces, '') FROM receipts ORDER BY id")
[ "$got" = "$want" ] && ok || bad "release audit: $got"
# the simulated platform's PCK chain is stored once, each receipt naming it
got=$(sqlite3 "$W/sms.db" "SELECT (SELECT count(*) FROM quote_tails) || ' ' ||
	(SELECT count(DISTINCT quote_tail) FROM receipts) || ' ' ||
	(SELECT count(*) FROM receipts WHERE quote_tail IS NULL)")
[ "$got" = "1 1 0" ] && ok || bad "quote tails (rows, named, receipts without): $got"
got=$(sqlite3 "$W/sms.db" "SELECT max(n) FROM (SELECT count(*) AS n FROM sessions GROUP BY taskid)")
[ "$got" = 16 ] && ok || bad "sessions of the capped task: $got"
# RA-TLS: an SMS in its own (simulated) TD serves a certificate carrying its
# quote; clients admit it by that quote and policy before sending anything.
cp -r "$W/td" "$W/sms.td"
rm -f "$W/rport"
"$T" sms --port 0 --port-file "$W/rport" --db "$W/ratls.db" --master-key "$W/ratls.key" "${C[@]}" \
	--ra-tls --provider sim --sim-dir "$W/sms.td" 2>>"$W/sms.log" &
RSMS=$!
for _ in $(seq 100); do [ -s "$W/rport" ] && break; sleep 0.05; done
RURL="https://127.0.0.1:$(cat "$W/rport" 2>/dev/null)"
SIMCOL=(--collateral "$W/td/collateral/collateral.json" --trust-sim-root "$W/td/root_ca.pem")
printf '{"measurements": {"MRTD": "%096d"}}\n' 0 >"$W/wrong-policy.json"
expect 0 'ratls_key_bound +true' -- "$T" ratls check "$RURL/healthz" "${SIMCOL[@]}" --policy "$W/policy.json"
"$T" ratls check "$RURL/healthz" "${SIMCOL[@]}" --save-quote "$W/sms-quote.dat" >/dev/null 2>&1 &&
	expect 0 "$(m MRTD)" -- "$T" quote show "$W/sms-quote.dat"
expect 1 'Intel SGX root' -- "$T" ratls check "$RURL/healthz" \
	--collateral "$W/td/collateral/collateral.json" --policy "$W/policy.json"
expect 1 'attestation is refused.*MRTD' -- "$T" ratls check "$RURL/healthz" "${SIMCOL[@]}" \
	--policy "$W/wrong-policy.json"
expect 1 'https only' -- "$T" ratls check "${RURL/https/http}/healthz" "${SIMCOL[@]}"
# Secrets go only to an SMS that passes; a refused push stores nothing.
expect 0 pushed -- "$T" secret push --sms "$RURL" "${C[@]}" --account 4 --requester ra-ok --value v1 \
	--sms-policy "$W/policy.json" "${SIMCOL[@]}"
expect 1 'attestation is refused' -- "$T" secret push --sms "$RURL" "${C[@]}" --account 4 \
	--requester ra-refused --value v2 --sms-policy "$W/wrong-policy.json" "${SIMCOL[@]}"
# A policy that pins no MRTD would send the secret to a TD running any code.
echo '{}' >"$W/any-policy.json"
expect 1 'pins no MRTD' -- "$T" secret push --sms "$RURL" "${C[@]}" --account 4 \
	--requester ra-any --value v3 --sms-policy "$W/any-policy.json" "${SIMCOL[@]}"
req=$("$T" wallet show "${C[@]}" --account 4 --json | addr)
[ "$(curl -sk -o /dev/null -w '%{http_code}' -I "$RURL/requesters/$req/secrets/ra-ok")" = 204 ] &&
	[ "$(curl -sk -o /dev/null -w '%{http_code}' -I "$RURL/requesters/$req/secrets/ra-refused")" = 404 ] &&
	ok || bad "RA-TLS pushes: the admitted one stored, the refused one not"
expect 1 'go together' -- "$T" secret push --sms "$RURL" "${C[@]}" --account 4 --requester x \
	--value v --sms-policy "$W/policy.json"
kill "$RSMS" && wait "$RSMS" 2>/dev/null
grep -q 'event=sms.ra_tls provider=sim' "$W/sms.log" && ok || bad "RA-TLS start not logged"
expect 1 'drop --tls-cert' -- "$T" sms --port 0 --db "$W/ratls.db" --master-key "$W/ratls.key" \
	--ra-tls --provider sim --sim-dir "$W/sms.td" --tls-cert x --tls-key y
expect 1 'needs --sim-dir' -- "$T" sms --port 0 --db "$W/ratls.db" --master-key "$W/ratls.key" \
	--ra-tls --provider sim

# RA-TLS binds the SMS's configuration.  The attack: an SMS in the pool's own
# TD (its quote passes the pool's policy) started with --trust-sim-root
# pointing at its operator's root, with that root's collateral, so that it
# would release sessions to TDs the operator simulates.  Its certificate
# says so and clients refuse it for that reason; the honest SMS passes, and
# the hash an auditor computes offline from the honest settings is the one
# the honest SMS serves.
"$T" sim init "$W/evil" >/dev/null 2>&1 || bad "sim init"
HONEST=(--master-key "$W/ratls.key" "${C[@]}" --collateral "$W/td/collateral/collateral.json"
	--trust-sim-root "$W/td/root_ca.pem" --policy "$W/policy.json")
EVIL=(--master-key "$W/ratls.key" "${C[@]}" --collateral "$W/evil/collateral/collateral.json"
	--trust-sim-root "$W/evil/root_ca.pem" --policy "$W/policy.json")
start_ratls() { # FLAGS... -> RSMS, RURL
	rm -f "$W/rport"
	"$T" sms --port 0 --port-file "$W/rport" --db "$W/ratls.db" --ra-tls --provider sim \
		--sim-dir "$W/sms.td" "$@" 2>>"$W/sms.log" &
	RSMS=$!
	for _ in $(seq 200); do [ -s "$W/rport" ] && break; sleep 0.05; done
	RURL="https://127.0.0.1:$(cat "$W/rport" 2>/dev/null)"
}
hash=$("$T" sms config-hash "${HONEST[@]}" | head -1)
doc=$("$T" sms config-hash "${HONEST[@]}" | sed -n 2p)
[ "$(printf '%s' "$doc" | sha256sum | cut -d' ' -f1)" = "$hash" ] && ok ||
	bad "config-hash: the hash is not the document's SHA-256"
case $doc in *'"format":"tdexec/sms-config/v1"'*'"master_key":"file"'*) ok ;;
*) bad "config-hash document: $doc" ;; esac
evil_hash=$("$T" sms config-hash "${EVIL[@]}" | head -1)
[ -n "$hash" ] && [ -n "$evil_hash" ] && [ "$hash" != "$evil_hash" ] && ok ||
	bad "config hashes: honest $hash, evil $evil_hash"
# Another spelling of the same policy, and the settings through --config: the
# same configuration, the same hash.
printf '{"measurements": {"RTMR2": "%s", "RTMR1": "%s", "RTMR0": "%s", "MRTD": "0x%s"}, "allow_debug": false}\n' \
	"$(m RTMR2)" "$(m RTMR1)" "$(m RTMR0)" "$(m MRTD | tr a-f A-F)" >"$W/policy-respelled.json"
printf '{"collateral": "%s", "trust_sim_root": "%s", "policy": "%s", "master_key": "%s", "chain": "%s"}\n' \
	"$W/td/collateral/collateral.json" "$W/td/root_ca.pem" "$W/policy-respelled.json" "$W/ratls.key" \
	"$W/chain/chain.json" >"$W/sms-honest.json"
[ "$("$T" sms config-hash --config "$W/sms-honest.json" | head -1)" = "$hash" ] && ok ||
	bad "the same configuration written otherwise has another hash"
[ "$("$T" sms config-hash "${HONEST[@]/--master-key/--master-key-command}" | head -1)" != "$hash" ] &&
	ok || bad "the master key's kind is not part of the configuration"
start_ratls "${EVIL[@]}"
expect 1 'trusts a simulated root CA .* not this client' -- "$T" ratls check "$RURL/healthz" "${SIMCOL[@]}" \
	--policy "$W/policy.json"
expect 1 "configuration hash is $evil_hash, not the pinned $hash" -- "$T" ratls check "$RURL/healthz" \
	"${SIMCOL[@]}" --policy "$W/policy.json" --config-hash "$hash"
expect 1 'trusts a simulated root CA' -- "$T" secret push --sms "$RURL" "${C[@]}" --account 4 \
	--requester ra-evil --value v3 --sms-policy "$W/policy.json" "${SIMCOL[@]}"
[ "$(curl -sk -o /dev/null -w '%{http_code}' -I "$RURL/requesters/$req/secrets/ra-evil")" = 404 ] &&
	ok || bad "a secret reached the SMS trusting another root"
# a client told to trust the attacker's root (to verify the SMS's quote)
# fails on the quote instead: it was made in the pool's TD
expect 1 'attestation is refused' -- "$T" ratls check "$RURL/healthz" \
	--collateral "$W/evil/collateral/collateral.json" --trust-sim-root "$W/evil/root_ca.pem"
kill "$RSMS" && wait "$RSMS" 2>/dev/null
start_ratls "${HONEST[@]}"
expect 0 "config_hash +$hash" -- "$T" ratls check "$RURL/healthz" "${SIMCOL[@]}" --policy "$W/policy.json" \
	--config-hash "$hash"
"$T" ratls check "$RURL/healthz" "${SIMCOL[@]}" --policy "$W/policy.json" --json >"$W/check.json" 2>&1
grep -q '"kind": "simulated"' "$W/check.json" && grep -q "\"source\": \"$W/td/collateral/collateral.json\"" "$W/check.json" &&
	grep -q "\"MRTD\": \[" "$W/check.json" && ok || bad "ratls check does not show the configuration: $(head -c 600 "$W/check.json")"
grep -q "event=sms.ra_tls provider=sim config_hash=$hash" "$W/sms.log" && ok || bad "the SMS does not log its hash"
expect 1 "not the pinned $evil_hash" -- "$T" ratls check "$RURL/healthz" "${SIMCOL[@]}" \
	--config-hash "$evil_hash"
expect 0 pushed -- "$T" secret push --sms "$RURL" "${C[@]}" --account 4 --requester ra-pinned --value v4 \
	--sms-policy "$W/policy.json" "${SIMCOL[@]}" --sms-config-hash "$hash"
expect 1 'not the pinned' -- "$T" secret push --sms "$RURL" "${C[@]}" --account 4 --requester ra-mispinned \
	--value v5 --sms-policy "$W/policy.json" "${SIMCOL[@]}" --sms-config-hash "$evil_hash"
[ "$(curl -sk -o /dev/null -w '%{http_code}' -I "$RURL/requesters/$req/secrets/ra-pinned")" = 204 ] &&
	[ "$(curl -sk -o /dev/null -w '%{http_code}' -I "$RURL/requesters/$req/secrets/ra-mispinned")" = 404 ] &&
	ok || bad "pinned pushes: the matching one stored, the other not"
kill "$RSMS" && wait "$RSMS" 2>/dev/null
expect 1 'needs --sms-policy' -- "$T" secret push --sms "$RURL" "${C[@]}" --account 4 --requester x \
	--value v --sms-config-hash "$hash"
expect 1 'sms-config-hash' -- "$T" secret push --sms "$RURL" "${C[@]}" --account 4 --requester x \
	--value v --sms-policy "$W/policy.json" "${SIMCOL[@]}" --sms-config-hash 12ab
expect 1 'config-hash' -- "$T" ratls check "$RURL/healthz" "${SIMCOL[@]}" --config-hash zz
# A real TD (the tsm provider) never trusts a simulated root: refused before
# anything starts, and no hash is computed for that configuration.
expect 1 'trust-sim-root cannot go with the tsm quote provider' -- "$T" sms --port 0 --db "$W/ratls.db" \
	"${HONEST[@]}" --ra-tls --provider tsm
expect 1 'trust-sim-root cannot go with the tsm quote provider' -- "$T" sms config-hash "${HONEST[@]}" \
	--ra-tls --provider tsm
# A policy naming event logs (read at each check) cannot be bound.
printf '{"measurements": {"MRTD": "%s"}, "event_logs": ["x.jsonl"]}\n' "$(m MRTD)" >"$W/policy-logs.json"
expect 1 'names event_logs' -- "$T" sms config-hash --master-key "$W/ratls.key" \
	--collateral "$W/td/collateral/collateral.json" --trust-sim-root "$W/td/root_ca.pem" \
	--policy "$W/policy-logs.json"
sed '/"chain_id"/d' "$W/chain/chain.json" >"$W/chain-noid.json"
expect 1 'no "chain_id"' -- "$T" sms config-hash --master-key "$W/ratls.key" --chain "$W/chain-noid.json"
expect 1 'master-key' -- "$T" sms config-hash

# The master key from a command (a KMS client): the same key opens the
# store; another key, from a command or a replaced file, is refused before
# anything is stored under it, and the secrets stay readable.
expect 0 'all authenticate' -- "$T" sms check --db "$W/sms.db" --master-key-command "cat '$W/master.key'"
openssl rand -hex 32 >"$W/other.key"
chmod 600 "$W/other.key"
expect 1 'master key does not open this store' -- "$T" sms check --db "$W/sms.db" \
	--master-key-command "cat '$W/other.key'"
expect 1 'master key does not open this store' -- "$T" sms --port 0 --db "$W/sms.db" \
	--master-key "$W/other.key"
expect 1 'master key command failed' -- "$T" sms --port 0 --db "$W/sms.db" --master-key-command false
expect 1 'master key from the command' -- "$T" sms --port 0 --db "$W/sms.db" --master-key-command "echo nothex"
expect 1 'master-key-command' -- "$T" sms --port 0 --db "$W/sms.db" --master-key "$W/master.key" \
	--master-key-command "cat '$W/master.key'"
rm -f "$W/port"
"$T" sms --port 0 --port-file "$W/port" --db "$W/sms.db" --master-key-command "cat '$W/master.key'" \
	"${C[@]}" 2>>"$W/sms.log" &
SMS=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$W/port" 2>/dev/null)"
node "$HERE/secrets.js" "$URL" "$W/chain/chain.json" "$dataset" "$app" check && ok ||
	bad "secrets with the key from a command"
stop_sms

# Key rotation: refused while an SMS has the store open; offline, every
# secret moves to the new key at once and the old key no longer opens it.
sms_start_sim
expect 1 'in use .*stop it first' -- "$T" sms rekey --db "$W/sms.db" --master-key "$W/master.key" \
	--new-master-key "$W/rotated.key"
# one process at a time has the store (the SMS caches sessions and secret
# rows), whatever the path to it: a second SMS (through a symlink, after
# waiting 5 s) or an ear-rotate (through a hard link) is refused; sms check
# only reads, and runs beside it
ln -s "$W/sms.db" "$W/link.db"
ln "$W/sms.db" "$W/hard.db"
expect 1 'in use by another process' -- "$T" sms --port 0 --db "$W/link.db" --master-key "$W/master.key"
expect 1 'in use by another process' -- "$T" sms ear-rotate --db "$W/hard.db" \
	--master-key "$W/master.key"
expect 0 'all authenticate' -- "$T" sms check --db "$W/sms.db" --master-key "$W/master.key"
stop_sms
rm -f "$W/link.db" "$W/hard.db"
# a start waits a few seconds for the store held by another process (the
# previous SMS still stopping) rather than fail at once
flock "$W/sms.db" sleep 1 &
HOLD=$!
sleep 0.2
sms_start_sim
wait "$HOLD"
node "$HERE/secrets.js" "$URL" "$W/chain/chain.json" "$dataset" "$app" check && ok ||
	bad "an SMS started while the store was held: $(tail -3 "$W/sms.log")"
stop_sms
n=$(sqlite3 "$W/sms.db" 'select count(*) from secrets' 2>/dev/null || echo '[0-9]+')
expect 0 "^$n secrets re-encrypted" -- "$T" sms rekey --db "$W/sms.db" \
	--master-key-command "cat '$W/master.key'" --new-master-key "$W/rotated.key"
[ "$(stat -c %a "$W/rotated.key")" = 600 ] && ok || bad "new master key mode"
expect 1 'does not open this store' -- "$T" sms check --db "$W/sms.db" --master-key "$W/master.key"
expect 0 "^$n secrets, all authenticate" -- "$T" sms check --db "$W/sms.db" --master-key "$W/rotated.key"
cp "$W/rotated.key" "$W/master.key"
sms_start_sim
node "$HERE/secrets.js" "$URL" "$W/chain/chain.json" "$dataset" "$app" check && ok ||
	bad "secrets after the key rotation"
stop_sms

# Undumpable even for its own uid: an SMS run by nobody, started with a
# secret in its environment, cannot be read by another process of nobody
# (only root), and creates its files 0600 under a umask of 022.
if [ "$(id -u)" = 0 ]; then
	N=$(mktemp -d)
	chown 65534:65534 "$N"
	(umask 022 && exec env TDEXEC_WALLET_PASSWORD=pw-nobody-drops setpriv --reuid=65534 \
		--regid=65534 --clear-groups "$T" sms --port 0 --port-file "$N/port" --db "$N/sms.db" \
		--master-key "$N/master.key" 2>"$N/log") &
	NSMS=$!
	for _ in $(seq 100); do [ -s "$N/port" ] && break; sleep 0.05; done
	[ -s "$N/port" ] && [ "$(ps -o user= -p "$NSMS")" = nobody ] && ok ||
		bad "the SMS as nobody: $(cat "$N/log")"
	hardened "sms as nobody" "$NSMS" pw-nobody-drops
	private "sms as nobody" "$N/sms.db" "$N/sms.db-wal" "$N/sms.db-shm" "$N/master.key"
	kill "$NSMS" && wait "$NSMS" 2>/dev/null
	rm -rf "$N"
fi

# Attested provisioning needs the pool's policy, and one that pins MRTD:
# otherwise a session would go to a TD running any code.
SIMCOL=(--collateral "$W/td/collateral/collateral.json" --trust-sim-root "$W/td/root_ca.pem")
expect 1 'sms: --collateral needs --policy FILE' -- "$T" sms --port 0 --db "$W/sms.db" \
	--master-key "$W/master.key" "${C[@]}" "${SIMCOL[@]}"
echo '{"tcb_status": ["UpToDate"]}' >"$W/any-td.json"
expect 1 'any-td.json: the policy pins no MRTD.*--allow-any-mrtd' -- "$T" sms --port 0 \
	--db "$W/sms.db" --master-key "$W/master.key" "${C[@]}" "${SIMCOL[@]}" --policy "$W/any-td.json"
printf '{"collateral": "%s", "trust_sim_root": "%s", "policy": "%s"}\n' \
	"$W/td/collateral/collateral.json" "$W/td/root_ca.pem" "$W/any-td.json" >"$W/sms-any.json"
expect 1 'the policy pins no MRTD' -- "$T" sms --port 0 --db "$W/sms.db" --master-key "$W/master.key" \
	"${C[@]}" --config "$W/sms-any.json"
# The opt-out, as a flag or in --config: the SMS starts.
sed -i 's/}$/, "allow_any_mrtd": true}/' "$W/sms-any.json"
rm -f "$W/port"
"$T" sms --port 0 --port-file "$W/port" --db "$W/sms.db" --master-key "$W/master.key" "${C[@]}" \
	--config "$W/sms-any.json" 2>>"$W/sms.log" &
SMS=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
[ -s "$W/port" ] && ok || bad "sms with allow_any_mrtd did not start: $(tail -2 "$W/sms.log")"
stop_sms

# A master key readable by others is refused.
chmod 644 "$W/master.key"
expect 1 'readable by others' -- "$T" sms --port 0 --db "$W/sms.db" --master-key "$W/master.key"
expect 1 '--db and --master-key are required' -- "$T" sms --port 0
finish
