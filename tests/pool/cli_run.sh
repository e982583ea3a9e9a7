#!/usr/bin/env bash
# 'tdexec run' as a requester meets it on a local pool: what it says while
# no worker takes the task and when it gives up (the task still open, when
# its funds unlock, how to claim), the money checked before paying, where
# -o puts the result (DIR/, an existing directory, FILE.zip, a missing
# parent refused before paying), the payment summary exact to the nRLC
# against the orders' prices, and the tasks' attestation receipts checked
# by 'tdexec task verify' (verify.sh).
# Usage: cli_run.sh TDEXEC
set -u
T=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
pool_test_dir
jget() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(eval("j" + process.argv[2]))' "$@"; }

APP_PRICE=1000000000
POOL_PRICE=200000000

pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
pool_start_sms || bad "sms"
d_sh=$("$HERE/../../scripts/mkimage" "$W/images" shell '["/bin/sh","-c"]' /bin/sh)
app=$("$T" app deploy "${C[@]}" --account 1 --name shell --json --image "shell@$d_sh" --layout "$W/images" | addr)
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "cli pool" --json | addr)
[ -n "$app" ] && [ -n "$pool" ] && ok || bad "assets"
pool_start_scheduler "$pool" 3 --order-volume 10 --order-price "$POOL_PRICE" || bad "scheduler"
"$T" order init app --set app="$app" --set appprice="$APP_PRICE" --set tag=tdx --set volume=10 -o "$W/ao.json" &&
	"$T" order sign app "$W/ao.json" "${C[@]}" --account 1 -o "$W/ao.json" >/dev/null &&
	"$T" market publish app "$W/ao.json" --market "$SCHED_URL" >/dev/null && ok || bad "app order"
R=(run "$app" --market "$SCHED_URL" "${C[@]}" --account 4)
me=$("$T" wallet show "${C[@]}" --account 4 --json | addr)
stake() { "$T" account show "${C[@]}" "$1" --json | sed -n 's/.*"stake": "\([0-9]*\)".*/\1/p'; }

# 1. Money: nothing deposited yet, so the requester is told what to deposit,
#    before any transaction (the deal would revert in the escrow).
expect 1 "the requester's account holds 0 nRLC, the deal needs $((APP_PRICE + POOL_PRICE)): run 'tdexec account deposit $((APP_PRICE + POOL_PRICE))'" -- \
	"$T" "${R[@]}" -o "$W/r0"
grep -q 'exceeds balance' "$W/out" && bad "the escrow's revert instead of the hint" || ok
"$T" account deposit "${C[@]}" --account 4 $((APP_PRICE + POOL_PRICE)) >/dev/null || bad "deposit"
# ... and the pool owner's stake: PoCo locks 30% of the pool's price from it
expect 1 "the pool owner 0x[0-9a-fA-F]{40} holds 0 nRLC of stake, the deal needs $((POOL_PRICE * 30 / 100))" -- \
	"$T" "${R[@]}" -o "$W/r0"
"$T" account deposit "${C[@]}" --account 3 10000000000 >/dev/null || bad "pool deposit"
"$T" account deposit "${C[@]}" --account 4 100000000000 >/dev/null || bad "deposit"

# 2. -o with a missing parent: refused before paying.
before=$(stake "$me")
expect 1 "-o $W/none/res: the directory $W/none does not exist" -- "$T" "${R[@]}" -o "$W/none/res"
expect 1 "the directory $W/none does not exist" -- "$T" "${R[@]}" -o "$W/none/sub/"
touch "$W/afile"
expect 1 "-o $W/afile.zip: $W/afile is a file, not a directory" -- "$T" "${R[@]}" -o "$W/afile.zip"
[ "$(stake "$me")" = "$before" ] && ok || bad "paid before refusing -o: $before -> $(stake "$me")"

# 3. No worker online: progress in words, at most one line per change, and
#    on timeout the task still open, when its funds unlock, how to claim.
expect 1 "is still open after 6s \\(INITIALIZED: queued: no worker has taken it yet\\); the requester's funds unlock at its final deadline, 20[0-9-]+T[0-9:]+Z \\(chain time\\): then 'tdexec task claim 0x[0-9a-f]{64}' refunds them" -- \
	"$T" "${R[@]}" --timeout 6 -o "$W/r1" --args '"echo first > /iexec_out/a.txt"'
