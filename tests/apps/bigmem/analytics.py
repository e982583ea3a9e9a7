#!/usr/bin/env python3
"""A large-memory analytics task: a table of float64 values built from a
seed, GIB gibibytes of it held in memory at once, a few passes of a real
computation over all of it, and the figures written to IEXEC_OUT.

The table is one numpy array, filled chunk by chunk from a seeded generator
(PCG64), so every page is written before the first pass and the whole size
stays resident: the memory limit of the sandbox is met by the data itself,
not by a promise of it.  Each pass applies one step of the logistic map
x -> 3.9 x (1 - x) (a chaotic map: every value depends on every earlier
step, so no pass can be skipped) and takes, per chunk, the sum and a
64-bin histogram over [0, 1).  The result is the same on every run with
the same numpy on the same CPU, so a run in the pool can be checked against
a run on the host: `checksum` is SHA-256 over the per-pass sums and counts.

Usage: analytics.py [--gib G] [--passes N] [--seed S] [--out DIR]
  --out defaults to $IEXEC_OUT (iExec's output directory).
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

CHUNK = 1 << 22  # 4 Mi values (32 MiB): the temporaries stay small
BINS = 64


def positive(kind):
    def parse(s):
        v = kind(s)
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{s} is not positive")
        return v

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def main():
    ap = argparse.ArgumentParser(description="large-memory analytics over a seeded table")
    ap.add_argument("--gib", type=positive(float), default=4.0, help="table size in GiB (default 4)")
    ap.add_argument("--passes", type=positive(int), default=2, help="passes over the table (default 2)")
    ap.add_argument("--seed", type=int, default=13, help="generator seed (default 13)")
    ap.add_argument("--out", default=os.environ.get("IEXEC_OUT"), help="output directory (default $IEXEC_OUT)")
    a = ap.parse_args()
    if not a.out:
        ap.error("no output directory: give --out or set IEXEC_OUT")
    if a.gib > 1024 or a.passes > 10000:
        ap.error("--gib is at most 1024 and --passes at most 10000")
    if a.seed < 0:
        ap.error("--seed must not be negative")

    n = int(a.gib * (1 << 30)) // 8
    if n == 0:
        ap.error("--gib is too small for one value")
    t0 = time.monotonic()
    table = np.empty(n, dtype=np.float64)
    rng = np.random.default_rng(a.seed)
    for i in range(0, n, CHUNK):
        rng.random(out=table[i : i + CHUNK])
    t_fill = time.monotonic() - t0

    sums, hists = [], []
    tmp = np.empty(CHUNK, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, BINS + 1)
    for _ in range(a.passes):
        total = 0.0
        counts = np.zeros(BINS, dtype=np.int64)
        for i in range(0, n, CHUNK):
            c = table[i : i + CHUNK]
            t = tmp[: len(c)]
            # in place: t = 1 - c; c = 3.9 * c * t
            np.subtract(1.0, c, out=t)
            np.multiply(c, t, out=c)
            np.multiply(c, 3.9, out=c)
            total += float(c.sum())
            # bins of width 1/64: the bin index is floor(64 x), exactly
            np.multiply(c, BINS, out=t)
            counts += np.bincount(t.astype(np.int64), minlength=BINS + 1)[:BINS]
        sums.append(total)
        hists.append(counts.tolist())
    t_all = time.monotonic() - t0

    h = hashlib.sha256()
    for s, c in zip(sums, hists):
        h.update(np.float64(s).tobytes())
        h.update(np.asarray(c, dtype="<i8").tobytes())
    last = np.asarray(hists[-1], dtype=np.float64)
    cdf = np.cumsum(last) / n
    result = {
        "values": n,
        "bytes": n * 8,
        "passes": a.passes,
        "seed": a.seed,
        "mean_per_pass": [s / n for s in sums],
        "histogram": hists[-1],
        "bin_edges": [float(edges[0]), float(edges[-1])],
        # the median and deciles of the last pass, to a bin's width
        "deciles": [float(edges[int(np.searchsorted(cdf, q))]) for q in np.arange(0.1, 1.0, 0.1)],
        "checksum": h.hexdigest(),
        "seconds": {"fill": round(t_fill, 3), "total": round(t_all, 3)},
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.out, "computed.json"), "w") as f:
        json.dump({"deterministic-output-path": os.path.join(a.out, "result.json")}, f)
        f.write("\n")
    print(f"analytics: {n * 8 >> 20} MiB, {a.passes} passes, checksum {result['checksum']}, {t_all:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
