#!/usr/bin/env bash
# tdexec measure: MRTD of Debian's OVMF.fd against an independent
# computation (mrtd.py), in both page orders; the PE Authenticode SHA-384
# against osslsigncode's on real EFI applications (systemd-boot's), signed
# so the certificate table must be left out; a direct boot's RTMR1/RTMR2
# against a replay written here, with OVMF's fixed events equal to those a
# real TD logged (the CCEL sample); the CCEL sample replayed to its quote's
# RTMRs with every self-describing event recomputed; the policy written
# admits a simulated TD carrying those values and refuses one built with
# the other page order or another command line; a tampered log, a log
# that contradicts the inputs, and malformed images refused with a clear
# error and exit 1.
# Usage: measure.sh TDEXEC_BINARY TEST_DATA_DIR
set -u
T=$1
DATA=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
. "$HERE/../lib.sh"

OVMF=/usr/share/ovmf/OVMF.fd
STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
BOOT=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
CCEL=$DATA/tdx/google-go-tdx-guest/ccel/ccel_data.dat
CQUOTE=$DATA/tdx/google-go-tdx-guest/ccel/cos-113-tdx-quote.dat
for f in "$OVMF" "$STUB" "$BOOT"; do
	[ -f "$f" ] || { echo "FAIL: $f missing (scripts/install-deps: ovmf, systemd-boot-efi)"; exit 1; }
done
command -v osslsigncode >/dev/null || { echo "FAIL: osslsigncode missing (scripts/install-deps)"; exit 1; }

