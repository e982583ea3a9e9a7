#!/usr/bin/env bash
# The worker pool end to end on a local chain with simulated TDs: scheduler,
# two workers running unmodified Debian programs as OCI images in runc, the
# SMS releasing each task's session to the attested TD, results stored for
# the beneficiary, every task completed by one pushResultBoost.
# Usage: run.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
pool_test_dir

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
# The pool asks for RTMR3's runtime log: every session below is released on
# a quote whose RTMR3 the worker's log replays to (docs/verification.md).
sed -i 's/^{/{"require_rtmr3_log": true, /' "$P/policy.json"
grep -q '"require_rtmr3_log": true' "$P/policy.json" && ok || bad "policy with require_rtmr3_log"
# The SMS serves plain http until section 9 (RA-TLS): until then the
# workers are started with --insecure-sms (pool_start_worker adds it).
pool_start_sms || bad "sms"
pool_start_files || bad "file server"

# Apps: sqlite3 as Debian ships it, and a shell with coreutils.
d_sql=$("$HERE/../../scripts/mkimage" "$W/images" sqlite3 '["/usr/bin/sqlite3"]' /usr/bin/sqlite3)
# (with a static probe of what the seccomp profile refuses, built beside
# tdexec: the image keeps its path, and the app's /tmp is a fresh tmpfs)
PROBE=$(cd "$(dirname "$T")" && pwd)/sandbox-probe
gcc -static -O2 -o "$PROBE" "$HERE/probe.c" || bad "probe build"
d_sh=$("$HERE/../../scripts/mkimage" "$W/images" shell '["/bin/sh","-c"]' /bin/sh /usr/bin/env "$PROBE" \
	/usr/bin/cat /usr/bin/head /usr/bin/sleep /usr/bin/ls /usr/bin/dd /usr/bin/wc /usr/bin/ln \
	/usr/bin/mkfifo /usr/bin/unshare /usr/bin/grep)
app_sql=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name sqlite3 --json --image "sqlite3@$d_sql" \
	--tdx-policy "$P/policy.json" | addr)
app_sh=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name shell --json --image "shell@$d_sh" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "test pool" --json | addr)
[ -n "$app_sql" ] && [ -n "$app_sh" ] && [ -n "$pool" ] && ok || bad "assets"
"$T" account deposit "${C[@]}" --account 4 100000000000 >/dev/null &&
	"$T" account deposit "${C[@]}" --account 3 100000000000 >/dev/null && ok || bad "deposit"

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

# A wallet password in the environment leaves it: the scheduler signs with
# an account and drops it; worker w2 decrypts its keystore with it.
TDEXEC_WALLET_PASSWORD=pw-sched-drops pool_start_scheduler "$pool" 3 --worker-timeout 3 \
	--order-volume 3 --order-price 100000000 || bad "scheduler"
node -e 'console.log(require(process.argv[1]).accounts[6].private_key)' "$W/chain/chain.json" \
	>"$W/w2.hex"
TDEXEC_WALLET_PASSWORD=pw-w2-keystore "$T" wallet import --plain-key "$W/w2.hex" --scrypt-n 1024 \
	-o "$W/w2.json" >/dev/null && ok || bad "w2 keystore"
# Workers: apps get 5000 MiB and 40 s at most (the 4 GiB app took over
# 20 s on the shared 2-core machine at a load of 9, in the ThreadSanitizer
# run; 40 s stays well below the 60 s sleep that must be killed); missing
# images are pulled from a registry (skopeo), which cannot be reached here.
# The sandbox: 64 processes, 256 MiB of output (and largest file).
WFLAGS=(--memory 5000 --max-time 40 --pull --max-pids 64 --max-output 256)

task_of() { # DEAL [INDEX]
	curl -s "$SCHED_URL/tasks?deal=$1" | grep -o '"taskId": *"0x[0-9a-f]*"' |
		sed -n "$((${2:-0} + 1))p" | grep -o '0x[0-9a-f]*'
}
# run_task APP PARAMS [DATASET]: deal, wait, print "STATUS TASKID"
run_task() {
	local deal task st
	deal=$(pool_deal "$1" "$pool" "$2" "${3:-}") || { echo "NODEAL -"; return; }
	for _ in $(seq 50); do task=$(task_of "$deal"); [ -n "$task" ] && break; sleep 0.2; done
	st=$(task_wait "$task" "${WAIT:-60}")
	echo "${st:-NONE} $task"
}
# logged PATTERN FILE...: the line is (or within 5 s will be) in a log; a
# worker logs its transaction after its receipt, which can come after the
# scheduler saw the chain event that completed the task
logged() {
	local pat=$1
	shift
	for _ in $(seq 50); do grep -q "$pat" "$@" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
# detail TASKID: what the scheduler knows of the task
detail() { curl -s "$SCHED_URL/tasks/$1" | sed -n 's/.*"detail": *"\([^"]*\)".*/\1/p'; }

# 0. Inputs from non-public addresses: a worker started without
#    --allow-private-inputs (the only one up yet) refuses an input URL on
#    a loopback-only server, and says why; what that server holds never
#    reaches a result.
secret="loopback-only secret $RANDOM$RANDOM"
echo "$secret" >"$W/files/secret.txt"
PUBLIC_INPUTS=1 pool_start_worker w0 7 "${WFLAGS[@]}"
W0=$WORKER_PID
read -r st task < <(run_task "$app_sh" \
	"{\"iexec_args\":\"\\\"cat /iexec_in/* > /iexec_out/leak.txt\\\"\",\"iexec_input_files\":[\"$FILES_URL/secret.txt\"]}")
[ "$st" = FAILED ] && detail "$task" | grep -q "address 127.0.0.1 is not public (loopback); the worker needs --allow-private-inputs" &&
	ok || bad "input on loopback, public-only worker: $st $(detail "$task")"
expect 1 "404" -- "$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/leak.zip"
grep -rqa "$secret" "$W/results" "$W/w0" 2>/dev/null && bad "the loopback secret reached a result" || ok
[ ! -e "$W/leak.zip" ] && ok || bad "a result file was left for a refused task"
# The same for an image pulled from a registry the app's owner names.
app_lo=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name lo-registry --json \
	--image "127.0.0.1:5000/ghost@sha256:$(printf lo-ghost | sha256sum | cut -d' ' -f1)" | addr)
read -r st task < <(run_task "$app_lo" '{}')
[ "$st" = FAILED ] && detail "$task" | grep -q "address 127.0.0.1 is not public (loopback); the worker needs --allow-private-inputs" &&
	ok || bad "image from a loopback registry, public-only worker: $st $(detail "$task")"
kill "$W0"
wait "$W0" 2>/dev/null

pool_start_worker w1 5 "${WFLAGS[@]}"
W1=$WORKER_PID
TDEXEC_WALLET_PASSWORD=pw-w2-keystore pool_start_worker w2 6 --wallet "$W/w2.json" "${WFLAGS[@]}"
W2=$WORKER_PID
w5=$("$T" wallet show "${C[@]}" --account 5 --json | addr | tr 'A-F' 'a-f')

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
# The chain says so too: the result is on chain, pushed by a worker.
grep -q "ResultPushedBoost\|pushResultBoost" "$W"/w*.log 2>/dev/null || true
curl -s "$SCHED_URL/tasks/$task" | grep -q '"results": *"0x' && ok || bad "no results on chain"
"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/r1.zip" 2>/dev/null &&
	ok || bad "result download"
(cd "$W" && rm -rf r1 && mkdir r1 && cd r1 && unzip -q ../r1.zip) && ok || bad "unzip"
[ "$(cat "$W/r1/result.txt" 2>/dev/null | tr '\n' ' ')" = "Lyon Paris " ] && ok ||
	bad "sqlite3 result: $(cat "$W/r1/result.txt" 2>/dev/null)"
