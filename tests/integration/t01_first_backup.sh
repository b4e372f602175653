#!/bin/bash
# First backup into a fresh DEST: the snapshot is the source, complete.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mktree_basic src
snap=$(now 0)
HARDSNAP_NOW=$snap hs_rc 0 backup src dest

[ "$(snapshots dest)" = "$snap" ] || fail "expected exactly snapshot $snap, got: $(snapshots dest | tr '\n' ' ')"
assert_latest dest "$snap"
compare_trees src "dest/$snap"
compare_trees src dest/latest

# the sparse file stays sparse
is_sparse "dest/$snap/sparse.img" ||
    fail "sparse.img is not sparse in the snapshot: $(stat -c '%b blocks of %B bytes, size %s' "dest/$snap/sparse.img")"

# one inode per hard-link group, and the group is not linked to the source
same_inode "dest/$snap/hl/one" "dest/$snap/sub/hl-two"
same_inode "dest/$snap/hl/one" "dest/$snap/hl-three"
same_inode "dest/$snap/hl/pair-a" "dest/$snap/hl/pair-b"
not_same_inode "dest/$snap/hl/one" "dest/$snap/hl/pair-a"
[ "$(stat -c %h "dest/$snap/hl/one")" = 3 ] || fail "hl/one has $(stat -c %h "dest/$snap/hl/one") links, expected 3"
not_same_inode src/big.bin "dest/$snap/big.bin"

# the store's own data
[ -f "dest/.hardsnap/manifests/$snap.hsm" ] || fail "no manifest dest/.hardsnap/manifests/$snap.hsm"
[ -s "dest/.hardsnap/manifests/$snap.hsm" ] || fail "manifest $snap.hsm is empty"
assert_no_partial dest

# the summary names the snapshot; nothing on stderr for a clean run (as
# root: otherwise a notice about ownership is expected)
grep -q "$snap" "$HS_OUT" || fail "summary on stdout does not name $snap: $(cat "$HS_OUT")"
if is_root && [ -s "$HS_ERR" ]; then
    fail "unexpected stderr on a clean run: $(cat "$HS_ERR")"
fi

# a trailing slash on SOURCE and on DEST means the same
snap2=$(now 1)
HARDSNAP_NOW=$snap2 hs_rc 0 backup src/ dest/
compare_trees src "dest/$snap2"
assert_latest dest "$snap2"
