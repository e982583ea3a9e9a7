#!/usr/bin/env bash
# The scheduler's web dashboard: its files as served (types, the security
# headers, ETag and 304, the bytes of the repository's files, nothing
# outside them), then the page in a real browser (dashboard.js: Debian's
# chromium driven by puppeteer-core) against a live pool that ran one task
# to completion and one that failed with a reason carrying markup (an app
# whose entrypoint is named "<img src=x onerror=alert(1)>": runc's own words
# about it are the reason).  A third task is started once the page is up,
# to see it arrive live.  The screenshot is kept as SCREENSHOT.
# Usage: dashboard.sh TDEXEC SCREENSHOT
set -u
T=$1
SHOT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
WEB=$HERE/../../services/scheduler/web
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
pool_test_dir
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "FAIL: $CHROMIUM is not installed (scripts/install-deps)"; exit 1; }
[ -d "$HERE/../../node_modules/puppeteer-core" ] ||
	{ echo "FAIL: puppeteer-core is not installed (scripts/install-deps)"; exit 1; }
lower() { tr 'A-F' 'a-f'; }
# hdr NAME FILE: a response header's value (curl -D)
hdr() { grep -i "^$1:" "$2" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
pool_start_sms || bad "sms"
MARKUP='<img src=x onerror=alert(1)>'
d_sh=$("$HERE/../../scripts/mkimage" "$W/images" shell '["/bin/sh","-c"]' /bin/sh)
d_mk=$("$HERE/../../scripts/mkimage" "$W/images" markup "[\"/$MARKUP\"]" /bin/sh)
app=$("$T" app deploy "${C[@]}" --account 1 --name shell --json --image "shell@$d_sh" --layout "$W/images" | addr)
app_mk=$("$T" app deploy "${C[@]}" --account 1 --name markup --json --image "markup@$d_mk" --layout "$W/images" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description dashboard --json | addr)
[ -n "$app" ] && [ -n "$app_mk" ] && [ -n "$pool" ] && ok || bad "assets"
wk=$("$T" wallet show "${C[@]}" --account 5 --json | addr | lower)
owner=$("$T" wallet show "${C[@]}" --account 3 --json | addr | lower)
# tasks at a price, so the page has earnings to show
"$T" account deposit "${C[@]}" --account 4 100000000000 >/dev/null &&
	"$T" account deposit "${C[@]}" --account 3 100000000000 >/dev/null && ok || bad "deposit"
export PRICE=2000000

pool_start_scheduler "$pool" 3 || bad "scheduler"
pool_start_worker w1 5 --max-time 30

# The files as served.
for f in "/ text/html" "/ui/index.html text/html" "/ui/app.js text/javascript" \
	"/ui/style.css text/css" "/ui/icon.svg image/svg+xml"; do
	set -- $f
	st=$(curl -s -D "$W/h" -o "$W/b" -w '%{http_code}' "$SCHED_URL$1")
	[ "$st" = 200 ] && [[ "$(hdr Content-Type "$W/h")" == "$2"* ]] && ok ||
		bad "GET $1: $st $(hdr Content-Type "$W/h")"
	name=${1#/ui/}
	[ "$1" = / ] && name=index.html
	cmp -s "$W/b" "$WEB/$name" && ok || bad "GET $1 is not $WEB/$name"
	csp=$(hdr Content-Security-Policy "$W/h")
	[[ "$csp" == *"default-src 'self'"* && "$csp" == *"script-src 'self'"* &&
		"$csp" == *"frame-ancestors 'none'"* && "$csp" != *unsafe* ]] && ok || bad "GET $1: CSP '$csp'"
	[ "$(hdr X-Content-Type-Options "$W/h")" = nosniff ] && [ "$(hdr X-Frame-Options "$W/h")" = DENY ] &&
		[ "$(hdr Cache-Control "$W/h")" = no-cache ] && ok || bad "GET $1: headers $(cat "$W/h")"
done
etag=$(curl -s -D - -o /dev/null "$SCHED_URL/ui/app.js" | grep -i '^etag:' | cut -d' ' -f2- | tr -d '\r')
[ -n "$etag" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$SCHED_URL/ui/app.js")" = 304 ] &&
	ok || bad "ETag '$etag' not answered 304"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "0"' "$SCHED_URL/ui/app.js")" = 200 ] && ok ||
	bad "another ETag answered 304"
for p in /ui/nope.js /ui/ /ui/..%2fsched.db /ui/%2e%2e/sched.db /ui/a/app.js /index.html; do
	[ "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$SCHED_URL$p")" = 404 ] && ok || bad "GET $p is not 404"
done
# no inline script or handler in the page itself (the policy would refuse them)
grep -Eiq '<script[^>]*>[^<]|<script>| on[a-z]+=|javascript:|style=' "$WEB/index.html" &&
	bad "index.html has inline script or style" || ok
grep -v '^ *//' "$WEB/app.js" | grep -E 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(' &&
	bad "app.js parses HTML" || ok

# One task that completes, one whose reason is runc's words about the
# entrypoint named with markup.
task_of() { curl -s "$SCHED_URL/tasks?deal=$1" | jq -r '.[0].taskId // empty'; }
run() { # APP PARAMS -> "STATUS TASK"
	local deal task
	deal=$(pool_deal "$1" "$pool" "$2")
	for _ in $(seq 50); do task=$(task_of "$deal"); [ -n "$task" ] && break; sleep 0.2; done
	echo "$(task_wait "$task" 60) $task"
}
read -r st_ok task_ok < <(run "$app" '{"iexec_args":"\"echo hi > /iexec_out/out.txt\""}')
[ "$st_ok" = COMPLETED ] && ok || bad "the good task: $st_ok $(tail -3 "$W/w1.log")"
read -r st_bad task_bad < <(run "$app_mk" '{}')
[ "$st_bad" = FAILED ] && ok || bad "the failing task: $st_bad"
reason=$(curl -s "$SCHED_URL/tasks/$task_bad" | jq -r .reason)
[[ "$reason" == *"\"/$MARKUP\""* ]] && ok || bad "the reason does not carry the markup: $reason"

# The page.  Once it is up, a third task, which it must show arriving.
TOKEN=$(cat "$W/admin.token")
jq -n --arg url "$SCHED_URL" --arg token "$TOKEN" --arg worker "$wk" \
	--arg mrtd "$(jq -r .MRTD "$W/td/td.json" | lower)" --arg okTask "$task_ok" --arg badTask "$task_bad" \
	--arg reason "$reason" --arg screenshot "$SHOT" --arg ready "$W/ready" --arg chromium "$CHROMIUM" \
	--arg owner "$owner" --arg chainFile "$W/chain/chain.json" \
	'$ARGS.named' >"$W/cfg.json"
rm -f "$SHOT"
node "$HERE/dashboard.js" "$W/cfg.json" &
NODE=$!
for _ in $(seq 600); do [ -e "$W/ready" ] || ! kill -0 "$NODE" 2>/dev/null && break; sleep 0.1; done
[ -e "$W/ready" ] && { pool_deal "$app" "$pool" '{"iexec_args":"\"true\""}' >/dev/null || bad "third deal"; }
wait "$NODE" && ok || bad "the page in the browser (dashboard.js)"
[ -s "$SHOT" ] && ok || bad "no screenshot at $SHOT"

finish