# The download is checked against the result digest on chain: a result
# file changed on the store's disk is refused and leaves no output; so is an
# archive with an entry that would extract outside its directory.
sum1=$(sha256sum "$W/r1.zip" | cut -d' ' -f1)
cp "$W/results/$sum1" "$W/r1.orig"
mkdir -p "$W/tampered" && echo "Lyon Nice" >"$W/tampered/result.txt" && cp "$W/r1/computed.json" "$W/tampered/"
(cd "$W/tampered" && zip -q -X ../tampered.zip result.txt computed.json)
cp "$W/tampered.zip" "$W/results/$sum1"
expect 1 "result $task does not match the on-chain digest 0x[0-9a-f]{64}" -- \
	"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/t1.zip"
[ ! -e "$W/t1.zip" ] && ! ls "$W"/t1.zip.* >/dev/null 2>&1 && ok || bad "a refused result was left behind"
(cd "$W/tampered" && cp ../r1/computed.json . && zip -q -X ../escape.zip result.txt computed.json &&
	printf '@ result.txt\n@=../result.txt\n' | zipnote -w ../escape.zip)
cp "$W/escape.zip" "$W/results/$sum1"
expect 1 "entry '../result.txt' would extract outside" -- \
	"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/t1.zip"
[ ! -e "$W/result.txt" ] && [ ! -e "$W/t1.zip" ] && ok || bad "an escaping entry was extracted"
cp "$W/r1.orig" "$W/results/$sum1"
expect 0 "matches the on-chain digest" -- \
	"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/t1.zip"

# Every service of the pool is undumpable with no core limit, no password
# stays in an environment block, and the SQLite files are 0600.
hardened sms "$SMS_PID"
hardened scheduler "$SCHED_PID" pw-sched-drops
hardened w1 "$W1"
hardened w2 "$W2" pw-w2-keystore
private "pool files" "$W/sched.db" "$W/sched.db-wal" "$W/sched.db-shm" "$W/sms.db" "$W/sms.key" \
	"$W"/w1/worker.db{,-wal,-shm} "$W"/w2/worker.db{,-wal,-shm} "$W/w2.json"

# 1b. The same as a classic deal: the scheduler initializes the task, the
#     worker finishes it with contributeAndFinalize.
read -r st task < <(TRUST=0 run_task "$app_sql" \
	"{\"iexec_args\":\"/iexec_in/$ds_lower -cmd '.output /iexec_out/result.txt' 'select count(*) from city'\"}" \
	"$dataset")
[ "$st" = COMPLETED ] && ok || bad "classic TEE task: $st $(detail "$task")"
logged "task=$task .*call=contributeAndFinalize" "$W"/w1.log "$W"/w2.log && ok ||
	bad "classic task not finished by contributeAndFinalize"
"$T" task show "$task" "${C[@]}" --json >"$W/t.json" 2>&1
grep -q '"status_name": "COMPLETED"' "$W/t.json" && ok || bad "classic task on chain: $(cat "$W/t.json")"

# A classic task's result is checked against viewTask's resultDigest.
expect 0 "matches the on-chain digest" -- \
	"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/r1b.zip"
# Only the beneficiary gets the result.
expect 1 "403" -- "$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 5 -o "$W/x.zip"
# A download authorization is lib/proto's message, for this task, this
# beneficiary and until its expiry: the beneficiary's signature over
# keccak(taskId), as a hostile scheduler gets it by choosing a registration
# nonce equal to the task id, is refused, and so are an expired one and one
# expiring too far ahead; the same request signed honestly is served.
D=(node "$HERE/download.js" "$W/chain/chain.json" 4 "$SCHED_URL" "$task")
expect 0 "download=403" -- "${D[@]}" legacy
expect 0 "download=403" -- "${D[@]}" expired
expect 0 "download=403" -- "${D[@]}" ahead
expect 0 "download=200" -- "${D[@]}" honest
[ "$(curl -s -o /dev/null -w '%{http_code}' "$SCHED_URL/results/$task" \
	-H "Authorization: 0x$(printf '%0130d' 0)")" = 403 ] && ok || bad "result: a download without an expiry"

# 1c. An oracle task: the request names a callback contract, the app writes
#     callback-data in computed.json, PoCo hands it to the contract (a
#     13-byte stand-in that stores what it gets) and keccak(data) is the
#     result digest the enclave signed.
receiver=$(node "$HERE/callback.js" "$W/chain/chain.json" deploy)
cb=0x$(printf 'tdexec oracle answer' | sha256sum | cut -d' ' -f1)
cb_args="\"echo '{\\\"deterministic-output-path\\\":\\\"/iexec_out\\\",\\\"callback-data\\\":\\\"$cb\\\"}' > /iexec_out/computed.json\""
cb_params=$(node -e 'console.log(JSON.stringify({iexec_args: process.argv[1]}))' "$cb_args")
read -r st task < <(CALLBACK=$receiver run_task "$app_sh" "$cb_params")
[ "$st" = COMPLETED ] && ok || bad "callback task: $st $(detail "$task")"
[ "$(node "$HERE/callback.js" "$W/chain/chain.json" read "$receiver")" = "$cb $task" ] && ok ||
	bad "callback contract holds: $(node "$HERE/callback.js" "$W/chain/chain.json" read "$receiver")"
logged "task=$task .*call=pushResultBoost callback_bytes=32" "$W"/w1.log "$W"/w2.log && ok ||
	bad "callback task: no pushResultBoost with its data"
# ... and its download is checked against keccak256(callback-data).
expect 0 "matches the on-chain digest" -- \
	"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/r1c.zip"
# A callback task whose app writes no callback-data fails, and says why.
read -r st task < <(CALLBACK=$receiver run_task "$app_sh" '{"iexec_args":"\"echo x > /iexec_out/o\""}')
[ "$st" = FAILED ] && detail "$task" | grep -q "no callback-data" && ok ||
	bad "callback task without data: $st $(detail "$task")"

# 2. What the app sees: its secrets, iExec's variables, no network, a
#    read-only root and input; never the enclave key or the result keys.
probe='env > /iexec_out/env.txt; ls /sys/class/net > /iexec_out/net.txt; (echo x > /etc/x) 2>/dev/null || echo ro > /iexec_out/root.txt; (echo x > /iexec_in/x) 2>/dev/null || echo ro > /iexec_out/in.txt; cat /proc/self/uid_map > /iexec_out/uidmap.txt; grep Seccomp: /proc/self/status > /iexec_out/seccomp.txt; unshare -U true 2>/dev/null && echo allowed > /iexec_out/unshare.txt || echo refused > /iexec_out/unshare.txt'"; $PROBE > /iexec_out/probe.txt"
read -r st task < <(run_task "$app_sh" "{\"iexec_args\":\"'$probe'\",\"iexec_secrets\":{\"1\":\"greeting\"}}")
[ "$st" = COMPLETED ] && ok || bad "probe task: $st $(detail "$task")"
"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/r2.zip" 2>/dev/null
rm -rf "$W/r2" && mkdir "$W/r2" && (cd "$W/r2" && unzip -q ../r2.zip)
e="$W/r2/env.txt"
grep -qx 'IEXEC_REQUESTER_SECRET_1=hello from the requester' "$e" && ok || bad "requester secret not in env"
grep -qx "IEXEC_APP_DEVELOPER_SECRET=the developer's secret" "$e" && ok || bad "app secret not in env"
grep -qx "IEXEC_TASK_ID=$task" "$e" && ok || bad "IEXEC_TASK_ID"
grep -qx "IEXEC_OUT=/iexec_out" "$e" && ok || bad "IEXEC_OUT"
grep -q -e SIGN_TEE_CHALLENGE -e RESULT_STORAGE -e IEXEC_DATASET_KEY "$e" && bad "post-compute keys reach the app" || ok
[ "$(cat "$W/r2/net.txt")" = lo ] && ok || bad "network: $(cat "$W/r2/net.txt")"
[ -f "$W/r2/root.txt" ] && [ -f "$W/r2/in.txt" ] && ok || bad "root or /iexec_in writable"
[ -f "$W/r2/computed.json" ] && grep -q deterministic-output-path "$W/r2/computed.json" && ok ||
	bad "computed.json"
