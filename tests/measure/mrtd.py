#!/usr/bin/env python3
"""MRTD of a TDVF image, computed independently of tdexec's C code for
tests/measure/measure.sh: from Intel's TDVF design guide (the OVMF footer
GUID table and the TDX metadata) and the TDX module ABI (TDH.MEM.PAGE.ADD
and TDH.MR.EXTEND each feed a 128-byte buffer, op name then GPA at byte 16,
to MRTD's SHA-384; MR.EXTEND then feeds the 256 bytes of the chunk).
Usage: mrtd.py IMAGE per-page|two-pass   -> prints MRTD in hex
"""
import hashlib
import struct
import sys
import uuid

FOOTER = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d").bytes_le
TDX_META = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2").bytes_le


def metadata_offset(img):
    end = len(img) - 0x20
    assert img[end - 16:end] == FOOTER, "no footer GUID table"
    (size,) = struct.unpack_from("<H", img, end - 18)
    table = img[end - size:end - 18]
    while table:
        guid, (n,) = table[-16:], struct.unpack_from("<H", table, len(table) - 18)
        if guid == TDX_META:
            return len(img) - struct.unpack_from("<I", table, len(table) - 22)[0]
        table = table[:-n]
    raise SystemExit("no TDX metadata")


def sections(img):
    off = metadata_offset(img)
    sig, _length, version, count = struct.unpack_from("<4sIII", img, off)
    assert sig == b"TDVF" and version == 1
    return [struct.unpack_from("<IIQQII", img, off + 16 + 32 * i) for i in range(count)]


def op(name, gpa):
    return name.ljust(16, b"\0") + struct.pack("<Q", gpa) + bytes(104)


def mrtd(img, order):
    h = hashlib.sha384()
    for data_off, _raw, gpa, size, _type, attr in sections(img):
        adds, extends = [], []
        for page in range(gpa, gpa + size, 4096):
            a = [] if attr & 2 else [op(b"MEM.PAGE.ADD", page)]
            e = []
            if attr & 1:
                for chunk in range(page, page + 4096, 256):
                    src = data_off + chunk - gpa
                    e += [op(b"MR.EXTEND", chunk), img[src:src + 256]]
            if order == "per-page":
                adds += a + e
            else:
                adds += a
                extends += e
        for b in adds + extends:
            h.update(b)
    return h.hexdigest()


if __name__ == "__main__":
    print(mrtd(open(sys.argv[1], "rb").read(), sys.argv[2]))
