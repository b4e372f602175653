#!/bin/bash
# A second backup of an unchanged source links every non-directory.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mktree_basic src
s1=$(now 0) s2=$(now 1)
HARDSNAP_NOW=$s1 hs_rc 0 backup src dest
before=$HS_TMP/before.list
tree_listing "dest/$s1" --inodes >"$before"

HARDSNAP_NOW=$s2 hs_rc 0 backup src dest
[ "$(snapshots dest | tr '\n' ' ')" = "$s1 $s2 " ] || fail "snapshots: $(snapshots dest | tr '\n' ' ')"
assert_latest dest "$s2"
compare_trees src "dest/$s2"

# every non-directory (files, symlinks, fifo, device, hard-link groups) is
# the previous snapshot's inode
assert_all_linked "dest/$s1" "dest/$s2"
for p in link-rel dangling fifo hl/one sub/hl-two hl-three sparse.img; do
    same_inode "dest/$s1/$p" "dest/$s2/$p"
done
if [ "$HS_HAVE_DEV" = 1 ]; then
    same_inode "dest/$s1/chardev" "dest/$s2/chardev"
fi
# directories are new
not_same_inode "dest/$s1/sub" "dest/$s2/sub"
# nothing of the first snapshot changed (inodes included)
compare_listing "$before" "dest/$s1" --inodes
[ -f "dest/.hardsnap/manifests/$s2.hsm" ] || fail "no manifest for $s2"

# a third run, still nothing changed: linked to the second
s3=$(now 2)
HARDSNAP_NOW=$s3 hs_rc 0 backup src dest
assert_all_linked "dest/$s2" "dest/$s3"
compare_trees src "dest/$s3"
[ "$(stat -c %h "dest/$s3/file.txt")" = 3 ] ||
    fail "file.txt has $(stat -c %h "dest/$s3/file.txt") links after 3 snapshots, expected 3"
