#!/usr/bin/env bash
# tdexec image build: reproducible images (same inputs in other places with
# other mtimes, same digest), the two layers (an app change leaves the base
# blob as it is), --add of files and directories with their links kept as
# links, what the base layer holds (a Python that starts: its standard
# library, no manuals), the index, and the refusals.
# Usage: image_build.sh TDEXEC
set -u
T=$(realpath "$1")
W=$(mktemp -d)
. "$(dirname "$0")/../lib.sh"
trap 'rm -rf "$W"' EXIT
unset SOURCE_DATE_EPOCH

# The blobs of image REF in LAYOUT: manifest, config, layers.
manifest_of() { # LAYOUT REF -> manifest path
	node -e 'const fs=require("fs");const [l,r]=process.argv.slice(1);
const i=JSON.parse(fs.readFileSync(l+"/index.json"));
const m=i.manifests.filter(m=>m.annotations?.["org.opencontainers.image.ref.name"]===r);
if(m.length!==1)process.exit(1);console.log(l+"/blobs/sha256/"+m[0].digest.slice(7))' "$1" "$2"
}
layer() { # LAYOUT REF N -> layer N's blob path
	local m
	m=$(manifest_of "$1" "$2") || return 1
	node -e 'const fs=require("fs");const [m,l,n]=process.argv.slice(1);
console.log(l+"/blobs/sha256/"+JSON.parse(fs.readFileSync(m)).layers[+n].digest.slice(7))' "$m" "$1" "$3"
}
config() { # LAYOUT REF -> the config JSON
	local m
	m=$(manifest_of "$1" "$2") || return 1
	cat "$1/blobs/sha256/$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).config.digest.slice(7))' "$m")"
}

# The app: a file, a directory with a subdirectory, a relative and an
# absolute link (stored as links, never followed: /etc/shadow stays out).
mk_src() {
	mkdir -p "$1/lib/sub"
	printf 'import sys, json\nprint(json.dumps({"ok": sys.version_info >= (3,)}))\n' >"$1/app.py"
	echo 'data' >"$1/lib/sub/data.txt"
	echo 'helper' >"$1/lib/helper.py"
	chmod 0750 "$1/lib/helper.py"
	ln -s sub/data.txt "$1/lib/rel"
	ln -s /etc/shadow "$1/lib/abs"
}
mk_src "$W/a"
build() { # LAYOUT REF SRC [more flags]
	local l=$1 r=$2 s=$3
	shift 3
	"$T" image build --layout "$l" --ref "$r" --package python3 --add "$s/app.py:/app/app.py" \
		--add "$s/lib:/app/lib" --entrypoint '["python3","/app/app.py"]' --env APP_MODE=test \
		--workdir /app --user 1000:1000 "$@"
}

# --- reproducible
d1=$(build "$W/L1" app "$W/a" 2>"$W/progress") && ok || bad "build: $(cat "$W/progress")"
[[ $d1 =~ ^sha256:[0-9a-f]{64}$ ]] && ok || bad "stdout is not a digest: $d1"
grep -q 'resolving 1 package' "$W/progress" && grep -q 'base layer: [0-9]* entries' "$W/progress" &&
	grep -q 'app layer: 8 entries' "$W/progress" && ok || bad "progress: $(cat "$W/progress")"
# another directory, later mtimes, another layout, another umask: the same image
mkdir -p "$W/elsewhere"
mk_src "$W/elsewhere/b"
touch -d '2030-01-01' "$W/elsewhere/b/app.py" "$W/elsewhere/b/lib/sub/data.txt" "$W/elsewhere/b/lib"
d2=$(cd "$W/elsewhere" && umask 077 && build "$W/L2" app b --quiet 2>&1) && ok || bad "second build: $d2"
[ "$d1" = "$d2" ] && ok || bad "not reproducible: $d1 then $d2"
cmp -s "$(layer "$W/L1" app 0)" "$(layer "$W/L2" app 0)" && ok || bad "base layers differ"
# (the builds that follow are of a small image: libc6 and one file)
small() { local f=$1; shift; "$T" image build --package libc6 --add "$f:/app.py" --quiet "$@"; }
# the same ref again replaces its entry
s0=$(small "$W/a/app.py" --layout "$W/L2" --ref app 2>&1) && ok || bad "small build: $s0"
[ "$(grep -o '"org.opencontainers.image.ref.name"' "$W/L2/index.json" | wc -l)" = 1 ] &&
	[ "$(basename "$(manifest_of "$W/L2" app)")" = "${s0#sha256:}" ] && ok ||
	bad "index.json: $(cat "$W/L2/index.json")"
