#!/usr/bin/env python3
"""Differential test of hardsnap backup against the source tree and rsync.

From a seed: a random source tree (files of many sizes, sparse files,
hard-link groups across folders, symlinks, fifos, empty dirs, odd names,
deep paths of ~2.5 KiB; deeper than PATH_MAX is t05_deep.sh's, as this
driver walks by path), then ROUNDS rounds of: random mutations, `hardsnap backup`, and
checks that
  - the new snapshot equals the source: type, mode, size, mtime (ns),
    content, symlink targets, and hard-link grouping (the partition of
    names into inodes is the source's);
  - every earlier snapshot is still what it was when made (inode, mode,
    mtime, size, and content by hash): each round the last three and one
    older one, with a sample of contents; at the end all of them, fully;
  - `rsync -aHn --checksum --itemize-changes SRC/ SNAP/` prints nothing.
A failure prints the seed, the round and the command that replays it.

usage: difftest.py --hardsnap BIN [--seed N]... [--rounds N] [--workdir DIR] [--keep]
"""
import argparse
import hashlib
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile

ODD_NAMES = [b"space name", b"tab\tname", b"new\nline", b"caf\xc3\xa9", b"\xff\xfe-latin1",
             b"-dash", b"#hash", b"star*", b"q?", b"back\\slash", b"..dots", b"x" * 200]


class Failure(Exception):
    pass


