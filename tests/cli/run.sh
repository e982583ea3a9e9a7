#!/usr/bin/env bash
# CLI integration tests: exit codes, messages, and `quote show --json` field
# values checked against the raw bytes of the real quotes (read with od).
# Usage: run.sh TDEXEC_BINARY TEST_DATA_DIR
set -u
T=$1
DATA=$2
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/../lib.sh"

# hex of LEN bytes at OFFSET of FILE
bytes_hex() { od -An -v -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# --- global CLI behaviour
expect 0 '^tdexec [0-9]+\.[0-9]+\.[0-9]+' -- "$T" --version
expect 0 'Commands:' -- "$T" --help
expect 1 'Usage: tdexec' -- "$T"
expect 1 "unknown command 'frobnicate'" -- "$T" frobnicate
expect 1 "unknown option '--frob'" -- "$T" --frob
expect 1 "unknown log level" -- "$T" --log-level loud quote --help
expect 0 'get' -- "$T" quote --help
expect 0 'report-data' -- "$T" quote get --help
expect 0 'json' -- "$T" quote show --help
expect 0 'init' -- "$T" sim --help
expect 1 "unknown command 'nope'" -- "$T" quote nope
expect 1 "unknown option '--nope'" -- "$T" quote show --nope x
expect 1 "needs a value" -- "$T" quote get --report-data
expect 1 "expected one quote file" -- "$T" quote show
expect 1 "unknown quote provider 'tpm'" -- "$T" quote get --provider tpm --report-data 00 --hex
expect 1 "at most 64" -- "$T" quote get --provider sim --sim-dir "$W/none" --hex \
	--report-data "$(printf '%0130d' 0)"
expect 1 "report data is required" -- "$T" quote get --hex

# --- the tsm provider on a machine without TDX
if [ ! -d /sys/kernel/config/tsm/report ]; then
	expect 1 'no TDX guest support: configfs-tsm report interface not found' -- \
		"$T" quote get --report-data 00 --hex
	expect 1 'no TDX guest support' -- "$T" ratls cert --cert-out "$W/c.pem" --key-out "$W/k.pem"
	[ ! -e "$W/k.pem" ] && ok || bad "ratls cert left a key behind"
fi
# --- RA-TLS: usage errors, and a server that is not there
expect 1 'a URL and --collateral are required' -- "$T" ratls check https://127.0.0.1:9/
expect 1 'needs --sim-dir' -- "$T" ratls cert --provider sim --cert-out "$W/c.pem" --key-out "$W/k.pem"
expect 1 "unknown command 'verify'" -- "$T" ratls verify
expect 1 'must be an https URL' -- "$T" scheduler --chain "$W/none.json" --workerpool 0x01 \
	--account 3 --sms http://127.0.0.1:9 --db "$W/s.db" --results "$W/r" --collateral "$W/c" \
	--policy "$W/p.json" --sms-policy "$W/p.json"
# --- the services admit TDs only by a policy that names them: the scheduler
# needs --policy, and every policy it or a worker takes must pin MRTD
# (--allow-any-mrtd, or "allow_any_mrtd" in --config, says otherwise)
echo '{}' >"$W/any.json"
printf '{"measurements": {"MRTD": "%096d"}}\n' 0 >"$W/pinned.json"
SCHED=(scheduler --chain "$W/none.json" --workerpool 0x01 --account 3 --db "$W/s.db" --results "$W/r"
	--collateral "$W/c")
expect 1 'scheduler: --policy FILE is required' -- "$T" "${SCHED[@]}" --sms http://127.0.0.1:9
expect 1 'any.json: the policy pins no MRTD.*--allow-any-mrtd' -- "$T" "${SCHED[@]}" \
	--sms http://127.0.0.1:9 --policy "$W/any.json"
expect 1 'any.json: the policy pins no MRTD' -- "$T" "${SCHED[@]}" --sms https://127.0.0.1:9 \
	--policy "$W/pinned.json" --sms-policy "$W/any.json"
expect 1 'chain: .*none.json: No such file' -- "$T" "${SCHED[@]}" --sms https://127.0.0.1:9 \
	--policy "$W/any.json" --sms-policy "$W/any.json" --allow-any-mrtd
echo '{"allow_any_mrtd": true}' >"$W/any-conf.json"
expect 1 'chain: .*none.json: No such file' -- "$T" "${SCHED[@]}" --sms http://127.0.0.1:9 \
	--policy "$W/any.json" --config "$W/any-conf.json"
WORKER=(worker --scheduler http://127.0.0.1:9 --chain "$W/none.json" --account 5 --images "$W/i"
	--work-dir "$W/wd")
expect 1 'any.json: the policy pins no MRTD' -- "$T" "${WORKER[@]}" --sms-policy "$W/any.json" \
	--collateral "$W/c"
# --- a worker admits the SMS by its quote (--sms-policy), or is told
# plainly that it does not (--insecure-sms, "insecure_sms" in --config)
expect 1 'worker: --sms-policy FILE is required.*--insecure-sms' -- "$T" "${WORKER[@]}"
expect 1 'exclude each other' -- "$T" "${WORKER[@]}" --insecure-sms --sms-policy "$W/pinned.json" \
	--collateral "$W/c"
expect 1 'chain: .*none.json: No such file' -- "$T" "${WORKER[@]}" --insecure-sms
echo '{"insecure_sms": true}' >"$W/insecure.json"
expect 1 'chain: .*none.json: No such file' -- "$T" "${WORKER[@]}" --config "$W/insecure.json"
# --- results: a download is checked against the chain, so it needs one
expect 1 'chain is required' -- "$T" result get 0x$(printf '%064d' 0) --scheduler http://127.0.0.1:9 \
	--plain-key "$W/none" -o "$W/r.zip"
expect 1 'needs --scheduler and --chain' -- "$T" result decrypt "$W/r.zip" --key "$W/k.pem" \
	-o "$W/p.zip" --task 0x$(printf '%064d' 0)
# (the worker's config file takes allow_private_inputs like the flag)
echo '{"allow_private_inputs": true}' >"$W/w.json"
expect 1 'are required' -- "$T" worker --config "$W/w.json"

# --- real quotes: fields at their byte offsets
while IFS=$'\t' read -r file version body_type size trailing fmspc svn _rest; do
	case "$file" in '#'* | '') continue ;; esac
	q="$DATA/tdx/$file"
	if ! "$T" quote show --json "$q" >"$W/q.json" 2>"$W/err"; then
		bad "quote show --json $file: $(cat "$W/err")"
		continue
	fi
	base=48
	[ "$version" = 5 ] && base=54
	i=0
	for f in MRTD MRCONFIGID MROWNER MROWNERCONFIG RTMR0 RTMR1 RTMR2 RTMR3; do
		off=$((base + 136 + 48 * i))
		want=$(bytes_hex "$q" $off 48)
		got=$(json_str "$W/q.json" "$f")
		[ "$got" = "$want" ] && ok || bad "$file $f: got $got want $want"
		i=$((i + 1))
	done
	got=$(json_str "$W/q.json" REPORTDATA)
	[ "$got" = "$(bytes_hex "$q" $((base + 520)) 64)" ] && ok || bad "$file REPORTDATA"
	[ "$(json_str "$W/q.json" FMSPC)" = "$fmspc" ] && ok || bad "$file FMSPC"
	[ "$(json_str "$W/q.json" TEE_TCB_SVN)" = "$svn" ] && ok || bad "$file TEE_TCB_SVN"
	grep -q "\"trailing_bytes\": $trailing\$" "$W/q.json" && ok || bad "$file trailing_bytes"
	# The text form shows the same MRTD; hex input is accepted too.
	od -An -v -tx1 "$q" >"$W/q.hex"
	expect 0 "MRTD +$(json_str "$W/q.json" MRTD)" -- "$T" quote show "$W/q.hex"
	# A truncated copy is refused with the field and offset.
	head -c 700 "$q" >"$W/short"
	expect 1 'quote: truncated [a-zA-Z_.]+ at offset [0-9]+' -- "$T" quote show "$W/short"
