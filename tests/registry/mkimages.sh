#!/usr/bin/env bash
# The images the registry tests push, built without Docker into an OCI
# layout (blobs written by hand: tar, gzip, zstd and printf'd JSON):
#   multi    an image index: linux/amd64 (the app) and linux/arm64 (a dummy)
#   noamd64  an image index without linux/amd64: linux/arm64 and linux/s390x
# The amd64 image has three layers:
#   1 (gzip)  /bin/sh, /bin/ls, /bin/cat with their libraries, the app
#             /app/check.sh, and /data/{gone,kept}.txt, /opq/old.txt
#   2 (zstd)  whiteouts over layer 1: /data/.wh.gone.txt (a file removed)
#             and /opq/.wh..wh..opq (a directory made opaque) with
#             /opq/new.txt
#   3 (gzip)  /big.bin: BIG_MIB MiB of random bytes, the blob a registry
#             dies in the middle of
# The app writes to /iexec_out/result.txt what it sees of /data and /opq
# and its environment, so the result shows whether the whiteouts were applied:
#   data: kept.txt / opq: new.txt / greeting: hello from the registry
# Usage: mkimages.sh LAYOUT [BIG_MIB]; prints KEY=sha256:HEX lines (INDEX,
# AMD64, ARM64, NOAMD64, CONFIG, LAYER_GZ, LAYER_ZSTD, LAYER_BIG).
set -euo pipefail
L=$1 BIG=${2:-4}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$L/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"

blob() { # FILE -> hex digest; the file stored under it
	local d
	d=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$L/blobs/sha256/$d"
	echo "$d"
}
size() { stat -c %s "$1"; }
# layer DIR NAME gzip|zstd: a reproducible tar of DIR, compressed; sets
# DIFF (the tar's digest), DIG and SZ (the blob's)
layer() {
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf "$W/$2.tar" .
	DIFF=$(sha256sum "$W/$2.tar" | cut -d' ' -f1)
	case $3 in
	gzip) gzip -n -6 -c "$W/$2.tar" >"$W/$2.blob" ;;
	zstd) zstd -q -3 -c "$W/$2.tar" >"$W/$2.blob" ;;
	esac
	DIG=$(blob "$W/$2.blob")
	SZ=$(size "$W/$2.blob")
}
ldesc() { printf '{"mediaType":"application/vnd.oci.image.layer.v1.tar+%s","digest":"sha256:%s","size":%s}' "$1" "$2" "$3"; }
# manifest CONFIG_FILE LAYER_DESCS -> sets MAN and MSZ
manifest() {
	local c
	c=$(blob "$1")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
		"$c" "$(size "$1")" "$2" >"$W/m.json"
	CFG=$c
	MAN=$(blob "$W/m.json")
	MSZ=$(size "$W/m.json")
}
mdesc() { printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"}}' "$1" "$2" "$3"; }
index() { # DESCS -> sets IDX and ISZ
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$1" >"$W/i.json"
	IDX=$(blob "$W/i.json")
	ISZ=$(size "$W/i.json")
}

# Layer 1: the programs (as scripts/mkimage copies them) and the lower files.
R=$W/l1
mkdir -p "$R"/{tmp,iexec_in,iexec_out,proc,dev,sys,etc,app,data,opq}
for p in /bin/sh /bin/ls /bin/cat; do
	for f in "$p" $(ldd "$p" 2>/dev/null | grep -o '/[^ ]*' || true); do
		mkdir -p "$R$(dirname "$f")"
		cp -L "$f" "$R$f"
	done
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >>"$R/etc/passwd"
echo gone >"$R/data/gone.txt"
echo kept >"$R/data/kept.txt"
echo old >"$R/opq/old.txt"
cat >"$R/app/check.sh" <<'EOF'
#!/bin/sh
# What this image's layers left in /data and /opq once applied in order.
{
	echo data: $(ls -A /data 2>&1)
	echo opq: $(ls -A /opq 2>&1)
	echo "greeting: $GREETING"
} >/iexec_out/result.txt
EOF
chmod 755 "$R/app/check.sh"
layer "$R" l1 gzip
D1=$DIFF L1=$DIG
descs=$(ldesc gzip "$DIG" "$SZ")

# Layer 2 (zstd): a file whited out, a directory made opaque.
R=$W/l2
mkdir -p "$R/data" "$R/opq"
: >"$R/data/.wh.gone.txt"
: >"$R/opq/.wh..wh..opq"
echo new >"$R/opq/new.txt"
layer "$R" l2 zstd
D2=$DIFF L2=$DIG
descs="$descs,$(ldesc zstd "$DIG" "$SZ")"

# Layer 3: a big blob that compresses to itself.
R=$W/l3
mkdir -p "$R"
head -c $((BIG * 1024 * 1024)) /dev/urandom >"$R/big.bin"
layer "$R" l3 gzip
D3=$DIFF L3=$DIG
descs="$descs,$(ldesc gzip "$DIG" "$SZ")"

printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh","/app/check.sh"],"Env":["PATH=/usr/bin:/bin","GREETING=hello from the registry"],"WorkingDir":"/app"},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s","sha256:%s"]}}' \
	"$D1" "$D2" "$D3" >"$W/c-amd64.json"
manifest "$W/c-amd64.json" "$descs"
AMD=$MAN AMDSZ=$MSZ AMDCFG=$CFG

# The other platforms: one small layer each, never run.
R=$W/l4
mkdir -p "$R"
echo "not for this platform" >"$R/hello.txt"
layer "$R" l4 gzip
for arch in arm64 s390x; do
	printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/hello"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$arch" "$DIFF" >"$W/c-$arch.json"
	manifest "$W/c-$arch.json" "$(ldesc gzip "$DIG" "$SZ")"
	eval "M_$arch=\$MAN MSZ_$arch=\$MSZ"
done

index "$(mdesc "$AMD" "$AMDSZ" amd64),$(mdesc "$M_arm64" "$MSZ_arm64" arm64)"
MULTI=$IDX MULTISZ=$ISZ
index "$(mdesc "$M_arm64" "$MSZ_arm64" arm64),$(mdesc "$M_s390x" "$MSZ_s390x" s390x)"
NOAMD=$IDX NOAMDSZ=$ISZ

ref() { printf '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}' "$1" "$2" "$3"; }
printf '{"schemaVersion":2,"manifests":[%s,%s]}' "$(ref "$MULTI" "$MULTISZ" multi)" "$(ref "$NOAMD" "$NOAMDSZ" noamd64)" >"$L/index.json"

cat <<EOF
INDEX=sha256:$MULTI
AMD64=sha256:$AMD
ARM64=sha256:$M_arm64
NOAMD64=sha256:$NOAMD
CONFIG=sha256:$AMDCFG
LAYER_GZ=sha256:$L1
LAYER_ZSTD=sha256:$L2
LAYER_BIG=sha256:$L3
EOF
