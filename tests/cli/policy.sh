#!/usr/bin/env bash
# tdexec policy from-quote: a policy written from a quote admits that quote
# (quote verify --policy) and refuses another TD's; quote encodings are
# detected; event logs that do not replay to the quote, DEBUG TDs and bad
# input are refused with a message and no policy.
# Usage: policy.sh TDEXEC_BINARY TEST_DATA_DIR
set -u
T=$1
DATA=$2
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/../lib.sh"

PH=$DATA/tdx/phala-dcap-qvl
COS=$DATA/tdx/google-go-tdx-guest/ccel

expect 0 'from-quote' -- "$T" policy --help
expect 0 'eventlog' -- "$T" policy from-quote --help
expect 1 'expected one quote file' -- "$T" policy from-quote
expect 1 'tcb-status' -- "$T" policy from-quote "$PH/tdx_quote" --tcb-status Fine

# --- a real quote (Phala's, UpToDate at 1751000000 with its collateral)
expect 0 'RTMR3 left to runtime replay' -- "$T" policy from-quote "$PH/tdx_quote" -o "$W/phala.json"
grep -q '"MRTD": "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"' \
	"$W/phala.json" && ok || bad "phala policy lacks its MRTD: $(cat "$W/phala.json")"
grep -q '"RTMR3"' "$W/phala.json" && bad "RTMR3 pinned without --pin-rtmr3" || ok
expect 0 'policy_ok +true' -- "$T" quote verify "$PH/tdx_quote" --collateral "$PH/tdx_quote_collateral.json" \
	--at 1751000000 --policy "$W/phala.json"
# the same policy with OutOfDate accepted still pins the measurements
expect 0 '' -- "$T" policy from-quote "$PH/tdx_quote" --tcb-status UpToDate,OutOfDate --pin-rtmr3 -o "$W/p3.json"
grep -q '"OutOfDate"' "$W/p3.json" && grep -q '"RTMR3"' "$W/p3.json" && ok || bad "p3: $(cat "$W/p3.json")"

# --- every real quote of the data set (v4 and v5 bodies): a policy with
# its measurements, field for field what `quote show` reads
while IFS=$'\t' read -r q _; do
	case $q in '#'* | '') continue ;; esac
	if "$T" policy from-quote "$DATA/tdx/$q" --pin-rtmr3 -o "$W/real.json" 2>"$W/err"; then
		"$T" quote show --json "$DATA/tdx/$q" >"$W/show.json" 2>/dev/null
		for f in MRTD RTMR0 RTMR1 RTMR2 RTMR3 TDATTRIBUTES XFAM MRCONFIGID MROWNER; do
			[ -n "$(json_str "$W/show.json" "$f")" ] &&
				[ "$(json_str "$W/real.json" "$f")" = "$(json_str "$W/show.json" "$f")" ] &&
				ok || bad "$q: $f $(json_str "$W/real.json" "$f") vs quote show $(json_str "$W/show.json" "$f")"
		done
	else
		bad "$q: $(cat "$W/err")"
	fi
done <"$DATA/tdx/quotes.tsv"

# --- encodings: hex, 0x-hex, base64 (wrapped), each the same policy
od -An -v -tx1 "$PH/tdx_quote" | tr -d ' ' >"$W/q.hex"
{ printf '0x'; tr -d '\n' <"$W/q.hex"; echo; } >"$W/q.0x"
base64 -w 76 "$PH/tdx_quote" >"$W/q.b64"
for f in q.hex q.0x q.b64; do
	"$T" policy from-quote "$W/$f" >"$W/$f.json" 2>"$W/err" && cmp -s "$W/$f.json" "$W/phala.json" && ok ||
		bad "$f: not the binary quote's policy: $(cat "$W/err")"
done
echo 'not a quote' >"$W/junk"
expect 1 'not a quote in binary, hex, 0x-hex or base64' -- "$T" policy from-quote "$W/junk"
head -c 600 "$PH/tdx_quote" >"$W/short"
expect 1 'short' -- "$T" policy from-quote "$W/short"
expect 1 'No such file' -- "$T" policy from-quote "$W/none"

# --- a real quote with its CCEL event log (Google's COS 113 TD)
expect 0 '"RTMR2"' -- "$T" policy from-quote "$COS/cos-113-tdx-quote.dat" --eventlog "$COS/ccel_data.dat"
# another TD's log does not replay to this quote: refused, nothing written
"$T" sim init "$W/td" >/dev/null
printf '{"rtmr":1,"digest":"%s","event":"boot"}\n' "$(printf 'x' | sha384sum | cut -d' ' -f1)" >"$W/other.jsonl"
expect 1 'do not replay to the quote: RTMR1' -- "$T" policy from-quote "$COS/cos-113-tdx-quote.dat" \
	--eventlog "$W/other.jsonl" -o "$W/no.json"
[ -e "$W/no.json" ] && bad "a policy was written for a log that does not replay" || ok

