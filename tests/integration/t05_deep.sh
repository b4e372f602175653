#!/bin/bash
# Trees deeper than PATH_MAX and a directory with 5000 entries.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

levels=300
name=level-0123456789abc # 19 characters + "/" = 20 per level: 6000 bytes in all

# deep_cd DIR: cd into DIR/name/name/... ($levels times), relative steps only
deep_cd() {
    cd "$1" || fail "cannot cd to $1"
    local i
    for ((i = 0; i < levels; i++)); do
        cd "$name" 2>/dev/null || fail "$1: level $i of $levels missing"
    done
}

mkdir -p src/deep src/wide
(
    cd src/deep
    for ((i = 0; i < levels; i++)); do
        mkdir "$name"
        cd "$name"
        [ $((i % 50)) = 0 ] && printf 'file at level %d\n' "$i" >"at-$i"
    done
    printf 'the bottom\n' >bottom.txt
    ln -s ../bottom.txt up-link
    random_file bottom.bin 100000
    touch -d '2020-02-02 02:02:02.2' bottom.txt
) || fail "could not build the deep tree"
(deep_cd src/deep && [ "$(cat bottom.txt)" = 'the bottom' ]) || fail "test setup: deep tree"
for ((i = 0; i < 5000; i++)); do
    printf '%d\n' "$i" >"src/wide/entry-$i"
done
touch -d '2021-01-01 00:00:00.25' src/wide/entry-*

# deep_listing DIR: find's own view (it handles long paths): name, type,
# mode, owner, mtime, and the size of files
deep_listing() {
    (cd "$1" && find . -printf '%p %y %m %U %G %T@\n' -type f -printf '%p size=%s\n' | sort)
}

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