done <"$DATA/tdx/quotes.tsv"

expect 1 'SGX quote, not a TDX quote' -- "$T" quote show "$DATA/tdx/phala-dcap-qvl/sgx_quote"
expect 1 'No such file' -- "$T" quote show "$W/missing"
printf 'z\001' >"$W/junk"
expect 1 'truncated header.attestation_key_type at offset 2' -- "$T" quote show "$W/junk"
printf 'zz' >"$W/junk.txt"
expect 1 'not a quote in binary, hex, 0x-hex or base64' -- "$T" quote show "$W/junk.txt"

# --- the simulated TD from the command line
S="$W/sim"
expect 0 'SIMULATED' -- "$T" sim init "$S"
expect 1 'already holds a simulated TD' -- "$T" sim init "$S"
# RA-TLS certificates carry a configuration document, written canonical
printf '{"b": 1, "a": [true, "\u00e9"]}' >"$W/ratls-conf.json"
expect 0 '' -- "$T" ratls cert --provider sim --sim-dir "$S" --config "$W/ratls-conf.json" \
	--cert-out "$W/rc.pem" --key-out "$W/rk.pem"
openssl x509 -in "$W/rc.pem" -noout -text | grep -A1 '2.25.3209255768396141164.1:' |
	grep -qF '{"a":[true,"\u00E9"],"b":1}' && ok || bad "ratls cert: the configuration is not canonical"