# The sandbox: the app's root is host uid 100000 (a user namespace), the
# seccomp filter is on, and it refuses a new user namespace (which an
# unprivileged process may otherwise make).
read -r _ hostid size <"$W/r2/uidmap.txt"
[ "$hostid" = 100000 ] && [ "$size" = 65536 ] && ok || bad "uid map: $(cat "$W/r2/uidmap.txt")"
grep -q 'Seccomp:[[:space:]]*2' "$W/r2/seccomp.txt" && ok || bad "seccomp: $(cat "$W/r2/seccomp.txt")"
[ "$(cat "$W/r2/unshare.txt")" = refused ] && ok || bad "unshare -U: $(cat "$W/r2/unshare.txt")"
# vsock (which no network namespace confines: it reaches the host), keyrings
# and BPF are refused; 32-bit calls kill the caller; ordinary sockets work.
grep -qx 'vsock refused (Address family not supported by protocol)' "$W/r2/probe.txt" &&
	grep -qx 'unshare-user refused (Operation not permitted)' "$W/r2/probe.txt" &&
	grep -qx 'keyctl refused (Operation not permitted)' "$W/r2/probe.txt" &&
	grep -qx 'bpf refused (Operation not permitted)' "$W/r2/probe.txt" &&
	grep -qx 'inet allowed' "$W/r2/probe.txt" && grep -qx 'int80 killed' "$W/r2/probe.txt" && ok ||
	bad "seccomp probe: $(cat "$W/r2/probe.txt")"

# 2b. Hostile apps.  Each fails for its own stated reason (or is contained),
#     nothing of another task reaches its result, and honest tasks before
#     (1, 2) and after (3...) complete.
sh_params() { node -e 'console.log(JSON.stringify({iexec_args: `"${process.argv[1]}"`}))' "$1"; }
# Links in /iexec_out to the worker's files and to its environment: the
# worker reads the output without following links, and refuses them.
read -r st task < <(run_task "$app_sh" "$(sh_params 'ln -s ../../../worker.db /iexec_out/db; ln -s /proc/self/environ /iexec_out/environ; echo hi > /iexec_out/ok.txt')")
[ "$st" = FAILED ] && detail "$task" | grep -q "/iexec_out/db is a symbolic link" && ok ||
	bad "symlinks in /iexec_out: $st $(detail "$task")"
expect 1 "404" -- "$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/h1.zip"
# computed.json a FIFO: the worker does not block on it.
read -r st task < <(WAIT=30 run_task "$app_sh" "$(sh_params 'mkfifo /iexec_out/computed.json')")
[ "$st" = FAILED ] && detail "$task" | grep -q "computed.json is a FIFO" && ok ||
	bad "FIFO computed.json: $st $(detail "$task")"
# A deterministic-output-path out of /iexec_out.
read -r st task < <(run_task "$app_sh" "$(sh_params "printf '{\\042deterministic-output-path\\042:\\042/iexec_out/../../w1\\042}' > /iexec_out/computed.json")")
[ "$st" = FAILED ] && detail "$task" | grep -q "has a '.' or '..' component" && ok ||
	bad "deterministic-output-path out of /iexec_out: $st $(detail "$task")"
# A fork bomb meets the pids limit (64): the processes it managed to start
# are counted with shell builtins only.
bomb='( i=0; while [ $i -lt 2000 ]; do sleep 30 & i=$((i+1)); done ) 2>/dev/null; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n > /iexec_out/pids.txt'
read -r st task < <(run_task "$app_sh" "$(sh_params "$bomb")")
[ "$st" = COMPLETED ] && ok || bad "fork bomb task: $st $(detail "$task")"
"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/h2.zip" 2>/dev/null
n=$(unzip -p "$W/h2.zip" pids.txt 2>/dev/null)
[ -n "$n" ] && [ "$n" -gt 8 ] && [ "$n" -le 64 ] && ok || bad "fork bomb: $n processes (limit 64)"
# 2 GiB written to /iexec_out stop at the output cap (256 MiB).
read -r st task < <(run_task "$app_sh" "$(sh_params 'echo pending > /iexec_out/dd.txt; dd if=/dev/zero of=/iexec_out/big bs=1M count=2048 2>/dev/null; echo $? > /iexec_out/dd.txt')")
[ "$st" = COMPLETED ] && ok || bad "2 GiB write: $st $(detail "$task")"
"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/h3.zip" 2>/dev/null
big=$(unzip -l "$W/h3.zip" 2>/dev/null | awk '$4 == "big" {print $1}')
[ -n "$big" ] && [ "$big" -le $((256 << 20)) ] && [ "$(unzip -p "$W/h3.zip" dd.txt)" != 0 ] && ok ||
	bad "2 GiB write: big is ${big:-missing} bytes, dd said $(unzip -p "$W/h3.zip" dd.txt 2>/dev/null)"
# A layer escape: layer 1 links 'escape' to a directory of this machine,
# layer 2 writes escape/pwned.  The image is refused; nothing lands outside.
mkdir -p "$W/escaped" "$W/l1" "$W/l2/escape"
ln -s "$W/escaped" "$W/l1/escape"
echo pwned >"$W/l2/escape/pwned"
tar --numeric-owner --owner=0 --group=0 -C "$W/l1" -cf "$W/l1.tar" escape
tar --numeric-owner --owner=0 --group=0 -C "$W/l2" -cf "$W/l2.tar" escape/pwned
d_esc=$(MKIMAGE_LAYERS="$W/l1.tar $W/l2.tar" "$HERE/../../scripts/mkimage" "$W/images" escape \
	'["/bin/sh","-c"]' /bin/sh /usr/bin/cat)
app_esc=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name escape --json --image "escape@$d_esc" | addr)
read -r st task < <(run_task "$app_esc" "$(sh_params "cat $W/escaped/pwned > /iexec_out/seen.txt")")
[ "$st" = FAILED ] && detail "$task" | grep -q "entry 'escape/pwned'" && ok ||
	bad "layer escape: $st $(detail "$task")"
[ -z "$(ls -A "$W/escaped")" ] && ok || bad "a layer wrote outside the rootfs: $(ls "$W/escaped")"
# An image that keeps its program under /tmp (common in images built by
# hand) still finds it: the sandbox's private /tmp starts as the image's.
mkdir -p "$W/ltmp/tmp"
printf '#!/bin/sh\necho "from the image tmp: $1" > /iexec_out/tmp.txt\n' >"$W/ltmp/tmp/run.sh"
chmod 755 "$W/ltmp/tmp/run.sh"
tar --numeric-owner --owner=0 --group=0 -C "$W/ltmp" -cf "$W/ltmp.tar" tmp/run.sh
d_tmp=$(MKIMAGE_LAYERS="$W/ltmp.tar" "$HERE/../../scripts/mkimage" "$W/images" tmpapp \
	'["/tmp/run.sh"]' /bin/sh)
app_tmp=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name tmpapp --json --image "tmpapp@$d_tmp" | addr)
read -r st task < <(run_task "$app_tmp" '{"iexec_args":"hi"}')
[ "$st" = COMPLETED ] && "$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 \
	-o "$W/tmp.zip" >/dev/null 2>&1 && [ "$(unzip -p "$W/tmp.zip" tmp.txt)" = "from the image tmp: hi" ] &&
	ok || bad "an app under the image's /tmp: $st $(detail "$task")"