# --- MRTD of Debian's OVMF.fd, both page orders, against mrtd.py
for order in per-page two-pass; do
	"$T" measure --firmware "$OVMF" --page-order $order --json >"$W/m.json" 2>"$W/err" && ok ||
		bad "measure --firmware ($order): $(cat "$W/err")"
	want=$(python3 "$HERE/mrtd.py" "$OVMF" $order)
	got=$(jq -r .MRTD "$W/m.json")
	[ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "MRTD ($order) $got, mrtd.py says $want"
	eval "mrtd_${order/-/_}=$got"
done
[ "$mrtd_per_page" != "$mrtd_two_pass" ] && ok || bad "both page orders gave the same MRTD"
jq -e '[.tdvf_sections[] | select(.type == "BFV" and .mr_extend)] | length == 1' "$W/m.json" >/dev/null &&
	ok || bad "no extended BFV listed: $(jq -c .tdvf_sections "$W/m.json")"
expect 0 "MRTD +$mrtd_per_page" -- "$T" measure --firmware "$OVMF"
grep -q 'BFV .*MR.EXTEND' "$W/out" && grep -q 'RTMR0: the TD HOB' "$W/out" && ok ||
	bad "listing lacks sections or what is not computed: $(cat "$W/out")"

# --- Authenticode SHA-384 against osslsigncode (sign, then its calculated digest)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/k.pem" -out "$W/c.pem" -days 2 \
	-subj /CN=measure-test >/dev/null 2>&1 || bad "openssl req"
for pe in "$STUB" "$BOOT"; do
	s=$W/$(basename "$pe").signed
	osslsigncode sign -h sha384 -certs "$W/c.pem" -key "$W/k.pem" -in "$pe" -out "$s" >/dev/null 2>&1 ||
		bad "osslsigncode sign $pe"
	want=$(osslsigncode verify -in "$s" 2>/dev/null | sed -n 's/^Calculated message digest *: *\([0-9A-Fa-f]*\).*/\1/p' |
		tr A-F a-f)
	got=$("$T" measure --kernel "$s" --json | jq -r '.events[0].digest')
	[ ${#want} = 96 ] && [ "$got" = "$want" ] && ok || bad "Authenticode of $s: $got, osslsigncode $want"
done

# --- direct boot: RTMR1/RTMR2 against a replay written here
printf 'initrd-bytes\n%.0s' $(seq 100) >"$W/initrd"
CMD='console=ttyS0 root=/dev/vda1 ro'
"$T" measure --kernel "$STUB" --cmdline "$CMD" --initrd "$W/initrd" --json >"$W/d.json" 2>"$W/err" && ok ||
	bad "direct boot: $(cat "$W/err")"
python3 - "$W/d.json" "$STUB.signed" "$CMD" "$W/initrd" "$CCEL" <<'PY' && ok || bad "direct boot replay"
import hashlib, json, struct, sys
d = json.load(open(sys.argv[1]))
cmd, initrd = sys.argv[3], open(sys.argv[4], "rb").read()
h = lambda b: hashlib.sha384(b).digest()
def replay(ds):
    r = bytes(48)
    for x in ds:
        r = h(r + x)
    return r.hex()
kernel = bytes.fromhex(d["events"][0]["digest"])
fixed = [h(b"Calling EFI Application from Boot Option"), h(bytes(4)),
         h(b"Exit Boot Services Invocation"), h(b"Exit Boot Services Returned with Success")]
rtmr1 = replay([kernel, fixed[0], fixed[1], fixed[2], fixed[3]])
rtmr2 = replay([h((cmd + " initrd=initrd\0").encode("utf-16-le")), h(initrd)])
ok = d["rtmr"]["RTMR1"]["value"] == rtmr1 and d["rtmr"]["RTMR2"]["value"] == rtmr2
# the fixed events' digests are those a real OVMF logged into RTMR1 (the CCEL sample)
log = open(sys.argv[5], "rb").read()
for f in fixed:
    ok = ok and log.count(f) >= 1
computed = [bytes.fromhex(e["digest"]) for e in d["events"][1:5]]
ok = ok and computed == fixed
if not ok:
    print("FAIL detail:", d["rtmr"], rtmr1, rtmr2)
sys.exit(0 if ok else 1)
PY

# the command line alone (no " initrd=initrd"), and none at all: no event, RTMR2 zero
"$T" measure --kernel "$STUB" --cmdline "$CMD" --json >"$W/d2.json" 2>"$W/err" || bad "no initrd: $(cat "$W/err")"
want=$(python3 -c 'import hashlib,sys; c=hashlib.sha384((sys.argv[1]+"\0").encode("utf-16-le")).digest(); print(hashlib.sha384(bytes(48)+c).hexdigest())' "$CMD")
[ "$(jq -r .rtmr.RTMR2.value "$W/d2.json")" = "$want" ] && ok || bad "RTMR2 without initrd: $(jq -c .rtmr "$W/d2.json")"
"$T" measure --kernel "$STUB" --cmdline '' --json >"$W/d3.json" 2>"$W/err" || bad "empty: $(cat "$W/err")"
jq -e '(.rtmr.RTMR2.value | test("^0{96}$")) and ([.events[] | select(.rtmr == 2)] | length == 0)' "$W/d3.json" \
	>/dev/null && ok || bad "an empty command line without initrd measured: $(jq -c . "$W/d3.json")"

# --- the CCEL sample: replay equals its quote's RTMRs, events checked
"$T" measure --ccel "$CCEL" --json >"$W/c.json" 2>"$W/err" && ok || bad "measure --ccel: $(cat "$W/err")"
"$T" quote show --json "$CQUOTE" >"$W/q.json" 2>"$W/err" || bad "quote show: $(cat "$W/err")"
for i in 0 1 2; do
	want=$(jq -r ".. | objects | .RTMR$i? // empty | strings" "$W/q.json" | head -1 | tr A-F a-f)
	got=$(jq -r ".rtmr.RTMR$i.value" "$W/c.json")
	[ ${#got} = 96 ] && [ "$got" = "$want" ] && ok || bad "CCEL RTMR$i $got, the quote $want"
done
n=$(jq '[.events[] | select(.source == "log, checked")] | length' "$W/c.json")
[ "$n" -ge 10 ] && ok || bad "only $n events checked from their data"
jq -e '[.events[] | select(.event == "\"Exit Boot Services Invocation\"" and .rtmr == 1)] | length == 1' \
	"$W/c.json" >/dev/null && ok || bad "the EV_EFI_ACTION events are not listed"
expect 0 'RTMR1 +EV_EFI_ACTION +"Calling EFI Application from Boot Option"' -- "$T" measure --ccel "$CCEL"
# a policy from the CCEL pins RTMR0-2 as the quote has them, and loads
"$T" measure --ccel "$CCEL" -o "$W/pol.json" >/dev/null 2>"$W/err" && ok || bad "-o: $(cat "$W/err")"
for i in 0 1 2; do
	[ "$(jq -r .measurements.RTMR$i "$W/pol.json")" = "$(jq -r ".rtmr.RTMR$i.value" "$W/c.json")" ] && ok ||
		bad "policy RTMR$i"
done
jq -e '.measurements | has("RTMR3") | not' "$W/pol.json" >/dev/null && ok || bad "RTMR3 pinned"
"$T" measure --firmware "$OVMF" --kernel "$STUB" --cmdline "$CMD" --initrd "$W/initrd" -o "$W/pol2.json" \
	>/dev/null 2>"$W/err" && ok || bad "-o direct boot: $(cat "$W/err")"
grep -q 'warning: the policy does not pin RTMR0: any value passes' "$W/err" && ok ||
	bad "no warning for an unpinned RTMR0: $(cat "$W/err")"
[ "$(jq -r .measurements.MRTD "$W/pol2.json")" = "$mrtd_per_page" ] &&
	[ "$(jq -r .measurements.RTMR1 "$W/pol2.json")" = "$(jq -r .rtmr.RTMR1.value "$W/d.json")" ] &&
	jq -e '.measurements | has("RTMR0") | not' "$W/pol2.json" >/dev/null && ok || bad "direct boot policy: $(cat "$W/pol2.json")"

# the policy is one the verifier applies: a simulated TD given the measured
# values is admitted; one built with the other page order (MRTD) or booted
# with another command line (RTMR2) is refused, naming the register
"$T" sim init "$W/td" >/dev/null || bad "sim init"
jq --arg m "$mrtd_per_page" --arg r1 "$(jq -r .rtmr.RTMR1.value "$W/d.json")" \
	--arg r2 "$(jq -r .rtmr.RTMR2.value "$W/d.json")" '.MRTD = $m | .RTMR1 = $r1 | .RTMR2 = $r2' \
	"$W/td/td.json" >"$W/td.json" && mv "$W/td.json" "$W/td/td.json"
"$T" quote get --provider sim --sim-dir "$W/td" --report-data 00 -o "$W/sim.dat" || bad "quote get"
SIM=(--collateral "$W/td/collateral/collateral.json" --trust-sim-root "$W/td/root_ca.pem")
expect 0 'policy_ok +true' -- "$T" quote verify "$W/sim.dat" "${SIM[@]}" --policy "$W/pol2.json"
"$T" measure --firmware "$OVMF" --page-order two-pass --kernel "$STUB" --cmdline "$CMD" \
	--initrd "$W/initrd" -o "$W/pol3.json" >/dev/null 2>&1 || bad "two-pass policy"
expect 4 'MRTD [0-9a-f]+ is not the policy' -- "$T" quote verify "$W/sim.dat" "${SIM[@]}" --policy "$W/pol3.json"
"$T" measure --firmware "$OVMF" --kernel "$STUB" --cmdline "$CMD quiet" --initrd "$W/initrd" \
	-o "$W/pol4.json" >/dev/null 2>&1 || bad "another command line"
expect 4 'RTMR2 [0-9a-f]+ is not the policy' -- "$T" quote verify "$W/sim.dat" "${SIM[@]}" --policy "$W/pol4.json"

# --- refused: a tampered log, a log that is not of this firmware or kernel
python3 - "$CCEL" "$W/tampered.dat" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
i = d.find(b"Exit Boot Services Invocation")
d[i] ^= 0x20  # "exit Boot Services Invocation": the logged digest no longer matches
open(sys.argv[2], "wb").write(d)
PY
expect 1 'logged digest [0-9a-f]{96}, but its data hashes to' -- "$T" measure --ccel "$W/tampered.dat"
expect 1 'firmware blob .* logged digest' -- "$T" measure --ccel "$CCEL" --firmware "$OVMF"
expect 1 'RTMR1 computed from the inputs is [0-9a-f]{96}, the CCEL replays' -- \
	"$T" measure --ccel "$CCEL" --kernel "$STUB" -o "$W/never.json"
[ ! -e "$W/never.json" ] && ok || bad "a policy written despite the mismatch"

# --- malformed inputs: exit 1 with a clear error, never a crash
python3 - "$OVMF" "$STUB" "$W" <<'PY'
import struct, sys, uuid
img, stub, w = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(), sys.argv[3]
meta_guid = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2").bytes_le
g = img.rfind(meta_guid)
off_at = g - 6           # the u32 offset-from-end before the u16 length and the GUID
meta = len(img) - struct.unpack_from("<I", img, off_at)[0]
def save(name, b):
    open(f"{w}/{name}", "wb").write(b)
def patch(b, at, fmt, v):
    b = bytearray(b); struct.pack_into(fmt, b, at, v); return bytes(b)
save("fw-truncated", img[: len(img) // 2])
save("fw-offset", patch(img, off_at, "<I", 0x7fffffff))
save("fw-count", patch(img, meta + 12, "<I", 0xffff))
save("fw-attr", patch(img, meta + 16 + 28, "<I", 0x40000000))
save("fw-past-end", patch(img, meta + 16, "<I", len(img) - 0x1000))
save("fw-huge", patch(patch(img, meta + 16 + 32 * 2 + 16, "<Q", 1 << 40), meta + 16 + 32 * 2 + 8, "<Q", 0))
save("fw-sig", patch(img, meta, "<4s", b"XXXX"))
# TempMem accepted later (PAGE.AUG) at 0 with 2^64 - 1 MiB of memory: capped
# like any section, not walked page by page for ever
aug = meta + 16 + 32 * 2
save("fw-aug-huge", patch(patch(patch(img, aug + 8, "<Q", 0), aug + 16, "<Q", (1 << 64) - 0x100000), aug + 28, "<I", 2))
# the BFV's data at 0x1000 with 2^64 - 4 KiB of memory: offset + size wraps to 0
bfv = meta + 16
save("fw-wrap", patch(patch(patch(img, bfv, "<I", 0x1000), bfv + 8, "<Q", 0), bfv + 16, "<Q", (1 << 64) - 0x1000))
save("fw-aug", patch(img, meta + 16 + 32 * 2 + 28, "<I", 2))      # TempMem accepted later: not added
save("fw-hob-extend", patch(img, meta + 16 + 32 * 4 + 28, "<I", 1))  # a measured TD HOB
lfanew = struct.unpack_from("<I", stub, 0x3c)[0]
opt = lfanew + 24
optsize = struct.unpack_from("<H", stub, lfanew + 20)[0]
sec = opt + optsize
ptr0 = struct.unpack_from("<I", stub, sec + 20)[0]
save("pe-overlap", patch(stub, sec + 40 + 20, "<I", ptr0 + 8))
save("pe-truncated", stub[:lfanew + 30])
save("pe-past-end", patch(stub, sec + 16, "<I", len(stub)))
save("pe-cert", patch(patch(stub, opt + 112 + 32, "<I", 0x100), opt + 112 + 36, "<I", 0x10))
save("pe-nsec", patch(stub, lfanew + 6, "<H", 0xffff))
save("pe-short-opt", patch(stub[:lfanew + 24 + 8], lfanew + 20, "<H", 8))
PY
expect 1 'no OVMF footer GUID table' -- "$T" measure --firmware "$W/fw-truncated"
expect 1 'metadata offset 0x7fffffff' -- "$T" measure --firmware "$W/fw-offset"
expect 1 '65535 sections' -- "$T" measure --firmware "$W/fw-count"
expect 1 'attributes 0x40000000' -- "$T" measure --firmware "$W/fw-attr"
expect 1 'past the end of the 2097152-byte image' -- "$T" measure --firmware "$W/fw-past-end"
expect 1 'over 262144 pages' -- "$T" measure --firmware "$W/fw-huge"
expect 1 'no "TDVF" descriptor' -- "$T" measure --firmware "$W/fw-sig"
expect 1 'over 262144 pages \(section 2\)' -- timeout 30 "$T" measure --firmware "$W/fw-aug-huge"
expect 1 'data 0x1000\+0xfffffffffffff000 past the end of the 2097152-byte image' -- \
	timeout 30 "$T" measure --firmware "$W/fw-wrap"
expect 1 'no OVMF footer GUID table' -- "$T" measure --firmware "$STUB"
expect 1 'TD_HOB\) is measured \(MR.EXTEND\) but its contents come from the VMM' -- \
	"$T" measure --firmware "$W/fw-hob-extend"
got=$("$T" measure --firmware "$W/fw-aug" --json | jq -r .MRTD)
want=$(python3 "$HERE/mrtd.py" "$W/fw-aug" per-page)
[ "$got" = "$want" ] && [ "$got" != "$mrtd_per_page" ] && ok || bad "PAGE.AUG section: MRTD $got, mrtd.py $want"
expect 1 'sections at file offsets .* overlap' -- "$T" measure --kernel "$W/pe-overlap"
expect 1 'PE' -- "$T" measure --kernel "$W/pe-truncated"
expect 1 'raw data .* past the end' -- "$T" measure --kernel "$W/pe-past-end"
expect 1 'certificate table .* does not end' -- "$T" measure --kernel "$W/pe-cert"
expect 1 'sections \(at most 96\)' -- "$T" measure --kernel "$W/pe-nsec"
expect 1 'optional header is shorter than a PE32\+ header' -- "$T" measure --kernel "$W/pe-short-opt"
expect 1 'no MZ header' -- "$T" measure --kernel "$OVMF"
expect 1 'not a crypto-agile log|truncated' -- "$T" measure --ccel "$STUB"
head -c 700 "$CCEL" >"$W/ccel-short"
expect 1 'truncated' -- "$T" measure --ccel "$W/ccel-short"
expect 1 'printable ASCII only' -- "$T" measure --kernel "$STUB" --cmdline $'a\tb'

# --- usage
expect 1 'nothing to measure' -- "$T" measure
expect 1 "per-page or two-pass, not 'three'" -- "$T" measure --firmware "$OVMF" --page-order three
expect 1 '--initrd without --cmdline' -- "$T" measure --initrd "$W/initrd"
expect 1 'unexpected argument' -- "$T" measure --firmware "$OVMF" extra
"$T" measure --json --firmware "$W/none" >"$W/j" 2>/dev/null
[ $? = 1 ] && jq -e '.code == 1 and (.error | test("none"))' "$W/j" >/dev/null && ok ||
	bad "--json error object: $(cat "$W/j")"
expect 0 'Usage: tdexec measure' -- "$T" measure --help

finish
