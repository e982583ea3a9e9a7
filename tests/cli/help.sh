#!/usr/bin/env bash
# The CLI conventions (docs/cli.md): every command and subcommand listed by
# 'tdexec completion list' (the command table) answers --help and -h with
# exit 0 and its usage on stdout; --json forms and JSON error objects;
# quote verify's exit codes, --quiet and --json on real quotes in every
# input encoding; the bash completion script.
# Usage: help.sh TDEXEC_BINARY TEST_DATA_DIR
set -u
T=$1
DATA=$2
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/../lib.sh"

# --- help walk
"$T" completion list >"$W/cmds" && ok || bad "completion list"
[ "$(wc -l <"$W/cmds")" -ge 40 ] && ok || bad "only $(wc -l <"$W/cmds") commands listed"
expect 0 '' -- "$T" --help
for c in $(grep -v ' ' "$W/cmds"); do
	grep -Eq "^  $c +[a-zA-Z]" "$W/out" && ok || bad "'tdexec --help' does not list $c"
done
while read -r line; do
	last=${line##* }
	for h in --help -h; do
		# shellcheck disable=SC2086  # the words of the command line
		"$T" $line $h >"$W/help" 2>"$W/err"
		rc=$?
		if [ $rc -ne 0 ]; then
			bad "'tdexec $line $h' exited $rc: $(head -c 200 "$W/err")"
		elif ! grep -q -- "$last" "$W/help"; then
			bad "'tdexec $line $h' printed no usage naming $last on stdout"
		else
			ok
		fi
	done
done <"$W/cmds"
expect 0 'publish' -- "$T" market --help
expect 0 'decrypt' -- "$T" result --help
expect 1 'Usage: tdexec' -- "$T"
expect 1 "unknown command 'frobnicate'" -- "$T" frobnicate
expect 1 "unknown command 'frobnicate'" -- "$T" quote frobnicate

# --- --json forms and error objects
P=$DATA/tdx/phala-dcap-qvl
Q=$P/tdx_quote
COLL=(--collateral "$P/tdx_quote_collateral.json")
expect 0 'MRTD' -- "$T" quote show --json=false "$Q"
grep -q '^{' "$W/out" && bad "--json=false printed JSON" || ok
expect 0 'MRTD' -- "$T" quote show --no-json "$Q"
grep -q '^{' "$W/out" && bad "--no-json printed JSON" || ok
expect 0 '^\{' -- "$T" quote show --json=true "$Q"
expect 0 '^\{' -- "$T" quote show "$Q" --json=1
expect 1 "--json takes true or false, not 'maybe'" -- "$T" quote show --json=maybe "$Q"
expect 1 'contradict' -- "$T" quote show --json --no-json "$Q"
expect 1 "option '--hex' takes no value" -- "$T" quote get --hex=1 --report-data 00
grep -q "'-j'\|'-x'" "$W/out" && bad "a long option reported as a short one" || ok
# errors under --json: a JSON object on stdout (stderr keeps the message)
"$T" quote show --json "$W/none" >"$W/j" 2>/dev/null
[ $? = 1 ] && ok || bad "quote show --json on a missing file"
jq -e '.code == 1 and (.error | test("none"))' "$W/j" >/dev/null && ok ||
	bad "quote show --json error: $(cat "$W/j")"
"$T" quote verify --json "$Q" >"$W/j" 2>/dev/null
[ $? = 1 ] && ok || bad "usage error under --json"
jq -e '.code == 1 and (.error | test("--collateral"))' "$W/j" >/dev/null && ok ||
	bad "usage error under --json: $(cat "$W/j")"

# commands that printed only words take --json too
expect 0 '' -- "$T" sim init --json "$W/sim"
jq -e '.simulated == true and (.root_ca | endswith("/root_ca.pem"))' "$W/out" >/dev/null && ok ||
	bad "sim init --json: $(cat "$W/out")"
expect 0 '' -- "$T" sim collateral --json "$W/sim"
jq -e '.collateral | endswith("/collateral")' "$W/out" >/dev/null && ok || bad "sim collateral --json"
"$T" quote get --provider sim --sim-dir "$W/sim" --report-data cafe --json >"$W/qj" &&
	jq -e '(.quote | length) == 2 * .size and .size > 1000' "$W/qj" >/dev/null && ok ||
	bad "quote get --json: $(head -c 200 "$W/qj")"
expect 1 'give one of -o, --hex and --json' -- "$T" quote get --provider sim --sim-dir "$W/sim" \
	--report-data cafe --json --hex

# ... and those that printed a line of words, or nothing, or wrote a file;
# jerr CMD...: the command fails with exit 1 and one JSON error object on stdout
jrun() { # CMD...: succeeds; its stdout in $W/out
	"$@" >"$W/out" 2>"$W/err"
	local rc=$?
	[ $rc = 0 ] && ok || bad "'$*' exited $rc: $(head -c 300 "$W/err")"
}
jerr() {
	"$@" >"$W/je" 2>/dev/null
	local rc=$?
	[ $rc = 1 ] && jq -e '.code == 1 and (.error | length > 0)' "$W/je" >/dev/null && ok ||
		bad "'$*' (exit $rc) printed no JSON error: $(head -c 200 "$W/je")"
}
"$T" sim init "$W/sim2" >/dev/null
jrun "$T" sim extend --json --rtmr 3 --digest "$(printf '%096d' 1)" "$W/sim2"
jq -e --slurpfile td "$W/sim2/td.json" '.rtmr == 3 and .digest == "'"$(printf '%096d' 1)"'"
	and (.value | test("^[0-9a-f]{96}$")) and .value == ($td[0].RTMR3 | ascii_downcase)' "$W/out" >/dev/null &&
	ok || bad "sim extend --json: $(cat "$W/out")"
jerr "$T" sim extend --json --rtmr 9 --digest 00 "$W/sim2"
jerr "$T" sim extend --json --rtmr 3 --digest 00 "$W/nowhere"
jrun "$T" policy from-quote --json "$Q" -o "$W/pol-j.json"
jq -e --slurpfile p "$W/pol-j.json" --arg o "$W/pol-j.json" '.output == $o and .policy == $p[0]
	and (.pinned | index("MRTD")) != null and (.pinned | index("RTMR3")) == null' "$W/out" >/dev/null &&
	ok || bad "policy from-quote --json: $(head -c 300 "$W/out")"
jrun "$T" policy from-quote --json "$Q"
jq -e '.output == null and (.policy.measurements.MRTD | length) == 96' "$W/out" >/dev/null && ok ||
	bad "policy from-quote --json to stdout: $(head -c 300 "$W/out")"
jerr "$T" policy from-quote --json "$W/missing"
jrun "$T" ratls cert --json --provider sim --sim-dir "$W/sim2" --cert-out "$W/c.pem" --key-out "$W/k.pem"
jq -e --arg c "$W/c.pem" --arg h "$(printf '{}' | sha256sum | cut -d' ' -f1)" \
	'.cert == $c and .config_hash == $h and .days == 365' "$W/out" >/dev/null && [ -s "$W/c.pem" ] &&
	ok || bad "ratls cert --json: $(cat "$W/out")"
jerr "$T" ratls cert --json --provider sim --sim-dir "$W/sim2"
# sms rekey on an empty store (an empty file is an empty SQLite database)
: >"$W/sms.db"
openssl rand -hex 32 >"$W/mk" && chmod 600 "$W/mk"
jrun "$T" sms rekey --json --db "$W/sms.db" --master-key "$W/mk" --new-master-key "$W/mk2"
jq -e '.secrets == 0 and .rekeyed == true' "$W/out" >/dev/null && ok || bad "sms rekey --json: $(cat "$W/out")"
jerr "$T" sms rekey --json --db "$W/no.db" --master-key "$W/mk" --new-master-key "$W/mk3"
jerr "$T" collateral fetch --json --fmspc 00906ED50000
# chain up and down: deployed, already up, stopped, not running, restored
jrun "$T" chain up --json --dir "$W/chain" --port 0
jq -e --arg f "$W/chain/chain.json" '.state == "deployed" and .chain_file == $f and has("accounts") == false
	and (.hub | test("^0x[0-9a-fA-F]{40}$"))' "$W/out" >/dev/null && ok || bad "chain up --json: $(head -c 300 "$W/out")"
jrun "$T" chain up --json --dir "$W/chain" --port 0
jq -e '.state == "already_up"' "$W/out" >/dev/null && ok || bad "chain up --json again: $(head -c 300 "$W/out")"
jrun "$T" chain down --json --chain "$W/chain/chain.json"
jq -e --arg d "$W/chain" '.dir == $d and .was_running == true' "$W/out" >/dev/null && ok || bad "chain down --json: $(cat "$W/out")"
jrun "$T" chain down --json --dir "$W/chain"
jq -e '.was_running == false' "$W/out" >/dev/null && ok || bad "chain down --json, down: $(cat "$W/out")"
jrun "$T" chain up --json --dir "$W/chain" --port 0
jq -e '.state == "restored"' "$W/out" >/dev/null && ok || bad "chain up --json, restored: $(head -c 300 "$W/out")"
"$T" chain down --dir "$W/chain" >/dev/null
jerr "$T" chain up --json --dir "$W/chain" --flavour bogus

# --- quote verify: exit codes, --quiet, --json
AT=(--at 1751000000)
# vcase CODE FILE [ARGS...]: the code with text, --quiet and --json
vcase() {
	local code=$1 f=$2
	shift 2
	"$T" quote verify "$f" "$@" >"$W/v" 2>&1
	[ $? = "$code" ] && ok || bad "verify $f $*: exit $? want $code: $(head -c 300 "$W/v")"
	"$T" quote verify "$f" "$@" --quiet >"$W/v" 2>&1
	local rc=$?
	[ $rc = "$code" ] && ok || bad "verify --quiet $f: exit $rc want $code"
	[ -s "$W/v" ] && bad "verify --quiet $f printed: $(head -c 200 "$W/v")" || ok
	"$T" quote verify "$f" "$@" --json >"$W/vj" 2>/dev/null
	rc=$?
	[ $rc = "$code" ] && ok || bad "verify --json $f: exit $rc want $code"
	jq -e . "$W/vj" >/dev/null && ok || bad "verify --json $f: stdout is not JSON: $(head -c 200 "$W/vj")"
}
vcase 0 "$Q" "${COLL[@]}" "${AT[@]}"
jq -e '.verified == true and .policy_ok == true' "$W/vj" >/dev/null && ok || bad "verified: $(cat "$W/vj")"

# every input encoding of the same quote verifies
xxd -p "$Q" >"$W/q.hex"
{ printf '0x'; xxd -p "$Q" | tr -d '\n'; } >"$W/q.0x"
base64 -w 76 "$Q" >"$W/q.b64"
base64 -w 0 "$Q" >"$W/q.b64line"
for f in q.hex q.0x q.b64 q.b64line; do
	expect 0 'attester_tcb_status +UpToDate' -- "$T" quote verify "$W/$f" "${COLL[@]}" "${AT[@]}"
done
expect 0 'attester_tcb_status +UpToDate' -- sh -c 'f=$1; shift; "$0" quote verify - "$@" <"$f"' "$T" "$W/q.b64" \
	"${COLL[@]}" "${AT[@]}"
for f in q.0x q.b64; do
	expect 0 'MRTD' -- "$T" quote show "$W/$f"
	expect 0 'pinned' -- "$T" policy from-quote "$W/$f" -o "$W/p-$f.json"
done

# tampered: one byte of the TD report (MRTD) changed, the signature fails
cp "$Q" "$W/tampered"
printf '\x5a' | dd of="$W/tampered" bs=1 seek=200 conv=notrunc status=none
vcase 2 "$W/tampered" "${COLL[@]}" "${AT[@]}"
jq -e '.verified == false and has("policy_ok") == false' "$W/vj" >/dev/null && ok ||
	bad "a failed verification reports a policy verdict: $(cat "$W/vj")"
# expired collateral: exit 2 and what to do about it
expect 2 "collateral fetch.*--at" -- "$T" quote verify "$Q" "${COLL[@]}" --at 1800000000
# policy mismatch: expected and actual
mrtd=$("$T" quote show --json "$Q" | jq -r .body.MRTD 2>/dev/null)
[ -n "$mrtd" ] && [ "$mrtd" != null ] || mrtd=$("$T" quote show --json "$Q" | json_str /dev/stdin MRTD)
want=$(printf '%096d' 7)
printf '{"measurements": {"MRTD": ["%s"]}}' "$want" >"$W/pol.json"
vcase 4 "$Q" "${COLL[@]}" "${AT[@]}" --policy "$W/pol.json"
jq -e '.verified == true and .policy_ok == false' "$W/vj" >/dev/null && ok || bad "mismatch: $(cat "$W/vj")"
expect 4 "MRTD $mrtd is not the policy's value $want" -- "$T" quote verify "$Q" "${COLL[@]}" "${AT[@]}" \
	--policy "$W/pol.json"
# garbage: text in no encoding, random bytes, an SGX quote
printf 'not a quote\n' >"$W/garbage.txt"
head -c 3000 /dev/urandom >"$W/garbage.bin"
vcase 5 "$W/garbage.txt" "${COLL[@]}" "${AT[@]}"
jq -e '.code == 5' "$W/vj" >/dev/null && ok || bad "garbage --json: $(cat "$W/vj")"
vcase 5 "$W/garbage.bin" "${COLL[@]}" "${AT[@]}"
vcase 5 "$P/sgx_quote" "${COLL[@]}" "${AT[@]}"
# unreadable: a missing file, a directory
vcase 1 "$W/missing" "${COLL[@]}" "${AT[@]}"
jq -e '.code == 1' "$W/vj" >/dev/null && ok || bad "missing --json: $(cat "$W/vj")"
vcase 1 "$W" "${COLL[@]}" "${AT[@]}"
# collateral fetch: a PCS on a loopback port nothing listens on
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
vcase 3 "$Q" --pcs "http://127.0.0.1:$port" --cache "$W/cache" "${AT[@]}"
jq -e '.code == 3' "$W/vj" >/dev/null && ok || bad "fetch --json: $(cat "$W/vj")"

# --- bash completion from the option tables
"$T" completion bash >"$W/comp.bash" && ok || bad "completion bash"
# complete WORDS...: what the script offers for the last word
complete_words() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _tdexec; echo "${COMPREPLY[*]}"' \
		_ "$W/comp.bash" "$@"
}
[ "$(complete_words tdexec mar)" = market ] && ok || bad "tdexec mar: $(complete_words tdexec mar)"
[ "$(complete_words tdexec quote '')" = "get show verify" ] && ok ||
	bad "tdexec quote: $(complete_words tdexec quote '')"
[ "$(complete_words tdexec quote verify --q)" = --quiet ] && ok ||
	bad "tdexec quote verify --q: $(complete_words tdexec quote verify --q)"
[ "$(complete_words tdexec --log-level debug market l)" = list ] && ok ||
	bad "tdexec market l: $(complete_words tdexec --log-level debug market l)"
complete_words tdexec run --json --sec | grep -qw -- --secret && ok || bad "tdexec run --sec"
[ "$(complete_words tdexec chain status --ch)" = --chain ] && ok ||
	bad "tdexec chain status --ch: $(complete_words tdexec chain status --ch)"

finish