# one byte of the app changed: another digest, the same base blob; another
# ref is added beside the first
cp "$W/a/app.py" "$W/changed.py" && echo '# v2' >>"$W/changed.py"
s3=$(small "$W/changed.py" --layout "$W/L2" --ref other 2>&1) && ok || bad "build of a second ref: $s3"
[ "$s3" != "$s0" ] && ok || bad "a changed file kept the digest"
[ "$(layer "$W/L2" other 0)" = "$(layer "$W/L2" app 0)" ] && ok || bad "a changed app changed the base layer"
[ "$(layer "$W/L2" other 1)" != "$(layer "$W/L2" app 1)" ] && ok || bad "a changed app kept its layer"
[ "$(basename "$(manifest_of "$W/L2" app)")" = "${s0#sha256:}" ] && ok || bad "two refs in one layout: $(cat "$W/L2/index.json")"
[ "$(cat "$W/L2/oci-layout")" = '{"imageLayoutVersion":"1.0.0"}' ] && ok || bad "oci-layout"
ls -a "$W/L2" | grep -q '^\.build' && bad "the build's scratch directory was left" || ok
# SOURCE_DATE_EPOCH: every mtime and the config's created
s1=$(SOURCE_DATE_EPOCH=1700000000 small "$W/a/app.py" --layout "$W/L3" --ref s1 2>&1) && ok || bad "build with SOURCE_DATE_EPOCH: $s1"
[ "$s1" != "$s0" ] && ok || bad "SOURCE_DATE_EPOCH did not change the digest"
for n in 0 1; do
	tar -tvzf "$(layer "$W/L3" s1 $n)" --full-time | grep -v ' 2023-11-14 22:13:20 ' &&
		bad "layer $n: an mtime is not SOURCE_DATE_EPOCH" || ok
done
config "$W/L3" s1 | grep -q '"created":"2023-11-14T22:13:20Z"' && ok || bad "created: $(config "$W/L3" s1)"
# --json: the digests, sizes and packages
small "$W/a/app.py" --layout "$W/L3" --ref s2 --json >"$W/json" 2>&1 && ok || bad "--json: $(cat "$W/json")"
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1]));
if(r.digest!==process.argv[2]||r.layers.length!==2||!/^sha256:[0-9a-f]{64}$/.test(r.layers[0].diff_id)||
 !(r.layers[1].entries>0)||!r.packages.includes("libc6")||r.packages.includes("dash"))process.exit(1)' "$W/json" "$s0" &&
	ok || bad "--json output: $(cat "$W/json")"

# --- the layers' content
tar -tvzf "$(layer "$W/L1" app 1)" >"$W/app.lst" 2>&1
sed 's/  */ /g' "$W/app.lst" | cut -d' ' -f1,2,6- >"$W/app.got"
cat >"$W/app.want" <<'EOF'
drwxr-xr-x 0/0 app/
-rw-r--r-- 0/0 app/app.py
drwxr-xr-x 0/0 app/lib/
lrwxrwxrwx 0/0 app/lib/abs -> /etc/shadow
-rwxr-x--- 0/0 app/lib/helper.py
lrwxrwxrwx 0/0 app/lib/rel -> sub/data.txt
drwxr-xr-x 0/0 app/lib/sub/
-rw-r--r-- 0/0 app/lib/sub/data.txt
EOF
diff "$W/app.want" "$W/app.got" >/dev/null && ok || bad "app layer: $(diff "$W/app.want" "$W/app.got")"
[ "$(gzip -l "$(layer "$W/L1" app 1)" >/dev/null && head -c 8 "$(layer "$W/L1" app 1)" | od -An -tx1 | tr -d ' \n')" = 1f8b080000000000 ] &&
	ok || bad "gzip header carries a name or a time"
tar -tzf "$(layer "$W/L1" app 0)" >"$W/base.lst"
for f in usr/bin/python3 usr/lib/python3.11/encodings/__init__.py etc/ld.so.cache etc/passwd etc/group tmp/ iexec_in/ iexec_out/; do
	grep -qx "$f" "$W/base.lst" && ok || bad "base layer lacks $f"
done
grep -q '^usr/share/man/\|^usr/share/doc/.*changelog\|^usr/share/locale/' "$W/base.lst" &&
	bad "base layer has docs: $(grep -m3 '^usr/share/man/\|^usr/share/doc/.*changelog\|^usr/share/locale/' "$W/base.lst")" || ok
grep -q '^usr/share/doc/python3/copyright$' "$W/base.lst" && ok || bad "the copyright files went too"
grep -q '^bin/sh$\|^usr/bin/dash$' "$W/base.lst" && bad "an Essential package was pulled in" || ok
[ "$(grep -c '^var/cache/ldconfig' "$W/base.lst")" = 0 ] && ok || bad "ldconfig's aux cache shipped"
tar -tvzf "$(layer "$W/L1" app 0)" | grep -q '^lrwxrwxrwx 0/0 .* lib64 -> usr/lib64' ||
	[ ! -L /lib64 ] && ok || bad "the /lib64 link is not a link"
