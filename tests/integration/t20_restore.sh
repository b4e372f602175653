#!/bin/bash
# Restore: a whole snapshot, a folder, a single file, through latest. The
# restored tree equals the snapshot (content, metadata, hard-link groups,
# holes) and is made of new inodes; the snapshot is left as it was.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# assert_none_linked A B: no non-directory of B is an inode of A
assert_none_linked() {
    local shared
    shared=$(comm -12 <(find "$1" ! -type d -printf '%D:%i\n' | sort -u) \
        <(find "$2" ! -type d -printf '%D:%i\n' | sort -u))
    [ -z "$shared" ] || fail "$2 shares inodes with $1: $(printf '%s ' "$shared" | head -c 300)"
}

mktree_basic src
acl=0
if have setfacl && have getfacl && setfacl -m u:65534:r,g:65534:rw src/mode-0600 2>/dev/null; then
    acl=1
    setfacl -d -m u:65534:rx src/dir-setgid
fi
touch -a -d '2020-02-03 04:05:06.123456789' src/one-byte # an atime of its own
s=$(now 0)
backup_at 0 src dest
snap=dest/$s
snap_list=$HS_TMP/snap.list
tree_listing "$snap" --inodes >"$snap_list"

# --- the whole snapshot into a new TARGET ---------------------------------------
atime=$(stat -c %X.%x "$snap/one-byte") # after the listing, which reads the files
hs_rc 0 restore "$snap" out
# atime first: the comparisons below read the files
[ "$(stat -c %X.%x out/one-byte)" = "$atime" ] ||
    fail "atime of one-byte not restored: $(stat -c %x out/one-byte), the snapshot has $atime"
if is_root; then # reading with O_NOATIME needs ownership
    [ "$(stat -c %X.%x "$snap/one-byte")" = "$atime" ] || fail "the restore changed the snapshot's atime"
fi
grep -q '^restored: ' "$HS_OUT" || fail "no summary on stdout: $(cat "$HS_OUT")"
if is_root && [ -s "$HS_ERR" ]; then
    fail "unexpected stderr on a clean restore: $(cat "$HS_ERR")"
fi
compare_trees "$snap" out
compare_trees src out
compare_listing "$snap_list" "$snap" --inodes
assert_none_linked "$snap" out
same_inode out/hl/one out/sub/hl-two
same_inode out/hl/one out/hl-three
same_inode out/hl/pair-a out/hl/pair-b
not_same_inode out/hl/one out/hl/pair-a
[ "$(stat -c %h out/hl/one)" = 3 ] || fail "hl/one has $(stat -c %h out/hl/one) links, expected 3"
is_sparse out/sparse.img ||
    fail "sparse.img is not sparse after the restore: $(stat -c '%b blocks, size %s' out/sparse.img)"
if [ $acl = 1 ]; then
    [ "$(getfacl -cp out/mode-0600)" = "$(getfacl -cp src/mode-0600)" ] || fail "ACL of mode-0600 not restored"
    [ "$(getfacl -cpd out/dir-setgid)" = "$(getfacl -cpd src/dir-setgid)" ] ||
        fail "default ACL of dir-setgid not restored"
else
    note "setfacl not available: ACLs not checked"
fi

# --- a folder: PATH itself, under its own name ---------------------------------
hs_rc 0 restore "$snap/sub" out-sub
[ "$(entries out-sub)" = "sub " ] || fail "out-sub holds: $(entries out-sub), expected sub"
compare_trees "$snap/sub" out-sub/sub
# the TARGET made for it is 0700, as hardsnap(1) says (it may hold others' files)
[ "$(stat -c %a out-sub)" = 700 ] || fail "out-sub was made mode $(stat -c %a out-sub), expected 700"
hs_rc 0 restore "$snap/sub/deep/" out-deep # a trailing slash changes nothing
[ "$(entries out-deep)" = "deep " ] || fail "out-deep holds: $(entries out-deep), expected deep"
compare_trees "$snap/sub/deep" out-deep/deep
assert_none_linked "$snap" out-deep

# --- single entries, into one existing directory --------------------------------
mkdir out-one
hs_rc 0 restore "$snap/sub/deep/data.bin" out-one
cmp -s "$snap/sub/deep/data.bin" out-one/data.bin || fail "data.bin: wrong content"
[ "$(stat -c '%a %u %g %Y.%y' out-one/data.bin)" = "$(stat -c '%a %u %g %Y.%y' "$snap/sub/deep/data.bin")" ] ||
    fail "data.bin: metadata not restored"
