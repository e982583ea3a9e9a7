#!/usr/bin/env bash
# Every service's /metrics, scraped from a live pool after it ran tasks: the
# SMS, the scheduler and a worker (its opt-in --metrics-listen).  Each text
# must pass promtool's check (Prometheus's own parser and linter) and our
# independent parser (check.js: the format's grammar, every series once,
# histograms cumulative with +Inf equal to _count), and the values must say
# what happened: one worker alive, tasks completed, sessions released,
# refusals counted under their reason.
# Usage: scrape.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
pool_test_dir
command -v promtool >/dev/null || { echo "FAIL: promtool is not installed (scripts/install-deps)"; exit 1; }
# val FILE SERIES: the value of a series exactly as rendered (empty: absent)
val() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
# at_least FILE SERIES N
at_least() {
	local v
	v=$(val "$1" "$2")
	[ -n "$v" ] && awk -v v="$v" -v n="$3" 'BEGIN { exit !(v + 0 >= n + 0) }' && ok ||
		bad "$(basename "$1"): $2 is '${v}', want >= $3"
}
is() {
	[ "$(val "$1" "$2")" = "$3" ] && ok || bad "$(basename "$1"): $2 is '$(val "$1" "$2")', want $3"
}
# valid FILE: promtool's check and ours
valid() {
	promtool check metrics <"$1" >"$W/promtool.out" 2>&1 && ok ||
		bad "promtool check metrics $(basename "$1"): $(head -c 600 "$W/promtool.out")"
	node "$HERE/check.js" "$1" >"$W/check.out" && ok || bad "$(cat "$W/check.out")"
}

# 0. The checkers refuse what they must: duplicate series (as the scheduler
#    once rendered market_publish), buckets going down, +Inf not equal to
#    _count, a counter not named _total, a bad escape.
cat >"$W/broken.txt" <<'EOF'
# HELP tdexec_http_requests_total Requests.
# TYPE tdexec_http_requests_total counter
tdexec_http_requests_total{route="market_publish"} 1
tdexec_http_requests_total{route="market_publish"} 0
# HELP tdexec_x_seconds A histogram.
# TYPE tdexec_x_seconds histogram
tdexec_x_seconds_bucket{le="1"} 3
tdexec_x_seconds_bucket{le="2"} 2
tdexec_x_seconds_bucket{le="+Inf"} 4
tdexec_x_seconds_sum 1
tdexec_x_seconds_count 5
# HELP tdexec_refusals Not a _total.
# TYPE tdexec_refusals counter
tdexec_refusals{reason="a\qb"} 1
EOF
node "$HERE/check.js" "$W/broken.txt" >"$W/check.out"
[ $? = 1 ] && grep -q 'duplicate series tdexec_http_requests_total{route="market_publish"}' "$W/check.out" &&
	grep -q 'buckets not cumulative' "$W/check.out" && grep -q '+Inf bucket 4 != _count 5' "$W/check.out" &&
	grep -q 'tdexec_refusals: a counter whose name does not end in _total' "$W/check.out" &&
	grep -q 'bad escape' "$W/check.out" && ok || bad "check.js on a broken text: $(cat "$W/check.out")"
# promtool refuses a family split in two and a counter not named _total,
# but not a duplicate series: our parser is the one to say so.
printf '# HELP tdexec_a_total A.\n# TYPE tdexec_a_total counter\ntdexec_a_total 1\n# TYPE tdexec_a_total counter\n' |
	promtool check metrics >/dev/null 2>&1 && bad "promtool passed a second TYPE" || ok
printf '# HELP tdexec_a A.\n# TYPE tdexec_a counter\ntdexec_a 1\n' |
	promtool check metrics >/dev/null 2>&1 && bad "promtool passed a counter without _total" || ok