config "$W/L1" app >"$W/config.json"
for want in '"architecture":"amd64"' '"os":"linux"' '"Entrypoint":\["python3","/app/app.py"\]' \
	'"Env":\["PATH=/usr/local/bin:/usr/bin:/bin","APP_MODE=test"\]' '"WorkingDir":"/app"' \
	'"User":"1000:1000"' '"created":"1970-01-01T00:00:00Z"' '"diff_ids":\["sha256:[0-9a-f]{64}","sha256:[0-9a-f]{64}"\]'; do
	grep -Eq "$want" "$W/config.json" && ok || bad "config lacks $want: $(cat "$W/config.json")"
done
# The image runs: both layers unpacked, Python finds its standard library
# (what an image of ELF programs and their libraries lacked).
mkdir -p "$W/root"
tar -xzf "$(layer "$W/L1" app 0)" -C "$W/root" && tar -xzf "$(layer "$W/L1" app 1)" -C "$W/root"
if [ "$(id -u)" = 0 ]; then
	out=$(chroot "$W/root" /usr/bin/python3 /app/app.py 2>&1)
	[ "$out" = '{"ok": true}' ] && ok || bad "python3 in the image: $out"
fi
if command -v skopeo >/dev/null; then
	skopeo inspect --raw "oci:$W/L1:app" >/dev/null 2>"$W/skopeo" && ok || bad "skopeo: $(cat "$W/skopeo")"
fi

# An Essential package comes when named: dash, and its /bin/sh (a link
# through the merged /usr's /bin).
"$T" image build --layout "$W/L7" --ref sh --package dash --quiet >/dev/null 2>"$W/dash.err" &&
	ok || bad "dash image: $(cat "$W/dash.err")"
tar -tvzf "$(layer "$W/L7" sh 0)" | grep -Eq ' (usr/)?bin/sh -> ' && ok || bad "dash image without /bin/sh"
expect 0 'Usage: tdexec image build --layout DIR --ref NAME' -- "$T" image build --help

# update-alternatives: awk is a link to /etc/alternatives/awk, a link to
# the choice (mawk here), which no package lists.
if [ "$(readlink /etc/alternatives/awk)" = /usr/bin/mawk ]; then
	"$T" image build --layout "$W/L6" --ref awk --package mawk --quiet >/dev/null 2>"$W/awk.err" &&
		ok || bad "mawk image: $(cat "$W/awk.err")"
	tar -tvzf "$(layer "$W/L6" awk 0)" >"$W/awk.lst"
	grep -q 'usr/bin/awk -> /etc/alternatives/awk$' "$W/awk.lst" &&
		grep -q 'etc/alternatives/awk -> /usr/bin/mawk$' "$W/awk.lst" && ok ||
		bad "alternatives: $(grep -a 'awk' "$W/awk.lst")"
	grep -q 'man1/awk.1.gz' "$W/awk.lst" && bad "an alternative's link to an excluded page came" || ok
	if [ "$(id -u)" = 0 ]; then
		mkdir -p "$W/awkroot" && tar -xzf "$(layer "$W/L6" awk 0)" -C "$W/awkroot"
		[ "$(chroot "$W/awkroot" /usr/bin/awk 'BEGIN { print 6 * 7 }' 2>&1)" = 42 ] && ok || bad "awk in the image"
	fi
fi

# --- a base root file system tarball under --add
mkdir -p "$W/rootfs/etc" "$W/rootfs/bin"
echo 'ID=tiny' >"$W/rootfs/etc/os-release"
ln "$W/rootfs/etc/os-release" "$W/rootfs/etc/os-release.hl"
tar -C "$W/rootfs" -czf "$W/rootfs.tar.gz" .
d5=$("$T" image build --layout "$W/L4" --ref tiny --base-tar "$W/rootfs.tar.gz" --add "$W/a/app.py:/app.py" --quiet 2>&1) &&
	ok || bad "--base-tar: $d5"
tar -tvzf "$(layer "$W/L4" tiny 0)" >"$W/tiny.lst"
grep -q ' etc/os-release$' "$W/tiny.lst" && grep -q '^-.* 8 .* etc/os-release.hl$' "$W/tiny.lst" && ok ||
	bad "--base-tar content (a hard link kept as a file): $(cat "$W/tiny.lst")"
