#!/bin/bash
# Removal never enters a mount point (issue 12, class 2). A bind mount of
# live files left inside a snapshot has the snapshot's st_dev: prune must
# leave it alone and say so, keep the rest of that snapshot in the trash
# (exit 3: the snapshot could not be removed, as for an immutable file), and
# every later backup's recovery, which empties the trash, must leave it alone
# again: a warning naming the mount, exit 1, the snapshot made. Once
# unmounted, the next run empties the trash. The same for a file
# bind-mounted onto a file, a tmpfs (another st_dev), a snapshot that is
# itself a mount point, and mounts in an interrupted run's partial trees.

HS_PRIVATE_MOUNTS=1 # lib.sh: a mount namespace of its own
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root (mount)"

# mount_at TARGET ARGS...: mount ARGS on TARGET (skips the test if mounting
# fails), unmounted at exit wherever prune moved it
mount_at() {
    local target=$1
    shift
    if ! mount "$@" "$target" 2>/dev/null; then
        skip "cannot mount $* on $target (not privileged enough?)"
    fi
    at_exit "umount -l '$HS_TMP/$target'"
}

# unmount PATH: unmounts PATH (it must be a mount point)
unmount() {
    umount "$1" || fail "cannot unmount $1"
}

# the live files: must never change, whatever hardsnap does
mkdir -p live/sub live2
random_file live/a 5000
printf 'deep\n' >live/sub/b
chmod 0555 live/sub
printf 'single\n' >livefile
printf 'live2\n' >live2/c

mkdir -p src/d src/e
printf 'day 0\n' >src/d/f
printf 'e\n' >src/e/g
for n in 1 2 3 4; do
    printf 'day %s\n' "$n" >src/d/f
    backup_at "$n" src dest
done
s1=$(now 1) s2=$(now 2) s3=$(now 3)

# a directory bind mount in s1, a file bind mount in s2, a tmpfs in s3
mkdir "dest/$s1/d/mnt"
mount_at "dest/$s1/d/mnt" --bind live
at_exit "umount -l '$HS_TMP/dest/.hardsnap/trash/$s1/d/mnt'"
: >"dest/$s2/e/filemnt"
mount_at "dest/$s2/e/filemnt" --bind livefile
at_exit "umount -l '$HS_TMP/dest/.hardsnap/trash/$s2/e/filemnt'"
mkdir "dest/$s3/d/tmp"
mount_at "dest/$s3/d/tmp" -t tmpfs -o size=1m hs-t61
at_exit "umount -l '$HS_TMP/dest/.hardsnap/trash/$s3/d/tmp'"
printf 'on the tmpfs\n' >"dest/$s3/d/tmp/t"
tree_listing live >live.listing
tree_listing "dest/$s3/d/tmp" >tmpfs.listing

# all unharmed: compared by content hash, mode and mtime
check_live() {
    compare_listing live.listing live
    [ "$(cat livefile)" = single ] || fail "$1: the bind-mounted file changed"
    compare_listing tmpfs.listing "$2"
}

HARDSNAP_NOW=$(now 5) hs_rc 3 prune dest --keep-last 1
check_live "prune" "dest/.hardsnap/trash/$s3/d/tmp"
for m in "$s1/d/mnt" "$s2/e/filemnt" "$s3/d/tmp"; do
    grep -q "^hardsnap: not removing a mount point: dest/.hardsnap/trash/$m\\b" "$HS_ERR" ||
        fail "prune does not name the mount point $m: $(cat "$HS_ERR")"
done
[ "$(snapshots dest | tr '\n' ' ')" = "$(now 4) " ] ||
    fail "prune left snapshots in sight: $(snapshots dest | tr '\n' ' ')"
# the rest of those snapshots went
left=$(cd dest/.hardsnap/trash && find "$s1" -path "$s1/d/mnt" -prune -o -print | tr '\n' ' ')
[ "$left" = "$s1 $s1/d " ] || fail "more than the path to the mount point is left: $left"

# each backup empties the trash again: the mounts are left alone each time
for n in 6 7 8; do
    printf 'day %s\n' "$n" >src/d/f
    HARDSNAP_NOW=$(now "$n") hs_rc 1 backup src dest
    grep -q "^hardsnap: not removing a mount point: dest/.hardsnap/trash/" "$HS_ERR" ||
        fail "backup $n does not name the mount left in the trash: $(cat "$HS_ERR")"
    compare_trees src "dest/$(now "$n")"
    assert_latest dest "$(now "$n")"
    check_live "backup $n" "dest/.hardsnap/trash/$s3/d/tmp"
