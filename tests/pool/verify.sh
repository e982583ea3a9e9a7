# verify.sh — attestation receipts and 'tdexec task verify' on a pool whose
# tasks completed; sourced by cli_run.sh once it has (T, W, P, C, HERE,
# SMS_URL, SMS_PID, SCHED_URL; $task with its result $W/res/$task.zip,
# $open_task and its other tasks' results in $W/one.zip): no pool of its own.
# The receipts the SMS keeps for each release, the same through the
# scheduler, then 'task verify' passing on a real task and failing, with its
# message and exit code, on a receipt whose quote is another task's, a
# changed enclave challenge, a debug TD's quote, another result, a policy on
# another MRTD, and the simulated root not trusted; receipts survive an SMS
# restart and refuse UPDATE and DELETE.

V=(--collateral "$P/td/collateral/collateral.json" --trust-sim-root "$P/td/root_ca.pem" "${C[@]}")
worker5=$("$T" wallet show "${C[@]}" --account 5 --json | addr | tr 'A-F' 'a-f')
# jq-less JSON reads: node EXPR over the file's JSON as j
jx() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(eval(process.argv[2]))' "$@"; }

# 1. The receipt of the task's release: its task, worker and quote hash.
curl -sf "$SMS_URL/tasks/$task/attestation" -o "$W/att.json" || bad "GET /tasks/$task/attestation"
[ "$(jx "$W/att.json" 'j.task')" = "$task" ] && ok || bad "receipts' task: $(head -c 300 "$W/att.json")"
[ "$(jx "$W/att.json" 'j.receipts.length')" = 1 ] && ok || bad "receipts: $(jx "$W/att.json" 'j.receipts.length')"
[ "$(jx "$W/att.json" 'j.receipts[0].worker')" = "$worker5" ] && ok ||
	bad "receipt worker $(jx "$W/att.json" 'j.receipts[0].worker'), want $worker5"
qh=$(jx "$W/att.json" 'j.receipts[0].quote' | base64 -d | sha256sum | cut -d' ' -f1)
[ "$(jx "$W/att.json" 'j.receipts[0].quote_sha256')" = "$qh" ] && ok || bad "quote_sha256 is not the quote's"
[ "$(jx "$W/att.json" 'j.receipts[0].collateral.fmspc.length + ":" + j.receipts[0].simulated + ":" + j.receipts[0].tcb_status')" = "12:true:UpToDate" ] &&
	ok || bad "receipt collateral/status: $(jx "$W/att.json" 'JSON.stringify(j.receipts[0].collateral)')"
# the collateral named is the one the SMS holds: the dates and numbers of its
# TCB info and QE identity, the hash of its PCK CRL
want=$(node -e 'const c = require(process.argv[1]), t = JSON.parse(c.tcb_info), q = JSON.parse(c.qe_identity);
	const h = require("crypto").createHash("sha256").update(Buffer.from(c.pck_crl, "hex")).digest("hex");
	console.log([t.issueDate, t.tcbEvaluationDataNumber, q.issueDate, q.tcbEvaluationDataNumber, h].join(" "))' \
	"$P/td/collateral/collateral.json")
got=$(jx "$W/att.json" 'const c = j.receipts[0].collateral; [c.tcb_info_issue_date, c.tcb_eval_number, c.qe_identity_issue_date, c.qe_eval_number, c.pck_crl_sha256].join(" ")')
[ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "receipt collateral: $got, want $want"
grep -q '"session"' "$W/att.json" && ! grep -qi 'SIGN_TEE_CHALLENGE\|secret' "$W/att.json" && ok ||
	bad "a receipt holds a secret or lacks its session"
# through the scheduler: the SMS's answer, byte for byte; unknown tasks 404
curl -sf "$SCHED_URL/tasks/$task/attestation" -o "$W/att-sched.json" && cmp -s "$W/att.json" "$W/att-sched.json" &&
	ok || bad "the scheduler's receipts differ from the SMS's"
none=0x$(printf 'none' | sha256sum | cut -d' ' -f1)
[ "$(curl -s -o /dev/null -w '%{http_code}' "$SMS_URL/tasks/$none/attestation")" = 404 ] && ok || bad "SMS: unknown task not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$SCHED_URL/tasks/$none/attestation")" = 404 ] && ok || bad "scheduler: unknown task not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$SMS_URL/tasks/0x12/attestation")" = 400 ] && ok || bad "SMS: bad task id not 400"

