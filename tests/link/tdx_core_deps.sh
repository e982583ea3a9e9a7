#!/usr/bin/env bash
# The TDX core library links neither the HTTP stack (libcurl, libmicrohttpd,
# lib/net) nor the simulator (lib/tdx/sim.c) nor the quote providers and the PCS
# client. CORE is a program linked with every object of tdexec_tdx_core
# (whole archive) and the libraries tdexec_tdx_core declares: a core source
# calling into any of them pulls its symbols in, and a link dependency added
# to the library puts its shared object in NEEDED. CONTROL (the tdexec binary)
# has all of them, which shows the check can see them.
# Usage: tdx_core_deps.sh CORE CONTROL ARCHIVE... (libtdexec_tdx.a, libtdexec_net.a)
set -u
CORE=$1
CONTROL=$2
shift 2
. "$(dirname "$0")/../lib.sh"

# What the core must not reach: every global symbol the other lib/tdx objects
# (providers, simulator, PCS client, gate, RA-TLS) and lib/net define, and
# libcurl's and libmicrohttpd's.
defined() { for a in "$@"; do nm --defined-only -g "$a" | awk 'NF == 3 {print $3}'; done; }
FORBIDDEN=$(defined "$@" | sort -u | sed 's/.*/^&$/')
FORBIDDEN=$(printf '%s\n^curl_\n^MHD_\n' "$FORBIDDEN")
LIBS='^(libcurl|libmicrohttpd|libssl)\.'

symbols() { nm -D --undefined-only "$1" 2>/dev/null; nm "$1" 2>/dev/null; }
reached() { symbols "$1" | awk '{print $NF}' | sed 's/@.*//' | grep -f <(echo "$FORBIDDEN") | sort -u; }
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -E "$LIBS"; }

[ "$(echo "$FORBIDDEN" | grep -cFx '^tdx_sim_quote$')" = 1 ] && ok || bad "no simulator symbols in $*"
[ -n "$(reached "$CONTROL")" ] && ok || bad "the check sees no HTTP or simulator symbol in $CONTROL"
[ -n "$(needed "$CONTROL")" ] && ok || bad "the check sees no libcurl/libmicrohttpd in $CONTROL"

r=$(reached "$CORE")
[ -z "$r" ] && ok || bad "tdexec_tdx_core reaches: $(echo $r)"
n=$(needed "$CORE")
[ -z "$n" ] && ok || bad "tdexec_tdx_core links: $(echo $n)"
"$CORE" >/dev/null && ok || bad "$CORE does not run"
finish
