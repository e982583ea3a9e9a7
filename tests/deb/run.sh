#!/usr/bin/env bash
# The Debian package (packaging/build-deb) and the TD guest recipe
# (scripts/td-image): the package built twice gives the same bytes; its
# control fields, Depends and file list; lintian's word (on request,
# reported, not judged); installed with dpkg into a scratch root
# (maintainer scripts run there through DPKG_ROOT), where the installed
# binary runs, man renders every page, the completion completes,
# systemd-analyze verifies every unit and rates the services' exposure; the
# work directory's mount unit mounts a tmpfs with its own options;
# td-image --root writes a worker's settings that the units and the binary
# accept, and refuses bad input before writing anything; removal and purge
# leave what they should.
# Skipped (77) for a sanitizer build: a package is made of the release
# binary, and every --help it reads is walked under the sanitizers by
# cli_help.
# Usage: run.sh TDEXEC_BINARY SOURCE_DIR
set -u
T=$1
SRC=$2
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/../lib.sh"
if ldd "$T" | grep -q 'lib[at]san'; then
	echo "a sanitizer build: skipped"
	exit 77
fi
export LC_ALL=C SOURCE_DATE_EPOCH=1764633600

version=$("$T" --version | awk '{ print $2 }')
arch=$(dpkg --print-architecture)

# --- the package, twice: reproducible
# (side by side, one a core)
"$SRC/packaging/build-deb" "$T" "$W/b" >"$W/b.out" 2>&1 &
bpid=$!
"$SRC/packaging/build-deb" "$T" "$W/a" >"$W/a.out" 2>&1 || { cat "$W/a.out"; bad "build-deb failed"; finish; exit; }
wait $bpid && ok || bad "build-deb (second) failed: $(cat "$W/b.out")"
DEB=$W/a/tdexec_${version}_$arch.deb
[ "$(cat "$W/a.out")" = "$DEB" ] && ok || bad "build-deb printed $(cat "$W/a.out"), not $DEB"
cmp -s "$DEB" "$W/b/tdexec_${version}_$arch.deb" && ok ||
	bad "two builds differ: $(sha256sum "$DEB" "$W/b/"*.deb)"
expect 1 'usage: build-deb' -- "$SRC/packaging/build-deb" "$T"
expect 1 'not an executable' -- "$SRC/packaging/build-deb" "$W/none" "$W/c"

# --- control fields and Depends: every library the binary links, from a
# package of this machine's, and runc
field() { dpkg-deb -f "$DEB" "$1"; }
[ "$(field Package)" = tdexec ] && ok || bad "Package: $(field Package)"
[ "$(field Version)" = "$version" ] && ok || bad "Version: $(field Version), binary says $version"
[ "$(field Architecture)" = "$arch" ] && ok || bad "Architecture: $(field Architecture)"
deps=$(field Depends)
for p in libssl3 libsqlite3-0 libmicrohttpd12 libcurl4 libjansson4 libsecp256k1-1 libarchive13 libc6 runc; do
	[[ ", $deps," == *", $p "* || ", $deps," == *", $p,"* ]] && ok || bad "Depends lacks $p: $deps"
done
for p in $(echo "$deps" | tr ',' '\n' | sed 's/(.*//; s/|.*//' | tr -d ' '); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && ok ||
		bad "Depends names $p, which this machine (where the binary runs) does not have"
done
# the libraries the binary needs are all covered: one package per NEEDED
for lib in $(objdump -p "$T" | awk '/NEEDED/ { print $2 }'); do
	path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ { print $NF; exit }')
	pkg=$(dpkg -S "$(realpath "$path")" 2>/dev/null | head -1 | cut -d: -f1)
	[ -z "$pkg" ] && pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
	[[ ", $deps," == *", $pkg "* || ", $deps," == *", $pkg,"* ]] && ok ||
		bad "$lib ($path, package ${pkg:-none}) is not in Depends: $deps"