# a tarball with '..' in a name is refused
python3 -c 'import tarfile,io,sys
t=tarfile.open(sys.argv[1],"w")
i=tarfile.TarInfo("../escape");i.size=1;t.addfile(i,io.BytesIO(b"x"))' "$W/evil.tar"
expect 1 "entry '../escape' has a '..' component" -- "$T" image build --layout "$W/L5" --ref e --base-tar "$W/evil.tar"
[ -e "$W/escape" ] && bad "--base-tar wrote outside" || ok
# a hard link to a file of this machine, directly or through a link of the tarball
python3 -c 'import tarfile,io,sys
t=tarfile.open(sys.argv[1],"w")
i=tarfile.TarInfo("etc");i.type=tarfile.SYMTYPE;i.linkname="/etc";t.addfile(i)
i=tarfile.TarInfo("stolen");i.type=tarfile.LNKTYPE;i.linkname="etc/hostname";t.addfile(i)' "$W/hl.tar"
expect 1 "entry 'stolen' is a hard link to 'etc/hostname'" -- "$T" image build --layout "$W/L5" --ref e --base-tar "$W/hl.tar"

# --- refusals: clear errors, non-zero exits, nothing written outside
expect 1 "'..' are refused in DEST" -- "$T" image build --layout "$W/L5" --ref x --add "$W/a/app.py:/app/../../etc/x"
expect 1 '/tmp is mounted over when the app runs' -- "$T" image build --layout "$W/L5" --ref x --add "$W/a/app.py:/tmp/app.py"
expect 1 '/iexec_out is mounted over' -- "$T" image build --layout "$W/L5" --ref x --add "$W/a/lib:/iexec_out"
expect 1 '/tmp is mounted over when the app runs' -- "$T" image build --layout "$W/L5" --ref x --add "$W/a/app.py://tmp//app.py"
expect 1 '/iexec_out is mounted over' -- "$T" image build --layout "$W/L5" --ref x --add "$W/a/lib:/iexec_out//"
expect 1 'DEST must be an absolute path' -- "$T" image build --layout "$W/L5" --ref x --add "$W/a/app.py:app.py"
expect 1 'expected SRC:DEST' -- "$T" image build --layout "$W/L5" --ref x --add "$W/a/app.py"
expect 1 "--add $W/nothing: No such file" -- "$T" image build --layout "$W/L5" --ref x --add "$W/nothing:/x"
expect 1 "package 'no-such-package-here' is not installed on this machine .*apt-get install no-such-package-here" -- \
	"$T" image build --layout "$W/L5" --ref x --package no-such-package-here
expect 1 'expected a JSON array of strings' -- "$T" image build --layout "$W/L5" --ref x --package python3 --entrypoint '{"a":1}'
expect 1 '--entrypoint' -- "$T" image build --layout "$W/L5" --ref x --package python3 --entrypoint '["python3"'
expect 1 'expected UID or UID:GID' -- "$T" image build --layout "$W/L5" --ref x --package python3 --user root
expect 1 '--env .*expected K=V' -- "$T" image build --layout "$W/L5" --ref x --package python3 --env NOEQUALS
expect 1 '--layout and --ref are required' -- "$T" image build --ref x --package python3
expect 1 'nothing to build' -- "$T" image build --layout "$W/L5" --ref x
expect 1 "letters, digits" -- "$T" image build --layout "$W/L5" --ref 'a b' --package python3
# a link added by the user is never written through by a later --add
mkdir -p "$W/l" "$W/outside"
ln -s "$W/outside" "$W/l/link"
expect 1 'is not a directory in the image' -- "$T" image build --layout "$W/L5" --ref x --add "$W/l:/d" \
	--add "$W/a/app.py:/d/link/pwned"
[ -e "$W/outside/pwned" ] && bad "--add wrote through a link" || ok
# nor is a directory of a later --add merged into a link of an earlier one
mkdir -p "$W/m/link" && echo owned >"$W/m/link/file"
expect 1 "the image has a file or a link there, not a directory" -- "$T" image build --layout "$W/L5" --ref x \
	--add "$W/l:/d" --add "$W/m:/d"
[ -e "$W/outside/file" ] && bad "--add wrote into a link's target" || ok
# a FIFO named, or inside a directory (never blocks)
mkfifo "$W/fifo"
expect 1 'not a file or a directory' -- timeout 20 "$T" image build --layout "$W/L5" --ref x --add "$W/fifo:/f"
mkdir -p "$W/f" && mkfifo "$W/f/pipe"
expect 1 'only files, directories and links are added' -- "$T" image build --layout "$W/L5" --ref x --add "$W/f:/f"
# a file over the per-file cap (sparse: nothing is read)
truncate -s 5G "$W/huge"
expect 1 'over the 4294967296-byte cap on one file' -- "$T" image build --layout "$W/L5" --ref x --add "$W/huge:/huge"
ls -a "$W/L5" 2>/dev/null | grep -q '^\.build' && bad "a failed build left its scratch directory" || ok

finish
