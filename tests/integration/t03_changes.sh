#!/bin/bash
# Every kind of change is seen: changed files get new inodes, unchanged ones
# keep the previous snapshot's inode, and the previous snapshot stays as it was.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mktree_basic src
s1=$(now 0) s2=$(now 1)
HARDSNAP_NOW=$s1 hs_rc 0 backup src dest
old_listing=$HS_TMP/old.list
tree_listing "dest/$s1" --inodes >"$old_listing"

cd src
# same size, same mtime, different content, written in place (same inode)
cp -a file.txt "$HS_TMP/ref"
printf 'HELLO, WORLD\n' >file.txt
touch -r "$HS_TMP/ref" file.txt
[ "$(stat -c %s file.txt)" = "$(stat -c %s "$HS_TMP/ref")" ] || fail "test setup: size differs"
# same size, same mtime, different content, a new inode renamed over the old
printf '#!/bin/bash' >"$HS_TMP/new-0755"
chmod 0755 "$HS_TMP/new-0755"
touch -r mode-0755 "$HS_TMP/new-0755"
mv "$HS_TMP/new-0755" mode-0755
# new content, new size
random_file sub/deep/deeper/odd.bin 70000
# mode only
chmod 0640 mode-0600
# mtime only
touch -d '2023-01-01 00:00:00.5' one-byte
# owner only (a file, a symlink itself), and the mode of a device node
if is_root; then
    chown 99:99 mode-0444
    chown -h 77:77 sub/link-up
    [ "$HS_HAVE_DEV" = 1 ] && chmod 0600 chardev
fi
# xattr only
if [ "$HS_HAVE_XATTR" = 1 ]; then
    setfattr -n user.test -v 'changed value' sub/4k.bin
fi
# symlink target (same length) and a symlink's mtime only
ln -sfn sub/deep/data.biX link-rel
touch -h -d '2010-01-01' dangling
# added
printf 'new file\n' >added.txt
mkdir -p added-dir/inner
printf 'inner\n' >added-dir/inner/f
# deleted
rm 'name with space'
rm -r 'dir with space'
# renamed
mv sub/deep/data.bin sub/deep/data-renamed.bin
# a file replaced by a directory, a directory by a file
rm empty-file
mkdir empty-file
printf 'was a file\n' >empty-file/inside
rm -r empty-dir
printf 'was a dir\n' >empty-dir
# a fifo replaced by a regular file
rm fifo
printf 'not a fifo\n' >fifo
cd ..

HARDSNAP_NOW=$s2 hs_rc 0 backup src dest
assert_latest dest "$s2"
compare_trees src "dest/$s2"
compare_listing "$old_listing" "dest/$s1" --inodes

# what changed has a new inode; everything else is linked
changed=(file.txt mode-0755 sub/deep/deeper/odd.bin mode-0600 one-byte link-rel dangling fifo)
is_root && changed+=(mode-0444 sub/link-up)
is_root && [ "$HS_HAVE_DEV" = 1 ] && changed+=(chardev)
[ "$HS_HAVE_XATTR" = 1 ] && changed+=(sub/4k.bin)
for p in "${changed[@]}"; do
    not_same_inode "dest/$s1/$p" "dest/$s2/$p"
done
declare -A is_changed=()
for p in "${changed[@]}"; do is_changed["./$p"]=1; done
n=0
while IFS= read -r -d '' p; do
    [ -z "${is_changed[$p]:-}" ] || continue
    if [ -e "dest/$s1/$p" ] || [ -L "dest/$s1/$p" ]; then
        [ -d "dest/$s1/$p" ] && continue # replaced directory
        same_inode "dest/$s1/$p" "dest/$s2/$p"
        n=$((n + 1))
    fi
done < <(nondirs "dest/$s2")
[ "$n" -gt 15 ] || fail "only $n unchanged files checked, expected more"

# the in-place change is really in the new snapshot, and the old one kept the old content
grep -q 'HELLO, WORLD' "dest/$s2/file.txt" || fail "file.txt in $s2 has the old content"
grep -q 'hello, world' "dest/$s1/file.txt" || fail "file.txt in $s1 lost its content"
[ -d "dest/$s2/empty-file" ] || fail "empty-file (now a directory) is not a directory in $s2"
[ -f "dest/$s2/empty-dir" ] || fail "empty-dir (now a file) is not a file in $s2"
[ ! -e "dest/$s2/name with space" ] || fail "deleted file still in $s2"
[ -f "dest/$s1/name with space" ] || fail "deleted file gone from $s1"

# a third run with no change links everything to the second
s3=$(now 2)
HARDSNAP_NOW=$s3 hs_rc 0 backup src dest
assert_all_linked "dest/$s2" "dest/$s3"
compare_trees src "dest/$s3"
