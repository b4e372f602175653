#!/usr/bin/env python3
"""Kill points: hardsnap killed (SIGKILL, by tests/fault/faultshim.so) at
the Nth filesystem call of a backup, a prune, an export and a restore, or
(--timed) by kill -9 from outside at a random time within a run, then:
every published snapshot is complete and what it was, `latest` names the
newest, and the next run succeeds with the right result.

usage: crashtest.py --hardsnap BIN --shim faultshim.so [--points N] [--timed N] [--seed S]
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "diff"))
import difftest  # noqa: E402  (the tree generator and comparisons)


class Crash(Exception):
    pass


def at(k):
    """A kill point: the Nth call (int), or a time after the start (float)."""
    return f"{k * 1000:.1f} ms" if isinstance(k, float) else f"call {k}"


def run(hs, args, now=None, fault_at=None, report=None, shim=None, check=None):
    env = dict(os.environ)
    if now:
        env["HARDSNAP_NOW"] = now
    if isinstance(fault_at, float):  # by time: kill -9 from outside, no shim
        p = subprocess.Popen([hs] + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(fault_at)
        p.kill()
        out, err = p.communicate()
        Want.landed += p.returncode == -9
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)
    if shim:
        env["LD_PRELOAD"] = shim
        if fault_at:
            env["HS_FAULT_AT"] = str(fault_at)
        if report:
            env["HS_FAULT_REPORT"] = report
    r = subprocess.run([hs] + args, env=env, capture_output=True)
    if check is not None and r.returncode not in check:
        raise Crash(f"{' '.join(map(str, args))}: exit {r.returncode} {r.stderr[:1500]!r}")
    return r


def count_calls(hs, shim, args, now, work):
    """The number of calls the shim counts in a whole run; how long the run
    took goes to Want.seconds (where timed kills land)."""
    report = os.path.join(work, "calls")
    t0 = time.monotonic()
    run(hs, args, now=now, shim=shim, report=report, check=(0,))
    Want.seconds = time.monotonic() - t0
    with open(report) as f:
        return int(f.read())


def copy_store(src, dst):
    """cp -a: hard links, fifos and symlinks as they are."""
    subprocess.run(["cp", "-a", src, dst], check=True)


def snapshots(dest):
    names = [n for n in os.listdir(dest) if len(n) == 18 and n.endswith("Z") and n[10] == "T"]
    return sorted(names)


def check_store(dest, expect, killed=False):
    """Every published snapshot is one we know, equal to its listing; latest
    is the newest, or after a kill any complete one (a kill between
    publishing and replacing latest leaves the older: the next run fixes it)."""
    names = snapshots(dest)
    for n in names:
        if n not in expect:
            raise Crash(f"unexpected snapshot {n}")
        got = difftest.listing(os.path.join(dest, n).encode())
        want = expect[n]
        strip = lambda lst: {p: e[:5] for p, e in lst.items()}  # noqa: E731
        if strip(got) != strip(want) or difftest.groups(got) != difftest.groups(want):
            raise Crash(f"snapshot {n} is not what it was")
    latest = os.path.join(dest, "latest")
    if names:
        target = os.readlink(latest)
        if target != names[-1] and not (killed and target in names):
            raise Crash(f"latest -> {target}, newest is {names[-1]}")
    return names


class Want:
    calls = 30  # kill points by call count, per operation
    timed = 0  # kill points by time, per operation
    seconds = 0.0  # how long the last whole run took (set by count_calls)
    landed = 0  # timed kills that came before the run ended


def points(total, n, rng):
    """n call counts out of total, then Want.timed delays within a run's time."""
    calls = list(range(1, total + 1)) if total <= n else sorted(rng.sample(range(1, total + 1), n))
    return calls + [rng.uniform(0.0, Want.seconds) for _ in range(Want.timed)]


def backup_points(hs, shim, base, n, rng):
    src, day1 = os.path.join(base, "src"), os.path.join(base, "src-day1")
    work = os.path.join(base, "dest")
    os.mkdir(src)
    tree = difftest.Tree(src.encode(), rng)
    tree.build()
    copy_store(src, day1)

    def fresh():
        # made by hardsnap, not copied: its manifest is trusted, as at home
        shutil.rmtree(work, ignore_errors=True)
        r = difftest.backup_from(hs, src, day1, work, "2026-01-01T000000Z")
        if r.returncode:
            raise Crash(f"the day-1 backup failed: {r.stderr[:300]!r}")

    fresh()
    expect = {"2026-01-01T000000Z": difftest.listing(os.path.join(work, "2026-01-01T000000Z").encode())}
    tree.mutate()
    tree.mutate()
    want = difftest.listing(src.encode())
    total = count_calls(hs, shim, ["backup", "-q", src, work], "2026-01-02T000000Z", base)
    tried = 0
    for k in points(total, n, rng):
        fresh()
        r = run(hs, ["backup", "-q", src, work], now="2026-01-02T000000Z", fault_at=k, shim=shim)
        if r.returncode not in (0, -9, 137):
            raise Crash(f"backup killed at {at(k)}: exit {r.returncode} {r.stderr[:800]!r}")
        exp = dict(expect, **{"2026-01-02T000000Z": want})
        check_store(work, exp, killed=True)
        run(hs, ["backup", "-q", src, work], now="2026-01-03T000000Z", check=(0,))
        difftest.compare(src.encode(), os.path.join(work, "2026-01-03T000000Z").encode(),
                         f"backup after a kill at {at(k)}")
        check_store(work, dict(exp, **{"2026-01-03T000000Z": want}))
        shutil.rmtree(work)
        tried += 1
    return tried, total


