#!/usr/bin/env bash
# --provider qgs end to end, against the suite's fake QGS on a unix socket
# (quotes signed by a simulated TD over the TDREPORT it receives):
# 'quote get' gives a quote that 'quote verify' accepts with the simulated
# root only; auto takes the QGS while it answers and falls back when it is
# gone; a QGS that errs, stalls or is absent is a clear error; and a worker
# with --provider qgs registers and gets its task's session from the SMS
# with quotes from the QGS, the task COMPLETED.
# Usage: qgs.sh TDEXEC FAKE_QGS
set -u
T=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FQ=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
QPID=
qgs_stop() { [ -n "$QPID" ] && kill "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null; QPID=; }
pool_test_dir qgs_stop

# qgs_start MODE: the fake QGS for the simulated TD in $W/td
qgs_start() {
	qgs_stop
	rm -f "$W/qgs.sock"
	"$FQ" --listen "$W/qgs.sock" --sim-dir "$W/td" --mode "$1" ${2:+--error-code "$2"} 2>>"$W/qgs.log" &
	QPID=$!
	for _ in $(seq 100); do [ -S "$W/qgs.sock" ] && return 0; sleep 0.05; done
	bad "the fake QGS did not start: $(tail -2 "$W/qgs.log")"
}
quotes() { grep -c '^fake-qgs: quote #' "$W/qgs.log"; }

pool_start_td
Q=(--qgs "unix:$W/qgs.sock")
V=(--collateral "$W/td/collateral/collateral.json")

# 1. quote get: the TDREPORT from the simulated TD, the quote from the QGS.
qgs_start ok
expect 0 '' -- "$T" quote get --provider qgs --sim-dir "$W/td" "${Q[@]}" --report-data c0ffee -o "$W/q1.bin"
[ "$(quotes)" = 1 ] && ok || bad "the QGS made $(quotes) quotes, want 1"
grep -q "reportdata=c0ffee0000" "$W/qgs.log" && ok || bad "REPORTDATA in the QGS's request: $(tail -1 "$W/qgs.log")"
expect 0 'simulated' -- "$T" quote verify "$W/q1.bin" "${V[@]}" --trust-sim-root "$W/td/root_ca.pem"
# never trusted by default: Intel's root does not sign it
expect 2 '' -- "$T" quote verify "$W/q1.bin" "${V[@]}"
expect 0 '"REPORTDATA": "c0ffee0{122}"' -- "$T" quote show --json "$W/q1.bin"
# the TD body went through the report: the same MRTD and RTMRs as the sim's own quote
"$T" quote get --provider sim --sim-dir "$W/td" --report-data c0ffee -o "$W/s1.bin" || bad "sim quote"
for f in MRTD RTMR0 RTMR3 TDATTRIBUTES XFAM MRSEAM; do
	a=$("$T" quote show --json "$W/q1.bin" | grep -o "\"$f\": \"[0-9a-f]*\"")
	b=$("$T" quote show --json "$W/s1.bin" | grep -o "\"$f\": \"[0-9a-f]*\"")
	[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "$f: qgs $a, sim $b"
done
# ratls cert by the same path
expect 0 '' -- "$T" ratls cert --provider qgs --sim-dir "$W/td" "${Q[@]}" --cert-out "$W/c.pem" --key-out "$W/k.pem"
[ "$(quotes)" = 2 ] && ok || bad "ratls cert: the QGS made $(quotes) quotes, want 2"

# 2. auto: the QGS while it answers, then the TD's other path.
expect 0 "" -- "$T" --log-level info quote get --provider auto --sim-dir "$W/td" "${Q[@]}" --report-data 01 -o "$W/a1.bin"
grep -q 'event=provider.auto chosen=qgs' "$W/out" && [ "$(quotes)" = 3 ] && ok ||
	bad "auto with a QGS: $(cat "$W/out") ($(quotes) quotes)"
qgs_stop
expect 0 "" -- "$T" --log-level info quote get --provider auto --sim-dir "$W/td" "${Q[@]}" --report-data 01 -o "$W/a2.bin"
grep -q 'event=provider.auto chosen=sim .*reason="no QGS at unix:' "$W/out" && ok || bad "auto without: $(cat "$W/out")"
expect 0 'simulated' -- "$T" quote verify "$W/a2.bin" "${V[@]}" --trust-sim-root "$W/td/root_ca.pem"

# 3. Failures: clear errors, exit 1, never a crash.
expect 1 "no QGS at unix:$W/qgs.sock" -- "$T" quote get --provider qgs --sim-dir "$W/td" "${Q[@]}" --hex --report-data 01
qgs_start error 0x12001
expect 1 'QGS error 0x12001: unexpected error' -- "$T" quote get --provider qgs --sim-dir "$W/td" "${Q[@]}" --hex --report-data 01
qgs_start truncate
expect 1 'connection closed after' -- "$T" quote get --provider qgs --sim-dir "$W/td" "${Q[@]}" --hex --report-data 01
qgs_start oversize
expect 1 'over the [0-9]+-byte cap' -- "$T" quote get --provider qgs --sim-dir "$W/td" "${Q[@]}" --hex --report-data 01
qgs_start silent
s0=$(date +%s%N)
expect 1 'no answer .* before the deadline' -- "$T" quote get --provider qgs --sim-dir "$W/td" "${Q[@]}" \
	--qgs-timeout 500 --hex --report-data 01
ms=$((($(date +%s%N) - s0) / 1000000))
[ "$ms" -ge 500 ] && [ "$ms" -lt 10000 ] && ok || bad "--qgs-timeout 500 took $ms ms"
# a report another simulated TD made: the simulated QE refuses it
"$T" sim init --force "$W/other" >/dev/null
qgs_start ok
expect 1 'QGS error 0x12001' -- "$T" quote get --provider qgs --sim-dir "$W/other" "${Q[@]}" --hex --report-data 01
grep -q 'fake-qgs: no quote: TDREPORT: MAC does not verify' "$W/qgs.log" && ok || bad "QGS log: $(tail -2 "$W/qgs.log")"
# no TDX here: the real path names the missing device (the QGS is not asked)
expect 1 'no TDX guest device /dev/tdx_guest' -- "$T" quote get --provider qgs "${Q[@]}" --hex --report-data 01
expect 1 "QGS address 'tcp:1:2': expected vsock:CID:PORT or unix:PATH" -- \
	"$T" quote get --provider qgs --qgs tcp:1:2 --hex --report-data 01
expect 1 "unknown quote provider 'sgx' \\(tsm, sim, qgs, auto\\)" -- "$T" quote get --provider sgx --hex --report-data 01
expect 1 '--qgs-timeout' -- "$T" quote get --provider qgs --qgs-timeout 0 --hex --report-data 01

# 4. A pool whose worker takes its quotes from the QGS: registration and
#    session quotes come from it, the SMS verifies them (simulated root).
n0=$(quotes)
pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_sms || bad "sms"
d_sh=$("$HERE/../../scripts/mkimage" "$W/images" shell '["/bin/sh","-c"]' /bin/sh)
app=$("$T" app deploy "${C[@]}" --account 1 --name shell --json --image "shell@$d_sh" --layout "$W/images" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "qgs pool" --json | addr)
[ -n "$app" ] && [ -n "$pool" ] && ok || bad "assets"
pool_start_scheduler "$pool" 3 --order-volume 10 --order-price 0 || bad "scheduler"
"$T" order init app --set app="$app" --set tag=tdx --set volume=10 -o "$W/ao.json" &&
	"$T" order sign app "$W/ao.json" "${C[@]}" --account 1 -o "$W/ao.json" >/dev/null &&
	"$T" market publish app "$W/ao.json" --market "$SCHED_URL" >/dev/null && ok || bad "app order"
pool_start_worker w1 5 --provider qgs "${Q[@]}"
expect 0 '"status": "COMPLETED"' -- "$T" run "$app" --market "$SCHED_URL" "${C[@]}" --account 4 \
	-o "$W/r1" --timeout 120 --json --args '"echo qgs > /iexec_out/r.txt"'
[ "$(cat "$W/r1/r.txt" 2>/dev/null)" = qgs ] && ok || bad "result: $(ls "$W/r1" 2>&1)"
n=$(($(quotes) - n0))
[ "$n" -ge 2 ] && ok || bad "the worker's quotes from the QGS: $n, want at least 2 (registration, session)"
grep -q 'event=sms.release .*simulated=1' "$W/sms.log" && ok || bad "SMS release: $(grep sms.release "$W/sms.log")"
# An SMS in a (simulated) TD whose RA-TLS quote comes from the QGS: a client
# admits it by that quote, which the QGS made.
n1=$(quotes)
rm -f "$W/rport"
"$T" sms --port 0 --port-file "$W/rport" --db "$W/ratls.db" --master-key "$W/ratls.key" "${C[@]}" \
	--ra-tls --provider qgs --sim-dir "$W/td" "${Q[@]}" 2>>"$W/rsms.log" &
POOL_PIDS+=("$!")
RURL="https://127.0.0.1:$(wait_port "$W/rport")"
expect 0 'ratls_key_bound +true' -- "$T" ratls check "$RURL/healthz" "${V[@]}" \
	--trust-sim-root "$W/td/root_ca.pem" --policy "$W/policy.json"
[ "$(($(quotes) - n1))" = 1 ] && ok || bad "the RA-TLS SMS's quotes from the QGS: $(($(quotes) - n1))"
grep -q 'event=sms.ra_tls provider=qgs config_hash=[0-9a-f]* simulated=1' "$W/rsms.log" && ok ||
	bad "RA-TLS SMS log: $(grep sms.ra_tls "$W/rsms.log")"
# --trust-sim-root with a real provider is refused at start
expect 1 'trust-sim-root cannot go with the qgs quote provider' -- "$T" sms --port 0 --db "$W/r2.db" \
	--master-key "$W/ratls.key" "${C[@]}" --ra-tls --provider qgs "${Q[@]}" "${ATTEST[@]}"
# The SMS's config file takes the same settings, checked the same way.
printf '{"ra_tls": true, "provider": "qgs", "qgs": "tcp:1"}\n' >"$W/c1.json"
expect 1 "QGS address 'tcp:1'" -- "$T" sms config-hash --config "$W/c1.json" --master-key "$W/ratls.key" "${C[@]}"
printf '{"ra_tls": true, "provider": "qgs", "qgs_timeout": -5}\n' >"$W/c2.json"
expect 1 'qgs_timeout: milliseconds, 1 to 600000' -- "$T" sms config-hash --config "$W/c2.json" \
	--master-key "$W/ratls.key" "${C[@]}"
# A worker whose QGS is gone says so, by address.
pool_start_worker w2 6 --provider qgs --qgs "unix:$W/none.sock"
for _ in $(seq 100); do grep -q "no QGS at unix:$W/none.sock" "$W/w2.log" && break; sleep 0.1; done
grep -q "no QGS at unix:$W/none.sock" "$W/w2.log" && ok || bad "worker without a QGS: $(tail -3 "$W/w2.log")"

qgs_stop
pool_stop
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W"/*.log >/dev/null 2>&1; then
	bad "sanitizer report in $(grep -l "Sanitizer\|runtime error:" "$W"/*.log | tr '\n' ' ')"
else ok; fi

finish
