#!/bin/bash
# Trees deeper than PATH_MAX and a directory with 5000 entries.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mktree_deep src/deep
mkdir src/wide
(deep_cd src/deep && [ "$(cat bottom.txt)" = 'the bottom' ]) || fail "test setup: deep tree"
for ((i = 0; i < 5000; i++)); do
    printf '%d\n' "$i" >"src/wide/entry-$i"
done
touch -d '2021-01-01 00:00:00.25' src/wide/entry-*

s1=$(now 0) s2=$(now 1)
HARDSNAP_NOW=$s1 hs_rc 0 backup src dest
compare_trees src/wide "dest/$s1/wide"
diff <(deep_listing src/deep) <(deep_listing "dest/$s1/deep") >&2 || fail "deep tree differs in $s1"
bottom_ino=$(deep_cd "dest/$s1/deep" && stat -c %i bottom.txt)
src_mtime=$(deep_cd src/deep && stat -c %y bottom.txt)
(
    deep_cd "dest/$s1/deep"
    [ "$(cat bottom.txt)" = 'the bottom' ] || fail "bottom.txt in $s1: wrong content"
    [ "$(stat -c %y bottom.txt)" = "$src_mtime" ] || fail "bottom.txt in $s1: mtime $(stat -c %y bottom.txt), expected $src_mtime"
    [ "$(readlink up-link)" = ../bottom.txt ] || fail "up-link in $s1: wrong target"
)
# content of the deep binary file, compared by hash from inside
h_src=$(deep_cd src/deep && sha256sum <bottom.bin)
h_snap=$(deep_cd "dest/$s1/deep" && sha256sum <bottom.bin)
[ "$h_src" = "$h_snap" ] || fail "bottom.bin differs in $s1"

# the second run links everything, also at the bottom
HARDSNAP_NOW=$s2 hs_rc 0 backup src dest
diff <(deep_listing src/deep) <(deep_listing "dest/$s2/deep") >&2 || fail "deep tree differs in $s2"
compare_trees src/wide "dest/$s2/wide"
ino2=$(deep_cd "dest/$s2/deep" && stat -c %i bottom.txt)
[ "$bottom_ino" = "$ino2" ] || fail "bottom.txt not linked in $s2 (inode $ino2, was $bottom_ino)"
assert_all_linked "dest/$s1/wide" "dest/$s2/wide"

# a change at the bottom is seen
(deep_cd src/deep && printf 'the new bottom\n' >bottom.txt)
s3=$(now 2)
HARDSNAP_NOW=$s3 hs_rc 0 backup src dest
(deep_cd "dest/$s3/deep" && [ "$(cat bottom.txt)" = 'the new bottom' ]) || fail "bottom.txt change not in $s3"
(deep_cd "dest/$s2/deep" && [ "$(cat bottom.txt)" = 'the bottom' ]) || fail "bottom.txt in $s2 changed"
[ "$(find "dest/$s3/wide" -type f | wc -l)" = 5000 ] || fail "wide dir in $s3 does not have 5000 entries"
