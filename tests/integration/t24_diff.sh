#!/bin/bash
# diff: a known change set between two snapshots (neighbours or not), and
# between a snapshot and the live source; the same with a manifest missing.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir -p src/keep src/gone src/dir
printf 'same\n' >src/keep/same
printf 'old\n' >src/keep/edit
printf 'perm\n' >src/keep/perm
printf 'move me\n' >src/keep/before
printf 'bye\n' >src/gone/file
ln -s target1 src/link
printf 'x\n' >src/dir-to-file
backup_at 1 src dest
s1=$(now 1)

# exit 0 and no output for two equal trees
HARDSNAP_NOW=$(now 2) hs_rc 0 backup src dest
s2=$(now 2)
hs_rc 0 diff "dest/$s1" "dest/$s2"
[ ! -s "$HS_OUT" ] || fail "diff of equal snapshots printed: $(cat "$HS_OUT")"

printf 'new content, longer\n' >src/keep/edit
chmod 600 src/keep/perm
mv src/keep/before src/keep/after
rm -r src/gone
ln -sfn target2 src/link
rm src/dir-to-file
mkdir src/dir-to-file
printf 'a\nb' >$'src/dir/new\nline'
backup_at 3 src dest
s3=$(now 3)

hs_rc 1 diff -v "dest/$s1" "dest/$s3"
expected=$(printf '%s\n' \
    $'M dir-to-file\ttype' \
    '- gone' \
    '- gone/file' \
    '+ dir/new\nline' \
    '+ keep/after' \
    '- keep/before' \
    $'M keep/edit\tsize,mtime,content' \
    $'M keep/perm\tmode' \
    $'M link\tmtime,target')
got=$(sort "$HS_OUT")
[ "$got" = "$(sort <<<"$expected")" ] || {
    diff <(sort <<<"$expected") <(echo "$got") >&2 || true
    fail "diff between $s1 and $s3 is not the expected change set"
}
grep -q 'keep/same' "$HS_OUT" && fail "diff reports the unchanged keep/same"
# walk order: a directory comes right before its contents
[ "$(grep -n '^- gone$' "$HS_OUT" | cut -d: -f1)" -lt "$(grep -n '^- gone/file$' "$HS_OUT" | cut -d: -f1)" ] ||
    fail "- gone does not come before - gone/file"

# without -v: just "M path"
hs_rc 1 diff "dest/$s2" "dest/$s3"
grep -qx 'M keep/edit' "$HS_OUT" || fail "diff without -v does not print 'M keep/edit'"

# the live source against the latest snapshot: nothing, then one change
hs_rc 0 diff dest/latest src
printf 'live edit!\n' >src/keep/same
hs_rc 1 diff dest/latest src
[ "$(cat "$HS_OUT")" = 'M keep/same' ] || fail "diff against the live tree: $(cat "$HS_OUT")"
# a part of a snapshot against the same part of the source
hs_rc 1 diff dest/latest/keep src/keep
[ "$(cat "$HS_OUT")" = 'M same' ] || fail "diff of a subfolder: $(cat "$HS_OUT")"

# without manifests the trees are walked: the same answer (content aside)
rm "dest/.hardsnap/manifests/$s1.hsm"
hs_rc 1 diff "dest/$s1" "dest/$s3"
grep -qx -- '- gone/file' "$HS_OUT" || fail "diff without a manifest misses - gone/file"
grep -qx 'M keep/edit' "$HS_OUT" || fail "diff without a manifest misses M keep/edit"

# bad arguments
hs_rc 2 diff src dest/latest
hs_rc 2 diff "dest/$s3"
hs_rc 2 diff "dest/$s3/../$s1" "dest/$s3"
hs_rc 2 diff "dest/$s3/no-such" "dest/$s3"
# a live side that is no directory: bad input, not a failure
hs_rc 2 diff "dest/$s3" "$HS_TMP/no-such-dir"
grep -q 'no-such-dir' "$HS_ERR" || fail "diff did not name the missing directory"
printf 'x\n' >a-file
hs_rc 2 diff "dest/$s3" a-file

# ---- extended attributes and ACLs: a backup copies a file whose attributes
# changed, so diff names it too, against the live tree and between
# snapshots (from their manifests, and walked)
touch xprobe
if have setfattr && have setfacl && setfattr -n user.t -v 1 xprobe 2>/dev/null; then
    mkdir xa
    printf 'x\n' >xa/attr
    printf 'a\n' >xa/acl
    printf 'p\n' >xa/plain
    setfattr -n user.color -v red xa/attr
    HARDSNAP_NOW=$(now 10) hs_rc 0 backup -q xa xdest
    setfattr -n user.color -v blue xa/attr
    setfacl -m u:nobody:r xa/acl
    hs_rc 1 diff -v xdest/latest xa
    [ "$(cat "$HS_OUT")" = "$(printf 'M acl\txattrs\nM attr\txattrs')" ] ||
        fail "diff against the live tree does not name the xattr and ACL changes: $(cat "$HS_OUT")"
    HARDSNAP_NOW=$(now 11) hs_rc 0 backup -q xa xdest
    not_same_inode "xdest/$(now 10)/attr" "xdest/$(now 11)/attr"
    same_inode "xdest/$(now 10)/plain" "xdest/$(now 11)/plain"
    hs_rc 1 diff -v "xdest/$(now 10)" "xdest/$(now 11)"
    [ "$(cat "$HS_OUT")" = "$(printf 'M acl\txattrs\nM attr\txattrs')" ] ||
        fail "diff between snapshots does not name the xattr and ACL changes: $(cat "$HS_OUT")"
    hs_rc 0 diff xdest/latest xa
    rm "xdest/.hardsnap/manifests/$(now 10).hsm"
    hs_rc 1 diff -v "xdest/$(now 10)" "xdest/$(now 11)"
    [ "$(cat "$HS_OUT")" = "$(printf 'M acl\txattrs\nM attr\txattrs')" ] ||
        fail "diff of a walked snapshot does not name the xattr and ACL changes: $(cat "$HS_OUT")"
else
    note "no user xattrs here (or no setfattr/setfacl): the xattr and ACL diff is not tested"
fi
exit 0
