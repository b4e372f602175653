#!/bin/bash
# Content under other metadata on a file system that shares extents (btrfs):
# a renamed and chmod'ed file is not linked (the old snapshot keeps its mode)
# but made as a FICLONE clone of the old file, so no data is written again.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "mounting a btrfs image needs root"
have mkfs.btrfs || skip "mkfs.btrfs (btrfs-progs) is needed"
have filefrag || skip "filefrag (e2fsprogs) is needed to see shared extents"
truncate -s 256M fs.img
mkfs.btrfs -q fs.img >/dev/null 2>&1 || skip "mkfs.btrfs failed"
mkdir mnt
mount -o loop fs.img mnt 2>/dev/null || skip "cannot mount a btrfs image (no loop devices or no btrfs)"
at_exit "umount '$HS_TMP/mnt'"

mkdir -p mnt/src/docs
random_file mnt/src/docs/report.pdf $((4 * 1024 * 1024))
random_file mnt/src/docs/keep.bin 65536
chmod 644 mnt/src/docs/report.pdf
backup_at 1 mnt/src mnt/dest
s1="mnt/dest/$(now 1)"

mv mnt/src/docs/report.pdf mnt/src/docs/final.pdf
chmod 600 mnt/src/docs/final.pdf
backup_at 2 --stats mnt/src mnt/dest
s2="mnt/dest/$(now 2)"
grep -q '^content-linked: 0 files, 1 cloned' "$HS_OUT" ||
    fail "--stats: $(grep content-linked "$HS_OUT")"
grep -q '^copied: *0 files' "$HS_OUT" || fail "--stats: $(grep '^copied' "$HS_OUT")"
not_same_inode "$s1/docs/report.pdf" "$s2/docs/final.pdf"
[ "$(stat -c %a "$s1/docs/report.pdf")" = 644 ] || fail "the old snapshot's mode changed"
[ "$(stat -c %a "$s2/docs/final.pdf")" = 600 ] || fail "the clone has not the source's mode"
cmp -s mnt/src/docs/final.pdf "$s2/docs/final.pdf" || fail "the clone's content differs"
filefrag -v "$s2/docs/final.pdf" | grep -q shared || fail "the clone shares no extents"
same_inode "$s1/docs/keep.bin" "$s2/docs/keep.bin"
compare_trees mnt/src "$s2"
hs_rc 0 verify mnt/dest --all