n=$(grep -c '^ .*queued: no worker has taken it yet' "$W/out")
[ "$n" = 1 ] && ok || bad "queued lines: $n: $(cat "$W/out")"
open_task=$(grep -o "task 0x[0-9a-f]*" "$W/out" | head -1 | cut -d' ' -f2)
expect 0 '"status_name": "ACTIVE"' -- "$T" task show "$open_task" "${C[@]}" --json
grep -q '"boost": true' "$W/out" && grep -q '"claimable": false' "$W/out" && ok || bad "task show: $(cat "$W/out")"
expect 1 "is still open: it can be claimed after its final deadline" -- "$T" task claim "$open_task" "${C[@]}" --account 4

# 4. A worker: the open task completes first (balances settle), then
#    -o DIR/ (made), its payment summary exact.
pool_start_worker w1 5
st=$(task_wait "$open_task" 90)
[ "$st" = COMPLETED ] && ok || bad "the queued task: $st"
expect 0 '"status": "COMPLETED"' -- "$T" "${R[@]}" -o "$W/res/" --json --args '"echo two > /iexec_out/b.txt"'
cp "$W/out" "$W/sum.json"
task=$(jget "$W/sum.json" .task)
[ -f "$W/res/$task.zip" ] && [ "$(cat "$W/res/$task/b.txt" 2>/dev/null)" = two ] && [ ! -e "$W/res/.zip" ] &&
	ok || bad "-o DIR/: $(ls -la "$W/res")"
worker=$("$T" wallet show "${C[@]}" --account 5 --json | addr)
ratio=$("$T" workerpool show "${C[@]}" "$pool" --json | sed -n 's/.*"schedulerRewardRatio": "\([0-9]*\)".*/\1/p')
wreward=$((POOL_PRICE * (100 - ratio) / 100))
change() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); const p = j.payments.find((x) => x.role === process.argv[2]); console.log(p ? p.change_nRLC : "none")' "$W/sum.json" "$1"; }
[ "$(change requester)" = "-$((APP_PRICE + POOL_PRICE))" ] && ok || bad "requester: $(change requester)"
[ "$(change "app owner")" = "$APP_PRICE" ] && ok || bad "app owner: $(change "app owner")"
[ "$(change "pool owner")" = "$((POOL_PRICE - wreward))" ] && ok || bad "pool owner: $(change "pool owner"), want $((POOL_PRICE - wreward)) (ratio $ratio)"
[ "$(change worker)" = "$wreward" ] && ok || bad "worker: $(change worker), want $wreward"
grep -q '"stake_nRLC"' "$W/sum.json" && bad "absolute stakes in --json" || ok

# 5. -o an existing directory, -o FILE.zip; the text summary.
mkdir "$W/here"
expect 0 "result in $W/here/0x[0-9a-f]{64}/ \\($W/here/0x[0-9a-f]{64}.zip\\)" -- "$T" "${R[@]}" -o "$W/here" \
	--args '"echo three > /iexec_out/c.txt"'
grep -Eq "^  pool owner +0x[0-9a-fA-F]{40}  \\+$((POOL_PRICE - wreward)) nRLC" "$W/out" &&
	grep -Eq "^  requester +$me  -$((APP_PRICE + POOL_PRICE)) nRLC" "$W/out" && ok || bad "text summary: $(cat "$W/out")"
[ -z "$(ls -A "$W/here" | grep -v '^0x')" ] && ok || bad "-o DIR: $(ls -la "$W/here")"
expect 0 "result in $W/one/ \\($W/one.zip\\)" -- "$T" "${R[@]}" -o "$W/one.zip" --args '"echo four > /iexec_out/d.txt"'
[ "$(cat "$W/one/d.txt" 2>/dev/null)" = four ] && [ ! -e "$W/one.zip.zip" ] && ok || bad "-o FILE.zip: $(ls "$W")"

# 6. The tasks' attestation receipts and 'tdexec task verify' (verify.sh).
. "$HERE/verify.sh"

finish