# The runtime's own failure is told apart from the app's: an image whose
# entrypoint does not exist fails with runc's reason; an app that prints a
# line looking like runc's is an app that exited with its status.
d_noep=$("$HERE/../../scripts/mkimage" "$W/images" noep '["/no/such/program"]' /bin/sh)
app_noep=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name noep --json --image "noep@$d_noep" | addr)
read -r st task < <(run_task "$app_noep" '{}')
# (the reason quotes the path: read it whole, not through detail)
[ "$st" = FAILED ] && curl -s "$SCHED_URL/tasks/$task" | grep -q 'the container did not start: runc: .*no such file' &&
	ok || bad "missing entrypoint: $st $(curl -s "$SCHED_URL/tasks/$task")"
read -r st task < <(run_task "$app_sh" "$(sh_params "echo 'level=error msg=runc run failed: forged' >&2; echo '{\\\"level\\\":\\\"error\\\",\\\"msg\\\":\\\"forged\\\"}' >&2; exit 3")")
[ "$st" = FAILED ] && [ "$(detail "$task")" = "app exited with status 3" ] && ok ||
	bad "forged runtime error: $st $(detail "$task")"
# What a task held in clear never touched the workers' disks: their task
# directories are empty, and neither the requester's secret nor the
# dataset's content is anywhere under them.
[ -z "$(ls -A "$W/w1/tasks" "$W/w2/tasks" 2>/dev/null | grep -v ':$')" ] && ok ||
	bad "task directories left: $(ls -R "$W/w1/tasks" "$W/w2/tasks")"
grep -rqa -e "hello from the requester" -e "Paris" "$W/w1" "$W/w2" && bad "a secret or the dataset is on a worker's disk" || ok

# 3. A bag of 20 tasks in one deal, across both workers.
deal=$(pool_deal "$app_sh" "$pool" '{"iexec_args":"\"echo $IEXEC_BOT_TASK_INDEX > /iexec_out/i.txt\""}' "" 20)
for _ in $(seq 300); do
	n=$(curl -s "$SCHED_URL/tasks?deal=$deal" | grep -o '"status": *"COMPLETED"' | wc -l)
	[ "$n" = 20 ] && break
	sleep 0.2
done
[ "$n" = 20 ] && ok || bad "bag of tasks: $n/20 completed"
workers=$(curl -s "$SCHED_URL/tasks?deal=$deal" | grep -o '"worker": *"0x[0-9a-f]*"' | sort -u | wc -l)
[ "$workers" = 2 ] && ok || bad "bag of tasks ran on $workers worker(s)"

# 3b. A replicated standard task: trust 3, three workers, PoCo's consensus
#     (contribute, reveal), finalized by the scheduler.
# (this worker reads its images from an OCI archive)
tar -C "$W/images" -cf "$W/images.tar" .
rm -rf "$W/w3.td" && cp -r "$W/td" "$W/w3.td"
# (--allow-private-inputs: the file server is on loopback; --insecure-sms:
# the SMS serves plain http until section 9)
"$T" worker --scheduler "$SCHED_URL" "${C[@]}" --account 8 --images "$W/images.tar" \
	--work-dir "$W/w3" --work-dir-encrypted --provider sim --sim-dir "$W/w3.td" --allow-private-inputs \
	--insecure-sms "${WFLAGS[@]}" 2>>"$W/w3.log" &
W3=$!
POOL_PIDS+=("$W3")
read -r st task < <(TAG=none TRUST=3 run_task "$app_sh" '{"iexec_args":"\"echo consensus > /iexec_out/r.txt\""}')
[ "$st" = COMPLETED ] && ok || bad "replicated task: $st $(detail "$task")"
"$T" task show "$task" "${C[@]}" --json >"$W/t.json" 2>&1
grep -q '"status_name": "COMPLETED"' "$W/t.json" && ok || bad "replicated task on chain: $(cat "$W/t.json")"
for _ in $(seq 50); do
	n=$(grep -h "worker.reveal task=$task" "$W"/w1.log "$W"/w2.log "$W"/w3.log | wc -l)
	[ "$n" -ge 2 ] && break
	sleep 0.1
done
[ "$n" -ge 2 ] && ok || bad "replicated task: $n reveals"
grep -q 'worker.images archive' "$W/w3.log" && ok || bad "OCI archive not unpacked"
# The result store: the first upload of each replicate stands.  A winner
# uploading again is refused (409) and the download does not change; a
# worker that held no replicate of the task is refused (403).
acct_of() { case $1 in w1) echo 5 ;; w2) echo 6 ;; w3) echo 8 ;; w4) echo 9 ;; esac; }
expect 0 "matches the on-chain digest" -- \
	"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/r3b.zip"
[ "$(unzip -p "$W/r3b.zip" r.txt 2>/dev/null)" = consensus ] && ok || bad "replicated task: served result"
winner=$(grep -l "worker.reveal task=$task" "$W"/w1.log "$W"/w2.log "$W"/w3.log | head -1 | xargs basename | cut -d. -f1)
(cd "$W" && mkdir -p forged && echo forged >forged/r.txt && cd forged && zip -q -X ../forged.zip r.txt)
reply=$(node "$HERE/upload.js" "$W/chain/chain.json" "$(acct_of "$winner")" "$SCHED_URL" "$task" "$W/forged.zip")
case $reply in 409*) ok ;; *) bad "second upload by a replicate: $reply" ;; esac
reply=$(node "$HERE/upload.js" "$W/chain/chain.json" 7 "$SCHED_URL" "$task" "$W/forged.zip")
case $reply in 403*"not signed by a worker holding the task"*) ok ;; *) bad "upload by a stranger: $reply" ;; esac
"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/r3b-again.zip" >/dev/null 2>&1
cmp -s "$W/r3b.zip" "$W/r3b-again.zip" && ok || bad "the stored result changed after a second upload"
# 3c. Contributions that disagree: the file server answers the first
#     download of the input differently, and that replicate answers at once
#     while the agreeing ones compute for a while, so the dissent is on chain
#     first.  Trust 3 goes to three workers; with fresh workers PoCo then has
#     no consensus (after one dissent, three must agree), so the scheduler
#     hands the task to a fourth worker; the dissenter learns it lost.
pool_start_worker w4 9 "${WFLAGS[@]}"
W4=$WORKER_PID
echo agreed >"$W/files/vote.txt"
echo dissent >"$W/files/vote.txt.first"
vote=$(printf '%s' "$FILES_URL/vote.txt" | sha256sum | cut -d' ' -f1)
vote_app='read v < /iexec_in/'$vote'; if [ x$v = xagreed ]; then i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); done; fi; echo $v > /iexec_out/r.txt'
vote_params=$(printf '{"iexec_args":"\\"%s\\"","iexec_input_files":["%s"]}' "$vote_app" "$FILES_URL/vote.txt")
read -r st task < <(TAG=none TRUST=3 run_task "$app_sh" "$vote_params")
[ "$st" = COMPLETED ] && ok || bad "disagreeing replicates: $st $(detail "$task")"
[ ! -e "$W/files/vote.txt.first" ] && ok || bad "the dissenting input was never served"
grep -q "sched.task task=$task reopened=1 contributions=3" "$W/sched.log" && ok ||
	bad "task not reopened after three contributions without consensus"
n=$(grep -h "worker.contribute task=$task" "$W"/w[1-4].log | wc -l)
[ "$n" = 4 ] && ok || bad "disagreeing replicates: $n contributions, want 4"
logged "task=$task .*our result is not the consensus" "$W"/w[1-4].log && ok ||
	bad "the dissenter did not see it lost"