printf '[1]' >"$W/ratls-arr.json"
rm -f "$W/rk2.pem"
expect 1 'must be a JSON object' -- "$T" ratls cert --provider sim --sim-dir "$S" \
	--config "$W/ratls-arr.json" --cert-out "$W/rc2.pem" --key-out "$W/rk2.pem"
[ ! -e "$W/rk2.pem" ] && ok || bad "ratls cert left a key behind"
expect 1 "goes with 'sms config-hash'" -- "$T" sms --db "$W/x.db" --master-key "$W/x.key" --json
expect 1 'its kind is part of the configuration' -- "$T" sms config-hash --collateral "$W/none"
expect 0 '' -- "$T" quote get --provider sim --sim-dir "$S" --report-data cafe -o "$W/sim.dat"
expect 0 '' -- "$T" quote show --json "$W/sim.dat"
[ "$(json_str "$W/out" REPORTDATA)" = "cafe$(printf '%0124d' 0)" ] && ok || bad "sim REPORTDATA"
[ "$(json_str "$W/out" FMSPC)" = "53494d000000" ] && ok || bad "sim FMSPC"
rtmr3_before=$(json_str "$W/out" RTMR3)
expect 0 '' -- "$T" sim extend --rtmr 3 --digest "$(printf 'ab%.0s' $(seq 48))" --event test "$S"
expect 1 'expected 96 hex digits' -- "$T" sim extend --rtmr 3 --digest abcd "$S"
expect 1 "'9' is not a number in 0..3" -- "$T" sim extend --rtmr 9 --digest abcd "$S"
"$T" quote get --provider sim --sim-dir "$S" --report-data cafe --hex >"$W/sim.hex"
expect 0 '' -- "$T" quote show --json "$W/sim.hex"
[ "$(json_str "$W/out" RTMR3)" != "$rtmr3_before" ] && ok || bad "RTMR3 did not change"
grep -q '"event":"test"' "$S/event_log.jsonl" && ok || bad "event log"
expect 1 'no simulated TD' -- "$T" quote get --provider sim --sim-dir "$W/nowhere" --report-data 00 --hex

# --- quote verify
P="$DATA/tdx/phala-dcap-qvl"
expect 0 'attester_tcb_status +UpToDate' -- "$T" quote verify "$P/tdx_quote" \
	--collateral "$P/tdx_quote_collateral.json" --at 2025-06-27T04:53:20Z
expect 0 '"tdx_mrtd": "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"' -- \
	"$T" quote verify --json "$P/tdx_quote" --collateral "$P/tdx_quote_collateral.json" --at 1751000000
grep -q '"valid_until": "2025-07-19T10:00:35Z"' "$W/out" && ok || bad "valid_until"
expect 2 'quote verification failed: TCB level not supported' -- "$T" quote verify \
	"$P/tdx_quote_outdated" --collateral "$P/tdx_quote_outdated_collateral.json" --at 1772000000
expect 2 'PCK CRL expired at 2025-07-19T10:00:35Z' -- "$T" quote verify "$P/tdx_quote" \
	--collateral "$P/tdx_quote_collateral.json" --at 1752919236
expect 1 'give exactly one of --collateral and --pcs' -- "$T" quote verify "$P/tdx_quote"
expect 1 '--at: invalid time' -- "$T" quote verify "$P/tdx_quote" --collateral x --at soon
expect 1 'collateral .*not found' -- "$T" quote verify "$P/tdx_quote" --collateral "$W/none"
expect 5 'SGX quote, not a TDX quote' -- "$T" quote verify "$P/sgx_quote" \
	--collateral "$P/sgx_quote_collateral.json" --at 1751000000

# simulated quotes: only with the simulated root, and reported as such
"$T" quote get --provider sim --sim-dir "$S" --report-data cafe -o "$W/sim2.dat"
expect 2 'root is not the trusted Intel SGX root CA' -- "$T" quote verify "$W/sim2.dat" --collateral "$S/collateral"
expect 0 'simulated +true' -- "$T" quote verify "$W/sim2.dat" --collateral "$S/collateral" \
	--trust-sim-root "$S/root_ca.pem"
mrtd=$("$T" quote show --json "$W/sim2.dat" | json_str /dev/stdin MRTD)
printf '{"measurements": {"MRTD": "%s"}, "event_logs": ["%s/event_log.jsonl"], "report_data": "cafe%0124d"}' \
	"$mrtd" "$S" 0 >"$W/policy.json"
