#!/usr/bin/env bash
# Failures that say why, end to end on a local pool: the runtime's own
# failure told apart from the app's exit status and from the limits, the
# reason through the scheduler, 'tdexec task show' and 'tdexec run', the
# app's stderr tail given to the requester only when the request asked for
# it (iexec_developer_logger), and a worker started with a relative
# --work-dir and --images.
# Usage: failures.sh TDEXEC
set -u
T=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
pool_test_dir
reason() { # the task's reason, decoded
	curl -s "$SCHED_URL/tasks/$1" | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { try { console.log(JSON.parse(s).reason || ""); } catch (e) { console.log(""); } })'
}
sh_params() { # SCRIPT [more JSON members]
	node -e 'const p = {iexec_args: `"${process.argv[1]}"`}; if (process.argv[2]) Object.assign(p, JSON.parse(process.argv[2])); console.log(JSON.stringify(p))' "$1" "${2:-}"
}

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
pool_start_sms || bad "sms"
d_sh=$("$HERE/../../scripts/mkimage" "$W/images" shell '["/bin/sh","-c"]' /bin/sh /usr/bin/head \
	/usr/bin/dd /usr/bin/sleep)
d_noep=$("$HERE/../../scripts/mkimage" "$W/images" noep '["/no/such/program"]' /bin/sh)
app_sh=$("$T" app deploy "${C[@]}" --layout "$W/images" --account 1 --name shell --json --image "shell@$d_sh" | addr)
app_noep=$("$T" app deploy "${C[@]}" --layout "$W/images" --account 1 --name noep --json --image "noep@$d_noep" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "failures pool" --json | addr)
[ -n "$app_sh" ] && [ -n "$app_noep" ] && [ -n "$pool" ] && ok || bad "assets"
"$T" account deposit "${C[@]}" --account 4 100000000000 >/dev/null && ok || bad "deposit"
pool_start_scheduler "$pool" 3 --order-volume 10 --order-price 0 || bad "scheduler"

# A worker whose --work-dir and --images are relative to where it starts:
# it makes them absolute, so runc (which runs elsewhere) finds the rootfs.
# Limits small enough to reach: 200 MiB, 8 s.
(cd "$W" && exec "$T" worker --scheduler "$SCHED_URL" "${C[@]}" --account 5 --images images \
	--work-dir w1 --work-dir-encrypted --provider sim --sim-dir "$W/w1.td" --insecure-sms \
	--memory 200 --max-time 8) 2>>"$W/w1.log" &
W1_PID=$!
POOL_PIDS+=("$W1_PID")
cp -r "$W/td" "$W/w1.td"

task_of() { curl -s "$SCHED_URL/tasks?deal=$1" | grep -o '"taskId": *"0x[0-9a-f]*"' | head -1 | grep -o '0x[0-9a-f]*'; }
run_task() { # APP PARAMS: "STATUS TASKID"
	local deal task st
	deal=$(pool_deal "$1" "$pool" "$2") || { echo "NODEAL -"; return; }
	for _ in $(seq 50); do task=$(task_of "$deal"); [ -n "$task" ] && break; sleep 0.2; done
	st=$(task_wait "$task" "${WAIT:-60}")
	echo "${st:-NONE} $task"
}

# 1. The relative work dir: a task completes.
read -r st task < <(run_task "$app_sh" "$(sh_params 'echo done > /iexec_out/r.txt')")
[ "$st" = COMPLETED ] && ok || bad "relative --work-dir: $st $(curl -s "$SCHED_URL/tasks/$task"; tail -3 "$W/w1.log")"
grep -q "invalid rootfs" "$W/w1.log" && bad "runc saw a relative rootfs" || ok

# 2. The runtime's failure: the entrypoint does not exist.  runc's words,
#    on one line, and not "app exited with status 1".
read -r st task < <(run_task "$app_noep" '{}')
[ "$st" = FAILED ] && reason "$task" | grep -q 'the container did not start: runc: .*exec: "/no/such/program": .*no such file or directory' &&
	ok || bad "missing entrypoint: $st $(curl -s "$SCHED_URL/tasks/$task")"
# ... what 'task show' tells the requester: on chain a Boost task open
#     (ACTIVE: not pushed, not claimed), the pool knows why it failed
expect 0 'the container did not start: runc: ' -- "$T" task show "$task" "${C[@]}" --scheduler "$SCHED_URL" --json
grep -q '"status_name": "ACTIVE"' "$W/out" && grep -q '"boost": true' "$W/out" && grep -q '"status": "FAILED"' "$W/out" && ok ||
	bad "task show --scheduler: $(cat "$W/out")"

