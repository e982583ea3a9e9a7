#!/usr/bin/env bash
# Attested releases under kill -9: concurrent TDs release task sessions
# against a real SMS (real Anvil chain, real SQLite) and the SMS is killed
# while releases are in flight, three times.  After a restart: every
# release answered 200 has its release row and its receipt, the session is
# marked released, no task was released twice (the receipts and releases
# tables agree row for row), and a second try of an acknowledged session
# is refused.  The releases overlap, so they are committed in groups: a
# group's 200s go out only once the group is durable.  Then, on one
# request thread: a commit that waits holds no thread, one that fails is
# answered 503 and can be attested again, and a stop
# (SIGTERM) mid-flight answers what it committed and loses nothing.
# Usage: crash_release.sh TDEXEC CRASH_RELEASE
set -u
T=$1
D=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
SMS=
# enough releases per round that an idle SMS (over 1,000 a second) is
# still busy when the kill comes
PER_ROUND=${CRASH_RELEASE_TASKS:-400}
ROUNDS=3
trap '[ -n "$SMS" ] && kill -9 "$SMS" 2>/dev/null; "$T" chain down --dir "$W/chain" >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
. "$HERE/../lib.sh"

"$T" chain up --dir "$W/chain" --port 0 >/dev/null 2>&1 || { echo "FAIL: chain up"; exit 1; }
C=(--chain "$W/chain/chain.json")
n=$((PER_ROUND * (ROUNDS + 1)))
# and a round for the stop, the first of its sessions for the wait
total=$((n + PER_ROUND))
app=$("$T" app deploy --no-image-check "${C[@]}" --account 1 --name app --json \
	--image "docker.io/library/app@sha256:$(printf 'app' | sha256sum | cut -d' ' -f1)" |
	sed -n 's/.*"address": "\(.*\)".*/\1/p')
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description pool --json |
	sed -n 's/.*"address": "\(.*\)".*/\1/p')
requester=$("$T" wallet show "${C[@]}" --account 4 --json | sed -n 's/.*"address": "\(.*\)".*/\1/p')
"$T" order init app --set app="$app" --set tag=tdx --set volume="$total" -o "$W/a.json" &&
	"$T" order sign app "$W/a.json" "${C[@]}" --account 1 -o "$W/a.json" >/dev/null &&
	"$T" order init workerpool --set workerpool="$pool" --set tag=tdx --set volume="$total" -o "$W/p.json" &&
	"$T" order sign workerpool "$W/p.json" "${C[@]}" --account 3 -o "$W/p.json" >/dev/null &&
	"$T" order init request --set app="$app" --set workerpool="$pool" --set tag=tdx \
		--set volume="$total" --set requester="$requester" -o "$W/r.json" &&
	"$T" order sign request "$W/r.json" "${C[@]}" --account 4 -o "$W/r.json" >/dev/null
deal=$("$T" deal match "${C[@]}" --account 4 --app-order "$W/a.json" --workerpool-order \
	"$W/p.json" --request-order "$W/r.json" --boost --json | sed -n 's/.*"dealid": "\(.*\)".*/\1/p')
[ -n "$deal" ] && ok || { bad "deal"; finish; }
sms_sim_td

sms_start_sim
[ -s "$W/port" ] && ok || { bad "sms did not start: $(tail -3 "$W/sms.log")"; finish; }
# Sessions for every round, and for a last round run to the end.
"$D" prepare "$URL" "$W/chain/chain.json" "$deal" 0 "$total" >"$W/sessions" 2>"$W/prep.log" &&
	[ "$(wc -l <"$W/sessions")" = "$total" ] && ok || { bad "prepare: $(tail -3 "$W/prep.log")"; finish; }
kill -9 "$SMS"; wait "$SMS" 2>/dev/null; SMS=

