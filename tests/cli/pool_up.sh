#!/usr/bin/env bash
# tdexec pool up --sim: one command brings up a chain, an SMS, a scheduler
# and two workers; the next commands it prints deploy an app and run a task
# as printed; SIGINT stops every process it reported and frees every port;
# a second `pool up` on the same directory reuses the chain, workerpool and
# keys; --fresh starts over.  Refusals: no --sim, a port in use, no runc, a
# directory in use; a service failing stops everything started.
# Usage: pool_up.sh TDEXEC_BINARY
set -u
T=$(realpath "$1")
W=$(mktemp -d)
chmod 711 "$W" # the apps' sandbox passes through to the workers' work dirs
P=$W/pool
UP=0
cleanup() {
	[ "$UP" != 0 ] && kill -INT "$UP" 2>/dev/null && wait "$UP" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$0")/../lib.sh"

# a member of the JSON object on line 1 of FILE (node: already a dependency)
jget() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]);
	const v = process.argv[2].split(".").reduce((o, k) => o == null ? o : o[k], j);
	console.log(Array.isArray(v) ? v.join("\n") : v)' "$1" "$2"; }

# start_pool OUT [ARGS]: pool up in the background until its "ready" line
start_pool() {
	local out=$1
	shift
	"$T" pool up --sim --dir "$P" "$@" >"$out" 2>"$out.err" &
	UP=$!
	for _ in $(seq 600); do
		grep -q '^ready$' "$out" && return 0
		kill -0 "$UP" 2>/dev/null || break
		sleep 0.1
	done
	bad "pool up $* not ready in 60 s: $(tail -5 "$out.err")"
	return 1
}

# stop_pool SIGNAL OUT ERR: the pool stops, exit 0, every pid reported in
# OUT gone, every port free
stop_pool() {
	local sig=$1 out=$2 err=$3 pids ports pid port rc
	pids=$(grep -o 'pid [0-9]*' "$out" | cut -d' ' -f2)
	ports=$(grep -o '127\.0\.0\.1:[0-9]*' "$out" | sort -u | cut -d: -f2)
	[ "$(echo "$pids" | wc -w)" = 5 ] && ok || bad "want 5 pids (chain, sms, scheduler, 2 workers): $pids"
	for pid in $pids; do kill -0 "$pid" 2>/dev/null && ok || bad "pid $pid not running while up"; done
	kill "-$sig" "$UP"
	for _ in $(seq 300); do kill -0 "$UP" 2>/dev/null || break; sleep 0.1; done
	wait "$UP"
	rc=$?
	UP=0
	[ "$rc" = 0 ] && ok || bad "pool up exited $rc on SIG$sig: $(tail -3 "$err")"
	grep -q 'pool stopped' "$err" && ok || bad "no 'pool stopped': $(tail -3 "$err")"
	for pid in $pids; do
		if kill -0 "$pid" 2>/dev/null; then bad "pid $pid still running after SIG$sig: $(tr '\0' ' ' </proc/$pid/cmdline)"; else ok; fi
	done
	pgrep -f -- "$P" >/dev/null && bad "processes left: $(pgrep -af -- "$P")" || ok
	for port in $ports; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then bad "port $port still answers"; else ok; fi
	done
}

# --- refusals, before anything starts
expect 0 'up' -- "$T" pool --help
expect 0 'trust-sim-root' -- "$T" pool up --help
expect 1 'only --sim' -- "$T" pool up --dir "$P"
expect 1 'workers' -- "$T" pool up --sim --workers 9 --dir "$P"
expect 1 'runc is not installed' -- env PATH=/nonexistent "$T" pool up --sim --dir "$P"
node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
	require("fs").writeFileSync(process.argv[1], String(s.address().port)); });
	setTimeout(() => process.exit(0), 20000)' "$W/busy.port" &
BUSY=$!
for _ in $(seq 100); do [ -s "$W/busy.port" ] && break; sleep 0.05; done
expect 1 "chain-port $(cat "$W/busy.port"): the port is in use" -- \
	"$T" pool up --sim --dir "$P" --chain-port "$(cat "$W/busy.port")"
kill "$BUSY"
wait "$BUSY" 2>/dev/null
# a parent the apps' sandbox (another uid) cannot pass through: refused
# before anything starts
mkdir -m 700 "$W/closed"
expect 1 "$W/closed \(mode 700\) keeps the workers' app sandbox" -- "$T" pool up --sim --dir "$W/closed/pool"
[ -e "$W/closed/pool" ] && bad "pool up created its directory before refusing" || ok