# The dissenter's upload was stored (it uploads before it contributes) but
# is not what the beneficiary gets: a revealed worker's is; and once it
# reported FAILED it may not upload again.
dissenter=$(grep -l "task=$task .*our result is not the consensus" "$W"/w[1-4].log | head -1 | xargs basename | cut -d. -f1)
"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/r3c.zip" >/dev/null 2>&1
[ "$(unzip -p "$W/r3c.zip" r.txt 2>/dev/null)" = agreed ] && ok ||
	bad "dissenting replicates: served $(unzip -p "$W/r3c.zip" r.txt 2>&1)"
daddr=$("$T" wallet show "${C[@]}" --account "$(acct_of "$dissenter")" --json | addr | tr 'A-F' 'a-f')
dissent_sha=$(grep "sched.result task=$task .*signer=$daddr" "$W/sched.log" | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p' | head -1)
[ -n "$dissent_sha" ] && ok || bad "the dissenter's upload was not stored"
grep -q "sched.result task=$task served=$daddr" "$W/sched.log" && bad "the dissenter's upload is served" || ok
reply=$(node "$HERE/upload.js" "$W/chain/chain.json" "$(acct_of "$dissenter")" "$SCHED_URL" "$task" "$W/forged.zip")
case $reply in 403*"reported FAILED"*) ok ;; *) bad "upload by a FAILED replicate: $reply" ;; esac
# 3d. A replicated oracle task: the consensus is on keccak(callback-data),
#     the scheduler finalizes with a winner's data, PoCo delivers it.
receiver2=$(node "$HERE/callback.js" "$W/chain/chain.json" deploy)
cb2=0x$(printf 'replicated oracle answer' | sha256sum | cut -d' ' -f1)
cb2_params=$(node -e 'console.log(JSON.stringify({iexec_args: process.argv[1]}))' "${cb_args/$cb/$cb2}")
read -r st task < <(TAG=none TRUST=3 CALLBACK=$receiver2 run_task "$app_sh" "$cb2_params")
[ "$st" = COMPLETED ] && ok || bad "replicated callback task: $st $(detail "$task")"
[ "$(node "$HERE/callback.js" "$W/chain/chain.json" read "$receiver2")" = "$cb2 $task" ] && ok ||
	bad "replicated callback: $(node "$HERE/callback.js" "$W/chain/chain.json" read "$receiver2")"
kill "$W3" "$W4"
wait "$W3" "$W4" 2>/dev/null

# 4. Time: an app past the wall-time limit (40 s) is killed.  Its deal is
#    made now and its status read before section 8: one worker spends the
#    40 s on it while the other runs sections 4 to 7, which neither count
#    workers nor need both.
slow_deal=$(pool_deal "$app_sh" "$pool" '{"iexec_args":"\"sleep 60\""}')
for _ in $(seq 50); do slow_task=$(task_of "$slow_deal"); [ -n "$slow_task" ] && break; sleep 0.2; done
# Memory: an app that really uses 4 GiB runs; one over its limit fails.
read -r st task < <(WAIT=90 run_task "$app_sh" '{"iexec_args":"\"dd if=/dev/zero of=/dev/null bs=4200M count=1 iflag=fullblock 2> /iexec_out/dd.txt\""}')
[ "$st" = COMPLETED ] && ok || bad "4 GiB app: $st $(detail "$task")"
read -r st task < <(WAIT=90 run_task "$app_sh" '{"iexec_args":"\"dd if=/dev/zero of=/dev/null bs=6000M count=1 iflag=fullblock\""}')
[ "$st" = FAILED ] && detail "$task" | grep -q "memory limit" && ok || bad "over memory: $st $(detail "$task")"
# An app that fails.
read -r st task < <(run_task "$app_sh" '{"iexec_args":"\"exit 3\""}')
[ "$st" = FAILED ] && detail "$task" | grep -q "status 3" && ok || bad "failing app: $st $(detail "$task")"

# 5. An image that is not what the chain says is refused before it runs.
d_bad=$("$HERE/../../scripts/mkimage" "$W/images" tampered '["/bin/sh","-c"]' /bin/sh)
layer=$(grep -o '"layers":\[{[^]]*' "$W/images/blobs/sha256/${d_bad#sha256:}" | grep -o 'sha256:[0-9a-f]*' | cut -d: -f2)
printf 'x' >>"$W/images/blobs/sha256/$layer"
app_bad=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name tampered --json --image "tampered@$d_bad" | addr)
read -r st task < <(run_task "$app_bad" '{"iexec_args":"\"echo ran > /iexec_out/x\""}')
[ "$st" = FAILED ] && detail "$task" | grep -q "does not match its digest" && ok ||
	bad "tampered image: $st $(detail "$task")"
app_ghost=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name ghost --json \
	--image "ghost@sha256:$(printf ghost | sha256sum | cut -d' ' -f1)" | addr)
read -r st task < <(run_task "$app_ghost" '{}')
# not in the layout: the workers (--pull) try the registry by the on-chain
# digest, which cannot be reached here
[ "$st" = FAILED ] && detail "$task" | grep -q "cannot pull ghost@sha256:" && ok ||
	bad "unknown image: $st $(detail "$task")"

# 6. A worker whose TD does not match the pool's policy gets nothing.
# (--insecure-sms: the SMS serves plain http until section 9)
cp -r "$W/td" "$W/evil.td"
sed -i 's/"MRTD": "\(..\)/"MRTD": "ff/' "$W/evil.td/td.json"
"$T" worker --scheduler "$SCHED_URL" "${C[@]}" --account 7 --images "$W/images" --work-dir "$W/evil" \
	--work-dir-encrypted --provider sim --sim-dir "$W/evil.td" --insecure-sms >"$W/evil.log" 2>&1
[ $? = 1 ] && grep -q "403" "$W/evil.log" && ok || bad "a worker off policy: $(tail -2 "$W/evil.log")"
# A work directory on a disk nobody vouched for is refused: the host could
# read what tasks leave there.
expect 1 "work-dir-encrypted" -- "$T" worker --scheduler "$SCHED_URL" "${C[@]}" --account 7 \
	--images "$W/images" --work-dir "$W/plain" --provider sim --sim-dir "$W/evil.td" --insecure-sms
# Nor does a worker start that would reach the SMS without attesting it,
# unless told so.
expect 1 "sms-policy FILE is required" -- "$T" worker --scheduler "$SCHED_URL" "${C[@]}" --account 7 \
	--images "$W/images" --work-dir "$W/evil" --work-dir-encrypted --provider sim --sim-dir "$W/evil.td"
grep -q 'sched.register refused' "$W/sched.log" && ok || bad "refusal not logged"

# 7. The requester's way: orders on the pool's market, one 'tdexec run'.
"$T" order init app --set app="$app_sql" --set appprice=50000000 --set tag=tdx --set volume=10 -o "$W/ao.json"
"$T" order sign app "$W/ao.json" "${C[@]}" --account 1 -o "$W/ao.json" >/dev/null
"$T" order init dataset --set dataset="$dataset" --set datasetprice=20000000 --set tag=tdx --set volume=10 -o "$W/do.json"
"$T" order sign dataset "$W/do.json" "${C[@]}" --account 2 -o "$W/do.json" >/dev/null
expect 0 "published 0x" -- "$T" market publish app "$W/ao.json" --market "$SCHED_URL"
expect 0 "published 0x" -- "$T" market publish dataset "$W/do.json" --market "$SCHED_URL"
# An order signed by someone else than the app's owner is refused.
"$T" order sign app "$W/ao.json" "${C[@]}" --account 4 -o "$W/forged.json" >/dev/null
expect 1 "403" -- "$T" market publish app "$W/forged.json" --market "$SCHED_URL"
expect 0 '"count": 1' -- "$T" market list workerpool --market "$SCHED_URL" --tag tdx --json
expect 0 "result in $W/run1/" -- "$T" run "$app_sql" --market "$SCHED_URL" "${C[@]}" --account 4 \
	--dataset "$dataset" --input-file "$input_url" -o "$W/run1" \
	--args "/iexec_in/$ds_lower -cmd '.output /iexec_out/result.txt' -cmd '.read /iexec_in/$input_name'"
