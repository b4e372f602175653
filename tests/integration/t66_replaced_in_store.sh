#!/bin/bash
# Never link what was not checked: a file of the previous snapshot replaced
# since it was made (same size, times, mode and owner, other content; or a
# fifo now; or a symlink made anew) is not linked as unchanged; diff of that
# snapshot against the live tree does not take the manifest's word for it.
# A source file that is itself an inode of the store (a user linked her file
# to its snapshot copy) is copied, never linked, so her writes cannot reach
# the later snapshots.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir src
printf 'the original\n' >src/doc
printf 'other data\n' >src/tofifo
ln -s target-one src/link
printf 'kept as it was\n' >src/plain
mkdir -p src/sub/deeper
printf 'deep down\n' >src/sub/deeper/doc
printf 'beside it\n' >src/sub/deeper/other
backup_at 1 src dest
s1=dest/$(now 1)

# the store's copies replaced behind the manifest's back, as an editor
# does (a new file renamed over the old one: another inode; a file deleted
# and made again can get its inode number back, which only verify's hashes
# can tell)
printf 'THE ORIGINAL\n' >"$s1/doc.new" # same size
touch -r src/doc "$s1/doc.new"
chmod --reference=src/doc "$s1/doc.new"
chown --reference=src/doc "$s1/doc.new"
mv "$s1/doc.new" "$s1/doc"
# the same two levels down (a directory changed since its manifest was
# written is listed: its ctime says so)
printf 'DEEP DOWN\n' >"$s1/sub/deeper/doc.new"
touch -r src/sub/deeper/doc "$s1/sub/deeper/doc.new"
mv "$s1/sub/deeper/doc.new" "$s1/sub/deeper/doc"
rm "$s1/tofifo"
mkfifo "$s1/tofifo"
touch -r src/tofifo "$s1/tofifo"
ln -s target-one "$s1/link.new" # same target, a new inode
touch -h -r src/link "$s1/link.new"
mv -T "$s1/link.new" "$s1/link"

# diff against the live tree: the tampered file differs, the fifo is another type
HARDSNAP_NOW=$(now 2) hs_rc 1 diff -v "$s1" src
grep -q "^M doc"$'\t'".*content" "$HS_OUT" || fail "diff trusted the manifest over the tree: $(cat "$HS_OUT")"
grep -q "^M tofifo"$'\t'".*type" "$HS_OUT" || fail "diff missed the fifo: $(cat "$HS_OUT")"
grep -q "plain" "$HS_OUT" && fail "diff reports an untouched file: $(cat "$HS_OUT")"
grep -q "not the file its manifest recorded.*doc" "$HS_ERR" || fail "diff did not say why: $(cat "$HS_ERR")"

HARDSNAP_NOW=$(now 2) hs_rc 1 backup src dest
s2=dest/$(now 2)
for f in doc tofifo link sub/deeper/doc; do
    grep -q "manifest recorded.*: $f\$" "$HS_ERR" || fail "no warning naming $f: $(cat "$HS_ERR")"
done
grep -q "sub/deeper/other" "$HS_ERR" && fail "an untouched file was warned about: $(cat "$HS_ERR")"
same_inode "$s1/sub/deeper/other" "$s2/sub/deeper/other"
compare_trees src "$s2"
[ "$(cat "$s2/doc")" = 'the original' ] || fail "the replaced copy was linked: $(cat "$s2/doc")"
not_same_inode "$s1/doc" "$s2/doc"
[ -f "$s2/tofifo" ] || fail "a fifo was linked in place of a file"
same_inode "$s1/plain" "$s2/plain"
# the next run has nothing to complain about
HARDSNAP_NOW=$(now 3) hs_rc 0 backup src dest
same_inode "$s2/doc" "dest/$(now 3)/doc"

# a source file hard-linked to its snapshot copy (DEST was open once)
s3=dest/$(now 3)
ln -f "$s3/doc" src/doc
printf 'moved away, then linked back\n' >src/renamed
HARDSNAP_NOW=$(now 4) hs_rc 1 backup src dest
grep -q "hard link to a file of the store.*doc" "$HS_ERR" || fail "no warning for doc: $(cat "$HS_ERR")"
not_same_inode src/doc "dest/$(now 4)/doc"
rm src/renamed
ln "$s3/plain" src/renamed # content link candidate: the same inode as the source
HARDSNAP_NOW=$(now 5) hs_rc 1 backup src dest
s5=dest/$(now 5)
grep -q "hard link to a file of the store.*renamed" "$HS_ERR" || fail "no warning for renamed: $(cat "$HS_ERR")"
# doc: the copy made last time is linked, not the source's inode
same_inode "dest/$(now 4)/doc" "$s5/doc"
not_same_inode src/doc "$s5/doc"
not_same_inode src/renamed "$s5/renamed"
compare_trees src "$s5"
# her next write reaches the old snapshot whose inode she holds, never the new one
printf 'appended\n' >>src/doc
[ "$(cat "$s5/doc")" = 'the original' ] || fail "a write to the source changed the new snapshot"
[ "$(cat "$s5/renamed")" = 'kept as it was' ] || fail "renamed changed"
exit 0