# 2. task verify passes on the real task, through either service.
mrtd=$(json_str "$P/td/td.json" MRTD | tr 'A-F' 'a-f')
expect 0 "^task $task ran app sha256:[0-9a-f]{64} in a TD with MRTD $mrtd \\(TCB UpToDate as of 20[0-9-]+T[0-9:]+Z, simulated root\\), attributes [0-9a-f]{16} \\(not debug\\)\$" -- \
	"$T" task verify "$task" --sms "$SMS_URL" "${V[@]}" --policy "$P/policy.json" --result "$W/res/$task.zip"
expect 0 '"verified": true' -- "$T" task verify "$task" --scheduler "$SCHED_URL" "${V[@]}" --json
[ "$(jx "$W/out" 'j.worker.toLowerCase() + " " + j.result + " " + j.receipts')" = "$worker5 null 1" ] && ok ||
	bad "task verify --json: $(head -c 400 "$W/out")"

# 3. ... and fails, naming the first check that does not hold.
# the simulated root is not trusted unless asked
expect 2 "receipt 0: quote verification failed: .*root is not the trusted Intel SGX root CA" -- \
	"$T" task verify "$task" --sms "$SMS_URL" --collateral "$P/td/collateral/collateral.json" "${C[@]}"
# another task's result
expect 2 "result $task does not match the on-chain digest" -- \
	"$T" task verify "$task" --sms "$SMS_URL" "${V[@]}" --result "$W/one.zip"
# a policy pinned to another MRTD
sed "s/\"MRTD\": \"[0-9a-fA-F]*\"/\"MRTD\": \"$(printf '%096d' 0)\"/" "$P/policy.json" >"$W/other-mrtd.json"
expect 4 "receipt 0: policy not satisfied: .*MRTD" -- \
	"$T" task verify "$task" --sms "$SMS_URL" "${V[@]}" --policy "$W/other-mrtd.json"
# receipts served by a stand-in for the SMS: another task's receipt (its
# quote, nonce, key and digest all consistent) passed off as this task's
mkdir -p "$W/fake/tasks/$task"
curl -sf "$SMS_URL/tasks/$open_task/attestation" -o "$W/att-other.json" || bad "receipts of $open_task"
node -e 'const fs = require("fs"); const o = JSON.parse(fs.readFileSync(process.argv[1]));
	o.task = process.argv[2]; fs.writeFileSync(process.argv[3], JSON.stringify(o));' \
	"$W/att-other.json" "$task" "$W/fake/tasks/$task/attestation"
rm -f "$W/fake.port"
node "$HERE/serve.js" "$W/fake" "$W/fake.port" &
FAKE_PID=$!
POOL_PIDS+=("$FAKE_PID")
FAKE_URL="http://127.0.0.1:$(wait_port "$W/fake.port")"
expect 2 "receipt 0: the quote's REPORTDATA does not bind task $task" -- \
	"$T" task verify "$task" --sms "$FAKE_URL" "${V[@]}"
# this task's own receipt, its enclave challenge changed
node -e 'const fs = require("fs"); const o = JSON.parse(fs.readFileSync(process.argv[1]));
	o.receipts[0].enclave_challenge = "0x" + "11".repeat(20); fs.writeFileSync(process.argv[2], JSON.stringify(o));' \
	"$W/att.json" "$W/fake/tasks/$task/attestation"
expect 2 "receipt 0: enclave challenge 0x1{40} is not the one the task was completed with on chain" -- \
	"$T" task verify "$task" --sms "$FAKE_URL" "${V[@]}"
