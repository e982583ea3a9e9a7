# pool.sh — bring a whole single-machine pool up and down: a local chain
# with PoCo, a simulated TD (clearly labelled: never trusted by default),
# the SMS, a file server for datasets and inputs, the scheduler and
# workers.  Sourced by scripts/demo and tests/pool/run.sh.
# The sourcing script sets T (the tdexec binary) and P (a state directory).

POOL_PIDS=()
_pool_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# rpc METHOD [PARAMS]: a JSON-RPC call to the chain node at $RPC (PARAMS
# a JSON array, [] by default); its answer on stdout.
rpc() {
	curl -s -H 'Content-Type: application/json' "$RPC" \
		-d '{"jsonrpc":"2.0","id":1,"method":"'"$1"'","params":'"${2:-[]}"'}'
}

# wait_port FILE: the port a service wrote, or fail after 10 s
wait_port() {
	for _ in $(seq 200); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.05; done
	echo "pool: no port in $1" >&2
	return 1
}

pool_start_chain() {
	"$T" chain down --dir "$P/chain" >/dev/null 2>&1 || true
	rm -rf "$P/chain"
	"$T" chain up --dir "$P/chain" --port 0 "$@" >"$P/chain.log" 2>&1 ||
		{ cat "$P/chain.log" >&2; return 1; }
	C=(--chain "$P/chain/chain.json")
}

# The simulated TD and the pool's policy: its measurements, no debug.
pool_start_td() {
	"$T" sim init --force "$P/td" >/dev/null
	local m
	m() { grep -o "\"$1\": \"[^\"]*\"" "$P/td/td.json" | sed 's/.*: "\(.*\)"/\1/'; }
	printf '{"tcb_status": ["UpToDate"], "measurements": {"MRTD": "%s", "RTMR0": "%s", "RTMR1": "%s", "RTMR2": "%s"}}\n' \
		"$(m MRTD)" "$(m RTMR0)" "$(m RTMR1)" "$(m RTMR2)" >"$P/policy.json"
	ATTEST=(--collateral "$P/td/collateral/collateral.json" --trust-sim-root "$P/td/root_ca.pem"
		--policy "$P/policy.json")
	# The SMS runs in a TD of its own; the clients that reach it over RA-TLS
	# admit it by this policy (in simulation: the same measurements).
	cp "$P/policy.json" "$P/sms-policy.json"
	SMS_TRUST=()
}

# pool_start_sms [PORT]  (SMS_PUBLIC: the URL workers reach it at).
# RATLS=1: the SMS serves RA-TLS from its own simulated TD, and SMS_TRUST
# holds the flags its clients (secret push, scheduler, workers) admit it by.
pool_start_sms() {
	local tls=() scheme=http
	rm -f "$P/sms.port"
	if [ "${RATLS:-0}" = 1 ]; then
		[ -d "$P/sms.td" ] || cp -r "$P/td" "$P/sms.td"
		tls=(--ra-tls --provider sim --sim-dir "$P/sms.td")
		scheme=https
		SMS_TRUST=(--sms-policy "$P/sms-policy.json" --collateral "$P/td/collateral/collateral.json"
			--trust-sim-root "$P/td/root_ca.pem")
	fi
	"$T" sms --port "${1:-0}" --port-file "$P/sms.port" --db "$P/sms.db" --master-key "$P/sms.key" \
		"${C[@]}" "${ATTEST[@]}" "${tls[@]}" ${SMS_PUBLIC:+--public-url "$SMS_PUBLIC"} 2>>"$P/sms.log" &
	SMS_PID=$!
	POOL_PIDS+=("$SMS_PID")
	SMS_URL="$scheme://127.0.0.1:$(wait_port "$P/sms.port")"
}

pool_start_files() {
	mkdir -p "$P/files"
	rm -f "$P/files.port"
	node "$_pool_root/tests/pool/serve.js" "$P/files" "$P/files.port" &
	POOL_PIDS+=("$!")
	FILES_URL="http://127.0.0.1:$(wait_port "$P/files.port")"
}

# pool_start_scheduler POOL ACCOUNT [more flags] (SCHED_PORT: reuse a port)
pool_start_scheduler() {
	local pool=$1 acct=$2
	shift 2
	rm -f "$P/sched.port"
	"$T" scheduler "${C[@]}" --workerpool "$pool" --account "$acct" --sms "$SMS_URL" \
		--db "$P/sched.db" --results "$P/results" --port "${SCHED_PORT:-0}" --port-file "$P/sched.port" \
		--poll-ms 200 "${ATTEST[@]}" ${SMS_TRUST[1]:+--sms-policy "${SMS_TRUST[1]}"} "$@" 2>>"$P/sched.log" &
	SCHED_PID=$!
	POOL_PIDS+=("$SCHED_PID")
	SCHED_URL="http://127.0.0.1:$(wait_port "$P/sched.port")"
}