not_same_inode out-one/data.bin "$snap/sub/deep/data.bin"
hs_rc 0 restore "$snap/link-rel" out-one
[ "$(readlink out-one/link-rel)" = sub/deep/data.bin ] || fail "link-rel: wrong target"
[ "$(stat -c %y out-one/link-rel)" = "$(stat -c %y "$snap/link-rel")" ] || fail "link-rel: its own mtime not restored"
hs_rc 0 restore "$snap/hl/one" out-one
[ "$(stat -c %h out-one/one)" = 1 ] || fail "a single name of a group is restored as one file"
hs_rc 0 restore "$snap/fifo" out-one
[ -p out-one/fifo ] || fail "fifo not restored as a fifo"
hs_rc 0 restore "$snap/$(printf 'new\nline')" out-one
[ "$(cat out-one/$'new\nline')" = newline ] || fail "a name with a newline: wrong content"
[ "$(find out-one -mindepth 1 -printf x)" = xxxxx ] || fail "out-one holds: $(entries out-one)"

# --- through DEST/latest ----------------------------------------------------------
hs_rc 0 restore dest/latest out-latest
compare_trees "$snap" out-latest
hs_rc 0 restore dest/latest/sub/deep out-latest-deep
compare_trees "$snap/sub/deep" out-latest-deep/deep

# --- TARGET itself may be a symlink to a directory (the user's choice) -----------
mkdir real
ln -s real tlink
hs_rc 0 restore "$snap/sub" tlink
[ -L tlink ] || fail "the TARGET symlink was replaced"
compare_trees "$snap/sub" real/sub

# --- -n lists and changes nothing; -v lists; -q is quiet -------------------------
hs_rc 0 restore -n "$snap" out-dry
assert_absent out-dry
grep -qx 'sub/deep/data.bin' "$HS_OUT" || fail "-n does not list sub/deep/data.bin: $(head -c 2000 "$HS_OUT")"
grep -qxF 'new\nline' "$HS_OUT" || fail "-n does not list the escaped name new\\nline"
grep -q '^dry run: ' "$HS_OUT" || fail "-n: no summary"
nlinks=$(find "$snap" -type l | wc -l)
[ "$nlinks" -gt 0 ] || fail "mktree_basic made no symlink"
grep -Eq "^dry run: .* $nlinks symlinks, " "$HS_OUT" ||
    fail "-n summary does not count the $nlinks symlinks: $(grep '^dry run' "$HS_OUT")"
mkdir out-dry2
printf 'mine\n' >out-dry2/mine
dry_list=$HS_TMP/dry.list
tree_listing out-dry2 --inodes >"$dry_list"
hs_rc 0 restore -n "$snap" out-dry2
compare_listing "$dry_list" out-dry2 --inodes
hs_rc 0 restore -v "$snap/sub" out-v
grep -qx 'sub/deep/deeper/odd.bin' "$HS_OUT" || fail "-v does not list sub/deep/deeper/odd.bin"
grep -q '^restored: ' "$HS_OUT" || fail "-v: no summary"
hs_rc 0 restore -q "$snap/file.txt" out-q
[ ! -s "$HS_OUT" ] || fail "-q printed: $(cat "$HS_OUT")"
[ ! -s "$HS_ERR" ] || ! is_root || fail "-q wrote to stderr: $(cat "$HS_ERR")"
cmp -s "$snap/file.txt" out-q/file.txt || fail "-q: file.txt not restored"

# --- a snapshot whose inodes are shared with another: the groups are still
# exactly the snapshot's, with the manifest and without it ----------------------
s2=$(now 1)
backup_at 1 src dest
assert_all_linked "$snap" "dest/$s2"
hs_rc 0 restore "dest/$s2" out-2
compare_trees "dest/$s2" out-2
assert_none_linked "$snap" out-2
[ "$(stat -c %h out-2/hl/one)" = 3 ] || fail "out-2/hl/one has $(stat -c %h out-2/hl/one) links, expected 3"
[ "$(stat -c %h out-2/file.txt)" = 1 ] || fail "out-2/file.txt has $(stat -c %h out-2/file.txt) links, expected 1"
hs_rc 0 restore "dest/$s2/hl" out-2hl
compare_trees "dest/$s2/hl" out-2hl/hl
mv "dest/.hardsnap/manifests/$s2.hsm" manifest.saved
hs_rc 0 restore "dest/$s2" out-2nm
compare_trees "dest/$s2" out-2nm
mv manifest.saved "dest/.hardsnap/manifests/$s2.hsm"

# --- --progress: nothing when stderr is not a terminal ---------------------------
hs_rc 0 restore --progress "$snap/sub" out-progress
[ ! -s "$HS_ERR" ] || ! is_root || fail "--progress wrote to a stderr that is not a terminal"

# --- help --------------------------------------------------------------------------
hs_rc 0 restore --help
grep -q 'usage: hardsnap restore' "$HS_OUT" || fail "restore --help: no usage on stdout"
grep -q -- '--overwrite' "$HS_OUT" || fail "restore --help does not list --overwrite"
[ ! -s "$HS_ERR" ] || fail "restore --help wrote to stderr"
long=$(awk 'length > 80' "$HS_OUT")
[ -z "$long" ] || fail "restore --help has lines over 80 columns: $long"

# the snapshot is as it was after all of this
compare_listing "$snap_list" "$snap" --inodes