# 1. A pool: chain, SMS (attesting), scheduler, one worker with a listener.
pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
pool_start_sms || bad "sms"
d_sh=$("$HERE/../../scripts/mkimage" "$W/images" shell '["/bin/sh","-c"]' /bin/sh /usr/bin/sleep)
app=$("$T" app deploy "${C[@]}" --account 1 --name shell --json --image "shell@$d_sh" --layout "$W/images" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "metrics pool" --json | addr)
[ -n "$app" ] && [ -n "$pool" ] && ok || bad "assets"
"$T" account deposit "${C[@]}" --account 4 100000000000 >/dev/null && ok || bad "deposit"
expect 0 "pushed" -- "$T" secret push --sms "$SMS_URL" "${C[@]}" --account 4 --requester greeting \
	--value "hello"
pool_start_scheduler "$pool" 3 || bad "scheduler"

# A bad listen address is a clear error and a non-zero exit, before any task.
expect 1 "--metrics-listen localhost: not ADDR:PORT" -- timeout 60 "$T" worker --scheduler "$SCHED_URL" \
	"${C[@]}" --account 6 --images "$W/images" --work-dir "$W/wbad" --work-dir-encrypted \
	--provider sim --sim-dir "$W/td" --insecure-sms --metrics-listen localhost

pool_start_worker w1 5 --memory 2000 --max-time 30 --max-pids 64 --metrics-listen 127.0.0.1:0
WORKER_URL=
for _ in $(seq 100); do
	WORKER_URL=$(sed -n 's/.*event=worker.metrics listen=\(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' "$W/w1.log" | tail -1)
	[ -n "$WORKER_URL" ] && break
	sleep 0.1
done
[ -n "$WORKER_URL" ] && ok || bad "worker metrics listener: $(tail -3 "$W/w1.log")"
curl -sf "$WORKER_URL/healthz" >/dev/null && ok || bad "worker /healthz"
curl -s -o /dev/null -w '%{http_code}' "$WORKER_URL/tasks" | grep -qx 404 && ok || bad "the worker's listener serves more than /metrics"

# 2. Work for the counters: two tasks that complete, one that fails (its app
#    exits 3), a registration and an attestation refused.
task_of() {
	curl -s "$SCHED_URL/tasks?deal=$1" | grep -o '"taskId": *"0x[0-9a-f]*"' | head -1 | grep -o '0x[0-9a-f]*'
}
run() {
	local deal task
	deal=$(pool_deal "$app" "$pool" "{\"iexec_args\":\"$1\"}") || { echo "NODEAL"; return; }
	for _ in $(seq 100); do task=$(task_of "$deal"); [ -n "$task" ] && break; sleep 0.2; done
	task_wait "$task" 90
}
[ "$(run '\"echo one > /iexec_out/r.txt\"')" = COMPLETED ] && ok || bad "first task"
[ "$(run '\"echo two > /iexec_out/r.txt\"')" = COMPLETED ] && ok || bad "second task"
[ "$(run '\"exit 3\"')" = FAILED ] && ok || bad "failing task"
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' "$SCHED_URL/workers/register"
curl -s -o /dev/null -X POST -H 'Content-Type: application/octet-stream' --data-binary 'not a quote' \
	"$SMS_URL/tdx/sessions/00000000000000000000000000000000/attest?publicKey=$(printf '0%.0s' $(seq 64))&appDigest=$(printf '0%.0s' $(seq 64))"
# the market's four publish routes, to show they make one series per code
for kind in apporders datasetorders workerpoolorders requestorders; do
	curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' "$SCHED_URL/$kind"
done
# the worker's last report reaches the scheduler, whose counts are read at scrape time
sleep 1

# 3. Scrape and check.
curl -sf "$SMS_URL/metrics" >"$W/sms.prom" || bad "sms /metrics"
curl -sf "$SCHED_URL/metrics" >"$W/sched.prom" || bad "scheduler /metrics"
curl -sf "$WORKER_URL/metrics" >"$W/worker.prom" || bad "worker /metrics"
curl -s -D - -o /dev/null "$SCHED_URL/metrics" | grep -qi '^content-type: text/plain; version=0.0.4' &&
	ok || bad "content type: $(curl -s -D - -o /dev/null "$SCHED_URL/metrics" | grep -i content-type)"
