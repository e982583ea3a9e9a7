#!/usr/bin/env bash
# The SMS under kill -9 while secrets are pushed in a loop: after a restart
# every acknowledged secret is there and the whole store authenticates
# (`tdexec sms check`).  Then malformed requests: a 4xx, never a crash.
# Usage: crash.sh TDEXEC
set -u
T=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
SMS=
trap '[ -n "$SMS" ] && kill -9 "$SMS" 2>/dev/null; rm -rf "$W"' EXIT
. "$HERE/../lib.sh"

start_sms() {
	rm -f "$W/port"
	"$T" sms --port 0 --port-file "$W/port" --db "$W/sms.db" --master-key "$W/master.key" \
		2>>"$W/sms.log" &
	SMS=$!
	for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
	URL="http://127.0.0.1:$(cat "$W/port" 2>/dev/null)"
}

for round in 1 2 3; do
	start_sms
	[ -s "$W/port" ] || { bad "sms did not start: $(tail -3 "$W/sms.log")"; break; }
	node "$HERE/crash.js" push "$URL" "$W/acks.$round" >"$W/push.$round" 2>&1 &
	pusher=$!
	# kill once enough pushes are acknowledged (a slow sanitizer build
	# under load needs longer than a plain one), at most 30 s later
	for _ in $(seq 300); do
		[ "$(wc -l <"$W/acks.$round" 2>/dev/null || echo 0)" -gt 25 ] && break
		sleep 0.1
	done
	kill -9 "$SMS"
	wait "$SMS" 2>/dev/null
	SMS=
	wait "$pusher" && ok || bad "push round $round: $(cat "$W/push.$round")"
done
expect 0 'secrets, all authenticate' -- "$T" sms check --db "$W/sms.db" --master-key "$W/master.key"
start_sms
for round in 1 2 3; do
	node "$HERE/crash.js" check "$URL" "$W/acks.$round" >"$W/out" 2>&1 && ok ||
		bad "round $round: $(tail -5 "$W/out")"
	echo "round $round: $(tail -1 "$W/out")"
done
node "$HERE/crash.js" bad "$URL" >"$W/out" 2>&1 && ok || bad "bad input: $(cat "$W/out")"
kill "$SMS" && wait "$SMS"
[ $? = 0 ] && ok || bad "SIGTERM did not stop the SMS cleanly"
SMS=
# TLS settings go in pairs.
expect 1 'TLS needs both' -- "$T" sms --port 0 --db "$W/sms.db" --master-key "$W/master.key" \
	--tls-cert "$W/master.key"
expect 1 'nope.pem' -- "$T" sms --port 0 --db "$W/sms.db" --master-key "$W/master.key" \
	--tls-cert "$W/nope.pem" --tls-key "$W/nope.pem"
# A missing store, and a store under another master key, fail the check.
expect 1 'no such file' -- "$T" sms check --db "$W/none.db" --master-key "$W/master.key"
head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 64 >"$W/other.key"
chmod 600 "$W/other.key"
expect 1 'does not open this store' -- "$T" sms check --db "$W/sms.db" --master-key "$W/other.key"
finish