grep -q "app owner .*+50000000 nRLC" "$W/out" && grep -q "dataset owner .*+20000000 nRLC" "$W/out" &&
	grep -q "requester .*-170000000 nRLC" "$W/out" && ok || bad "payments: $(cat "$W/out")"
[ "$(tr '\n' ' ' <"$W/run1/result.txt")" = "Lyon Paris " ] && ok || bad "run result"
expect 0 '"status": "COMPLETED"' -- "$T" run "$app_sql" --market "$SCHED_URL" "${C[@]}" --account 4 \
	--dataset "$dataset" -o "$W/run2" --json --args "/iexec_in/$ds_lower 'select count(*) from city'"
# An encrypted result: only the beneficiary's RSA key opens what left the TD.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/beneficiary.pem" 2>/dev/null
openssl pkey -in "$W/beneficiary.pem" -pubout -out "$W/beneficiary.pub" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/other.pem" 2>/dev/null
expect 0 "pushed" -- "$T" secret push --sms "$SMS_URL" "${C[@]}" --account 4 \
	--web2 iexec-result-encryption-public-key --file "$W/beneficiary.pub"
expect 0 "result in $W/run3/" -- "$T" run "$app_sql" --market "$SCHED_URL" "${C[@]}" --account 4 \
	--dataset "$dataset" -o "$W/run3" --encrypt-result --result-key "$W/beneficiary.pem" \
	--args "/iexec_in/$ds_lower -cmd '.output /iexec_out/result.txt' 'select name from city where pop < 400000'"
[ "$(cat "$W/run3/result.txt" 2>/dev/null)" = Nice ] && ok || bad "encrypted run result"
task3=$(grep -o 'task 0x[0-9a-f]*' "$W/out" | cut -d' ' -f2)
# An encrypted result is checked once decrypted: 'result get' says it did
# not check it, and checks it when given the key, as 'result decrypt' does
# when given the task.
expect 0 "encrypted, so NOT checked" -- \
	"$T" result get "$task3" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/enc.zip"
expect 0 "decrypted, matches the on-chain digest" -- "$T" result get "$task3" --scheduler "$SCHED_URL" \
	"${C[@]}" --account 4 --key "$W/beneficiary.pem" -o "$W/plain.zip"
unzip -p "$W/plain.zip" result.txt | grep -qx Nice && ok || bad "result get --key"
expect 0 "matches the on-chain digest" -- "$T" result decrypt "$W/enc.zip" --key "$W/beneficiary.pem" \
	-o "$W/dec2.zip" --task "$task3" --scheduler "$SCHED_URL" "${C[@]}"
unzip -l "$W/enc.zip" | grep -q 'iexec_out.zip.aes' && unzip -l "$W/enc.zip" | grep -q 'aes-key.rsa' &&
	! unzip -l "$W/enc.zip" | grep -q result.txt && ok || bad "stored result is not encrypted"
expect 1 "cannot decrypt" -- "$T" result decrypt "$W/enc.zip" --key "$W/other.pem" -o "$W/x.zip"
expect 0 "" -- "$T" result decrypt "$W/enc.zip" --key "$W/beneficiary.pem" -o "$W/dec.zip"
unzip -p "$W/dec.zip" result.txt | grep -qx Nice && ok || bad "result decrypt"
# ... and the iExec SDK opens it with its own code.
(cd "$HERE/../.." && node tests/pool/decrypt.mjs "$W/enc.zip" "$W/beneficiary.pem" "$W/sdk.zip") &&
	unzip -p "$W/sdk.zip" result.txt | grep -qx Nice && ok || bad "iExec SDK decryptResult"
# No order for an app: a clear error.
expect 1 "no open TDX app order" -- "$T" run "$app_sh" --market "$SCHED_URL" "${C[@]}" --account 4
# The iExec SDK speaks to the same market, and buys a task the pool runs.
deal=$(cd "$HERE/../.." && node tests/pool/market.js "$SCHED_URL" "$SMS_URL" "$W/chain/chain.json" \
	"$app_sh" "$pool" 2>"$W/sdk.log") && ok || bad "iExec SDK and the market: $(cat "$W/sdk.log")"
for _ in $(seq 50); do task=$(task_of "$deal"); [ -n "$task" ] && break; sleep 0.2; done
st=$(task_wait "$task" 60)
[ "$st" = COMPLETED ] && ok || bad "task bought with the iExec SDK: $st $(detail "$task")"

# Bad input to the scheduler: 4xx with a reason, never a crash.
code() { curl -s -o "$W/body" -w '%{http_code}' "$@"; }
[ "$(code -X POST "$SCHED_URL/workers/register" -d '{"address":')" = 403 ] && ok || bad "register: bad JSON"
[ "$(code -X POST "$SCHED_URL/workers/register" -d '{"address":"0x12","nonce":"00","quote":"AAAA"}')" = 403 ] &&
	ok || bad "register: garbage"
[ "$(code "$SCHED_URL/workers/next" -H 'Authorization: Bearer nope')" = 403 ] && ok || bad "next: bad token"
[ "$(code -X POST "$SCHED_URL/workers/tasks/0x00/status" -d '{"status":"RUNNING"}')" = 403 ] && ok ||
	bad "status: no token"
[ "$(code -X POST "$SCHED_URL/results/0xzz" --data-binary x)" = 400 ] && ok || bad "result: bad task id"
[ "$(code -X POST "$SCHED_URL/results/$task" --data-binary x -H "Authorization: 0x$(printf '%0130d' 0)")" = 403 ] &&
	ok || bad "result: bad signature"
[ "$(code "$SCHED_URL/tasks/0x$(printf '%064d' 0)")" = 404 ] && ok || bad "unknown task"
[ "$(code -X POST "$SCHED_URL/orders/nope" -d '{}')" = 404 ] && ok || bad "orders: bad kind"
[ "$(code -X POST "$SCHED_URL/orders/app" -d '[1,2')" = 400 ] && ok || bad "orders: bad JSON"
[ "$(code -X POST "$SCHED_URL/apporders?chainId=31337" -d '{"order":{}}' -H 'Authorization: a_b_c')" = 401 ] &&
	ok || bad "market API: bad authorization"
[ "$(code "$SCHED_URL/apporders?chainId=1")" = 404 ] && ok || bad "market API: another chain"
head -c 70000000 /dev/zero >"$W/big"
[ "$(code -X POST "$SCHED_URL/results/$task" --data-binary @"$W/big")" = 413 ] && ok || bad "result: too large"
rm -f "$W/big"
[ "$(code "$SCHED_URL/healthz")" = 200 ] && ok || bad "the scheduler survived bad input"
# The collateral the scheduler admits workers by, and the time it has left.
curl -s "$SCHED_URL/status" | node -e "const c=JSON.parse(require('fs').readFileSync(0)).collateral;
	process.exit(c.kind === 'file' && !c.refreshable && c.platforms[0].fmspc === '53494d000000' && c.platforms[0].seconds_left > 86400 ? 0 : 1)" &&
	curl -s "$SCHED_URL/metrics" | grep -Eq '^tdexec_collateral_seconds_left\{fmspc="53494d000000",ca="platform"\} [0-9]+$' &&
	ok || bad "scheduler collateral status: $(curl -s "$SCHED_URL/status")"

# A config file that is not JSON, or names an unknown option: clear errors.
echo '{"chain": ' >"$W/bad.json"
expect 1 "bad.json" -- "$T" scheduler --config "$W/bad.json"
echo '{"no_such_option": 1}' >"$W/bad.json"
expect 1 "no-such-option" -- "$T" worker --config "$W/bad.json"

