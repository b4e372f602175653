#!/bin/bash
# An interrupted run's tree is reused by the next run: a finished copy is
# linked instead of written again, but only if its content equals the
# source's (after a power loss a copy may hold zeros under the right size and
# mtime). A tree whose manifest was already stored is published as it is.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir -p src/d
random_file src/d/good 300000
random_file src/d/torn 300000
printf 'small\n' >src/small
backup_at 1 src dest
printf 'changed\n' >>src/d/good
printf 'changed\n' >>src/d/torn

# what a killed run leaves: partial/NAME with one finished copy and one whose
# data never reached the disk (zeros, right size and mtime)
p=dest/.hardsnap/partial/$(now 2)
mkdir -p "$p/d"
cp -p src/d/good "$p/d/good"
head -c "$(stat -c %s src/d/torn)" /dev/zero >"$p/d/torn"
touch -r src/d/torn "$p/d/torn"
chmod --reference=src/d/torn "$p/d/torn"
good_ino=$(inode "$p/d/good")
torn_ino=$(inode "$p/d/torn")

HARDSNAP_NOW=$(now 3) hs_rc 0 backup --stats src dest
s3=$(now 3)
compare_trees src "dest/$s3"
[ "$(inode "dest/$s3/d/good")" = "$good_ino" ] || fail "the finished copy d/good was written again"
[ "$(inode "dest/$s3/d/torn")" != "$torn_ino" ] || fail "the zero-filled copy d/torn was linked"
grep -Eq '^resumed: +1 ' "$HS_OUT" || fail "--stats does not count 1 resumed file: $(cat "$HS_OUT")"
assert_no_partial dest

# killed after the manifest was stored: the next run publishes that tree
printf 'again\n' >>src/small
HARDSNAP_NOW=$(now 4) hs_rc 0 backup src dest
mv "dest/$(now 4)" "dest/.hardsnap/partial/$(now 4)"
ln -sfn "$s3" dest/latest
HARDSNAP_NOW=$(now 5) hs_rc 0 backup src dest
[ -d "dest/$(now 4)" ] || fail "the stored-but-unpublished snapshot $(now 4) was not published"
compare_trees src "dest/$(now 4)"
assert_latest dest "$(now 5)"
assert_no_partial dest