acked() { cat "$W"/acks.[0-9] 2>/dev/null | grep -c .; }
for round in $(seq "$ROUNDS"); do
	sms_start_sim
	[ -s "$W/port" ] || { bad "sms did not restart: $(tail -3 "$W/sms.log")"; finish; }
	sed -n "$(((round - 1) * PER_ROUND + 1)),$((round * PER_ROUND))p" "$W/sessions" >"$W/s.$round"
	before=$(acked)
	"$D" release "$URL" "$W/td" "$W/s.$round" "$W/acks.$round" 8 >"$W/rel.$round" 2>&1 &
	tds=$!
	# kill once some releases are acknowledged and more are in flight
	# (a sanitizer build under load is slower), at most 30 s later
	for _ in $(seq 1500); do
		[ "$(acked)" -gt $((before + PER_ROUND / 4)) ] && break
		sleep 0.02
	done
	kill -9 "$SMS"
	wait "$SMS" 2>/dev/null
	SMS=
	wait "$tds" && ok || bad "round $round: $(tail -3 "$W/rel.$round")"
	got=$(grep -c . "$W/acks.$round")
	[ "$got" -gt 0 ] && [ "$got" -lt "$PER_ROUND" ] && ok ||
		bad "round $round: $got of $PER_ROUND acknowledged: the kill was not mid-flight"
	echo "round $round: $got of $PER_ROUND releases acknowledged before kill -9"
done

# After a restart: every session of the rounds tried again, and a last
# round run to the end, all overlapping.
sms_start_sim
cat "$W"/s.[0-9] >"$W/s.again"
"$D" release "$URL" "$W/td" "$W/s.again" "$W/again" 8 >"$W/rel.again" 2>&1 && ok ||
	bad "again: $(tail -3 "$W/rel.again")"
sed -n "$((ROUNDS * PER_ROUND + 1)),${n}p" "$W/sessions" >"$W/s.last"
"$D" release "$URL" "$W/td" "$W/s.last" "$W/acks.last" 8 >"$W/rel.last" 2>&1 && ok ||
	bad "last round: $(tail -3 "$W/rel.last")"
[ "$(grep -c . "$W/acks.last")" = "$PER_ROUND" ] && ok || bad "last round: not all released"
kill "$SMS" && wait "$SMS"
SMS=

q() { sqlite3 "$W/sms.db" "$1"; }
# an acknowledged session tried again is refused
again_ok=$(cat "$W"/acks.[0-9] | sort | join - <(sort "$W/again.all") | awk '$2 == 200' | wc -l)
[ "$again_ok" = 0 ] && ok || bad "$again_ok acknowledged sessions released a second time"
# every acknowledged release is in the database, with its receipt
cat "$W"/acks.[0-9] "$W/acks.last" "$W/again" | sort -u >"$W/acked"
q "SELECT session FROM release_history" | sort >"$W/released"
q "SELECT session FROM receipts" | sort >"$W/receipted"
q "SELECT id FROM sessions WHERE released = 1" | sort >"$W/flagged"
missing=$(comm -23 "$W/acked" "$W/released" | grep -c .)
[ "$missing" = 0 ] && ok || bad "$missing acknowledged releases lost: $(comm -23 "$W/acked" "$W/released" | head -3)"
cmp -s "$W/released" "$W/receipted" && ok || bad "releases and receipts differ"
cmp -s "$W/released" "$W/flagged" && ok || bad "releases and released sessions differ"
[ "$(q "SELECT count(*) FROM (SELECT taskid FROM release_history GROUP BY taskid HAVING count(*) > 1)")" = 0 ] &&
	[ "$(q "SELECT count(*) FROM (SELECT taskid FROM receipts GROUP BY taskid HAVING count(*) > 1)")" = 0 ] &&
	ok || bad "a task released twice"
# every session of the rounds is released now, once: acknowledged before
# the kill, or committed unacknowledged (refused again), or released again
[ "$(grep -c . "$W/released")" = "$n" ] && ok || bad "released: $(grep -c . "$W/released") of $n"
echo "acknowledged $(grep -c . "$W/acked"), released $(grep -c . "$W/released") of $n;" \
	"committed but unacknowledged at a kill: $(comm -13 "$W/acked" "$W/released" | grep -c .)"
expect 0 'secrets, all authenticate' -- "$T" sms check --db "$W/sms.db" --master-key "$W/master.key"