def fhash(path):
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def listing(root, with_hash=True):
    """path -> (kind, mode, size, mtime_ns, content-or-target, ino) below root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            m = st.st_mode
            if stat.S_ISREG(m):
                kind, extra = "f", fhash(p) if with_hash else None
            elif stat.S_ISDIR(m):
                kind, extra = "d", None
            elif stat.S_ISLNK(m):
                kind, extra = "l", os.readlink(p)
            elif stat.S_ISFIFO(m):
                kind, extra = "p", None
            else:
                kind, extra = "?", None
            size = st.st_size if kind in "fl" else 0
            mtime = st.st_mtime_ns if kind != "l" else 0
            out[rel] = (kind, stat.S_IMODE(m), size, mtime, extra, st.st_ino)
    return out


def groups(lst):
    """The partition of regular files into inodes: a set of frozensets."""
    by_ino = {}
    for p, e in lst.items():
        if e[0] == "f":
            by_ino.setdefault(e[5], set()).add(p)
    return {frozenset(v) for v in by_ino.values()}


class Tree:
    def __init__(self, root, rng):
        self.root = root
        self.rng = rng
        self.n = 0

    def fresh(self):
        self.n += 1
        if self.rng.random() < 0.08:
            return self.rng.choice(ODD_NAMES) + b"-%d" % self.n
        return b"n%d" % self.n

    def walk(self):
        """(path, lstat) of everything below the root; symlinks never followed."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                out.append((p, os.lstat(p)))
        return out

    def dirs(self):
        return [self.root] + self.entries("d")

    def entries(self, want):
        """Paths of directories ("d"), regular files ("f"), or all non-directories ("any")."""
        test = {"d": stat.S_ISDIR, "f": stat.S_ISREG,
                "any": lambda m: not stat.S_ISDIR(m)}[want]
        return [p for p, st in self.walk() if test(st.st_mode)]

    def data(self):
        r = self.rng.random()
        size = (0 if r < 0.05 else self.rng.randint(1, 200) if r < 0.6
                else self.rng.randint(200, 70000) if r < 0.95 else self.rng.randint(1 << 20, 3 << 20))
        if self.rng.random() < 0.3:  # compressible, and sometimes equal to another file
            return (b"%d\n" % self.rng.randint(0, 20)) * (size // 3 + 1)
        return self.rng.randbytes(size)

    def set_time(self, p):
        t = self.rng.randint(1_000_000_000, 1_800_000_000) * 10**9 + self.rng.randint(0, 10**9 - 1)
        os.utime(p, ns=(t, t), follow_symlinks=False)

    def add_file(self):
        d = self.rng.choice(self.dirs())
        p = os.path.join(d, self.fresh())
        with open(p, "wb") as f:
            f.write(self.data())
        os.chmod(p, self.rng.choice([0o644, 0o600, 0o755, 0o444, 0o640, 0o4755]))
        if self.rng.random() < 0.5:
            self.set_time(p)

    def add_sparse(self):
        p = os.path.join(self.rng.choice(self.dirs()), self.fresh())
        with open(p, "wb") as f:
            f.truncate(self.rng.randint(1 << 20, 8 << 20))
            for _ in range(self.rng.randint(0, 3)):
                f.seek(self.rng.randint(0, 8 << 20))
                f.write(self.rng.randbytes(self.rng.randint(1, 5000)))

    def add_dir(self):
        d = self.rng.choice(self.dirs())
        p = os.path.join(d, self.fresh())
        os.mkdir(p)
        if self.rng.random() < 0.05:  # deep and long (beyond PATH_MAX: t05_deep.sh)
            q = p
            for i in range(16):
                q = os.path.join(q, b"d" * 150 + b"%d" % i)
                os.mkdir(q)
            with open(os.path.join(q, b"leaf"), "wb") as f:
                f.write(b"deep\n")

    def add_symlink(self):
        d = self.rng.choice(self.dirs())
        target = self.rng.choice([b"../x", b"nowhere", b"/etc/passwd", b".", b"a/b/c" * 20])
        os.symlink(target, os.path.join(d, self.fresh()))

    def add_fifo(self):
        os.mkfifo(os.path.join(self.rng.choice(self.dirs()), self.fresh()))

    def add_hardlink(self):
        files = self.entries("f")
        if files:
            os.link(self.rng.choice(files), os.path.join(self.rng.choice(self.dirs()), self.fresh()))

    def edit(self):
        files = self.entries("f")
        if not files:
            return
        p = self.rng.choice(files)
        with open(p, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(self.rng.randint(0, size))
            f.write(self.rng.randbytes(self.rng.randint(1, 3000)))
        if self.rng.random() < 0.3:  # the mtime put back: only ctime/content tell
            self.set_time(p)

    def truncate(self):
        files = self.entries("f")
        if files:
            p = self.rng.choice(files)
            os.truncate(p, self.rng.randint(0, os.path.getsize(p)))

    def touch(self):
        ents = self.entries("any")
        if ents:
            self.set_time(self.rng.choice(ents))

    def chmod(self):
        files = self.entries("f")
        if files:
            os.chmod(self.rng.choice(files), self.rng.choice([0o600, 0o644, 0o700, 0o444]))

    def rename(self):
        ents = self.entries("any") + self.entries("d")
        if ents:
            src = self.rng.choice(ents)
            dst = os.path.join(self.rng.choice(self.dirs()), self.fresh())
            if not dst.startswith(src + b"/"):
                os.rename(src, dst)

    def delete(self):
        ents = self.entries("any")
        if ents:
            os.unlink(self.rng.choice(ents))
        if self.rng.random() < 0.2:
            ds = self.entries("d")
            if ds:
                shutil.rmtree(self.rng.choice(ds))

    def break_link(self):
        files = [p for p in self.entries("f") if os.lstat(p).st_nlink > 1]
        if files:
            p = self.rng.choice(files)
            tmp = p + b".tmp"
            shutil.copy2(p, tmp)
            os.rename(tmp, p)

    def file_to_dir(self):
        files = self.entries("f")
        if files:
            p = self.rng.choice(files)
            os.unlink(p)
            os.mkdir(p)
            with open(os.path.join(p, b"inner"), "wb") as f:
                f.write(b"was a file\n")
        ds = [d for d in self.entries("d") if not os.listdir(d) or self.rng.random() < 0.1]
        if ds:
            d = self.rng.choice(ds)
            shutil.rmtree(d)
            with open(d, "wb") as f:
                f.write(b"was a directory\n")

    def build(self):
        for _ in range(self.rng.randint(3, 8)):
            self.add_dir()
        for _ in range(self.rng.randint(40, 120)):
            self.add_file()
        for op in (self.add_sparse, self.add_symlink, self.add_fifo, self.add_hardlink):
            for _ in range(self.rng.randint(1, 6)):
                op()
        os.mkdir(os.path.join(self.root, b"empty-dir"))

    def mutate(self):
        ops = [self.add_file, self.add_file, self.add_dir, self.add_symlink, self.add_hardlink,
               self.edit, self.edit, self.truncate, self.touch, self.chmod, self.rename,
               self.rename, self.delete, self.break_link, self.file_to_dir, self.add_sparse,
               self.add_fifo]
        for _ in range(self.rng.randint(1, 12)):
            self.rng.choice(ops)()


def compare(src, snap, what, split_ok=False):
    """snap equals src; split_ok: a hard-link group may be split in parts
    (a link that could not be made, EMLINK, went on from a fresh copy)."""
    a, b = listing(src), listing(snap)
    for p in sorted(set(a) | set(b)):
        ea, eb = a.get(p), b.get(p)
        if ea is None or eb is None:
            raise Failure(f"{what}: {p!r} only in {'snapshot' if ea is None else 'source'}")
        if ea[:5] != eb[:5]:
            raise Failure(f"{what}: {p!r} differs: source {ea[:5]} snapshot {eb[:5]}")
    if split_ok and all(any(g <= h for h in groups(a)) for g in groups(b)):
        return b
    if groups(a) != groups(b):
        raise Failure(f"{what}: hard-link groups differ: source {sorted(map(sorted, groups(a) - groups(b)))}"
                      f" snapshot {sorted(map(sorted, groups(b) - groups(a)))}")
    return b


def backup_from(hs, src, earlier, dest, now):
    """Runs `hs backup src dest` with the tree `earlier` standing at src's
    path for the run, and returns the result. Gives test fixtures a store
    made by hardsnap itself: a copied store's manifests are not trusted (the
    snapshot directories are other inodes), so its next backup would only
    ever take the slower path."""
    aside = src + ".now"
    os.rename(src, aside)
    os.rename(earlier, src)
    try:
        env = dict(os.environ, HARDSNAP_NOW=now)
        return subprocess.run([hs, "backup", "-q", src, dest], env=env, capture_output=True)
    finally:
        os.rename(src, earlier)
        os.rename(aside, src)


def rsync_silent(src, snap):
    if not shutil.which("rsync"):
        return
    r = subprocess.run(["rsync", "-aHn", "--checksum", "--itemize-changes", src + b"/", snap + b"/"],
                       capture_output=True)
    if r.returncode != 0 or r.stdout.strip():
        raise Failure(f"rsync -aHn --checksum --itemize-changes: rc={r.returncode} "
                      f"out={r.stdout[:2000]!r} err={r.stderr[:500]!r}")


def check_kept(dest, kept, rng, full):
    for name, lst in kept.items():
        snap = os.path.join(dest, name.encode())
        now = listing(snap, with_hash=False)
        for p, e in lst.items():
            n = now.get(p)
            if n is None or n[:4] != e[:4] or n[5] != e[5]:
                raise Failure(f"earlier snapshot {name} changed at {p!r}: was {e} now {n}")
            if e[0] == "f" and (full or rng.random() < 0.05) and fhash(os.path.join(snap, p)) != e[4]:
                raise Failure(f"earlier snapshot {name}: content of {p!r} changed")
        if set(now) != set(lst):
            raise Failure(f"earlier snapshot {name}: entries added or removed")


def run_seed(seed, rounds, hardsnap, workdir, extra):
    rng = random.Random(seed)
    base = tempfile.mkdtemp(prefix=f"difftest-{seed}-", dir=workdir).encode()
    src, dest = os.path.join(base, b"src"), os.path.join(base, b"dest")
    os.mkdir(src)
    tree = Tree(src, rng)
    tree.build()
    kept = {}
    for rnd in range(1, rounds + 1):
        if rnd > 1:
            tree.mutate()
        name = "2026-%02d-%02dT%02d0000Z" % (1 + rnd // 672, 1 + rnd // 24 % 28, rnd % 24)
        env = dict(os.environ, HARDSNAP_NOW=name)
        args = [hardsnap, "backup", "-q"] + extra + [src, dest]
        r = subprocess.run(args, env=env, capture_output=True)
        try:
            if r.returncode != 0:
                raise Failure(f"backup exited {r.returncode}: {r.stderr[:2000]!r}")
            snap = os.path.join(dest, name.encode())
            kept[name] = compare(src, snap, f"snapshot {name}")
            rsync_silent(src, snap)
            earlier = [k for k in kept if k != name]
            if rnd < rounds:  # the last few and one older each round, all at the end
                earlier = earlier[-3:] + rng.sample(earlier[:-3], min(1, len(earlier[:-3])))
            check_kept(dest, {k: kept[k] for k in earlier}, rng, rnd == rounds)
        except Failure as f:
            raise Failure(f"seed {seed} round {rnd}: {f}\n  replay: {sys.argv[0]} --hardsnap {hardsnap}"
                          f" --seed {seed} --rounds {rnd} --keep {' '.join(extra)}") from None
    return base


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hardsnap", required=True)
    ap.add_argument("--seed", type=int, action="append")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the trees (always kept on failure)")
    a = ap.parse_args()
    seeds = a.seed or [1, 2, 3]
    total = 0
    for seed in seeds:
        try:
            base = run_seed(seed, a.rounds, a.hardsnap, a.workdir, [])
        except Failure as f:
            print(f"FAIL: {f}", file=sys.stderr)
            return 1
        total += a.rounds
        if not a.keep:
            shutil.rmtree(base)
    print(f"difftest: {len(seeds)} seeds, {total} rounds, every snapshot equal to its source and kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
