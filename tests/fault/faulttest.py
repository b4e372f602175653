#!/usr/bin/env python3
"""Injected I/O errors (tests/fault/faultshim.so): a backup meets ENOSPC on
write, EIO on read, EMLINK and EXDEV on link, EACCES on open, ENOENT between
readdir and open, each at sampled calls. For each: the right exit status, a
message that names a path (or the store), no half snapshot published, the
earlier snapshots untouched, and a clean run afterwards that is right.

usage: faulttest.py --hardsnap BIN --shim faultshim.so [--points N] [--seed S]
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "diff"))
import difftest  # noqa: E402

# (errno, calls that fail, path filter, exit statuses allowed, snapshot made?)
#   made: "no" (exit 3: nothing published), "yes" (equal to the source),
#   "partial" (exit 1: made, the named files left out or kept as they were)
SCENARIOS = [
    ("ENOSPC", "write", None, (3,), "no"),
    ("EIO", "read", None, (1, 3), "partial"),
    ("EMLINK", "linkat", None, (0,), "yes"),
    ("EXDEV", "linkat", None, (0,), "yes"),
    ("EACCES", "openat", b"n", (1, 3), "partial"),
    ("ENOENT", "openat", b"n", (1, 3), "partial"),
]


class Fault(Exception):
    pass


def run(hs, args, now, env_extra=None):
    env = dict(os.environ, HARDSNAP_NOW=now, **(env_extra or {}))
    return subprocess.run([hs] + args, env=env, capture_output=True)


def count(hs, shim, args, now, calls, match, work):
    report = os.path.join(work, "calls")
    env = {"LD_PRELOAD": shim, "HS_FAULT_REPORT": report, "HS_FAULT_CALLS": calls}
    if match:
        env["HS_FAULT_MATCH"] = match.decode()
    r = run(hs, args, now, env)
    if r.returncode != 0:
        raise Fault(f"counting run failed: {r.stderr[:500]!r}")
    with open(report) as f:
        return int(f.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hardsnap", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--points", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    base = tempfile.mkdtemp(prefix="faulttest-")
    src, dest0, work = (os.path.join(base, d) for d in ("src", "dest0", "dest"))
    os.mkdir(src)
    tree = difftest.Tree(src.encode(), rng)
    tree.build()
    hs = a.hardsnap
    r = run(hs, ["backup", "-q", src, dest0], "2026-01-01T000000Z")
    if r.returncode != 0:
        print(f"FAIL: first backup: {r.stderr!r}", file=sys.stderr)
        return 1
    first = difftest.listing(os.path.join(dest0, "2026-01-01T000000Z").encode())
    tree.mutate()
    tree.mutate()
    tried = 0
    try:
        for err, calls, match, codes, made in SCENARIOS:
            shutil.rmtree(work, ignore_errors=True)
            subprocess.run(["cp", "-a", dest0, work], check=True)
            args = ["backup", "-q", src, work]
            total = count(hs, a.shim, args, "2026-01-02T000000Z", calls, match, base)
            shutil.rmtree(work)
            for k in sorted(rng.sample(range(1, total + 1), min(a.points, total))):
                subprocess.run(["cp", "-a", dest0, work], check=True)
                env = {"LD_PRELOAD": a.shim, "HS_FAULT_AT": str(k), "HS_FAULT_ACTION": err,
                       "HS_FAULT_CALLS": calls}
                if match:
                    env["HS_FAULT_MATCH"] = match.decode()
                r = run(hs, args, "2026-01-02T000000Z", env)
                what = f"{err} on {calls} call {k}"
                snap = os.path.join(work, "2026-01-02T000000Z")
                # an error after publication (the log line) leaves a complete
                # snapshot: exit 1, and the snapshot must then be right
                late = r.returncode == 1 and made == "no" and os.path.exists(snap)
                if r.returncode not in codes + ((0,) if made != "no" else ()) and not late:
                    raise Fault(f"{what}: exit {r.returncode}, expected {codes}: {r.stderr[:600]!r}")
                if late:
                    difftest.compare(src.encode(), snap.encode(), what)
                if r.returncode != 0 and not r.stderr.startswith(b"hardsnap: "):
                    raise Fault(f"{what}: no message: {r.stderr[:300]!r}")
                if r.returncode == 3 and os.path.exists(snap):
                    raise Fault(f"{what}: exit 3 but a snapshot was published")
                if r.returncode == 0 and made != "no":
                    difftest.compare(src.encode(), snap.encode(), what)
                now = difftest.listing(os.path.join(work, "2026-01-01T000000Z").encode())
                if {p: e[:5] for p, e in now.items()} != {p: e[:5] for p, e in first.items()}:
                    raise Fault(f"{what}: the earlier snapshot changed")
                r = run(hs, ["backup", "-q", src, work], "2026-01-03T000000Z")
                if r.returncode != 0:
                    raise Fault(f"{what}: the next clean run failed: {r.stderr[:500]!r}")
                difftest.compare(src.encode(), os.path.join(work, "2026-01-03T000000Z").encode(),
                                 f"clean run after {what}")
                shutil.rmtree(work)
                tried += 1
    except (Fault, difftest.Failure) as f:
        print(f"FAIL: seed {a.seed}: {f}\n  kept: {base}", file=sys.stderr)
        return 1
    shutil.rmtree(base)
    print(f"faulttest: {tried} injected errors over {len(SCENARIOS)} kinds: nothing lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
