#!/usr/bin/env bash
# docs/apps.md, "## 1. A Python script", run as written: the same app.py,
# the same commands in the same order (keep the two in sync), against a
# local pool started as the other pool tests do (scripts/pool.sh: Anvil
# with PoCo, simulated TDs, the SMS over RA-TLS, scheduler, one worker
# running apps with runc).  The tutorial's variables are set from that pool;
# the result the requester gets is checked.
# Usage: tutorial_python.sh TDEXEC
set -u
T=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/../../scripts/pool.sh"
pool_test_dir
command -v python3 >/dev/null || { echo "FAIL: python3 is not installed (scripts/install-deps)"; exit 1; }
unset SOURCE_DATE_EPOCH
tdexec() { "$T" "$@"; }

# The pool the tutorial assumes: its chain, TD policy, SMS, market, and a
# web server for the encrypted dataset; the worker reads images from
# $P/images, where the tutorial builds.
pool_start_chain || { echo "FAIL: chain up"; exit 1; }
pool_start_td
RATLS=1 pool_start_sms || bad "sms"
pool_start_files || bad "file server"
pool=$("$T" workerpool deploy "${C[@]}" --account 3 --description "tutorial pool" --json | addr)
pool_start_scheduler "$pool" 3 --order-volume 10 --order-price 0 || bad "scheduler"
pool_start_worker w1 5 --max-time 60
CHAIN=$P/chain/chain.json
POLICY=$P/policy.json
SMS=$SMS_URL
MARKET=$SCHED_URL
FILES_DIR=$P/files
FILES_URL=$FILES_URL
mkdir -p "$W/dev" && cd "$W/dev" || exit 1
# the worker's --images directory is where the tutorial's image goes
mkdir -p "$P/images" && ln -sfn "$P/images" images

# ---- docs/apps.md §1, step 1: the app
cat >app.py <<'EOF'
import csv
import json
import os
from collections import Counter

# The worker gives the app its dataset, decrypted, in $IEXEC_IN under
# $IEXEC_DATASET_FILENAME, and takes the result from $IEXEC_OUT.
src = os.path.join(os.environ["IEXEC_IN"], os.environ["IEXEC_DATASET_FILENAME"])
out = os.environ["IEXEC_OUT"]

population = Counter()
with open(src, newline="") as f:
    for row in csv.DictReader(f):
        population[row["country"]] += int(row["population"])

with open(os.path.join(out, "result.txt"), "w") as f:
    for country, total in sorted(population.items(), key=lambda kv: (-kv[1], kv[0])):
        f.write(f"{country} {total}\n")

# iExec's convention: computed.json names what the result's digest covers.
with open(os.path.join(out, "computed.json"), "w") as f:
    json.dump({"deterministic-output-path": os.path.join(out, "result.txt")}, f)
EOF

# ---- step 2: the image
digest=$(tdexec image build --layout images --ref population --package python3 \
	--add app.py:/app/app.py --entrypoint '["python3","/app/app.py"]')
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] && ok || bad "image build printed '$digest'"

# ---- step 3: the app on chain, its checksum the image digest
app=$(tdexec app deploy --chain "$CHAIN" --account 1 --name population \
	--image "population@$digest" --layout images --tdx-policy "$POLICY" --json | addr)
[ -n "$app" ] && ok || bad "app deploy"

# ---- step 4: the dataset, encrypted, its key to the SMS
cat >cities.csv <<'EOF'
city,country,population
Lyon,FR,522000
Paris,FR,2103000
Nice,FR,342000
Berlin,DE,3645000
Hamburg,DE,1841000
Turin,IT,848000
EOF
checksum=$(tdexec dataset encrypt cities.csv -o "$FILES_DIR/cities.enc" --key-output cities.key)
dataset=$(tdexec dataset deploy --chain "$CHAIN" --account 2 --name cities \
	--multiaddr "$FILES_URL/cities.enc" --checksum "$checksum" --json | addr)
[ -n "$dataset" ] && ok || bad "dataset deploy"
tdexec secret push --sms "$SMS" "${SMS_TRUST[@]}" --chain "$CHAIN" --account 2 \
	--dataset "$dataset" --file cities.key >"$W/push.out" 2>&1 && ok || bad "secret push: $(cat "$W/push.out")"

# ---- step 5: orders on the pool's market
tdexec order init app --set app="$app" --set tag=tdx --set volume=10 -o app-order.json
tdexec order sign app app-order.json --chain "$CHAIN" --account 1 -o app-order.json >/dev/null
tdexec market publish app app-order.json --market "$MARKET" >/dev/null && ok || bad "publish app order"
tdexec order init dataset --set dataset="$dataset" --set tag=tdx --set volume=10 -o dataset-order.json
tdexec order sign dataset dataset-order.json --chain "$CHAIN" --account 2 -o dataset-order.json >/dev/null
tdexec market publish dataset dataset-order.json --market "$MARKET" >/dev/null && ok || bad "publish dataset order"

# ---- step 6: the requester runs a task and reads the result
tdexec run "$app" --market "$MARKET" --chain "$CHAIN" --account 4 --dataset "$dataset" \
	-o result >"$W/run.out" 2>&1 && ok || bad "tdexec run: $(tail -5 "$W/run.out"; tail -5 "$P/w1.log")"
cat >"$W/want" <<'EOF'
DE 5486000
FR 2967000
IT 848000
EOF
diff "$W/want" result/result.txt >/dev/null 2>&1 && ok ||
	bad "result.txt: $(cat result/result.txt 2>&1) $(grep -h 'level=error\|level=warn' "$P/w1.log" | tail -3)"
grep -q '"deterministic-output-path": *"/iexec_out/result.txt"' result/computed.json && ok ||
	bad "computed.json: $(cat result/computed.json 2>&1)"

finish