for f in sms sched worker; do valid "$W/$f.prom"; done

# The scheduler: the pool as it is.
is "$W/sched.prom" tdexec_workers_registered 1
is "$W/sched.prom" tdexec_workers_alive 1
is "$W/sched.prom" 'tdexec_tasks{status="COMPLETED"}' 2
is "$W/sched.prom" 'tdexec_tasks{status="FAILED"}' 1
is "$W/sched.prom" tdexec_attestations_accepted_total 1
is "$W/sched.prom" 'tdexec_attestations_refused_total{reason="bad_request"}' 1
is "$W/sched.prom" 'tdexec_http_requests_total{route="worker_register",code="403"}' 1
# the four publish routes share one name: one series per code, 4 in all
[ "$(grep -c '^tdexec_http_requests_total{route="market_publish",' "$W/sched.prom")" = 1 ] &&
	[ "$(awk '/^tdexec_http_requests_total\{route="market_publish",/ { n += $2 } END { print n }' "$W/sched.prom")" = 4 ] &&
	ok || bad "market_publish series: $(grep 'route="market_publish"' "$W/sched.prom")"
at_least "$W/sched.prom" 'tdexec_http_request_duration_seconds_count{route="worker_next"}' 1
at_least "$W/sched.prom" tdexec_chain_head_block 1
lag=$(val "$W/sched.prom" tdexec_chain_head_lag_blocks)
[ -n "$lag" ] && [ "$lag" -le 5 ] && ok || bad "chain head lag: '$lag'"
grep -Eq '^tdexec_collateral_seconds_left\{fmspc="53494d000000",ca="platform"\} [0-9]+$' "$W/sched.prom" &&
	ok || bad "scheduler collateral gauge"
grep -q '^tdexec_eth_transactions_sent_total [0-9]' "$W/sched.prom" && ok || bad "scheduler transactions"
grep -q 'route="/' "$W/sched.prom" && bad "a path as a route label" || ok

# The SMS: sessions released, secrets, refusals.
is "$W/sms.prom" tdexec_sms_sessions_released_total 3
is "$W/sms.prom" tdexec_attestations_accepted_total 3
is "$W/sms.prom" tdexec_sms_release_duration_seconds_count 3
is "$W/sms.prom" 'tdexec_sms_secrets_stored{kind="requester"}' 1
is "$W/sms.prom" 'tdexec_attestations_refused_total{reason="no_session"}' 1
at_least "$W/sms.prom" 'tdexec_sms_secrets_stored{kind="challenge"}' 3
grep -Eq '^tdexec_collateral_seconds_left\{fmspc="53494d000000",ca="platform"\} [0-9]+$' "$W/sms.prom" &&
	ok || bad "sms collateral gauge"

# The worker: what it ran.
is "$W/worker.prom" tdexec_worker_tasks_run_total 3
is "$W/worker.prom" tdexec_worker_tasks_completed_total 2
is "$W/worker.prom" tdexec_worker_tasks_failed_total 1
is "$W/worker.prom" tdexec_worker_app_run_seconds_count 3
is "$W/worker.prom" tdexec_worker_quotes_total 4 # one registration, three sessions
is "$W/worker.prom" tdexec_worker_image_pulls_total 0
is "$W/worker.prom" tdexec_eth_transactions_sent_total 2
is "$W/worker.prom" tdexec_eth_transactions_mined_total 2
at_least "$W/worker.prom" tdexec_eth_gas_used_total 21000
is "$W/worker.prom" 'tdexec_http_requests_total{route="healthz",code="200"}' 1
is "$W/worker.prom" 'tdexec_http_requests_total{route="unmatched",code="404"}' 1

pool_stop
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W"/*.log >/dev/null 2>&1; then
	bad "sanitizer report in $(grep -l "Sanitizer\|runtime error:" "$W"/*.log | tr '\n' ' ')"
else ok; fi

finish
