#!/usr/bin/env python3
"""Reads a NOVA_CUDA_TRACE_FILE (kernels/cuda/kernel_trace.cuh) and prints one decode step's
timeline of PDL kernels: for each launch, when its first and last blocks started and when its
blocks' pdl_wait() returned (the kernel before had completed), relative to the step's start.

Launches are told apart by %gridid (and, for a graph's node replayed every step, by time) and
named by their unit (.cu file), grid size and block size.
A step ends with the launch of the most blocks (the LM head at batch 1).

Usage: scripts/kernel_trace.py TRACE_FILE [--steps N]   (N: steps averaged in the summary, 8)
"""
import argparse
import collections
import os
import struct
import sys


RING = 1 << 14  # records per SM ring (kernel_trace.cuh kRing)


def read(path):
    """Records (t, unit, grid, threads, block, point, launch) from the time every ring still covers."""
    recs = []
    cut = [0]
    with open(path, "rb") as f:
        while True:
            name = f.read(64)
            if len(name) < 64:
                break
            unit = os.path.basename(name.split(b"\0", 1)[0].decode())
            (n,) = struct.unpack("<Q", f.read(8))
            data = f.read(24 * n)
            per_sm = collections.Counter()
            oldest = {}
            for t, grid, tag, launch in struct.iter_unpack("<QIIQ", data):
                sm = grid >> 24
                per_sm[sm] += 1
                oldest[sm] = min(oldest.get(sm, t), t)
                recs.append((t, unit, grid & 0xFFFFFF, ((tag >> 16) & 0xFFF) * 32, tag & 0xFFFF, tag >> 28, launch))
            # A full ring lost its older records: before its oldest, launches are incomplete.
            for sm, n_sm in per_sm.items():
                if n_sm >= RING:
                    cut[0] = max(cut[0], oldest[sm])
    return [r for r in recs if r[0] >= cut[0]]


def launches(recs):
    """Groups records into launches: by %gridid, which a graph's kernel node keeps from replay to
    replay, then in time order, a new launch where a block starts again (replays of one node are a
    step apart, never interleaved). Dicts with kind, blocks, starts, waits and points."""
    by_node = collections.defaultdict(list)
    for r in sorted(recs):
        by_node[(r[1], r[6])].append(r)
    out = []
    for rs in by_node.values():
        runs = []
        for t, unit, grid, threads, block, point, _ in rs:
            if point == 0 and (not runs or block in runs[-1]["blocks"]):
                runs.append({"kind": (unit, grid, threads), "blocks": set(), "starts": [], "waits": {}, "points": {}})
            if not runs:
                continue  # the window opened inside a launch
            L = runs[-1]
            if point == 0:
                L["blocks"].add(block)
                L["starts"].append(t)
            elif point == 1:
                L["waits"].setdefault(block, t)
            else:
                L["points"].setdefault(point, {}).setdefault(block, t)
        out.extend(runs)
    for L in out:
        L["t0"] = min(L["starts"])
        L["t1"] = max(L["starts"])
        w = sorted(L["waits"].values())
        L["w0"] = w[0] if w else None
        L["w1"] = w[-1] if w else None
    out.sort(key=lambda L: L["t0"])
    return out


def ready(L):
    """When a launch could proceed: its first wait return, or its start if it waits on nothing
    recorded (a launch without PDL: sampling, embedding)."""
    return L["w0"] if L["w0"] is not None else L["t0"]


