#!/bin/bash
# Link limits: when linkat fails with EMLINK (ext4 allows 65000 names per
# inode), the file is copied instead, the run goes on, and later snapshots link
# to the fresh copy. A source hard-link group that the earlier inode has no
# room for starts whole on a fresh copy: never split between two inodes.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have python3 || skip "python3 is needed to make 65000 links quickly"

# fill_links FILE DIR LEAVE: adds names of FILE in DIR until EMLINK, then
# removes LEAVE of them again (exit 3: no limit found on this filesystem).
fill_links() {
    python3 - "$@" <<'PY'
import errno, os, sys
src, d, leave = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(d, exist_ok=True)
n = 0
try:
    while n < 200000:
        os.link(src, f"{d}/l{n}")
        n += 1
    sys.exit(3)
except OSError as e:
    if e.errno != errno.EMLINK:
        raise
for k in range(leave):
    os.unlink(f"{d}/l{n - 1 - k}")
PY
}

mkdir src
printf 'plain file\n' >src/f
printf 'group\n' >src/g1
ln src/g1 src/g2
ln src/g1 src/g3
backup_at 1 src dest
s1=$(now 1)

# the previous snapshot's inode of f is full
rc=0
fill_links "dest/$s1/f" dest/junk-f 0 || rc=$?
[ $rc = 3 ] && skip "no hard-link limit on this filesystem"
[ $rc = 0 ] || fail "could not fill the link count"
# the group's inode has room for exactly one more name
fill_links "dest/$s1/g1" dest/junk-g 1

HARDSNAP_NOW=$(now 2) hs_rc 0 backup --stats src dest
s2=$(now 2)
grep -Eq '^link fallbacks: +2 ' "$HS_OUT" || { cat "$HS_OUT" >&2; fail "--stats does not count 2 link fallbacks"; }
# the same tree, hard-link groups included
compare_trees src "dest/$s2"
not_same_inode "dest/$s1/f" "dest/$s2/f"
# the old inode had room for one more name, the group needs three: it
# starts on a fresh copy, all three names on it
not_same_inode "dest/$s1/g1" "dest/$s2/g1"
same_inode "dest/$s2/g1" "dest/$s2/g2"
same_inode "dest/$s2/g2" "dest/$s2/g3"

# the next snapshot links the fresh copies, not the full inodes, and the
# group is whole again (on a fresh copy: its old inode is still full)
HARDSNAP_NOW=$(now 3) hs_rc 0 backup src dest
s3=$(now 3)
same_inode "dest/$s2/f" "dest/$s3/f"
compare_trees src "dest/$s3"
rm -rf dest/junk-f dest/junk-g
