#!/usr/bin/env bash
# scripts/pool.sh's pool_stop, the EXIT trap of scripts/demo (set -e):
# after a step fails while a service it started has already died (a worker
# refusing its work directory), the chain still comes down.  pool_stop
# waited for the dead service under set -e, its non-zero status ended the
# trap there, and Anvil was left running.
# Usage: pool_stop.sh TDEXEC_BINARY
set -u
T=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d)
trap '"$T" chain down --dir "$W/p/chain" >/dev/null 2>&1; rm -rf "$W"' EXIT
. "$ROOT/tests/lib.sh"

bash -c 'set -euo pipefail
	T=$1 P=$2
	mkdir -p "$P"
	. "$3/scripts/pool.sh"
	trap pool_stop EXIT
	pool_start_chain
	cp "$P/chain/anvil.pid" "$P/anvil.pid" # chain down removes its own
	(exit 3) & # a service that died
	POOL_PIDS+=($!)
	sleep 0.2
	false # the step that fails' _ "$T" "$W/p" "$ROOT" >"$W/out" 2>&1
rc=$?
[ "$rc" != 0 ] && ok || bad "the failed step exited 0"
pid=$(cat "$W/p/anvil.pid" 2>/dev/null)
if [ -z "$pid" ]; then
	bad "the chain did not start: $(head -c 400 "$W/out"; head -c 400 "$W/p/chain.log")"
elif kill -0 "$pid" 2>/dev/null; then
	bad "Anvil ($pid) still runs after the failed step"
else
	ok
fi
finish
