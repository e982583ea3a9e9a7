# Shared by the shell tests: counters, checks and the closing line.
# The sourcing script sets W (a scratch directory) first.
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

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
}
