#!/usr/bin/env python3
"""Injected I/O errors (tests/fault/faultshim.so) in a backup, a prune, a
restore and an export: ENOSPC on write, EIO on read, EMLINK and EXDEV on
link, EACCES on open, ENOENT between readdir and open, EIO and EACCES on
unlink and rename, each at sampled calls. For each: an allowed exit status,
a message "hardsnap: ...: PATH: strerror" naming the path the call was
about, no half snapshot or archive published, the earlier snapshots
untouched, and a clean run afterwards that is right.

Then a source directory replaced by a symlink to "/" between readdir and
open, in a real backup run: "/" is never entered.

usage: faulttest.py --hardsnap BIN --shim faultshim.so [--points N] [--seed S] [-v]
"""
import argparse
import errno
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "diff"))
import difftest  # noqa: E402

DAY1, DAY2, DAY3 = "2026-01-01T000000Z", "2026-01-02T000000Z", "2026-01-03T000000Z"


class Fault(Exception):
    pass


def run(hs, args, now=None, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    if now:
        env["HARDSNAP_NOW"] = now
    return subprocess.run([hs] + args, env=env, capture_output=True)


def strip(lst):
    return {p: e[:5] for p, e in lst.items()}


def same_tree(got, want):
    return strip(got) == strip(want) and difftest.groups(got) == difftest.groups(want)


def names_path(stderr, err):
    """The message for an injected errno names a path: "...: PATH: strerror"
    where PATH has a '/', or is a name (escaped names too), never empty."""
    text = os.strerror(getattr(errno, err))
    for line in stderr.decode("utf-8", "replace").splitlines():
        if not line.startswith("hardsnap: ") or not line.endswith(": " + text):
            continue
        head = line[len("hardsnap: "):-len(": " + text)]
        if ": " in head and head.rsplit(": ", 1)[1].strip():
            return True
    return False


def escaped(path):
    """A path as hardsnap's messages show it (lib/err.c escape_into)."""
    out = []
    for ch in path.decode("utf-8", "surrogateescape"):
        if "\udc80" <= ch <= "\udcff":
            out.append("\\x%02x" % (ord(ch) - 0xdc00))
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def named(stderr, rel):
    """Whether a message names rel (a path below the tree the run read or wrote),
    or a directory above it."""
    text = stderr.decode("utf-8", "replace")
    parts = rel.split(b"/")
    return any(f"/{escaped(b'/'.join(parts[:i]))}: " in text for i in range(1, len(parts) + 1))


def compare_but_named(want, root, stderr, what):
    """root holds every entry of want (a listing) that no message names, with
    the same type, mode, mtime and content; hard-link groups may be split."""
    got = difftest.listing(root.encode()) if os.path.exists(root) else {}
    for p, e in want.items():
        if named(stderr, p):
            continue
        g = got.get(p)
        if g is None or g[:5] != e[:5]:
            raise Fault(f"{what}: {p!r} not named in a message, yet {'missing' if g is None else 'different'}")
    for p in got:
        if p not in want:
            raise Fault(f"{what}: {p!r} is not in the snapshot")


# One operation on a fixture, the scenarios it meets, and what must hold after.
class Op:
    # (errno, calls that fail, path filter, exit statuses allowed)
    scenarios = []

    def __init__(self, hs, base, rng):
        self.hs, self.base, self.rng = hs, base, rng

    def run(self, env=None):
        return run(self.hs, self.args, self.now, env)

    def snapshot_of_new_tree(self, tag):
        """A random tree under TAGsrc, backed up once into TAGdest: the snapshot."""
        src, dest = (os.path.join(self.base, tag + d) for d in ("src", "dest"))
        os.mkdir(src)
        difftest.Tree(src.encode(), self.rng).build()
        if run(self.hs, ["backup", "-q", src, dest], DAY1).returncode:
            raise Fault(f"{self.__class__.__name__} fixture: backup failed")
        return os.path.join(dest, DAY1)


class Backup(Op):
    scenarios = [
        ("ENOSPC", "write", None, (1, 3)),
        ("EIO", "read,copy_file_range", None, (1, 3)),
        ("EMLINK", "linkat", None, (0,)),
        # an unchanged file that cannot be linked from the previous snapshot
        # for another reason than a link limit is an anomaly (exit 1); a
        # hard-link group's later name is not
        ("EXDEV", "linkat", None, (0, 1)),
        ("EACCES", "openat", "n", (1, 3)),
        ("ENOENT", "openat", "n", (1, 3)),
        ("EIO", "renameat", None, (1, 3)),
    ]
    now = DAY2

    def setup(self):
        self.src, self.work = os.path.join(self.base, "src"), os.path.join(self.base, "dest")
        self.src_day1 = os.path.join(self.base, "src-day1")
        os.mkdir(self.src)
        tree = difftest.Tree(self.src.encode(), self.rng)
        tree.build()
        subprocess.run(["cp", "-a", self.src, self.src_day1], check=True)
        self.fresh()
        self.first = difftest.listing(os.path.join(self.work, DAY1).encode())
        tree.mutate()
        tree.mutate()
        self.args = ["backup", "-q", self.src, self.work]

    def fresh(self):
        """A store made by hardsnap from the day-1 tree at the same source
        path (not a copy of one: a copied store's manifests are not trusted,
        and the backup would take its slower path only)."""
        shutil.rmtree(self.work, ignore_errors=True)
        r = difftest.backup_from(self.hs, self.src, self.src_day1, self.work, DAY1)
        if r.returncode:
            raise Fault(f"fixture: the day-1 backup failed: {r.stderr[:300]!r}")

    def check(self, r, what):
        snap = os.path.join(self.work, DAY2)
        # exit 3 publishes nothing; an error after publication (the log line)
        # is exit 1 with a complete snapshot; exit 1 before it leaves out or
        # keeps as they were the files it names
        if r.returncode == 3 and os.path.exists(snap):
            raise Fault(f"{what}: exit 3 but a snapshot was published")
        if r.returncode == 0:
            difftest.compare(self.src.encode(), snap.encode(), what, self.split_ok)
        if not same_tree(difftest.listing(os.path.join(self.work, DAY1).encode()), self.first):
            raise Fault(f"{what}: the earlier snapshot changed")

    def clean(self, what):
        r = run(self.hs, ["backup", "-q", self.src, self.work], DAY3)
        if r.returncode != 0:
            raise Fault(f"{what}: the next clean run failed: {r.stderr[:500]!r}")
        difftest.compare(self.src.encode(), os.path.join(self.work, DAY3).encode(),
                         f"clean run after {what}")


class Prune(Op):
    scenarios = [
        ("EIO", "unlinkat", None, (1, 3)),
        ("EACCES", "unlinkat", None, (1, 3)),
        ("EIO", "renameat", None, (1, 3)),
        ("ENOSPC", "write", None, (1, 3)),
        ("EIO", "openat", "T", (1, 3)),
        ("EIO", "fsync", None, (1, 3)),
    ]
    now = "2026-01-05T000000Z"
    days = ["2026-01-0%dT000000Z" % d for d in (1, 2, 3, 4)]

    def setup(self):
        src, self.dest0 = os.path.join(self.base, "psrc"), os.path.join(self.base, "pdest0")
        self.work = os.path.join(self.base, "pdest")
        os.mkdir(src)
        tree = difftest.Tree(src.encode(), self.rng)
        tree.build()
        self.expect = {}
        for name in self.days:
            if run(self.hs, ["backup", "-q", src, self.dest0], name).returncode:
                raise Fault("prune fixture: backup failed")
            self.expect[name] = difftest.listing(os.path.join(self.dest0, name).encode())
            tree.mutate()
        self.args = ["prune", "-q", self.work, "--keep-last", "1"]

    def fresh(self):
        shutil.rmtree(self.work, ignore_errors=True)
        subprocess.run(["cp", "-a", self.dest0, self.work], check=True)

    def published(self):
        return sorted(n for n in os.listdir(self.work) if n in self.expect)

    def check(self, r, what):
        # what is still published is whole; latest stays on the newest
        for n in self.published():
            if not same_tree(difftest.listing(os.path.join(self.work, n).encode()),
                             self.expect[n]):
                raise Fault(f"{what}: snapshot {n} is published but not what it was")
        if os.readlink(os.path.join(self.work, "latest")) != self.days[-1]:
            raise Fault(f"{what}: latest moved")
        if self.days[-1] not in self.published():
            raise Fault(f"{what}: the newest snapshot is gone")
        if r.returncode == 0:
            self.done(what)

    def done(self, what):
        """keep-last 1 done: the newest alone, its manifest alone, the trash empty"""
        if self.published() != [self.days[-1]]:
            raise Fault(f"{what}: exit 0 but kept {self.published()}")
        if os.listdir(os.path.join(self.work, ".hardsnap", "trash")):
            raise Fault(f"{what}: exit 0 but the trash is not empty")
        left = {n.split(".")[0] for n in os.listdir(os.path.join(self.work, ".hardsnap", "manifests"))}
        if left != {self.days[-1]}:
            raise Fault(f"{what}: manifests left for {sorted(left)}")

    def clean(self, what):
        r = self.run()
        if r.returncode != 0:
            raise Fault(f"{what}: the next prune failed: {r.stderr[:500]!r}")
        self.done(f"the prune after {what}")


class Restore(Op):
    scenarios = [
        ("ENOSPC", "write", None, (3,)),
        ("EIO", "read,copy_file_range", None, (1, 3)),
        ("EACCES", "openat", "n", (1, 3)),
        ("EMLINK", "linkat", None, (1, 3)),
        ("ENOSPC", "mkdirat", None, (3,)),
        ("EIO", "fsync", None, (3,)),
    ]
    now = None
    tag = "r"

    def setup(self):
        self.snap = self.snapshot_of_new_tree(self.tag)
        self.before = difftest.listing(self.snap.encode())
        self.target = os.path.join(self.base, self.tag + "target")
        self.args = ["restore", "-q", self.snap, self.target]

    def fresh(self):
        shutil.rmtree(self.target, ignore_errors=True)

    def check(self, r, what):
        if difftest.listing(self.snap.encode()) != self.before:
            raise Fault(f"{what}: the snapshot changed")
        if r.returncode == 0:
            difftest.compare(self.snap.encode(), self.target.encode(), what, self.split_ok)
        elif r.returncode == 1:
            # warnings: all of it restored but what the messages name
            compare_but_named(self.before, self.target, r.stderr, what)
        else:
            self.no_half_files(what)

    def no_half_files(self, what):
        """A failed restore leaves no file that is not the snapshot's: every
        regular file present has the snapshot's content (nothing half written)."""
        for p, e in difftest.listing(self.target.encode()).items() if os.path.exists(
                self.target) else ():
            want = self.before.get(p)
            if want is None:
                raise Fault(f"{what}: {p!r} is in the target but not in the snapshot")
            if e[0] == "f" and (want[0] != "f" or e[4] != want[4]):
                raise Fault(f"{what}: {p!r} left half written")

    def clean(self, what):
        args = ["restore", "-q", self.snap, self.target]
        if os.path.exists(self.target):
            args.insert(2, "--overwrite")
        r = run(self.hs, args)
        if r.returncode != 0:
            raise Fault(f"{what}: the next restore failed: {r.stderr[:500]!r}")
        difftest.compare(self.snap.encode(), self.target.encode(), f"restore after {what}")


class RestoreOverwrite(Restore):
    """restore --overwrite into a target that holds an older, edited copy:
    replaced files are new inodes renamed over the old names."""
    tag = "o"
    scenarios = [
        ("ENOSPC", "write", None, (3,)),
        ("EIO", "renameat", None, (3,)),
        ("EIO", "unlinkat", None, (1, 3)),
        ("EIO", "fsync", None, (3,)),
    ]

    def setup(self):
        super().setup()
        self.old = os.path.join(self.base, "old-target")
        if run(self.hs, ["restore", "-q", self.snap, self.old]).returncode:
            raise Fault("restore fixture: restore failed")
        tree = difftest.Tree(self.old.encode(), self.rng)
        for _ in range(3):
            tree.edit()
            tree.chmod()
        self.old_list = difftest.listing(self.old.encode())
        self.args = ["restore", "-q", "--overwrite", self.snap, self.target]

    def fresh(self):
        shutil.rmtree(self.target, ignore_errors=True)
        subprocess.run(["cp", "-a", self.old, self.target], check=True)

    def no_half_files(self, what):
        """Every file is the old target's or the snapshot's, whole."""
        for p, e in difftest.listing(self.target.encode()).items():
            if e[0] != "f":
                continue
            if not any(x and x[0] == "f" and x[4] == e[4]
                       for x in (self.before.get(p), self.old_list.get(p))):
                raise Fault(f"{what}: {p!r} is neither the old file nor the snapshot's")


class Export(Op):
    # an unreadable member is a warning (exit 1), as in tar: a complete
    # archive, the member's bytes as zeros or the member left out
    scenarios = [
        ("ENOSPC", "write", None, (3,)),
        ("EIO", "read,copy_file_range", None, (1, 3)),
        ("EACCES", "openat", "n", (1, 3)),
        ("EIO", "renameat", None, (3,)),
        ("EIO", "fsync", None, (1, 3)),
    ]
    now = None

    def setup(self):
        self.snap = self.snapshot_of_new_tree("e")
        self.before = difftest.listing(self.snap.encode())
        self.out = os.path.join(self.base, "out.tar")
        self.args = ["export", "-q", self.snap, self.out]
        if run(self.hs, self.args).returncode:
            raise Fault("export fixture: export failed")
        self.members = self.tar_members()
        os.unlink(self.out)

    def tar_members(self):
        t = subprocess.run(["tar", "-tvf", self.out], capture_output=True)
        if t.returncode != 0:
            raise Fault(f"tar -tvf {self.out}: {t.stderr[:300]!r}")
        return t.stdout

    def fresh(self):
        if os.path.exists(self.out):
            os.unlink(self.out)

    def check(self, r, what):
        if difftest.listing(self.snap.encode()) != self.before:
            raise Fault(f"{what}: the snapshot changed")
        left = [n for n in os.listdir(self.base) if n.startswith("out.tar")]
        if r.returncode == 3 and left:
            raise Fault(f"{what}: exit 3 but {left} left behind")
        if r.returncode == 1:
            self.tar_members()  # complete: tar reads it to the end
        if r.returncode == 0 and self.tar_members() != self.members:
            raise Fault(f"{what}: exit 0 with a different archive")

    def clean(self, what):
        self.fresh()
        r = self.run()
        if r.returncode != 0 or self.tar_members() != self.members:
            raise Fault(f"{what}: the next export failed or differs: {r.stderr[:300]!r}")


def count(op, calls, match):
    report = os.path.join(op.base, "calls")
    env = {"LD_PRELOAD": op.shim, "HS_FAULT_REPORT": report, "HS_FAULT_CALLS": calls}
    if match:
        env["HS_FAULT_MATCH"] = match
    op.fresh()
    r = op.run(env)
    if r.returncode != 0:
        raise Fault(f"counting run failed: {r.stderr[:500]!r}")
    with open(report) as f:
        return int(f.read())


def inject(op, points, verbose):
    tried = 0
    for err, calls, match, codes in op.scenarios:
        total = count(op, calls, match)
        if total == 0:
            raise Fault(f"{op.args[0]}: no {calls} call to inject {err} into")
        # the first and the last two calls always (the manifest's end, the
        # log line), the rest sampled
        ks = set(op.rng.sample(range(1, total + 1), min(points, total))) | {1, total - 1, total}
        for k in sorted(k for k in ks if k >= 1):
            op.fresh()
            # a backup goes on from a fresh copy when a link cannot be made,
            # counted in --stats; a restore must say so (exit 1)
            op.split_ok = err in ("EMLINK", "EXDEV") and isinstance(op, Backup)
            env = {"LD_PRELOAD": op.shim, "HS_FAULT_AT": str(k), "HS_FAULT_ACTION": err,
                   "HS_FAULT_CALLS": calls}
            if match:
                env["HS_FAULT_MATCH"] = match
            r = op.run(env)
            what = f"{op.args[0]}: {err} on {calls} call {k} of {total}"
            if verbose:
                print(f"{what}: exit {r.returncode}: {r.stderr.decode('utf-8', 'replace')!r}")
            if r.returncode not in codes + (0,):
                raise Fault(f"{what}: exit {r.returncode}, expected {codes}: {r.stderr[:600]!r}")
            if r.returncode != 0 and not names_path(r.stderr, err):
                raise Fault(f"{what}: no message naming a path: {r.stderr[:600]!r}")
            op.check(r, what)
            op.clean(what)
            tried += 1
    return tried


def temp_base(ops):
    """A temp dir whose path holds no scenario's path filter: "n" is there to
    hit the tree's entries (n1, n2, ...), and a random name with an "n" in it
    made DEST's own open the first to fail (ENOENT there: exit 2, DEST is
    missing), one run in five."""
    filters = {m for op in ops for _, _, m, _ in op.scenarios if m}
    for _ in range(100):
        base = tempfile.mkdtemp(prefix="faulttest-")
        if not any(m in base for m in filters):
            return base
        os.rmdir(base)
    sys.exit(f"faulttest: {tempfile.gettempdir()} holds one of {sorted(filters)}: set TMPDIR")


def swapped_dir(hs, shim, base):
    """A source directory replaced by a symlink to "/" between the walker's
    readdir and its open: the snapshot holds nothing of "/" (exit 1 naming
    the directory, or the symlink itself); the next run stores the symlink."""
    src, dest = os.path.join(base, "ssrc"), os.path.join(base, "sdest")
    victim = os.path.join(src, "a", "victim")
    os.makedirs(os.path.join(victim, "deeper"))
    for d in (src, os.path.join(src, "a"), victim):
        with open(os.path.join(d, "file"), "w") as f:
            f.write("data\n")
    env = {"LD_PRELOAD": shim, "HS_FAULT_AT": "1", "HS_FAULT_ACTION": "swap",
           "HS_FAULT_SWAP": victim, "HS_FAULT_CALLS": "openat", "HS_FAULT_MATCH": "victim"}
    r = run(hs, ["backup", "-q", src, dest], DAY1, env)
    if not os.path.islink(victim):
        raise Fault("swap: the shim did not swap the directory")
    if r.returncode not in (0, 1):
        raise Fault(f"swap: exit {r.returncode}: {r.stderr[:500]!r}")
    snap = os.path.join(dest, DAY1)
    got = difftest.listing(snap.encode(), with_hash=False)
    outside = [p for p in got if p.startswith(b"a/victim/") and p[9:] not in (b"file", b"deeper")]
    for p in got:
        if re.search(rb"(^|/)(etc|proc|usr)(/|$)", p):
            outside.append(p)
    if outside:
        raise Fault(f"swap: the snapshot holds what is under /: {outside[:5]}")
    if r.returncode == 1 and b"victim" not in r.stderr:
        raise Fault(f"swap: exit 1 without naming the directory: {r.stderr[:300]!r}")
    r = run(hs, ["backup", "-q", src, dest], DAY2)
    if r.returncode != 0:
        raise Fault(f"swap: the next run failed: {r.stderr[:300]!r}")
    link = os.path.join(dest, DAY2, "a", "victim")
    if not os.path.islink(link) or os.readlink(link) != "/":
        raise Fault("swap: the next snapshot does not hold the symlink as a symlink")
    return r


def no_hard_links(hs, shim, base):
    """A restore into a filesystem that cannot make hard links (every linkat
    EPERM): the groups restored as copies, said once (exit 1), not per name."""
    src, dest, target = (os.path.join(base, d) for d in ("nsrc", "ndest", "ntarget"))
    os.makedirs(os.path.join(src, "a"))
    for i in range(5):
        with open(os.path.join(src, f"g{i}"), "w") as f:
            f.write(f"group {i}\n")
        for k in range(3):
            os.link(os.path.join(src, f"g{i}"), os.path.join(src, "a", f"g{i}-{k}"))
    if run(hs, ["backup", "-q", src, dest], DAY1).returncode:
        raise Fault("no-links fixture: backup failed")
    env = {"LD_PRELOAD": shim, "HS_FAULT_AT": "1", "HS_FAULT_ACTION": "EPERM",
           "HS_FAULT_ONWARD": "1", "HS_FAULT_CALLS": "linkat"}
    r = run(hs, ["restore", "-q", os.path.join(dest, DAY1), target], None, env)
    lines = r.stderr.decode().splitlines()
    if r.returncode != 1 or len(lines) != 1 or "hard links cannot be made" not in lines[0]:
        raise Fault(f"no hard links: exit {r.returncode}, want 1 and one message: {lines[:5]}")
    got = difftest.listing(target.encode())
    want = difftest.listing(os.path.join(dest, DAY1).encode())
    if strip(got) != strip(want) or any(len(g) > 1 for g in difftest.groups(got)):
        raise Fault("no hard links: the restored tree differs, or still has links")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hardsnap", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--points", type=int, default=8, help="injected errors per kind")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-v", action="store_true", help="print each run's messages")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    base = temp_base((Backup, Prune, Restore, RestoreOverwrite, Export))
    done = []
    try:
        for cls in (Backup, Prune, Restore, RestoreOverwrite, Export):
            op = cls(a.hardsnap, base, rng)
            op.shim = a.shim
            op.setup()
            done.append(f"{' '.join(op.args[:2]).replace(' -q', '')} {inject(op, a.points, a.v)}")
        swapped_dir(a.hardsnap, a.shim, base)
        no_hard_links(a.hardsnap, a.shim, base)
    except (Fault, difftest.Failure) as f:
        print(f"FAIL: seed {a.seed}: {f}\n  kept: {base}", file=sys.stderr)
        return 1
    shutil.rmtree(base)
    print(f"faulttest: injected errors: {', '.join(done)}; a directory swapped for a "
          "symlink to / not followed; a target without hard links: nothing lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