metric() { sed -n "s/^$1 //p" "$2"; }
# A commit that waits (here on the write lock an operator's sqlite3 shell
# holds for 3 s) holds no request thread: on one thread, the SMS answers
# another request while the release waits, then answers the release.
sms_start_sim --threads 1
[ -s "$W/port" ] || { bad "sms did not restart: $(tail -3 "$W/sms.log")"; finish; }
sed -n "$((n + 1))p" "$W/sessions" >"$W/s.wait"
{ echo "BEGIN IMMEDIATE;"; sleep 3; echo "COMMIT;"; } | sqlite3 "$W/sms.db" &
lock=$!
sleep 0.5
"$D" release "$URL" "$W/td" "$W/s.wait" "$W/acks.wait" 1 >"$W/rel.wait" 2>&1 &
tds=$!
pending=
for _ in $(seq 20); do
	sleep 0.05
	curl -sf -m 1 "$URL/metrics" >"$W/m.wait" || break
	pending=$(metric tdexec_sms_releases_pending "$W/m.wait")
	[ "$pending" = 1 ] && break
done
[ "$pending" = 1 ] && [ ! -s "$W/acks.wait" ] && ok ||
	bad "no answer while a release waited for its commit (pending: ${pending:-no answer})"
wait "$lock"
wait "$tds" && [ "$(grep -c . "$W/acks.wait")" = 1 ] && ok ||
	bad "the release that waited: $(tail -3 "$W/rel.wait")"
# held past the store's busy timeout (5 s): the commit fails, the release
# gets 503 and its session stays unreleased; attested again, it is released
sed -n "$((n + 2))p" "$W/sessions" >"$W/s.fail"
sid=$(cut -d' ' -f2 "$W/s.fail")
{ echo "BEGIN IMMEDIATE;"; sleep 7; echo "COMMIT;"; } | sqlite3 "$W/sms.db" &
lock=$!
sleep 0.5
"$D" release "$URL" "$W/td" "$W/s.fail" "$W/acks.fail" 1 >"$W/rel.fail" 2>&1
[ "$(cat "$W/acks.fail.all")" = "$sid 503" ] && [ ! -s "$W/acks.fail" ] && ok ||
	bad "a commit that failed: $(cat "$W/acks.fail.all" "$W/rel.fail")"
wait "$lock"
"$D" release "$URL" "$W/td" "$W/s.fail" "$W/acks.fail" 1 >"$W/rel.fail" 2>&1 &&
	[ "$(cat "$W/acks.fail")" = "$sid" ] && ok || bad "attested again after a failed commit"

# A stop mid-flight: what was queued is committed and answered before the
# SMS exits, later releases get 503 or no connection; every 200 is durable.
sed -n "$((n + 3)),\$p" "$W/sessions" >"$W/s.stop"
"$D" release "$URL" "$W/td" "$W/s.stop" "$W/acks.stop" 8 >"$W/rel.stop" 2>&1 &
tds=$!
for _ in $(seq 1500); do
	[ "$(grep -c . "$W/acks.stop" 2>/dev/null)" -gt $((PER_ROUND / 4)) ] && break
	sleep 0.02
done
curl -sf -m 5 "$URL/metrics" >"$W/m.stop"
kill "$SMS"
wait "$SMS" && ok || bad "the SMS stopped with an error: $(tail -3 "$W/sms.log")"
SMS=
wait "$tds" && ok || bad "stop: $(tail -3 "$W/rel.stop")"
got=$(grep -c . "$W/acks.stop")
[ "$got" -gt 0 ] && [ "$got" -lt $((PER_ROUND - 2)) ] && ok ||
	bad "stop: $got of $((PER_ROUND - 2)) acknowledged: the stop was not mid-flight"
q "SELECT session FROM receipts" | sort >"$W/receipted"
lost=$(sort "$W/acks.stop" | comm -23 - "$W/receipted" | grep -c .)
[ "$lost" = 0 ] && ok || bad "stop: $lost acknowledged releases lost"
# one thread's releases shared commits (each waited for its own before)
rel=$(metric tdexec_sms_sessions_released_total "$W/m.stop")
commits=$(metric tdexec_sms_release_commits_total "$W/m.stop")
[ -n "$rel" ] && [ -n "$commits" ] && [ "$commits" -le "$rel" ] && ok ||
	bad "commits: $commits for $rel releases"
echo "stop: $got of $((PER_ROUND - 2)) acknowledged; one request thread: $rel releases in $commits commits"
finish