# 3. The app's own failure, its stderr asked for: the requester reads the
#    tail (the last 4 KiB: the first of 6000 lines is gone), nobody else.
script='i=0; while [ $i -lt 6000 ]; do i=$((i + 1)); echo line $i of the app stderr >&2; done; echo secret-ish output >&2; exit 3'
read -r st task < <(run_task "$app_sh" "$(sh_params "$script" '{"iexec_developer_logger":true}')")
[ "$st" = FAILED ] && [ "$(reason "$task")" = "app exited with status 3" ] && ok ||
	bad "app exit 3: $st $(reason "$task")"
expect 0 'app exited with status 3' -- "$T" task show "$task" "${C[@]}" --scheduler "$SCHED_URL" --logs --account 4 --json
grep -q 'secret-ish output' "$W/out" && grep -q 'line 6000 of the app stderr' "$W/out" &&
	! grep -q 'line 100 of the' "$W/out" && ok || bad "stderr tail: $(head -c 300 "$W/out")"
n=$(node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(Buffer.byteLength(j.stderr))' "$W/out")
[ "$n" -le 4096 ] && [ "$n" -ge 4000 ] && ok || bad "stderr tail of $n bytes"
# the app owner, the pool owner: not the requester
expect 1 'HTTP 403' -- "$T" task show "$task" "${C[@]}" --scheduler "$SCHED_URL" --logs --account 1
grep -q 'sched.logs refused="not signed by the requester"' "$W/sched.log" && ok || bad "logs refusal not logged"
curl -s "$SCHED_URL/tasks/$task/logs" | grep -q 'secret-ish' && bad "logs served unsigned" || ok
curl -s "$SCHED_URL/tasks/$task" | grep -q 'secret-ish' && bad "logs in the public task record" || ok

# 4. The same failure without the parameter: no stderr leaves the worker.
read -r st task < <(run_task "$app_sh" "$(sh_params "$script")")
[ "$st" = FAILED ] && [ "$(reason "$task")" = "app exited with status 3" ] && ok ||
	bad "app exit 3 without logs: $st $(reason "$task")"
expect 1 'keeps no app logs' -- "$T" task show "$task" "${C[@]}" --scheduler "$SCHED_URL" --logs --account 4
sqlite3 "$W/sched.db" "select count(*) from tasks where logs like '%secret-ish%'" | grep -qx 1 && ok ||
	bad "logs kept: $(sqlite3 "$W/sched.db" "select taskid, length(logs) from tasks")"

# 5. The limits, named with their values.
read -r st task < <(run_task "$app_sh" "$(sh_params 'dd if=/dev/zero of=/dev/null bs=400M count=1 iflag=fullblock')")
[ "$st" = FAILED ] && [ "$(reason "$task")" = "killed by the memory limit (200 MiB)" ] && ok ||
	bad "memory limit: $st $(reason "$task")"
read -r st task < <(WAIT=60 run_task "$app_sh" "$(sh_params 'sleep 60')")
[ "$st" = FAILED ] && [ "$(reason "$task")" = "killed by the time limit (8s of wall time)" ] && ok ||
	bad "time limit: $st $(reason "$task")"

# 6. 'tdexec run': the reason, and the stderr tail with --developer-logger.
"$T" order init app --set app="$app_sh" --set tag=tdx --set volume=10 -o "$W/ao.json" &&
	"$T" order sign app "$W/ao.json" "${C[@]}" --account 1 -o "$W/ao.json" >/dev/null &&
	"$T" market publish app "$W/ao.json" --market "$SCHED_URL" >/dev/null && ok || bad "app order"
expect 1 "ended FAILED: app exited with status 3" -- "$T" run "$app_sh" --market "$SCHED_URL" "${C[@]}" \
	--account 4 -o "$W/run1" --args '"echo oops from the app >&2; exit 3"'
grep -q "oops from the app" "$W/out" && bad "stderr shown without --developer-logger" || ok
expect 1 "ended FAILED: app exited with status 3" -- "$T" run "$app_sh" --market "$SCHED_URL" "${C[@]}" \
	--account 4 -o "$W/run2" --developer-logger --args '"echo oops from the app >&2; exit 3"'
grep -q "app stderr (last 4 KiB):" "$W/out" && grep -q "^oops from the app" "$W/out" && ok ||
	bad "run --developer-logger on failure: $(cat "$W/out")"
expect 0 '"stderr": "warning from the app\\n"' -- "$T" run "$app_sh" --market "$SCHED_URL" "${C[@]}" \
	--account 4 -o "$W/run3" --developer-logger --json \
	--args '"echo warning from the app >&2; echo ok > /iexec_out/ok.txt"'
[ "$(cat "$W/run3/ok.txt" 2>/dev/null)" = ok ] && ok || bad "run --developer-logger result"

# 7. Words lost between the scheduler and a worker, as a scheduler killed
#    at the wrong moment or a broken connection loses them: a worker
#    behind a proxy that drops them (droptask.js), the scheduler's public
#    URL (the one workers register with); the first worker stopped, so
#    this one takes every task.
kill "$W1_PID" "$SCHED_PID"
wait "$W1_PID" "$SCHED_PID" 2>/dev/null
echo answer >"$W/drop.mode"
node "$HERE/droptask.js" "$SCHED_URL" "$W/drop.port" "$W/drop.mode" "$W/drop.log" &
POOL_PIDS+=("$!")
proxy="http://127.0.0.1:$(wait_port "$W/drop.port")"
SCHED_PORT=${SCHED_URL##*:} pool_start_scheduler "$pool" 3 --order-volume 10 --order-price 0 \
	--public-url "$proxy" || bad "scheduler behind the proxy"
SCHED_URL=$proxy pool_start_worker w2 6 --memory 200 --max-time 8
# a. The answer handing a TEE task, lost once the scheduler committed it:
#    the worker's next poll is handed the same task again (it waited
#    before, RUNNING under a worker that never heard of it, until its
#    deadline), and the task completes.
read -r st task < <(run_task "$app_sh" "$(sh_params 'echo ok > /iexec_out/o')")
[ "$st" = COMPLETED ] && grep -qx "dropped $task" "$W/drop.log" && grep -qx "handed $task" "$W/drop.log" &&
	ok || bad "lost answer (TEE): $st $(cat "$W/drop.log"; tail -3 "$W/w2.log")"
grep -q "task=$task worker=0x[0-9a-f]* redelivered=1" "$W/sched.log" && ok || bad "redelivery not logged"
# b. The same for a standard task's replicate (a classic deal).
read -r st task < <(TAG=none TRUST=0 run_task "$app_sh" "$(sh_params 'echo ok > /iexec_out/o')")
[ "$st" = COMPLETED ] && grep -qx "dropped $task" "$W/drop.log" && grep -qx "handed $task" "$W/drop.log" &&
	ok || bad "lost answer (standard): $st $(cat "$W/drop.log"; tail -3 "$W/w2.log")"
# c. Every report about a task lost (its app fails): the scheduler hands
#    it again, and the worker, whose journal holds it, reports what it
#    recorded instead of running it a second time.
echo reports >"$W/drop.mode"
read -r st task < <(run_task "$app_sh" "$(sh_params 'exit 4')")
[ "$st" = FAILED ] && [ "$(reason "$task")" = "app exited with status 4" ] && grep -qx "refused $task" "$W/drop.log" &&
	ok || bad "lost reports: $st $(reason "$task") $(cat "$W/drop.log")"
grep -q "task=$task handed_again=1 journal=FAILED" "$W/w2.log" && ok || bad "not answered from the journal"
[ "$(grep -c "event=worker.task task=$task status=FAILED" "$W/w2.log")" = 1 ] && ok || bad "the task ran twice"
# d. The same for a standard task of a callback deal: the answer from the
#    journal carries the callback-data, which the scheduler's finalize
#    hands to the callback contract (PoCo checks it against the result).
receiver=$(node "$HERE/callback.js" "$W/chain/chain.json" deploy)
cb=0x$(printf 'answered from the journal' | sha256sum | cut -d' ' -f1)
cb_args="\"echo '{\\\"deterministic-output-path\\\":\\\"/iexec_out\\\",\\\"callback-data\\\":\\\"$cb\\\"}' > /iexec_out/computed.json\""
cb_params=$(node -e 'console.log(JSON.stringify({iexec_args: process.argv[1]}))' "$cb_args")
read -r st task < <(TAG=none TRUST=0 CALLBACK=$receiver run_task "$app_sh" "$cb_params")
[ "$st" = COMPLETED ] && grep -q "task=$task handed_again=1 journal=COMPLETED" "$W/w2.log" && ok ||
	bad "lost reports of a callback task: $st $(reason "$task"; grep -c "$task" "$W/drop.log")"
[ "$(node "$HERE/callback.js" "$W/chain/chain.json" read "$receiver")" = "$cb $task" ] && ok ||
	bad "callback contract holds: $(node "$HERE/callback.js" "$W/chain/chain.json" read "$receiver")"

finish
