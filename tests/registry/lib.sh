# A real registry for the tests: Debian's docker-registry (distribution
# 2.8) on 127.0.0.1 with a free port and its own configuration, never the
# package's service on :5000.  Sourced after tests/lib.sh; the sourcing
# script sets W (its scratch directory) and stops everything with reg_stop
# in its EXIT trap.  Logs stay in $W: NAME.log per registry (access log
# included), token.log, proxy.log.
#
#   reg_ca                       a throwaway CA ($W/pki/ca.crt), a server
#                                certificate for 127.0.0.1 signed by it, and
#                                the token signer's key and certificate
#   reg_start NAME MODE STORAGE  a registry serving STORAGE (a directory,
#                                shareable between registries); MODE is
#                                tls, plain or token (TLS + bearer tokens
#                                from reg_token_start's server); sets
#                                REG (127.0.0.1:PORT), REG_PID
#   reg_token_start USER:PASS    the token server (tests/registry/token_server.js)
#   reg_proxy MODE CUT PORT [MATCH]  tests/registry/proxy.js in front of
#                                the plain registry on PORT; sets PROXY
#                                (host:port) and PROXY_PID
#   reg_push SRC DEST [FLAGS]    skopeo copy --all --preserve-digests
#   reg_blob STORAGE DIGEST      the path of a blob's data in STORAGE
#   reg_stop                     stops every process started here
#   reg_sanitized                no sanitizer report in $W/*.log
REG_PIDS=()
_reg_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry}

_reg_free_port() {
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

_reg_wait_port() { # FILE: the port a node helper wrote, or fail after 10 s
	for _ in $(seq 200); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.05; done
	echo "registry: no port in $1" >&2
	return 1
}

reg_ca() {
	local d=$W/pki
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=tdexec regtest CA" -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
			-keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null &&
		printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext" &&
		openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
			-days 2 -extfile "$d/ext" -out "$d/tls.crt" 2>/dev/null &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=tdexec regtest token signer" -keyout "$d/sign.key" -out "$d/sign.crt" 2>/dev/null ||
		{ echo "registry: cannot make the test PKI" >&2; return 1; }
	# skopeo's --dest-cert-dir/--src-cert-dir read *.crt there as CAs
	mkdir -p "$d/certs.d" && cp "$d/ca.crt" "$d/certs.d/ca.crt"
}

reg_token_start() {
	rm -f "$W/token.port"
	node "$_reg_here/token_server.js" "$W/pki" "$W/token.port" "$1" >>"$W/token.log" 2>&1 &
	REG_PIDS+=("$!")
	TOKEN_URL="https://127.0.0.1:$(_reg_wait_port "$W/token.port")/token" || return 1
}

# The configuration of one registry: distribution 2.8's YAML.
_reg_config() { # MODE STORAGE PORT
	local tls="" auth=""
	if [ "$1" != plain ]; then
		tls=$(printf '  tls:\n    certificate: %s\n    key: %s\n' "$W/pki/tls.crt" "$W/pki/tls.key")
	fi
	if [ "$1" = token ]; then
		auth=$(printf 'auth:\n  token:\n    realm: %s\n    service: tdexec-regtest\n    issuer: tdexec-regtest-issuer\n    rootcertbundle: %s\n' \
			"$TOKEN_URL" "$W/pki/sign.crt")
	fi
	cat <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $2
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$3
  secret: $(openssl rand -hex 16)
$tls
$auth
EOF
}

reg_start() {
	local name=$1 mode=$2 storage=$3 port scheme=https code try
	[ "$mode" = plain ] && scheme=http
	[ -x "$REGISTRY_BIN" ] || { echo "registry: $REGISTRY_BIN is not installed (scripts/install-deps)" >&2; return 1; }
	mkdir -p "$storage"
	# a free port can be taken between the probe and the bind: a few tries
	for try in 1 2 3; do
		port=$(_reg_free_port)
		_reg_config "$mode" "$storage" "$port" >"$W/$name.yml"
		"$REGISTRY_BIN" serve "$W/$name.yml" >>"$W/$name.log" 2>&1 &
		REG_PID=$!
		for _ in $(seq 100); do
			code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$W/pki/ca.crt" "$scheme://127.0.0.1:$port/v2/")
			case $code in 200 | 401) break ;; esac
			kill -0 "$REG_PID" 2>/dev/null || break
			sleep 0.1
		done
		case $code in
		200 | 401)
			REG_PIDS+=("$REG_PID")
			REG=127.0.0.1:$port
			return 0
			;;
		esac
		kill "$REG_PID" 2>/dev/null
		wait "$REG_PID" 2>/dev/null
		echo "registry $name: not ready on port $port (try $try): $(tail -2 "$W/$name.log")" >&2
	done
	return 1
}

reg_proxy() {
	rm -f "$W/proxy.port"
	node "$_reg_here/proxy.js" "$W/proxy.port" "$3" "$1" "$2" "${4:-}" >>"$W/proxy.log" 2>&1 &
	PROXY_PID=$!
	REG_PIDS+=("$PROXY_PID")
	PROXY=127.0.0.1:$(_reg_wait_port "$W/proxy.port") || return 1
}

reg_push() {
	local src=$1 dst=$2
	shift 2
	skopeo copy --quiet --all --preserve-digests "$@" "$src" "$dst" >>"$W/skopeo.log" 2>&1 ||
		{ echo "registry: skopeo copy $src $dst failed: $(tail -3 "$W/skopeo.log")" >&2; return 1; }
}

reg_blob() { local h=${2#sha256:}; echo "$1/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data"; }

reg_stop() {
	local p
	for p in "${REG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${REG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	REG_PIDS=()
}

# Every expect's output is kept in $W/cli.log: under the sanitizers a report
# fails the test whatever the exit code it came with (ASan exits 1, the code
# a refusal is expected to exit with).
eval "_reg_expect() $(declare -f expect | sed 1d)"
expect() {
	_reg_expect "$@"
	cat "$W/out" >>"$W/cli.log"
}

reg_sanitized() {
	if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W"/*.log >/dev/null 2>&1; then
		bad "sanitizer report in $(grep -l "Sanitizer\|runtime error:" "$W"/*.log | tr '\n' ' ')"
	else ok; fi
}
