#!/bin/bash
# A store started by rsync (no manifest) and a store whose manifest is
# damaged: the backup compares files instead, and is still exact.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
have rsync || skip "rsync is not installed"

mktree_basic src
s1=$(now 0) s2=$(now 1) s3=$(now 2) s4=$(now 3) s5=$(now 4)
mkdir -m 0700 dest # as root, an open DEST is closed with a warning (t68)
rsync_opts=(-a -H -S --numeric-ids)
[ "$HS_HAVE_XATTR" = 1 ] && rsync_opts+=(-X)
rsync "${rsync_opts[@]}" src/ "dest/$s1/" || fail "rsync failed"
ln -s "$s1" dest/latest
compare_trees src "dest/$s1" # the reference itself must be exact

# what changes before the first hardsnap run
printf 'new content, longer than before\n' >src/file.txt
printf 'added\n' >src/added
changed=(file.txt)
s1_list=$HS_TMP/s1.list
tree_listing "dest/$s1" --inodes >"$s1_list"

HARDSNAP_NOW=$s2 hs_rc 0 backup src dest
compare_trees src "dest/$s2"
assert_latest dest "$s2"
compare_listing "$s1_list" "dest/$s1" --inodes
[ -s "dest/.hardsnap/manifests/$s2.hsm" ] || fail "no manifest written for $s2"
for p in "${changed[@]}"; do
    not_same_inode "dest/$s1/$p" "dest/$s2/$p"
done
# everything else is rsync's inode
declare -A skip_p=([./file.txt]=1 [./added]=1)
n=0
while IFS= read -r -d '' p; do
    [ -z "${skip_p[$p]:-}" ] || continue
    same_inode "dest/$s1/$p" "dest/$s2/$p"
    n=$((n + 1))
done < <(nondirs "dest/$s2")
[ "$n" -gt 20 ] || fail "only $n files checked"

# damage the newest manifest in the middle: the run notices and compares files
m=dest/.hardsnap/manifests/$s2.hsm
cp "$m" "$HS_TMP/s2.hsm.good"
size=$(stat -c %s "$m")
[ "$size" -gt 64 ] || fail "manifest $m is only $size bytes"
printf '\xde\xad\xbe\xef\x00\xff\x55\xaa' | dd of="$m" bs=1 seek=$((size / 2)) conv=notrunc status=none
printf 'changed again, and longer\n' >src/file.txt
s2_list=$HS_TMP/s2.list
tree_listing "dest/$s2" --inodes >"$s2_list"
HARDSNAP_NOW=$s3 hs_rc 0 backup src dest
grep -qi 'manifest' "$HS_ERR" || fail "no notice about the damaged manifest on stderr: $(cat "$HS_ERR")"
compare_trees src "dest/$s3"
compare_listing "$s2_list" "dest/$s2" --inodes
not_same_inode "dest/$s2/file.txt" "dest/$s3/file.txt"
declare -A skip_p=([./file.txt]=1)
while IFS= read -r -d '' p; do
    [ -z "${skip_p[$p]:-}" ] || continue
    same_inode "dest/$s2/$p" "dest/$s3/$p"
done < <(nondirs "dest/$s3")

# a truncated manifest
m=dest/.hardsnap/manifests/$s3.hsm
truncate -s $(($(stat -c %s "$m") / 3)) "$m"
printf 'third content\n' >src/added
HARDSNAP_NOW=$s4 hs_rc 0 backup src dest
grep -qi 'manifest' "$HS_ERR" || fail "no notice about the truncated manifest on stderr: $(cat "$HS_ERR")"
compare_trees src "dest/$s4"
not_same_inode "dest/$s3/added" "dest/$s4/added"
same_inode "dest/$s3/big.bin" "dest/$s4/big.bin"
same_inode "dest/$s3/hl/one" "dest/$s4/sub/hl-two"

# a manifest replaced by another snapshot's (intact, but of a different tree)
cp "$HS_TMP/s2.hsm.good" "dest/.hardsnap/manifests/$s4.hsm"
printf 'fourth\n' >src/added
HARDSNAP_NOW=$s5 hs_rc 0 backup src dest
compare_trees src "dest/$s5"
same_inode "dest/$s4/big.bin" "dest/$s5/big.bin"
not_same_inode "dest/$s4/added" "dest/$s5/added"
[ -s "dest/.hardsnap/manifests/$s5.hsm" ] || fail "no manifest written for $s5"