def name_of(L):
    unit, grid, threads = L["kind"]
    return f"{unit.replace('.cu', '')}[{grid}x{threads}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=8)
    args = ap.parse_args()
    recs = read(args.trace)
    if not recs:
        sys.exit("kernel_trace: no records")
    Ls = launches(recs)
    biggest = max(L["kind"][1] for L in Ls)
    # Launches cut by the window's start are incomplete: skip up to the first complete LM head.
    ends = [i for i, L in enumerate(Ls) if L["kind"][1] == biggest and len(L["blocks"]) == biggest]
    if len(ends) < 3:
        sys.exit("kernel_trace: fewer than 3 steps recorded")
    # One step: the launches after one LM head up to and including the next.
    a, b = ends[-2], ends[-1]
    step = Ls[a + 1 : b + 1]
    base = Ls[a]["w1"] if Ls[a]["w1"] is not None else Ls[a]["t1"]
    print(f"one step: {len(step)} launches, from the previous LM head's last wait return")
    print(f"{'launch':34s} {'first start':>11s} {'last start':>10s} {'first wait':>10s} {'last wait':>10s} {'crit us':>8s}")
    prev_w = base
    for L in step:
        crit = (ready(L) - prev_w) / 1e3
        f = lambda t: f"{(t - base) / 1e3:10.2f}" if t is not None else f"{'-':>10s}"
        print(f"{name_of(L):34s} {f(L['t0'])} {f(L['t1'])} {f(L['w0'])} {f(L['w1'])} {crit:8.2f}")
        prev_w = ready(L)
    # "crit us" of a launch: from the previous launch's first wait return to this one's, i.e. how
    # long the previous launch ran once it could (its blocks had waited for their predecessor).
    # Summary over the last N steps: mean critical time per launch kind (the time attributed to
    # the kernel before: a wait returns when its predecessor completed).
    n = min(args.steps, len(ends) - 1)
    tot = collections.defaultdict(float)
    cnt = collections.defaultdict(int)
    step_us = []
    for k in range(len(ends) - n, len(ends)):
        seq = Ls[ends[k - 1] : ends[k] + 1]
        step_us.append((ready(seq[-1]) - ready(seq[0])) / 1e3)
        for p, L in zip(seq, seq[1:]):
            tot[name_of(p)] += (ready(L) - ready(p)) / 1e3
            cnt[name_of(p)] += 1
    # A kernel's own points (2..): mean time after its blocks' wait return, per kind.
    pt = collections.defaultdict(list)
    for k in range(len(ends) - n, len(ends)):
        seq = Ls[ends[k - 1] + 1 : ends[k] + 1]
        for i, L in enumerate(seq):
            nxt = seq[i + 1]["w0"] if i + 1 < len(seq) and seq[i + 1]["w0"] is not None else None
            # Launches of one kind in different places (o and down: the same grid) told apart by
            # the launch before them.
            key = name_of(L) + (" after " + name_of(seq[i - 1]).split("[")[0] + f"[{seq[i - 1]['kind'][1]}]" if i else "")
            if L["w0"] is None:
                continue
            for point, blocks in L["points"].items():
                ds = [t - L["waits"][b] for b, t in blocks.items() if b in L["waits"]]
                if ds:
                    pt[(key, point)].append((sum(ds) / len(ds), max(blocks.values()) - L["w0"]))
            pt[(key, 0)].append((L["t1"] - L["w0"], L["t1"] - L["w0"]))
            pt[(key, 1)].append((L["w1"] - L["w0"], L["w1"] - L["w0"]))
            if nxt is not None:
                pt[(key, 99)].append(((nxt - L["w0"]), nxt - L["w0"]))
    if pt:
        print("\nkernel points (us): mean over blocks after the block's own wait return / the last block's, after the"
              "\nlaunch's first wait return (0: block start, 1: wait return, 2..: the kernel's own, 99: next launch's wait)")
        for (k, point) in sorted(pt):
            v = pt[(k, point)]
            print(f"{k:52s} point {point:2d}: {sum(a for a, _ in v) / len(v) / 1e3:8.2f} {sum(b for _, b in v) / len(v) / 1e3:8.2f}")
    print(f"\nlast {n} steps: LM head wait to LM head wait {sum(step_us) / n:.1f} us per step")
    print(f"{'kernel (time until the next launch may proceed)':50s} {'per step us':>12s} {'launches':>9s} {'us each':>8s}")
    for k in sorted(tot, key=lambda k: -tot[k]):
        print(f"{k:50s} {tot[k] / n:12.1f} {cnt[k] / n:9.1f} {tot[k] / cnt[k]:8.2f}")


if __name__ == "__main__":
    main()