expect 0 'policy_ok +true' -- "$T" quote verify "$W/sim2.dat" --collateral "$S/collateral" \
	--trust-sim-root "$S/root_ca.pem" --policy "$W/policy.json"
printf '{"measurements": {"MRTD": ["%s"]}}' "$(printf '%096d' 0)" >"$W/policy-bad.json"
expect 4 'policy not satisfied: MRTD 0' -- "$T" quote verify "$W/sim2.dat" --collateral "$S/collateral" \
	--trust-sim-root "$S/root_ca.pem" --policy "$W/policy-bad.json"
# an event log that disagrees with the quote
echo "{\"rtmr\":3,\"digest\":\"$(printf 'ee%.0s' $(seq 48))\"}" >"$W/other.jsonl"
printf '{"event_logs": ["other.jsonl"]}' >"$W/policy-log.json"
expect 4 'RTMR3 [0-9a-f]+ differs from the event log replay' -- "$T" quote verify "$W/sim2.dat" \
	--collateral "$S/collateral" --trust-sim-root "$S/root_ca.pem" --policy "$W/policy-log.json"
printf '{"mrtd": "00"}' >"$W/policy-typo.json"
expect 1 'unknown member "mrtd"' -- "$T" quote verify "$W/sim2.dat" --collateral "$S/collateral" \
	--trust-sim-root "$S/root_ca.pem" --policy "$W/policy-typo.json"

# --- a policy that names no TCB status accepts UpToDate only, and no
# advisory it does not list; without --policy the verdict is only reported
echo '{}' >"$W/empty.json"
expect 0 'policy_ok +true' -- "$T" quote verify "$P/tdx_quote" --collateral "$P/tdx_quote_collateral.json" \
	--at 1751000000 --policy "$W/empty.json"
# OutOfDate with INTEL-SA-00000: the simulated TDX module one step below
# its UpToDate level (docs/quotes.md)
sed 's/"TEE_TCB_SVN": "\(....\)02/"TEE_TCB_SVN": "\101/' "$S/td.json" >"$W/outdated.json"
"$T" quote get --provider sim --sim-dir "$S" --measurements "$W/outdated.json" --report-data 00 \
	-o "$W/outdated.dat"
SIMV=(--collateral "$S/collateral" --trust-sim-root "$S/root_ca.pem")
expect 0 'attester_tcb_status +OutOfDate' -- "$T" quote verify "$W/outdated.dat" "${SIMV[@]}"
grep -Eq 'attester_advisory_ids +INTEL-SA-00000' "$W/out" && ok || bad "OutOfDate advisory: $(cat "$W/out")"
expect 4 'policy not satisfied: TCB status OutOfDate is not accepted' -- \
	"$T" quote verify "$W/outdated.dat" "${SIMV[@]}" --policy "$W/empty.json"
grep -Eq 'policy_ok +false' "$W/out" && grep -q 'advisory INTEL-SA-00000 is not accepted' "$W/out" &&
	ok || bad "policy {} on an OutOfDate quote: $(cat "$W/out")"
echo '{"tcb_status": ["UpToDate", "OutOfDate"]}' >"$W/outdated-ok.json"
expect 4 'policy not satisfied: advisory INTEL-SA-00000 is not accepted' -- \
	"$T" quote verify "$W/outdated.dat" "${SIMV[@]}" --policy "$W/outdated-ok.json"
echo '{"tcb_status": ["OutOfDate"], "advisory_ids": ["INTEL-SA-00000"]}' >"$W/outdated-ok.json"
expect 0 'policy_ok +true' -- "$T" quote verify "$W/outdated.dat" "${SIMV[@]}" --policy "$W/outdated-ok.json"
# SWHardeningNeeded with INTEL-SA-00615: the simulated platform level says
# so in TCB info signed again by the simulated TCB signing key
node "$(dirname "$0")/tcb_status.js" "$S" "$W/swh" SWHardeningNeeded INTEL-SA-00615 || bad "tcb_status.js"
SWH=(--collateral "$W/swh" --trust-sim-root "$S/root_ca.pem")
expect 0 'attester_tcb_status +SWHardeningNeeded' -- "$T" quote verify "$W/sim2.dat" "${SWH[@]}"
expect 4 'policy not satisfied: TCB status SWHardeningNeeded is not accepted' -- \
	"$T" quote verify "$W/sim2.dat" "${SWH[@]}" --policy "$W/empty.json"
echo '{"tcb_status": ["UpToDate", "SWHardeningNeeded"]}' >"$W/swh-ok.json"
expect 4 'policy not satisfied: advisory INTEL-SA-00615 is not accepted' -- \
	"$T" quote verify "$W/sim2.dat" "${SWH[@]}" --policy "$W/swh-ok.json"

finish