done

# --- the file list: root's, the units, a man page per command
dpkg-deb -c "$DEB" >"$W/list"
awk '$2 != "root/root"' "$W/list" | grep -q . && bad "files not root's: $(awk '$2 != "root/root"' "$W/list" | head -3)" || ok
for f in usr/bin/tdexec lib/systemd/system/tdexec-sms.service lib/systemd/system/tdexec-scheduler.service \
	lib/systemd/system/tdexec-worker.service lib/systemd/system/var-lib-tdexec-work.mount \
	usr/share/bash-completion/completions/tdexec usr/share/man/man1/tdexec.1.gz \
	usr/share/doc/tdexec/copyright usr/share/doc/tdexec/td-image.md.gz etc/tdexec/worker.json \
	usr/lib/sysusers.d/tdexec.conf lib/udev/rules.d/60-tdexec.rules; do
	grep -q " \./$f\$" "$W/list" && ok || bad "the package lacks /$f"
done
"$T" completion list | grep -v ' ' >"$W/cmds"
while read -r c; do
	grep -q " \./usr/share/man/man1/tdexec-$c.1.gz\$" "$W/list" && ok || bad "no man page for tdexec $c"
done <"$W/cmds"
grep -q "^-rwxr-xr-x .* \./usr/bin/tdexec$" "$W/list" && ok || bad "/usr/bin/tdexec mode: $(grep usr/bin/tdexec "$W/list")"

# --- lintian (TDEXEC_LINTIAN=1: about 10 s of CPU): its findings are
# printed for the record, not judged
if [ "${TDEXEC_LINTIAN:-0}" = 1 ] && command -v lintian >/dev/null; then
	lintian --allow-root --tag-display-limit 0 "$DEB" >"$W/lintian" 2>&1
	echo "lintian: $(grep -c '^E:' "$W/lintian") errors, $(grep -c '^W:' "$W/lintian") warnings"
	sed 's/^/  lintian: /' "$W/lintian" | head -30
else
	echo "lintian: skipped (TDEXEC_LINTIAN=1 and the lintian package run it)"
fi

# --- installed with dpkg into a scratch root: the maintainer scripts run
# outside a chroot with DPKG_ROOT (the scratch root has no shell of its
# own), and the Depends are this machine's, not the scratch root's
S=$W/root
mkdir -p "$S/var/lib/dpkg/info" "$S/var/lib/dpkg/updates" "$S/etc"
touch "$S/var/lib/dpkg/status" "$S/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$S/etc/passwd"
printf 'root:x:0:\n' >"$S/etc/group"
printf 'root:*::0:99999:7:::\n' >"$S/etc/shadow"
printf 'root:*::\n' >"$S/etc/gshadow"
dpkgr() { dpkg --root="$S" --force-script-chrootless --force-depends "$@"; }
expect 0 'Setting up tdexec' -- dpkgr -i "$DEB"
# a user per service, each one's settings readable by its group only; the
# group tdexec (/dev/tdx_guest) without a user of its own
for f in sms scheduler; do
	grep -q "^tdexec-$f:x:[0-9]*:[0-9]*:tdexec $f:/var/lib/tdexec/$f:/usr/sbin/nologin\$" "$S/etc/passwd" && ok ||
		bad "postinst made no user tdexec-$f: $(cat "$S/etc/passwd")"
	gid=$(awk -F: -v g="tdexec-$f" '$1 == g { print $3 }' "$S/etc/group")
	[ -n "$gid" ] && [ "$(stat -c %a:%g "$S/etc/tdexec/$f.json")" = "640:$gid" ] && ok ||
		bad "/etc/tdexec/$f.json is $(stat -c %a:%g "$S/etc/tdexec/$f.json"), want 640:${gid:-?}"
