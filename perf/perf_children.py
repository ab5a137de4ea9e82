#!/usr/bin/env python3
"""Where the time under a function goes, from a `perf record --call-graph dwarf` profile.

  perf script -i perf.data -F comm,ip,sym | perf/perf_children.py ANCHOR [ANCHOR...]

For each ANCHOR (a substring of a symbol), prints the share of all samples whose stack contains
it, split by the frame directly below its outermost occurrence (inlined frames count as frames).
"""
import collections
import re
import sys


def read_samples(lines):
    samples, cur = [], []
    for line in lines:
        line = line.rstrip()
        if not line:
            if cur:
                samples.append(cur)
            cur = []
            continue
        if line[0] not in " \t":  # sample header (comm)
            cur = []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            cur.append(re.sub(r"\+0x[0-9a-f]+$", "", parts[1].split(" (")[0]))
    if cur:
        samples.append(cur)
    return samples


def main():
    samples = read_samples(sys.stdin)
    total = len(samples) or 1
    print(f"total samples {len(samples)}")
    for anchor in sys.argv[1:]:
        below = collections.Counter()
        n = 0
        for s in samples:
            hits = [i for i, f in enumerate(s) if anchor in f]
            if not hits:
                continue
            n += 1
            i = max(hits)  # outermost occurrence (stacks are leaf first)
            below[s[i - 1] if i > 0 else "(self)"] += 1
        print(f"\n== {anchor}: {n} samples ({100 * n / total:.1f}%)")
        for name, count in below.most_common(12):
            print(f"  {100 * count / total:5.1f}%  {name[:110]}")


if __name__ == "__main__":
    main()
