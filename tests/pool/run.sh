#!/usr/bin/env bash
# The worker pool end to end on a local chain with simulated TDs: scheduler,
# two workers running unmodified Debian programs as OCI images in runc, the
# SMS releasing each task's session to the attested TD, results stored for
# the beneficiary, every task completed by one pushResultBoost.
# Usage: run.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
P=$W
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
trap 'pool_stop; [ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"' EXIT
command -v runc >/dev/null || { echo "FAIL: runc is not installed"; exit 1; }
addr() { sed -n 's/.*"address": "\(.*\)".*/\1/p'; }

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
pool_start_sms || bad "sms"
pool_start_files || bad "file server"

# Apps: sqlite3 as Debian ships it, and a shell with coreutils.
d_sql=$("$HERE/../../scripts/mkimage" "$W/images" sqlite3 '["/usr/bin/sqlite3"]' /usr/bin/sqlite3)
d_sh=$("$HERE/../../scripts/mkimage" "$W/images" shell '["/bin/sh","-c"]' /bin/sh /usr/bin/env \
	/usr/bin/cat /usr/bin/head /usr/bin/tail /usr/bin/sleep /usr/bin/ls /usr/bin/sha256sum)
app_sql=$("$T" app deploy "${C[@]}" --account 1 --name sqlite3 --json --image "sqlite3@$d_sql" \
	--tdx-policy "$P/policy.json" | addr)
app_sh=$("$T" app deploy "${C[@]}" --account 1 --name shell --json --image "shell@$d_sh" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "test pool" --json | addr)
[ -n "$app_sql" ] && [ -n "$app_sh" ] && [ -n "$pool" ] && ok || bad "assets"
"$T" account deposit "${C[@]}" --account 4 100000000000 >/dev/null && ok || bad "deposit"

# A dataset: a SQLite database, encrypted as iExec does, its key in the SMS.
sqlite3 "$W/cities.db" "create table city(name text, pop int);
	insert into city values ('Lyon', 522000), ('Paris', 2103000), ('Nice', 342000);"
"$T" dataset encrypt "$W/cities.db" -o "$W/files/cities.enc" --key-output "$W/cities.key" >"$W/sum" &&
	ok || bad "dataset encrypt"
dataset=$("$T" dataset deploy "${C[@]}" --account 2 --name cities --json \
	--multiaddr "$FILES_URL/cities.enc" --checksum "$(cat "$W/sum")" | addr)
expect 0 "pushed" -- "$T" secret push --sms "$SMS_URL" "${C[@]}" --account 2 --dataset "$dataset" \
	--file "$W/cities.key"
# An input file and a requester secret.
echo "select name from city where pop > 400000 order by name;" >"$W/files/query.sql"
input_url="$FILES_URL/query.sql"
input_name=$(printf '%s' "$input_url" | sha256sum | cut -d' ' -f1)
expect 0 "pushed" -- "$T" secret push --sms "$SMS_URL" "${C[@]}" --account 4 --requester greeting \
	--value "hello from the requester"
expect 0 "pushed" -- "$T" secret push --sms "$SMS_URL" "${C[@]}" --account 1 --app "$app_sh" \
	--value "the developer's secret"

pool_start_scheduler "$pool" 3 || bad "scheduler"
pool_start_worker w1 5
pool_start_worker w2 6

# 1. A confidential task: dataset, input file, unmodified sqlite3.
ds_lower=$(echo "$dataset" | tr 'A-F' 'a-f')
deal=$(pool_deal "$app_sql" "$pool" \
	"{\"iexec_args\":\"/iexec_in/$ds_lower -cmd '.output /iexec_out/result.txt' -cmd '.read /iexec_in/$input_name'\",\"iexec_input_files\":[\"$input_url\"]}" \
	"$dataset")
[ -n "$deal" ] && ok || bad "deal"
task_of() { curl -s "$SCHED_URL/tasks?deal=$1" | grep -o '"taskId": *"0x[0-9a-f]*"' | sed -n "$(( ${2:-0} + 1 ))p" | grep -o '0x[0-9a-f]*'; }
for _ in $(seq 50); do task=$(task_of "$deal"); [ -n "$task" ] && break; sleep 0.2; done
st=$(task_wait "$task" 60)
[ "$st" = COMPLETED ] && ok || bad "sqlite3 task: $st $(curl -s "$SCHED_URL/tasks/$task")"
"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/r1.zip" 2>/dev/null &&
	ok || bad "result download"
(cd "$W" && rm -rf r1 && mkdir r1 && cd r1 && unzip -q ../r1.zip) && ok || bad "unzip"
[ "$(cat "$W/r1/result.txt" 2>/dev/null | tr '\n' ' ')" = "Lyon Paris " ] && ok ||
	bad "sqlite3 result: $(cat "$W/r1/result.txt" 2>/dev/null)"

finish