done

# unmounted: the next run empties the trash
unmount "dest/.hardsnap/trash/$s1/d/mnt"
unmount "dest/.hardsnap/trash/$s2/e/filemnt"
unmount "dest/.hardsnap/trash/$s3/d/tmp"
printf 'day 9\n' >src/d/f
HARDSNAP_NOW=$(now 9) hs_rc 0 backup src dest
[ -z "$(ls -A dest/.hardsnap/trash)" ] || fail "the trash is not empty: $(ls -A dest/.hardsnap/trash)"
compare_listing live.listing live

# ---- a snapshot that is itself a mount point ---------------------------------
backup_at 10 src dest2
backup_at 11 src dest2
mount_at "dest2/$(now 10)" --bind live2
HARDSNAP_NOW=$(now 12) hs_rc 3 prune dest2 --keep-last 1
grep -q "^hardsnap: not removing a mount point: dest2/$(now 10)\\b" "$HS_ERR" ||
    fail "prune does not name the snapshot that is a mount point: $(cat "$HS_ERR")"
[ "$(cat live2/c)" = live2 ] || fail "the files mounted on a snapshot changed"
[ -z "$(ls -A dest2/.hardsnap/trash)" ] || fail "the mounted snapshot was moved to the trash"
unmount "dest2/$(now 10)"
HARDSNAP_NOW=$(now 12) hs_rc 0 prune dest2 --keep-last 1
[ "$(count_snapshots dest2)" = 1 ] || fail "the unmounted snapshot was not pruned"

# ---- mounts in an interrupted run's trees (recovery) -------------------------
# an older unfinished tree is dropped: through the trash, not through the mount
old=dest/.hardsnap/partial/$(now 20)
mkdir -p "$old/d/mnt" "dest/.hardsnap/partial/$(now 21)/d"
mount_at "$old/d/mnt" --bind live
printf 'day 22\n' >src/d/f
HARDSNAP_NOW=$(now 22) hs_rc 1 backup src dest
grep -q "^hardsnap: not removing a mount point: dest/.hardsnap/trash/partial\\.[0-9]*/d/mnt\\b" \
    "$HS_ERR" || fail "recovery does not name the mount in the dropped tree: $(cat "$HS_ERR")"
compare_trees src "dest/$(now 22)"
compare_listing live.listing live
mnt=$(find dest/.hardsnap/trash -path '*/d/mnt' -print -quit)
[ -n "$mnt" ] || fail "the dropped tree is not in the trash"
at_exit "umount -l '$HS_TMP/$mnt'"
printf 'day 23\n' >src/d/f
HARDSNAP_NOW=$(now 23) hs_rc 1 backup src dest
compare_listing live.listing live

# the newest unfinished tree is kept for reuse, then removed after the
# backup: the mount in it is left alone there too
unmount "$mnt"
resume=dest/.hardsnap/partial/$(now 24)
mkdir -p "$resume/d/mnt"
mount_at "$resume/d/mnt" --bind live
at_exit "umount -l '$HS_TMP/dest/.hardsnap/partial/resume/d/mnt'"
printf 'day 25\n' >src/d/f
HARDSNAP_NOW=$(now 25) hs_rc 1 backup src dest
# (the resume tree, done with, leaves through the trash, mount and all)
grep -q "not removing a mount point: dest/.hardsnap/trash/partial\.[0-9]*/d/mnt\\b" "$HS_ERR" ||
    fail "the backup does not name the mount in the resume tree: $(cat "$HS_ERR")"
compare_trees src "dest/$(now 25)"
compare_listing live.listing live
unmount "$(findmnt -rn -o TARGET | grep "^$HS_TMP/dest/.hardsnap/trash/partial\.[0-9]*/d/mnt\$")"
printf 'day 26\n' >src/d/f
HARDSNAP_NOW=$(now 26) hs_rc 0 backup src dest
assert_no_partial dest
[ -z "$(ls -A dest/.hardsnap/trash)" ] || fail "the trash is not empty: $(ls -A dest/.hardsnap/trash)"
compare_listing live.listing live
