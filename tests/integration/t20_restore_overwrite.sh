#!/bin/bash
# Restore into a TARGET that has entries: without --overwrite every conflict
# is named and nothing changes; with it, files are replaced by new inodes and
# a directory is never replaced by a file. A symlink planted in TARGET is
# never followed.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# real_dir PATH: a directory, not a symlink to one
real_dir() {
    [ -d "$1" ] && [ ! -L "$1" ]
}

# conflicts: the number of "exists in the target" lines of the last run
conflicts() {
    grep -c 'exists in the target: ' "$HS_ERR" || true
}

mktree_basic src
mkdir src/many
for ((i = 0; i < 60; i++)); do
    printf '%d\n' "$i" >"src/many/f$i"
done
s=$(now 0)
backup_at 0 src dest
snap=dest/$s
snap_list=$HS_TMP/snap.list
tree_listing "$snap" --inodes >"$snap_list"

# outside stands for /etc: planted symlinks in TARGET point at it
mkdir outside
printf 'precious\n' >outside/keep
outside_list=$HS_TMP/outside.list
tree_listing outside --inodes >"$outside_list"

mkdir -p t/sub/deep
printf 'mine\n' >t/file.txt
printf 'mine too\n' >t/sub/deep/data.bin
printf 'untouched\n' >t/only-mine
mkdir t/big.bin                # a directory where the snapshot has a file
printf 'x\n' >t/empty-dir      # a file where the snapshot has a directory
printf 'x\n' >t/link-rel       # a file where the snapshot has a symlink
ln -s "$HS_TMP/outside" t/hl   # where the snapshot has the directory hl
ln -s "$HS_TMP/outside" t/sub/deep/deeper
t_list=$HS_TMP/t.list
tree_listing t --inodes >"$t_list"

# --- without --overwrite: named, nothing changed -----------------------------------
hs_rc 2 restore "$snap" t
compare_listing "$t_list" t --inodes
compare_listing "$outside_list" outside --inodes
for p in file.txt sub/deep/data.bin big.bin empty-dir link-rel hl sub/deep/deeper; do
    grep -qF "exists in the target: t/$p" "$HS_ERR" || fail "conflict t/$p not named: $(cat "$HS_ERR")"
done
[ "$(conflicts)" = 7 ] || fail "expected 7 conflicts named, got: $(cat "$HS_ERR")"
grep -q '7 entries exist in the target (use --overwrite to replace them): t$' "$HS_ERR" ||
    fail "no final message: $(cat "$HS_ERR")"
# the same from a dry run
hs_rc 2 restore -n "$snap" t
compare_listing "$t_list" t --inodes
[ "$(conflicts)" = 7 ] || fail "-n: expected 7 conflicts named, got: $(cat "$HS_ERR")"
# a single file or a folder in the way
hs_rc 2 restore "$snap/file.txt" t
grep -qF 'exists in the target: t/file.txt' "$HS_ERR" || fail "single file: conflict not named"
hs_rc 2 restore "$snap/sub" t
grep -qF 'exists in the target: t/sub/deep/data.bin' "$HS_ERR" || fail "folder: conflict not named"
compare_listing "$t_list" t --inodes

# many conflicts: 50 named, then a count
mkdir tm
cp -a src/many tm/
hs_rc 2 restore "$snap/many" tm
[ "$(conflicts)" = 50 ] || fail "expected 50 conflicts named, got $(conflicts)"
grep -q '\.\.\. and 10 more' "$HS_ERR" || fail "no '... and 10 more' line: $(tail -3 "$HS_ERR")"
grep -q '60 entries exist in the target' "$HS_ERR" || fail "the count is not 60: $(tail -1 "$HS_ERR")"

# --- a dry run with --overwrite changes nothing -------------------------------------
hs_rc 1 restore -n --overwrite "$snap" t
compare_listing "$t_list" t --inodes
compare_listing "$outside_list" outside --inodes
grep -q 'big.bin' "$HS_ERR" || fail "-n --overwrite: the refused directory big.bin is not named"

# --- --overwrite --------------------------------------------------------------------
old_file=$(inode t/file.txt)
old_data=$(inode t/sub/deep/data.bin)
hs_rc 1 restore --overwrite "$snap" t # big.bin: a directory is not replaced by a file
grep -qF 't/big.bin' "$HS_ERR" || fail "the refused directory big.bin is not named: $(cat "$HS_ERR")"
[ -d t/big.bin ] || fail "the directory big.bin was replaced"
compare_listing "$outside_list" outside --inodes
[ "$(inode t/file.txt)" != "$old_file" ] || fail "file.txt was written into, not replaced"
[ "$(inode t/sub/deep/data.bin)" != "$old_data" ] || fail "sub/deep/data.bin was written into, not replaced"
cmp -s t/file.txt "$snap/file.txt" || fail "file.txt: not the snapshot's content"
[ "$(cat t/only-mine)" = untouched ] || fail "only-mine changed"
real_dir t/hl || fail "the planted symlink hl is not a directory now"
real_dir t/sub/deep/deeper || fail "sub/deep/deeper is not a directory now"
[ -d t/empty-dir ] || fail "empty-dir is not a directory now"
[ "$(readlink t/link-rel)" = sub/deep/data.bin ] || fail "link-rel is not the snapshot's symlink"
compare_trees "$snap/sub" t/sub
compare_trees "$snap/hl" t/hl
same_inode t/hl/one t/sub/hl-two
same_inode t/hl/one t/hl-three
[ -z "$(find t -name '.hardsnap-new*')" ] || fail "a temporary file is left in t: $(entries t)"
# with the directory gone, the same restore makes t the snapshot again
rm -r t/big.bin t/only-mine
hs_rc 0 restore --overwrite "$snap" t
compare_trees "$snap" t
compare_listing "$snap_list" "$snap" --inodes

# --- an old file's other names keep the old content: it is never written into ------
mkdir t2
printf 'other\n' >keep
ln keep t2/file.txt
hs_rc 0 restore --overwrite "$snap/file.txt" t2
[ "$(cat keep)" = other ] || fail "the old inode of t2/file.txt was written into"
cmp -s t2/file.txt "$snap/file.txt" || fail "t2/file.txt: not the snapshot's content"
# not even when the old file is the snapshot's own inode (a cp -al of it)
mkdir t3
ln "$snap/file.txt" t3/file.txt
hs_rc 0 restore --overwrite "$snap/file.txt" t3
not_same_inode t3/file.txt "$snap/file.txt"
compare_listing "$snap_list" "$snap" --inodes

# --- a planted symlink where a restored folder goes ----------------------------------
mkdir t4
ln -s "$HS_TMP/outside" t4/sub
hs_rc 2 restore "$snap/sub" t4
grep -qF 'exists in the target: t4/sub' "$HS_ERR" || fail "t4/sub not named"
[ -L t4/sub ] || fail "t4/sub changed"
compare_listing "$outside_list" outside --inodes
hs_rc 0 restore --overwrite "$snap/sub" t4
real_dir t4/sub || fail "t4/sub is not a directory now"
compare_trees "$snap/sub" t4/sub
compare_listing "$outside_list" outside --inodes