done
grep -q '^tdexec:x:[0-9]*:' "$S/etc/group" && ! grep -q '^tdexec:' "$S/etc/passwd" && ok ||
	bad "group tdexec: $(grep '^tdexec' "$S/etc/group" "$S/etc/passwd")"
[ "$(awk -F: '$1 == "tdexec-sms" { print $3 }' "$S/etc/passwd")" != \
	"$(awk -F: '$1 == "tdexec-scheduler" { print $3 }' "$S/etc/passwd")" ] && ok || bad "the two users share a uid"
# again (an upgrade's configure): nothing doubled, nothing failed
expect 0 'Setting up tdexec' -- dpkgr -i "$DEB"
[ "$(grep -c '^tdexec-' "$S/etc/passwd")" = 2 ] && ok || bad "users doubled after a reinstall: $(cat "$S/etc/passwd")"

expect 0 "^tdexec $version " -- "$S/usr/bin/tdexec" --version
for f in "$S"/usr/share/man/man1/*.1.gz; do
	w=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	[ -z "$w" ] && ok || bad "man $(basename "$f"): $w"
done
expect 0 'tdexec-worker - a TDX worker' -- env MANWIDTH=80 man -l "$S/usr/share/man/man1/tdexec-worker.1.gz"
grep -q -- '--work-dir DIR' "$W/out" && ok || bad "man tdexec-worker lacks --work-dir: $(head -c 300 "$W/out")"
expect 0 'TDEXEC QUOTE VERIFY' -- env MANWIDTH=80 man -l "$S/usr/share/man/man1/tdexec-quote.1.gz"
comp=$(bash -c 'source "$1"; COMP_WORDS=(tdexec quote ""); COMP_CWORD=2; _tdexec; echo "${COMPREPLY[*]}"' _ \
	"$S/usr/share/bash-completion/completions/tdexec")
[ "$comp" = "get show verify" ] && ok || bad "installed completion: tdexec quote -> '$comp'"

# --- the units, verified offline in the scratch root: systemd's own units
# from this machine beside the package's, man pages from the package
mkdir -p "$S/usr/lib/systemd/system"
cp -a /lib/systemd/system/. "$S/usr/lib/systemd/system/"
verify() { # verify UNIT...: nothing to say, exit 0
	(cd "$S" && MANPATH=$S/usr/share/man systemd-analyze verify --root="$S" "$@") >"$W/verify" 2>&1
	local rc=$?
	[ $rc = 0 ] && [ ! -s "$W/verify" ] && ok || bad "systemd-analyze verify $* (exit $rc): $(head -c 600 "$W/verify")"
}
U=lib/systemd/system
for u in tdexec-sms.service tdexec-scheduler.service tdexec-worker.service var-lib-tdexec-work.mount; do
	verify "$U/$u"
done
# the check sees a mistake: a misspelt directive
sed 's/^ProtectHome=yes/ProtectHom=yes/' "$S/$U/tdexec-worker.service" >"$S/$U/tdexec-typo.service"
(cd "$S" && MANPATH=$S/usr/share/man systemd-analyze verify --root="$S" "$U/tdexec-typo.service") 2>&1 |
	grep -q "Unknown key 'ProtectHom'" && ok || bad "verify missed a misspelt directive"
rm "$S/$U/tdexec-typo.service"

# hardening: what each unit must hold, and systemd's own rating
setting() { sed -n "s/^$2=//p" "$S/$U/$1"; }
for u in tdexec-sms.service tdexec-scheduler.service tdexec-worker.service; do
	for kv in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ProtectHome=yes ProtectKernelModules=yes; do
		[ "$(setting "$u" "${kv%%=*}")" = "${kv#*=}" ] && ok || bad "$u: $kv missing"
	done
	[ -n "$(setting "$u" RestrictAddressFamilies)" ] && ok || bad "$u: no RestrictAddressFamilies"
	[ -n "$(setting "$u" SystemCallFilter)" ] && ok || bad "$u: no SystemCallFilter"
	systemd-analyze security --offline=yes --root="$S" "$S/$U/$u" >"$W/sec" 2>&1
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$W/sec")
	echo "systemd-analyze security: $u $score"
	case $u in
	tdexec-worker.service) max=6.0 ;; # root, runc: namespaces, mounts, cgroups
	*) max=2.5 ;;
	esac
	[ -n "$score" ] && awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' && ok ||
		bad "$u: exposure ${score:-?} over $max: $(grep '✗' "$W/sec" | head -5)"
done
# each its own user, and the other service's state and settings, and the
# worker's settings and wallet, hidden
for u in tdexec-sms.service tdexec-scheduler.service; do
	me=${u%.service} other=tdexec-sms
	[ "$me" = tdexec-sms ] && other=tdexec-scheduler
	[ "$(setting $u User)" = "$me" ] && [ "$(setting $u Group)" = "$me" ] && ok ||
		bad "$u runs as $(setting $u User):$(setting $u Group), not $me"
	hidden=" $(setting $u InaccessiblePaths | tr '\n' ' ')"
	for p in "/var/lib/tdexec/${other#tdexec-}" "/etc/tdexec/${other#tdexec-}.json" /etc/tdexec/worker.json \
		/etc/tdexec/worker-wallet.json /etc/tdexec/worker-wallet.password; do
		case $hidden in *" -$p "* | *" $p "*) ok ;; *) bad "$u does not hide $p: InaccessiblePaths=$hidden" ;; esac
	done
	case $hidden in *"/${me#tdexec-}"[\ .]*) bad "$u hides its own paths: $hidden" ;; *) ok ;; esac
	[ "$(setting $u CapabilityBoundingSet)" = "" ] && grep -q '^CapabilityBoundingSet=$' "$S/$U/$u" && ok ||
		bad "$u keeps capabilities"
done
[ "$(setting tdexec-sms.service SupplementaryGroups)" = tdexec ] && ok || bad "the SMS is not in the group of /dev/tdx_guest"
[ -z "$(setting tdexec-worker.service User)" ] && ok || bad "the worker is not root's (runc needs root)"
grep -q '^CapabilityBoundingSet=CAP_SYS_ADMIN' "$S/$U/tdexec-worker.service" && ok || bad "worker: no capability bounding set"
for a in AF_VSOCK AF_INET; do
	setting tdexec-worker.service RestrictAddressFamilies | grep -qw "$a" && ok || bad "worker: no $a"
done

# the worker's work directory is the tmpfs of the mount unit it requires
wd=$(jq -r .work_dir "$S/etc/tdexec/worker.json")
[ "$(setting var-lib-tdexec-work.mount Where)" = "$wd" ] && ok ||
	bad "the mount unit's Where $(setting var-lib-tdexec-work.mount Where) is not work_dir $wd"
[ "$(setting var-lib-tdexec-work.mount Type)" = tmpfs ] && ok || bad "the work directory's mount is not tmpfs"
[ "$(systemd-escape -p --suffix=mount "$wd")" = var-lib-tdexec-work.mount ] && ok || bad "mount unit name for $wd"
[ "$(setting tdexec-worker.service RequiresMountsFor)" = "$wd" ] && ok || bad "the worker does not require its work dir's mount"
[ "$(setting tdexec-worker.service ReadWritePaths)" = "$wd" ] && ok || bad "the work dir is not the worker's writable path"
# mounted with the unit's own options, in a mount namespace of this test
tmpfs_check() { # tmpfs_check OPTIONS WANT_SIZE_BYTES
	local d=$W/mnt
	mkdir -p "$d"
	unshare -m sh -c 'mount -t tmpfs -o "$1" tmpfs "$2" && stat -f -c "%T %S %b" "$2" && stat -c %a "$2"' _ "$1" "$d" \
		>"$W/mnt.out" 2>&1
	local fs bs blocks mode
	read -r fs bs blocks <"$W/mnt.out"
	mode=$(sed -n 2p "$W/mnt.out")
	[ "$fs" = tmpfs ] && [ "$mode" = 711 ] && ok || bad "mount -o $1: $(cat "$W/mnt.out")"
	[ -z "$2" ] || [ $((bs * blocks)) = "$2" ] && ok || bad "mount -o $1: size $((bs * blocks)), want $2"
}
if [ "$(id -u)" = 0 ]; then
	tmpfs_check "$(setting var-lib-tdexec-work.mount Options)" ""
else
	echo "not root: the mount check skipped"
fi

# --- td-image --root: a worker's settings in the scratch root
TI=$SRC/scripts/td-image
"$T" sim init "$W/sim" >/dev/null && "$T" quote get --provider sim --sim-dir "$W/sim" --report-data 00 -o "$W/q" &&
	ok || bad "a simulated quote"
printf '{"chain_id": 31337, "rpc": "http://127.0.0.1:1"}\n' >"$W/chain.json"
printf '{"address": "x"}\n' >"$W/wallet.json"
printf 'secret-password\n' >"$W/pw"
printf '{"measurements": {}}\n' >"$W/smspol.json"
mkdir -p "$W/coll" && printf '{}\n' >"$W/coll/00906ED50000.json"
# (a quote taken before: its command line, and so a dm-verity root hash in
# it, is not known here, which td-image says)
expect 0 'wrote the pool policy' -- "$TI" --root "$S" --scheduler https://sched.example:13400 --chain "$W/chain.json" \
	--wallet "$W/wallet.json" --password-file "$W/pw" --sms-policy "$W/smspol.json" --collateral "$W/coll" \
	--images /var/lib/tdexec/images --work-size 1G --policy-from-quote "$W/q" -o "$W/pool-policy.json" \
	--allow-unmeasured-root
grep -q 'warning: the command line of the quoted TD is not known here.*will not cover the root disk' "$W/out" && ok ||
	bad "no warning of an unmeasured root: $(head -c 400 "$W/out")"
E=$S/etc/tdexec
jq -e --arg wd "$wd" '.scheduler == "https://sched.example:13400" and .chain == "/etc/tdexec/chain.json"
	and .wallet == "/etc/tdexec/worker-wallet.json" and .password_file == "/etc/tdexec/worker-wallet.password"
	and .sms_policy == "/etc/tdexec/sms-policy.json" and .collateral == "/etc/tdexec/collateral"
	and .provider == "auto" and .qgs == "vsock:2:4050" and .work_dir == $wd
	and .images == "/var/lib/tdexec/images"' "$E/worker.json" >/dev/null && ok ||
	bad "td-image's worker.json: $(cat "$E/worker.json")"
for f in worker-wallet.json worker-wallet.password; do
	[ "$(stat -c %a:%u "$E/$f")" = 600:0 ] && ok || bad "$f is $(stat -c %a:%u "$E/$f")"
done
cmp -s "$W/wallet.json" "$E/worker-wallet.json" && cmp -s "$W/chain.json" "$E/chain.json" &&
	cmp -s "$W/coll/00906ED50000.json" "$E/collateral/00906ED50000.json" && ok || bad "copied files differ"
[ -L "$S/etc/systemd/system/multi-user.target.wants/tdexec-worker.service" ] && ok || bad "tdexec-worker not enabled"
dropin=$S/etc/systemd/system/var-lib-tdexec-work.mount.d/size.conf
grep -qx 'Options=mode=0711,nosuid,nodev,size=1G' "$dropin" && ok || bad "size drop-in: $(cat "$dropin")"
# the units still verify with the drop-in, whose options mount
verify "$U/var-lib-tdexec-work.mount" "$U/tdexec-worker.service"
if [ "$(id -u)" = 0 ]; then tmpfs_check "$(sed -n 's/^Options=//p' "$dropin")" $((1 << 30)); fi
# the pool policy pins this quote's MRTD
mrtd=$("$T" quote show --json "$W/q" | jq -r .td_report.MRTD)
jq -e --arg m "$mrtd" '.measurements.MRTD | ascii_downcase == ($m | ascii_downcase)' "$W/pool-policy.json" \
	>/dev/null && ok || bad "pool policy MRTD: $(jq -c .measurements.MRTD "$W/pool-policy.json") want $mrtd"

# the other settings; the binary takes every one of them (it stops later,
# at the wallet, which lives in the image, not on this machine)
expect 0 'enabled' -- "$TI" --root "$S" --scheduler http://127.0.0.1:1 --network arbitrum --rpc http://127.0.0.1:1 \
	--wallet "$W/wallet.json" --insecure-sms --pull --provider tsm --memory 2048
jq -e '.insecure_sms == true and .pull == true and .memory == 2048 and .provider == "tsm" and (has("qgs") | not)
	and .network == "arbitrum" and (has("chain") | not)' "$E/worker.json" >/dev/null && ok ||
	bad "td-image's second worker.json: $(cat "$E/worker.json")"
expect 1 'password is needed' -- "$S/usr/bin/tdexec" worker --config "$E/worker.json"

# bad input: a clear error, exit 1, nothing written
sum=$(cat "$E/worker.json" "$dropin" | sha256sum)
A=(--root "$S" --scheduler http://127.0.0.1:1 --chain "$W/chain.json" --wallet "$W/wallet.json" --insecure-sms --images /i)
expect 0 'Usage: td-image' -- "$TI" --help
expect 1 '--scheduler URL is required' -- "$TI" --root "$S"
expect 1 "unknown option '--frobnicate'" -- "$TI" "${A[@]}" --frobnicate
expect 1 "'ftp://x' is not an http" -- "$TI" "${A[@]}" --scheduler ftp://x
expect 1 "--wallet: $W/none: no such file" -- "$TI" "${A[@]}" --wallet "$W/none"
expect 1 "'sgx' is not auto, qgs or tsm" -- "$TI" "${A[@]}" --provider sgx
expect 1 "'tcp:1.2.3.4:5' is not vsock:CID:PORT" -- "$TI" "${A[@]}" --qgs tcp:1.2.3.4:5
expect 1 'is not a tmpfs size' -- "$TI" "${A[@]}" --work-size '1G,mode=0777'
expect 1 'not with --root' -- "$TI" "${A[@]}" --policy-from-quote self -o "$W/p.json"
expect 1 'exclude each other' -- "$TI" "${A[@]}" --sms-policy "$W/smspol.json"
expect 1 "option '--scheduler' needs a value" -- "$TI" --scheduler
expect 1 "--root: $W/nowhere: no such directory" -- "$TI" "${A[@]}" --root "$W/nowhere"
expect 1 "a control character" -- "$TI" "${A[@]}" --scheduler "$(printf 'http://a\001b')"
# a pool policy that would not cover the root disk (no dm-verity root hash
# on the measured command line), or leave an RTMR unpinned: refused
expect 1 'refusing to write a pool policy: the command line of the quoted TD is not known' -- \
	"$TI" "${A[@]}" --policy-from-quote "$W/q" -o "$W/p.json"
OVMF=/usr/share/ovmf/OVMF.fd STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
M=(--measure --firmware "$OVMF" --kernel "$STUB")
expect 1 'refusing to write a pool policy: the measured command line has no dm-verity root hash' -- \
	"$TI" "${A[@]}" "${M[@]}" --cmdline "console=hvc0 root=/dev/vda1" -o "$W/p.json"
expect 1 'refusing to write a pool policy: the measured command line has no dm-verity root hash' -- \
	"$TI" "${A[@]}" "${M[@]}" --cmdline "console=hvc0 roothash= root=/dev/vda1" -o "$W/p.json"
[ ! -e "$W/p.json" ] && ok || bad "a refused td-image wrote the policy"
[ "$(cat "$E/worker.json" "$dropin" | sha256sum)" = "$sum" ] && ok || bad "a refused td-image wrote files"
if [ -f "$OVMF" ] && [ -f "$STUB" ] && "$S/usr/bin/tdexec" measure --help >/dev/null 2>&1; then
	vcmd="console=hvc0 root=/dev/mapper/root roothash=$(printf '%064d' 7)"
	# the root hash there, but RTMR0 unpinned (no --ccel): refused, after the
	# worker's settings (which the policy does not change) were written
	expect 1 "refusing to write $W/p.json: the policy leaves RTMR0 unpinned" -- \
		"$TI" "${A[@]}" "${M[@]}" --cmdline "$vcmd" -o "$W/p.json"
	[ ! -e "$W/p.json" ] && ! ls "$W"/.td-image-policy.* >/dev/null 2>&1 && ok || bad "a refused policy was written"
	expect 0 'warning: the pool policy leaves RTMR0 unpinned' -- \
		"$TI" "${A[@]}" --allow-unpinned "${M[@]}" --cmdline "$vcmd" -o "$W/p.json"
	jq -e '.measurements | has("MRTD") and has("RTMR1") and has("RTMR2") and (has("RTMR0") | not)' "$W/p.json" \
		>/dev/null && ok || bad "td-image --measure policy: $(cat "$W/p.json")"
	# no root hash, both allowed: written, with both warnings
	expect 0 'warning: the measured command line has no dm-verity root hash' -- \
		"$TI" "${A[@]}" --allow-unpinned --allow-unmeasured-root "${M[@]}" --cmdline "root=/dev/vda1" -o "$W/p2.json"
	grep -q 'leaves RTMR0 unpinned' "$W/out" && [ -s "$W/p2.json" ] && ok || bad "td-image --allow-*: $(head -c 400 "$W/out")"
	sum=$(cat "$E/worker.json" "$dropin" | sha256sum)
fi
if ! "$S/usr/bin/tdexec" measure --help >/dev/null 2>&1; then
	expect 1 "no 'measure' command" -- "$TI" "${A[@]}" --measure --ovmf OVMF.fd
fi
[ "$(cat "$E/worker.json" "$dropin" | sha256sum)" = "$sum" ] && ok || bad "a refused td-image wrote files"

# --- the scripts are shellcheck-clean
if command -v shellcheck >/dev/null; then
	shellcheck "$TI" "$SRC/packaging/build-deb" "$SRC/packaging/mkman" "$SRC/packaging/debian/postinst" \
		"$SRC/packaging/debian/prerm" "$SRC/packaging/debian/postrm" >"$W/sc" 2>&1 && ok ||
		bad "shellcheck: $(head -c 800 "$W/sc")"
else
	echo "shellcheck: not installed, skipped"
fi

# --- removal keeps the settings, purge takes them and td-image's enablement
expect 0 'Removing tdexec' -- dpkgr -r tdexec
[ ! -e "$S/usr/bin/tdexec" ] && [ ! -e "$S/$U/tdexec-worker.service" ] && ok || bad "remove left the binary or units"
[ -f "$E/sms.json" ] && ok || bad "remove took the conffiles"
expect 0 'Purging configuration files for tdexec' -- dpkgr -P tdexec
[ ! -e "$E/sms.json" ] && [ ! -e "$E/worker.json" ] && ok || bad "purge left conffiles: $(ls "$E")"
[ ! -e "$S/etc/systemd/system/multi-user.target.wants/tdexec-worker.service" ] && [ ! -e "$dropin" ] && ok ||
	bad "purge left td-image's enablement or drop-in"
[ "$(grep -c '^tdexec-\(sms\|scheduler\):' "$S/etc/passwd")" = 2 ] && ok || bad "purge removed the system users (their files may outlive them)"

finish