# The app past its wall-time limit (section 4) was killed.
st=$(task_wait "$slow_task" 120)
[ "$st" = FAILED ] && detail "$slow_task" | grep -q "wall time" && ok ||
	bad "over time: $st $(detail "$slow_task")"

# 8. Faults.  Each ends with every task COMPLETED, or refunded.
# completed DEAL N SECONDS: all N tasks of DEAL completed in time
completed() {
	local n=0
	for _ in $(seq $(($3 * 5))); do
		n=$(curl -s "$SCHED_URL/tasks?deal=$1" | grep -o '"status": *"COMPLETED"' | wc -l)
		[ "$n" = "$2" ] && return 0
		sleep 0.2
	done
	echo "$n/$2"
	return 1
}
# The scheduler killed (-9) mid-deal, restarted: it resumes from its cursor.
deal=$(pool_deal "$app_sh" "$pool" '{"iexec_args":"\"sleep 1; echo ok > /iexec_out/o\""}' "" 6)
sleep 1.5
kill -9 "$SCHED_PID"
wait "$SCHED_PID" 2>/dev/null
# (restarted from a config file this time; flags would override it; a
# longer worker timeout so a restarted worker speaks before its task would
# be handed to another)
cat >"$W/sched.json" <<JSON
{"chain": "$W/chain/chain.json", "workerpool": "$pool", "account": 3, "sms": "$SMS_URL",
 "db": "$W/sched.db", "results": "$W/results", "port": ${SCHED_URL##*:}, "port_file": "$W/sched.port",
 "poll_ms": 200, "worker_timeout": 10, "order_volume": 3, "order_price": "100000000",
 "collateral": "$W/td/collateral/collateral.json", "trust_sim_root": "$W/td/root_ca.pem",
 "policy": "$W/policy.json"}
JSON
rm -f "$W/sched.port"
"$T" scheduler --config "$W/sched.json" 2>>"$W/sched.log" &
SCHED_PID=$!
POOL_PIDS+=("$SCHED_PID")
wait_port "$W/sched.port" >/dev/null || bad "scheduler from a config file"
# Collected at start: no file of the result store is left unreferenced (the
# dissenter's upload went once its task completed).
[ -n "$dissent_sha" ] && [ ! -e "$W/results/$dissent_sha" ] && ok || bad "the dissenter's upload was not collected"
for f in "$W"/results/*; do
	n=$(sqlite3 "$W/sched.db" "SELECT (SELECT count(*) FROM results WHERE sha256 = '${f##*/}')
		+ (SELECT count(*) FROM uploads WHERE sha256 = '${f##*/}')")
	[ "$n" -gt 0 ] || { bad "unreferenced result file ${f##*/}"; break; }
done
r=$(completed "$deal" 6 90) && ok || bad "scheduler killed mid-deal: $r completed"
# The SMS killed (-9) mid-deal and restarted on its port: keys and secrets
# are on disk, nonces are not (workers ask again).
deal=$(pool_deal "$app_sh" "$pool" '{"iexec_args":"\"echo ok > /iexec_out/o\""}' "" 8)
sleep 1
kill -9 "$SMS_PID"
wait "$SMS_PID" 2>/dev/null
sleep 0.5
pool_start_sms "${SMS_URL##*:}"
r=$(completed "$deal" 8 90) && ok || bad "SMS killed mid-deal: $r completed"
# The SMS restarted exactly between a worker's nonce and its attestation:
# a proxy holds the quote until the SMS is back; the nonce died with it,
# the worker attests again with a fresh one and the task completes.
rm -f "$W/held" "$W/release" "$W/hold.port"
node "$HERE/hold.js" "$SMS_URL" "$W/hold.port" "$W/held" "$W/release" &
POOL_PIDS+=("$!")
SMS_PUBLIC="http://127.0.0.1:$(wait_port "$W/hold.port")"
kill "$SMS_PID"
wait "$SMS_PID" 2>/dev/null
pool_start_sms "${SMS_URL##*:}"
deal=$(pool_deal "$app_sh" "$pool" '{"iexec_args":"\"echo ok > /iexec_out/o\""}')
for _ in $(seq 150); do [ -f "$W/held" ] && break; sleep 0.1; done
[ -f "$W/held" ] && ok || bad "no attestation reached the proxy"
kill -9 "$SMS_PID"
wait "$SMS_PID" 2>/dev/null
pool_start_sms "${SMS_URL##*:}"
touch "$W/release"
task=$(task_of "$deal")
st=$(task_wait "$task" 60)
[ "$st" = COMPLETED ] && ok || bad "SMS restarted between nonce and attest: $st $(detail "$task")"
logged "worker.session task=$task attempt=1" "$W"/w*.log && ok || bad "no second attestation"
grep -q "no live nonce for the session" "$W/sms.log" && ok || bad "the stale nonce refusal is not logged"
unset SMS_PUBLIC

# A worker killed (-9) mid-app and gone for good: once it is declared lost
# (the worker timeout, 10 s), its TEE task goes to the other worker with
# the pool owner's reassignment, the SMS releases the session a second time,
# to that worker, and the task completes before its deadline.
holder() { curl -s "$SCHED_URL/tasks/$1" | sed -n 's/.*"worker": *"\(0x[0-9a-f]*\)".*/\1/p'; }
read -r _ task < <(WAIT=0 run_task "$app_sh" '{"iexec_args":"\"sleep 4; echo survived > /iexec_out/o\""}')
for _ in $(seq 100); do detail "$task" | grep -qx app && break; sleep 0.2; done
lost=$(holder "$task")
if [ "$lost" = "$w5" ]; then name=w1 acct=5 pid=$W1; else name=w2 acct=6 pid=$W2; fi
kill -9 "$pid"
wait "$pid" 2>/dev/null
st=$(task_wait "$task" 120)
next=$(holder "$task")
[ "$st" = COMPLETED ] && [ -n "$next" ] && [ "$next" != "$lost" ] && ok ||
	bad "task of a lost worker: $st $(detail "$task"), worker ${next:-none} after $lost"
got=$(sqlite3 "$W/sms.db" "SELECT worker || '<' || coalesce(replaces, '') FROM receipts WHERE taskid = '$task' ORDER BY id" | tr '\n' ' ')
[ "$got" = "$lost< $next<$lost " ] && ok || bad "releases of the reassigned task: $got"
logged "task=$task reassigned_from=$lost" "$W/sched.log" && ok || bad "reassignment not logged"
expect 0 "matches the on-chain digest" -- \
	"$T" result get "$task" --scheduler "$SCHED_URL" "${C[@]}" --account 4 -o "$W/reassigned.zip"
[ "$(unzip -p "$W/reassigned.zip" o)" = survived ] && ok || bad "result of the reassigned task"
# A receipt per release, oldest first; task verify follows the chain to the
# worker that completed it (the second), the app's own TDX policy applied.
got=$(curl -s "$SMS_URL/tasks/$task/attestation" |
	node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).receipts.map((r) => r.worker).join(" "))')
[ "$got" = "$lost $next" ] && ok || bad "receipts of the reassigned task: $got, want $lost $next"
expect 0 "^task $task ran app sha256:[0-9a-f]{64} in a TD with MRTD" -- "$T" task verify "$task" \
	--scheduler "$SCHED_URL" --collateral "$P/td/collateral/collateral.json" --trust-sim-root "$P/td/root_ca.pem" \
	"${C[@]}" --policy "$P/policy.json" --result "$W/reassigned.zip"
# Back, the lost worker cannot take the task back nor report on it.
pool_start_worker "$name" "$acct" "${WFLAGS[@]}"
if [ "$name" = w1 ]; then W1=$WORKER_PID; else W2=$WORKER_PID; fi
sleep 2
[ "$(task_wait "$task" 1)" = COMPLETED ] && [ "$(holder "$task")" = "$next" ] && ok ||
	bad "the lost worker changed its old task: $(curl -s "$SCHED_URL/tasks/$task")"