# this task's own receipt, its quote replaced by one of a debug TD (the same
# measurements, RTMR3 and REPORTDATA as the real quote, DEBUG set in
# TDATTRIBUTES: every other check passes): refused with no --policy at all,
# the base policy applying to every quote
rm -rf "$W/dbg.td" && cp -r "$P/td" "$W/dbg.td"
node -e 'const fs = require("fs"), f = process.argv[1], td = JSON.parse(fs.readFileSync(f));
	const q = Buffer.from(JSON.parse(fs.readFileSync(process.argv[2])).receipts[0].quote, "base64");
	td.TDATTRIBUTES = "01" + td.TDATTRIBUTES.slice(2);
	td.RTMR3 = q.subarray(520, 568).toString("hex"); // RTMR3 of the body, after the 48-byte header
	fs.writeFileSync(f, JSON.stringify(td, null, 2));' "$W/dbg.td/td.json" "$W/att.json"
rd=$(jx "$W/att.json" 'Buffer.from(j.receipts[0].quote, "base64").subarray(568, 632).toString("hex")')
"$T" quote get --provider sim --sim-dir "$W/dbg.td" --report-data "$rd" -o "$W/dbg.quote" || bad "debug quote"
node -e 'const fs = require("fs"), o = JSON.parse(fs.readFileSync(process.argv[1])), q = fs.readFileSync(process.argv[2]);
	o.receipts[0].quote = q.toString("base64");
	o.receipts[0].quote_sha256 = require("crypto").createHash("sha256").update(q).digest("hex");
	fs.writeFileSync(process.argv[3], JSON.stringify(o));' "$W/att.json" "$W/dbg.quote" "$W/fake/tasks/$task/attestation"
expect 4 "receipt 0: the TD is not acceptable: TDATTRIBUTES: DEBUG is set" -- \
	"$T" task verify "$task" --sms "$FAKE_URL" "${V[@]}"
# a real receipt shows its attributes, and says when nothing pins the MRTD
expect 0 "in a TD with MRTD $mrtd \\(TCB .*\\), attributes 0000001000000000 \\(not debug\\); MRTD not pinned: no --policy\$" -- \
	"$T" task verify "$task" --sms "$SMS_URL" "${V[@]}"
grep -q "^trusted: the receipts' worker, enclave challenge and policy are the word of the SMS" "$W/out" && ok ||
	bad "task verify does not say what it trusts: $(cat "$W/out")"
expect 0 '"debug": false' -- "$T" task verify "$task" --sms "$SMS_URL" "${V[@]}" --json
[ "$(jx "$W/out" 'j.td_attributes + " " + j.mrtd_pinned')" = "0000001000000000 false" ] && ok ||
	bad "task verify --json attributes: $(head -c 400 "$W/out")"
# no receipts at all: a failed check; nothing listening: the network
expect 2 "HTTP 404" -- "$T" task verify "$open_task" --sms "$FAKE_URL" "${V[@]}"
expect 3 "" -- "$T" task verify "$task" --sms "http://127.0.0.1:9" "${V[@]}"
expect 1 "give exactly one of --sms and --scheduler" -- "$T" task verify "$task" "${V[@]}"

# 4. Receipts survive a restart of the SMS, and the store refuses to change them.
kill "$SMS_PID" && wait "$SMS_PID" 2>/dev/null
# (sqlite3's exit code for a constraint varies by version: any but 0)
for sql in "UPDATE receipts SET worker = 'x'" "DELETE FROM receipts"; do
	sqlite3 "$P/sms.db" "$sql" >"$W/out" 2>&1 && bad "$sql: allowed" ||
		{ grep -q 'receipts are append-only' "$W/out" && ok || bad "$sql: $(cat "$W/out")"; }
done
[ "$(sqlite3 "$P/sms.db" "SELECT count(*) FROM receipts WHERE worker = '$worker5'")" -ge 3 ] &&
	ok || bad "receipts: $(sqlite3 "$P/sms.db" "SELECT count(*), worker FROM receipts GROUP BY worker")"
pool_start_sms || bad "sms restart"
curl -sf "$SMS_URL/tasks/$task/attestation" -o "$W/att-after.json" && cmp -s "$W/att.json" "$W/att-after.json" &&
	ok || bad "receipts changed across an SMS restart"
expect 0 "^task $task ran app" -- "$T" task verify "$task" --sms "$SMS_URL" "${V[@]}"