# pool_start_worker NAME ACCOUNT [more flags]: its own copy of the simulated
# TD (same platform, its own RTMR3 and event log).
# Workers fetch input files and datasets from public addresses only; this
# pool serves them from loopback (pool_start_files), so its workers are
# started with --allow-private-inputs.  PUBLIC_INPUTS=1 starts one without.
pool_start_worker() {
	local name=$1 acct=$2 inputs=(--allow-private-inputs) trust=("${SMS_TRUST[@]}")
	shift 2
	[ "${PUBLIC_INPUTS:-0}" = 1 ] && inputs=()
	# Without RATLS=1 the SMS serves plain http and cannot be attested: the
	# worker is told so with --insecure-sms (it refuses to start otherwise).
	[ ${#trust[@]} = 0 ] && trust=(--insecure-sms)
	rm -rf "$P/$name.td"
	cp -r "$P/td" "$P/$name.td"
	# --work-dir-encrypted: this machine's disk stands in for a TD's
	# encrypted one (each task still gets its own tmpfs workspace)
	"$T" worker --scheduler "$SCHED_URL" "${C[@]}" --account "$acct" --images "$P/images" \
		--work-dir "$P/$name" --work-dir-encrypted --provider sim --sim-dir "$P/$name.td" \
		"${trust[@]}" "${inputs[@]}" "$@" 2>>"$P/$name.log" &
	WORKER_PID=$!
	POOL_PIDS+=("$WORKER_PID")
}

# As an EXIT trap under set -e (scripts/demo): a service that already died
# fails its kill and its wait, which must not end the trap before the chain
# is down.
pool_stop() {
	local p
	for p in "${POOL_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${POOL_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	POOL_PIDS=()
	"$T" chain down --dir "$P/chain" >/dev/null 2>&1 || true
}

# Boost deal of APP on POOL with PARAMS (JSON) [DATASET] [VOLUME]; prints the deal id.
# CALLBACK: the request's callback contract (default none).
# CATEGORY: the deal's category (default 0: 300 s of wall time; 1: 1200 s).
# PRICE (nRLC, default 0) is the workerpool's price per task; TRUST (default
# 1: PoCo Boost for TEE tags) 0 makes a classic deal.
# Accounts: 1 app owner, 2 dataset owner, 3 pool owner, 4 requester.
pool_deal() {
	local app=$1 pool=$2 params=$3 dataset=${4:-} volume=${5:-1} requester
	requester=$("$T" wallet show "${C[@]}" --account 4 --json | sed -n 's/.*"address": "\(.*\)".*/\1/p')
	"$T" order init app --set app="$app" --set tag="${TAG:-tdx}" --set volume="$volume" -o "$P/a.json" &&
		"$T" order sign app "$P/a.json" "${C[@]}" --account 1 -o "$P/a.json" >/dev/null || return 1
	local dsargs=()
	if [ -n "$dataset" ]; then
		"$T" order init dataset --set dataset="$dataset" --set tag="${TAG:-tdx}" --set volume="$volume" \
			-o "$P/d.json" &&
			"$T" order sign dataset "$P/d.json" "${C[@]}" --account 2 -o "$P/d.json" >/dev/null ||
			return 1
		dsargs=(--dataset-order "$P/d.json")
	fi
	"$T" order init workerpool --set workerpool="$pool" --set tag="${TAG:-tdx}" --set volume="$volume" \
		--set workerpoolprice="${PRICE:-0}" --set trust="${TRUST:-1}" \
		${CATEGORY:+--set category="$CATEGORY"} -o "$P/p.json" &&
		"$T" order sign workerpool "$P/p.json" "${C[@]}" --account 3 -o "$P/p.json" >/dev/null &&
		"$T" order init request --set app="$app" --set workerpool="$pool" --set tag="${TAG:-tdx}" \
			${dataset:+--set dataset="$dataset"} --set volume="$volume" \
			--set workerpoolmaxprice="${PRICE:-0}" --set trust="${TRUST:-1}" \
			--set requester="$requester" --set beneficiary="$requester" \
			${CALLBACK:+--set callback="$CALLBACK"} ${CATEGORY:+--set category="$CATEGORY"} \
			--set "params=$params" -o "$P/r.json" &&
		"$T" order sign request "$P/r.json" "${C[@]}" --account 4 -o "$P/r.json" >/dev/null &&
		"$T" deal match "${C[@]}" --account 4 --app-order "$P/a.json" "${dsargs[@]}" \
			--workerpool-order "$P/p.json" --request-order "$P/r.json" $([ "${TRUST:-1}" = 1 ] && echo --boost) --json |
		sed -n 's/.*"dealid": "\(.*\)".*/\1/p'
}

# task_wait TASKID SECONDS: until the scheduler says COMPLETED or FAILED;
# prints the final status.
task_wait() {
	local st=""
	for _ in $(seq $(($2 * 5))); do
		st=$(curl -s "$SCHED_URL/tasks/$1" | grep -o '"status": *"[A-Z_]*"' | grep -o '[A-Z_]*"$' | tr -d '"')
		case $st in COMPLETED | FAILED) break ;; esac
		sleep 0.2
	done
	echo "$st"
}