def prune_points(hs, shim, base, n, rng):
    src, dest0 = os.path.join(base, "psrc"), os.path.join(base, "pdest0")
    os.mkdir(src)
    tree = difftest.Tree(src.encode(), rng)
    tree.build()
    expect = {}
    for d in (1, 2, 3, 4):
        name = "2026-01-0%dT000000Z" % d
        run(hs, ["backup", "-q", src, dest0], now=name, check=(0,))
        expect[name] = difftest.listing(os.path.join(dest0, name).encode())
        tree.mutate()
    work = os.path.join(base, "pdest")
    copy_store(dest0, work)
    args = ["prune", "-q", work, "--keep-last", "1"]
    total = count_calls(hs, shim, args, "2026-01-05T000000Z", base)
    shutil.rmtree(work)
    tried = 0
    for k in points(total, n, rng):
        copy_store(dest0, work)
        r = run(hs, args, now="2026-01-05T000000Z", fault_at=k, shim=shim)
        if r.returncode not in (0, -9, 137):
            raise Crash(f"prune killed at {at(k)}: exit {r.returncode} {r.stderr[:800]!r}")
        check_store(work, expect, killed=True)
        run(hs, args, now="2026-01-05T000000Z", check=(0,))
        if check_store(work, expect) != ["2026-01-04T000000Z"]:
            raise Crash(f"prune after a kill at {at(k)} kept {snapshots(work)}")
        if os.listdir(os.path.join(work, ".hardsnap", "trash")):
            raise Crash(f"prune after a kill at {at(k)} left the trash full")
        shutil.rmtree(work)
        tried += 1
    return tried, total


def tar_members(path):
    t = subprocess.run(["tar", "-tvf", path], capture_output=True)
    if t.returncode != 0:
        raise Crash(f"tar -tvf {path}: {t.stderr[:300]!r}")
    return t.stdout


def export_points(hs, shim, base, n, rng):
    src, dest = os.path.join(base, "esrc"), os.path.join(base, "edest")
    os.mkdir(src)
    difftest.Tree(src.encode(), rng).build()
    run(hs, ["backup", "-q", src, dest], now="2026-01-01T000000Z", check=(0,))
    snap = os.path.join(dest, "latest")
    out = os.path.join(base, "out.tar")
    args = ["export", "-q", snap, out]
    total = count_calls(hs, shim, args, None, base)
    members = tar_members(out)
    os.unlink(out)
    tried = 0
    for k in points(total, n, rng):
        r = run(hs, args, fault_at=k, shim=shim)
        if r.returncode not in (0, -9, 137):
            raise Crash(f"export killed at {at(k)}: exit {r.returncode} {r.stderr[:800]!r}")
        # killed after the final rename, the archive is complete; before it, absent
        if os.path.exists(out):
            if tar_members(out) != members:
                raise Crash(f"export killed at {at(k)} left an incomplete {out}")
            os.unlink(out)
        run(hs, args, check=(0,))  # a stale .part does not stop the next one
        if tar_members(out) != members:
            raise Crash(f"export after a kill at {at(k)}: the archive differs")
        os.unlink(out)
        tried += 1
    return tried, total


def restore_points(hs, shim, base, n, rng):
    src, dest = os.path.join(base, "rsrc"), os.path.join(base, "rdest")
    os.mkdir(src)
    difftest.Tree(src.encode(), rng).build()
    run(hs, ["backup", "-q", src, dest], now="2026-01-01T000000Z", check=(0,))
    snap = os.path.join(dest, "2026-01-01T000000Z")
    target = os.path.join(base, "target")
    total = count_calls(hs, shim, ["restore", "-q", snap, target], None, base)
    shutil.rmtree(target)
    before = difftest.listing(snap.encode())
    tried = 0
    for k in points(total, n, rng):
        r = run(hs, ["restore", "-q", snap, target], fault_at=k, shim=shim)
        if r.returncode not in (0, -9, 137):
            raise Crash(f"restore killed at {at(k)}: exit {r.returncode} {r.stderr[:800]!r}")
        # whatever the kill left, a restore with --overwrite finishes the job
        args = ["restore", "-q", "--overwrite", snap, target] if os.path.exists(target) else \
            ["restore", "-q", snap, target]
        run(hs, args, check=(0,))
        difftest.compare(snap.encode(), target.encode(), f"restore after a kill at {at(k)}")
        now = difftest.listing(snap.encode())
        if {p: e for p, e in now.items()} != before:
            raise Crash(f"restore killed at {at(k)} changed the snapshot")
        shutil.rmtree(target)
        tried += 1
    return tried, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hardsnap", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--points", type=int, default=30, help="kill points by call count per operation")
    ap.add_argument("--timed", type=int, default=0, help="kill points by time per operation")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    Want.timed = a.timed
    base = tempfile.mkdtemp(prefix="crashtest-")
    results = []
    try:
        for name, fn in (("backup", backup_points), ("prune", prune_points),
                         ("export", export_points), ("restore", restore_points)):
            Want.landed = 0
            tried, total = fn(a.hardsnap, a.shim, base, a.points, rng)
            results.append(f"{name} {tried} kill points of {total} calls "
                           f"({a.timed} by time, {Want.landed} of them before the end)")
    except Crash as c:
        print(f"FAIL: seed {a.seed}: {c}\n  kept: {base}", file=sys.stderr)
        return 1
    except difftest.Failure as f:
        print(f"FAIL: seed {a.seed}: {f}\n  kept: {base}", file=sys.stderr)
        return 1
    shutil.rmtree(base)
    print("crashtest: " + "; ".join(results) + ": nothing lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
