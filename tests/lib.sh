# Shared by the shell tests: counters, checks and the closing line.
# The sourcing script sets W (a scratch directory), or pool_test_dir does.
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# expect CODE PATTERN -- CMD...: run CMD, check its exit code and that
# stdout+stderr matches PATTERN (grep -E; "" = anything).  Output in $W/out.
expect() {
	local code=$1 pat=$2
	shift 3
	"$@" >"$W/out" 2>&1
	local rc=$?
	if [ "$rc" != "$code" ]; then
		bad "'$*' exited $rc, want $code: $(head -c 400 "$W/out")"
	elif [ -n "$pat" ] && ! grep -Eq -- "$pat" "$W/out"; then
		bad "'$*' output lacks /$pat/: $(head -c 400 "$W/out")"
	else
		ok
	fi
}

# value of "KEY": "..." in a JSON file
json_str() { grep -o "\"$2\": \"[^\"]*\"" "$1" | head -1 | sed 's/.*: "\(.*\)"/\1/'; }

# the "address" of a deploy's or a keystore's JSON on stdin
addr() { sed -n 's/.*"address": "\(.*\)".*/\1/p'; }

# hardened NAME PID [SECRET]: the service is undumpable, so another user
# cannot read its /proc/PID/environ or maps (they are root's, whoever runs
# it), it cannot dump core, and its environment block does not hold SECRET.
hardened() {
	local name=$1 pid=$2 secret=${3:-} f
	[ "$(stat -c %U:%G "/proc/$pid/environ" 2>/dev/null)" = root:root ] ||
		bad "$name: /proc/$pid/environ is $(stat -c %U:%G "/proc/$pid/environ" 2>&1)"
	grep -Eq '^Max core file size +0 +0 ' "/proc/$pid/limits" && ok ||
		bad "$name: $(grep '^Max core' "/proc/$pid/limits" 2>&1)"
	for f in environ maps; do
		[ "$(id -u)" = 0 ] || break
		if setpriv --reuid=65534 --regid=65534 --clear-groups cat "/proc/$pid/$f" >/dev/null 2>&1
		then bad "$name: another user reads its /proc/$pid/$f"; else ok; fi
	done
	if [ -n "$secret" ]; then
		if tr '\0' '\n' <"/proc/$pid/environ" | grep -qF -- "$secret"; then
			bad "$name: the secret is still in /proc/$pid/environ"
		else ok; fi
	fi
}

# private NAME FILE...: each file exists and is 0600.
private() {
	local name=$1 f
	shift
	for f in "$@"; do
		[ "$(stat -c %a "$f" 2>&1)" = 600 ] && ok || bad "$name: $f is $(stat -c %a "$f" 2>&1)"
	done
}

# pool_test_dir [CMD]: for a test that runs a pool (scripts/pool.sh): W, a
# scratch directory that is also the pool's state P, mode 711 because the
# app sandbox (a user namespace) reaches the workers' directories through
# it; on exit CMD (evaluated then), pool_stop, and W removed unless KEEP is
# set.  Fails unless runc, which runs every app, is installed.
pool_test_dir() {
	W=$(mktemp -d)
	chmod 711 "$W"
	P=$W
	trap "${1:+$1; }pool_stop; [ -n \"\${KEEP:-}\" ] && echo \"kept \$W\" || rm -rf \"\$W\"" EXIT
	command -v runc >/dev/null || { echo "FAIL: runc is not installed"; exit 1; }
}

# sms_test_chain: for a test of the SMS on a local chain: W, a scratch
# directory, the chain in $W/chain (C: the option naming it); stop_sms
# stops the SMS whose pid is $SMS; on exit the SMS is stopped, the chain
# brought down and W removed.
stop_sms() { [ -n "$SMS" ] && kill "$SMS" 2>/dev/null && wait "$SMS" 2>/dev/null; SMS=; }
sms_test_chain() {
	W=$(mktemp -d)
	SMS=
	trap 'stop_sms; "$T" chain down --dir "$W/chain" >/dev/null 2>&1; rm -rf "$W"' EXIT
	"$T" chain up --dir "$W/chain" --port 0 >/dev/null 2>&1 || { echo "FAIL: chain up"; exit 1; }
	C=(--chain "$W/chain/chain.json")
}

# sms_sim_td: a simulated TD in $W/td, and the pool's policy of its
# measurements in $W/policy.json.
sms_sim_td() {
	"$T" sim init "$W/td" >/dev/null 2>&1 || bad "sim init"
	printf '{"measurements": {"MRTD": "%s", "RTMR0": "%s", "RTMR1": "%s", "RTMR2": "%s"}}\n' \
		"$(json_str "$W/td/td.json" MRTD)" "$(json_str "$W/td/td.json" RTMR0)" \
		"$(json_str "$W/td/td.json" RTMR1)" "$(json_str "$W/td/td.json" RTMR2)" >"$W/policy.json"
}
# sms_start_sim [ARG...]: an SMS on the chain C that trusts that TD's root
# and policy (its database and key in $W, its log $W/sms.log, more options
# in ARG); its pid in $SMS and its http URL in $URL once it listens (up to
# 10 s; $W/port stays empty when it did not start).
sms_start_sim() {
	rm -f "$W/port"
	"$T" sms --port 0 --port-file "$W/port" --db "$W/sms.db" --master-key "$W/master.key" \
		"${C[@]}" --collateral "$W/td/collateral/collateral.json" \
		--trust-sim-root "$W/td/root_ca.pem" --policy "$W/policy.json" "$@" 2>>"$W/sms.log" &
	SMS=$!
	for _ in $(seq 200); do [ -s "$W/port" ] && break; sleep 0.05; done
	URL="http://127.0.0.1:$(cat "$W/port" 2>/dev/null)"
}

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
}