# A worker killed (-9) mid-app and restarted before it is declared lost: it
# abandons the task (its session went to the dead run's key), and after the
# deadline the scheduler claims the task: the requester is refunded.
stake() { "$T" account show "${C[@]}" --account 4 --json | sed -n "s/.*\"$1\": \"\([0-9]*\)\".*/\1/p"; }
before=$(stake stake)
read -r _ task < <(PRICE=1000000000 WAIT=0 run_task "$app_sh" '{"iexec_args":"\"sleep 30\""}')
for _ in $(seq 100); do detail "$task" | grep -qx app && break; sleep 0.2; done
[ "$(stake locked)" = 1000000000 ] && ok || bad "price not locked: $(stake locked)"
worker=$(curl -s "$SCHED_URL/tasks/$task" | sed -n 's/.*"worker": *"\(0x[0-9a-f]*\)".*/\1/p')
if [ "$worker" = "$w5" ]; then name=w1 acct=5 pid=$W1; else name=w2 acct=6 pid=$W2; fi
kill -9 "$pid"
wait "$pid" 2>/dev/null
# Restarted, it removes the container the killed run left and abandons the
# task at once: its session went to the dead run's key.
pool_start_worker "$name" "$acct" "${WFLAGS[@]}"
st=$(task_wait "$task" 60)
[ "$st" = FAILED ] && detail "$task" | grep -q "worker restarted" && ok ||
	bad "task of a killed worker: $st $(detail "$task")"
grep -q "left by an earlier run" "$W/$name.log" && ok || bad "leftover container not removed"
[ -z "$(runc --root "$W/$name/runc" list -q 2>/dev/null)" ] && ok || bad "containers left behind"
# A session is never released twice.
grep -c "sms.release.*task=$task" "$W/sms.log" | grep -qx 1 && ok || bad "session released more than once"
rpc=$(sed -n 's/.*"rpc": "\(.*\)".*/\1/p' "$W/chain/chain.json")
curl -s -H 'Content-Type: application/json' "$rpc" \
	-d '{"jsonrpc":"2.0","id":1,"method":"evm_increaseTime","params":[1000000]}' >/dev/null
curl -s -H 'Content-Type: application/json' "$rpc" \
	-d '{"jsonrpc":"2.0","id":2,"method":"evm_mine","params":[]}' >/dev/null
for _ in $(seq 100); do curl -s "$SCHED_URL/tasks/$task" | grep -q '"claimTx": *"0x' && break; sleep 0.2; done
curl -s "$SCHED_URL/tasks/$task" | grep -q '"claimTx": *"0x' && ok || bad "not claimed: $(curl -s "$SCHED_URL/tasks/$task")"
[ "$(stake locked)" = 0 ] && [ "$(stake stake)" = "$before" ] && ok ||
	bad "requester not refunded: $before -> $(stake stake), locked $(stake locked)"


# 9. RA-TLS: the SMS restarted in a TD of its own, serving RA-TLS from the
# same store; the scheduler and the workers admit it by its quote first.
for p in "${POOL_PIDS[@]}"; do kill "$p" 2>/dev/null; done
for p in "${POOL_PIDS[@]}"; do wait "$p" 2>/dev/null; done
POOL_PIDS=()
RATLS=1 pool_start_sms
case $SMS_URL in https://*) ok ;; *) bad "RA-TLS SMS URL: $SMS_URL" ;; esac
# The SMS's configuration hash, computed offline from its settings (not
# read from the server); the scheduler and a worker pin it.
sms_hash=$("$T" sms config-hash --master-key "$W/sms.key" "${C[@]}" "${ATTEST[@]}" | head -1)
grep -q "event=sms.ra_tls provider=sim config_hash=$sms_hash" "$W/sms.log" && ok ||
	bad "the RA-TLS SMS does not serve the configuration computed offline ($sms_hash)"
pool_start_scheduler "$pool" 3 --worker-timeout 10 --sms-config-hash "$sms_hash"
# A worker pinning other SMS measurements: refused at the handshake.
printf '{"measurements": {"MRTD": "%096d"}}\n' 0 >"$W/other-sms.json"
pool_start_worker w1 5 --sms-policy "$W/other-sms.json"
read -r st task < <(run_task "$app_sh" '{"iexec_args":"\"echo ra > /iexec_out/o\""}')
[ "$st" = FAILED ] && detail "$task" | grep -q "attestation is refused" && ok ||
	bad "worker with another SMS policy: $st $(detail "$task")"
grep -q "sms.release.*task=$task" "$W/sms.log" && bad "session released to a worker that refused the SMS" || ok
kill "$WORKER_PID" && wait "$WORKER_PID" 2>/dev/null
# A worker pinning another SMS configuration: refused at the handshake.
other_hash=$(printf '%s' "$sms_hash" | tr 0-9a-f 1-9a-f0)
pool_start_worker w1 5 --sms-config-hash "$other_hash"
read -r st task < <(run_task "$app_sh" '{"iexec_args":"\"echo ra > /iexec_out/o\""}')
[ "$st" = FAILED ] && detail "$task" | grep -q "the server.s configuration hash" && ok ||
	bad "worker pinning another SMS configuration: $st $(detail "$task")"
grep -q "sms.release.*task=$task" "$W/sms.log" && bad "session released to a worker that refused the SMS" || ok
kill "$WORKER_PID" && wait "$WORKER_PID" 2>/dev/null
# The same worker pinning the SMS's real measurements and configuration: the
# task completes.
pool_start_worker w1 5 --sms-config-hash "$sms_hash" --metrics-listen 127.0.0.1:0
read -r st task < <(run_task "$app_sh" '{"iexec_args":"\"echo ra > /iexec_out/o\""}')
[ "$st" = COMPLETED ] && grep -q "sms.release.*task=$task" "$W/sms.log" && ok ||
	bad "task through an RA-TLS SMS: $st $(detail "$task")"
# its three SMS requests (session, challenge, attest) on a kept connection:
# fewer handshakes, each a DCAP verification of the SMS's quote
wm=$(curl -s "http://$(sed -n 's/.*event=worker.metrics listen=//p' "$W/w1.log" | tail -1)/metrics")
checks=$(echo "$wm" | sed -n 's/^tdexec_http_client_peer_checks_total //p')
[ -n "$checks" ] && [ "$checks" -ge 1 ] && [ "$checks" -lt 3 ] && ok ||
	bad "the worker's SMS handshakes for one task: ${checks:-none} (want 1 or 2)"
echo "# one RA-TLS task, the worker: $(echo "$wm" | grep '^tdexec_http_client' | tr '\n' ' ')"
echo "# three tasks, the scheduler: $(curl -s "$SCHED_URL/metrics" | grep '^tdexec_http_client' | tr '\n' ' ')"
# the scheduler reads its receipts from the SMS it admitted over RA-TLS
curl -s "$SCHED_URL/tasks/$task/attestation" | grep -q "\"task\":\"$task\"" && ok ||
	bad "receipts through the scheduler from an RA-TLS SMS: $(curl -s "$SCHED_URL/tasks/$task/attestation" | head -c 300)"

# The app developer's own TD policy (in its mrenclave) binds too: an app
# pinning other measurements gets no session, whatever the pool accepts.
app_pinned=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name pinned --json --image "shell@$d_sh" \
	--tdx-policy "$W/other-sms.json" | addr)
read -r st task < <(run_task "$app_pinned" '{"iexec_args":"\"echo x > /iexec_out/o\""}')
[ "$st" = FAILED ] && grep -q "task=$task reason=\"the app's TDX policy: .*MRTD" "$W/sms.log" && ok ||
	bad "app with another TDX policy: $st $(grep "task=$task" "$W/sms.log" | tail -1)"

finish
