#!/usr/bin/env bash
# Start a fresh local chain with PoCo (tdexec chain up on a free loopback
# port), run a test program against it, and stop the chain whatever happens.
# Usage: run.sh TDEXEC TEST_PROGRAM
set -u
T=$1
PROG=$2
D=$(mktemp -d)
trap '"$T" chain down --dir "$D" >/dev/null 2>&1; rm -rf "$D"' EXIT
if ! "$T" chain up --dir "$D" --port 0 >"$D/up.log" 2>&1; then
	cat "$D/up.log"
	exit 1
fi
TDEXEC_CHAIN_FILE="$D/chain.json" "$PROG"