# --- up, with --json: URLs, pids, keys and the next commands
t0=$(date +%s)
start_pool "$W/up1" --workers 2 --json || { finish; exit 1; }
echo "pool up: ready in $(($(date +%s) - t0)) s"
[ "$(jget "$W/up1" simulated)" = true ] && ok || bad "not labelled simulated"
grep -q 'starting the scheduler' "$W/up1.err" && ok || bad "no progress on stderr"
sched=$(jget "$W/up1" scheduler.url)
[ "$(curl -s -o /dev/null -w '%{http_code}' "$sched/orders/app")" != 000 ] && ok || bad "scheduler $sched does not answer"
case $(jget "$W/up1" sms.url) in https://127.0.0.1:*) ok ;; *) bad "sms url $(jget "$W/up1" sms.url)" ;; esac
private keys "$P/keys/requester.key" "$P/keys/pool-owner.key" "$P/keys/worker1.key"
for w in 1 2; do
	grep -q 'worker.register.*simulated=1' "$P/logs/worker$w.log" && ok || bad "worker$w not registered as simulated"
done
grep -q 'sched.register' "$P/logs/scheduler.log" && ok || bad "scheduler log lacks the registrations"
# one more pool on the same directory: refused while this one is up
expect 1 "a pool is already up in $P" -- "$T" pool up --sim --dir "$P"
# the next commands, run as printed (bash, in a scratch directory)
jget "$W/up1" next >"$W/next.sh"
echo 'echo "app=$app"' >>"$W/next.sh"
grep -q 'run \$app' "$W/next.sh" && ok || bad "no run command: $(cat "$W/next.sh")"
mkdir -p "$W/user"
(cd "$W/user" && timeout 120 bash -e "$W/next.sh") >"$W/next.out" 2>&1 &&
	ok || bad "the next commands failed: $(tail -5 "$W/next.out")"
grep -qx 'hello from a TD' "$W/user/result/hello.txt" 2>/dev/null && ok || bad "result: $(tail -5 "$W/next.out")"
grep -q 'COMPLETED' "$W/next.out" && ok || bad "task not COMPLETED: $(tail -5 "$W/next.out")"
app=$(sed -n 's/^app=//p' "$W/next.out")
pool1=$(jget "$W/up1" workerpool)
hub1=$(json_str "$P/chain/chain.json" hub)
# text mode lists the same pids; here from JSON
{
	echo "chain pid $(jget "$W/up1" chain.pid)"
	echo "sms pid $(jget "$W/up1" sms.pid)"
	echo "scheduler pid $(jget "$W/up1" scheduler.pid)"
	node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]);
		for (const w of j.workers) console.log("worker pid " + w.pid)' "$W/up1"
	echo "$(jget "$W/up1" chain.rpc) $(jget "$W/up1" sms.url) $sched"
} >"$W/up1.pids"
stop_pool INT "$W/up1.pids" "$W/up1.err"

# --- up again on the same directory: the same chain, workerpool and keys
start_pool "$W/up2" --workers 2 || { finish; exit 1; }
grep -q "workerpool  $pool1" "$W/up2" && ok || bad "workerpool not reused: $(grep workerpool "$W/up2")"
[ "$(json_str "$P/chain/chain.json" hub)" = "$hub1" ] && ok || bad "chain not restored"
grep -q 'deploying the workerpool' "$W/up2.err" && bad "the workerpool was deployed again" || ok
grep -q 'SIMULATED' "$W/up2" && ok || bad "text output not labelled SIMULATED"
# the app deployed before is still there; a task runs on the restored pool
sched2=$(grep -o 'scheduler   http://[0-9.:]*' "$W/up2" | awk '{print $2}')
if [ -n "$app" ]; then
	(cd "$W/user" && rm -rf result && timeout 120 "$T" run "$app" --market "$sched2" --chain "$P/chain/chain.json" \
		--plain-key "$P/keys/requester.key" --args "'echo again > /iexec_out/hello.txt'" -o result) >"$W/run2.out" 2>&1
	grep -qx 'again' "$W/user/result/hello.txt" 2>/dev/null && ok || bad "second run: $(tail -5 "$W/run2.out")"
else
	bad "no app address in the next commands' output"
fi
stop_pool TERM "$W/up2" "$W/up2.err"

# a service failing once the chain is up (here the SMS, its master key
# file garbled): a clear message naming it, everything stopped, the chain
# with SIGTERM (it saved its state)
rm -f "$P/chain/anvil-state.json"
echo 'not a key' >"$P/sms.key"
expect 1 'sms exited \(status 1\).*see .*/logs/sms.log' -- timeout 120 "$T" pool up --sim --workers 1 --dir "$P"
pgrep -f -- "$P" >/dev/null && bad "left running after a failed pool up: $(pgrep -af -- "$P")" || ok
[ -s "$P/chain/anvil-state.json" ] && ok || bad "the chain was not stopped by SIGTERM (no saved state)"

# --fresh: a new chain (another hub), and the pool comes up again
start_pool "$W/up3" --workers 1 --fresh || { finish; exit 1; }
[ "$(json_str "$P/chain/chain.json" hub)" != "$hub1" ] && ok || bad "--fresh kept the chain"
kill -INT "$UP"
wait "$UP" && ok || bad "pool up --fresh did not stop cleanly"
UP=0
pgrep -f -- "$P" >/dev/null && bad "left running: $(pgrep -af -- "$P")" || ok

finish