# --- a simulated TD: its runtime log replays to its RTMR3
"$T" sim extend --rtmr 3 --digest "$(printf 'app' | sha384sum | cut -d' ' -f1)" --event app "$W/td" >/dev/null
"$T" quote get --provider sim --sim-dir "$W/td" --report-data 00 -o "$W/sim.dat"
expect 0 'RTMR3 left' -- "$T" policy from-quote "$W/sim.dat" --eventlog "$W/td/event_log.jsonl" -o "$W/sim.json"
SIM=(--collateral "$W/td/collateral/collateral.json" --trust-sim-root "$W/td/root_ca.pem")
expect 0 'policy_ok +true' -- "$T" quote verify "$W/sim.dat" "${SIM[@]}" --policy "$W/sim.json"
# RTMR3 moves on: still admitted (left to replay); pinned, refused
"$T" sim extend --rtmr 3 --digest "$(printf 'more' | sha384sum | cut -d' ' -f1)" "$W/td" >/dev/null
"$T" quote get --provider sim --sim-dir "$W/td" --report-data 00 -o "$W/sim2.dat"
expect 0 'policy_ok +true' -- "$T" quote verify "$W/sim2.dat" "${SIM[@]}" --policy "$W/sim.json"
# the runtime log that came with the quote replays to it; a policy that
# requires RTMR3's log refuses the quote without it, or with a log that lies
LOG=$W/td/event_log.jsonl
expect 0 'policy_ok +true' -- "$T" quote verify "$W/sim2.dat" "${SIM[@]}" --policy "$W/sim.json" --eventlog "$LOG"
sed '1a\  "require_rtmr3_log": true,' "$W/sim.json" >"$W/req.json"
expect 4 'require_rtmr3_log' -- "$T" quote verify "$W/sim2.dat" "${SIM[@]}" --policy "$W/req.json"
expect 0 'policy_ok +true' -- "$T" quote verify "$W/sim2.dat" "${SIM[@]}" --policy "$W/req.json" --eventlog "$LOG"
{ cat "$LOG"; printf '{"rtmr":3,"digest":"%s","event":"never run"}\n' "$(printf 'y' | sha384sum | cut -d' ' -f1)"; } >"$W/lie.jsonl"
expect 4 'RTMR3 [0-9a-f]+ differs from the event log replay' -- "$T" quote verify "$W/sim2.dat" "${SIM[@]}" \
	--policy "$W/req.json" --eventlog "$W/lie.jsonl"
expect 0 '' -- "$T" policy from-quote "$W/sim.dat" --require-rtmr3-log -o "$W/req2.json"
grep -q '"require_rtmr3_log": true' "$W/req2.json" && ok || bad "--require-rtmr3-log: $(cat "$W/req2.json")"
expect 4 'require_rtmr3_log' -- "$T" quote verify "$W/sim2.dat" "${SIM[@]}" --policy "$W/req2.json"
expect 1 'require_rtmr3_log.*true or false' -- "$T" quote verify "$W/sim2.dat" "${SIM[@]}" \
	--policy <(sed '1a\  "require_rtmr3_log": 1,' "$W/sim.json")
"$T" policy from-quote "$W/sim.dat" --pin-rtmr3 -o "$W/sim3.json" 2>/dev/null
expect 4 'RTMR3 [0-9a-f]+ is not the policy' -- "$T" quote verify "$W/sim2.dat" "${SIM[@]}" --policy "$W/sim3.json"
# another TD (a different RTMR1, as another kernel would give): refused
cp -r "$W/td" "$W/td2"
"$T" sim extend --rtmr 1 --digest "$(printf 'kernel' | sha384sum | cut -d' ' -f1)" "$W/td2" >/dev/null
"$T" quote get --provider sim --sim-dir "$W/td2" --report-data 00 -o "$W/other.dat"
expect 4 'RTMR1 [0-9a-f]+ is not the policy' -- "$T" quote verify "$W/other.dat" "${SIM[@]}" --policy "$W/sim.json"
# and the real TD's policy refuses the simulated one, by MRTD
expect 4 'MRTD [0-9a-f]+ is not the policy' -- "$T" quote verify "$W/sim.dat" "${SIM[@]}" --policy "$W/phala.json"

# --- a DEBUG TD: refused unless --allow-debug, and then only DEBUG is let in
sed -i 's/"TDATTRIBUTES": "00/"TDATTRIBUTES": "01/' "$W/td2/td.json"
"$T" quote get --provider sim --sim-dir "$W/td2" --report-data 00 -o "$W/debug.dat"
expect 1 'DEBUG set.*--allow-debug' -- "$T" policy from-quote "$W/debug.dat" -o "$W/debug.json"
[ -e "$W/debug.json" ] && bad "a policy was written for a DEBUG TD" || ok
expect 0 '' -- "$T" policy from-quote "$W/debug.dat" --allow-debug -o "$W/debug.json"
grep -q '"allow_debug": true' "$W/debug.json" && ok || bad "debug policy: $(cat "$W/debug.json")"
expect 0 'policy_ok +true' -- "$T" quote verify "$W/debug.dat" "${SIM[@]}" --policy "$W/debug.json"
expect 4 'TDATTRIBUTES' -- "$T" quote verify "$W/sim.dat" "${SIM[@]}" --policy "$W/debug.json"

finish
