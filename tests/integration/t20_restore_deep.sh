#!/bin/bash
# Restore of a tree deeper than PATH_MAX, with a hard-link group whose first
# name is at the bottom, and a planted symlink deep down in TARGET.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

levels=300
name=level-0123456789abc # 20 bytes a level with the "/": 6000 bytes in all

# deep_cd DIR: cd into DIR/name/name/... ($levels times), relative steps only
deep_cd() {
    cd "$1" || fail "cannot cd to $1"
    local i
    for ((i = 0; i < levels; i++)); do
        cd "$name" 2>/dev/null || fail "$1: level $i of $levels missing"
    done
}

# deep_listing DIR: find's own view (it handles long paths)
deep_listing() {
    (cd "$1" && find . -printf '%p %y %m %U %G %T@ %n\n' -type f -printf '%p size=%s\n' | sort)
}

mkdir -p src/deep
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
# the group's first name in walk order is at the bottom ("level-..." < "zz")
(deep_cd src/deep && ln bottom.bin "$HS_TMP/src/deep/zz-top-link") || fail "setup: link"
s=$(now 0)
backup_at 0 src dest
snap=dest/$s

hs_rc 0 restore "$snap" out
diff <(deep_listing src) <(deep_listing out) >&2 || fail "the restored deep tree differs"
top_ino=$(stat -c %i out/deep/zz-top-link)
bottom_ino=$(deep_cd out/deep && stat -c %i bottom.bin)
[ "$top_ino" = "$bottom_ino" ] || fail "the hard link from the top to the bottom is not one inode"
snap_ino=$(stat -c %i "$snap/deep/zz-top-link")
[ "$top_ino" != "$snap_ino" ] || fail "the restored file is the snapshot's inode"
h_src=$(deep_cd src/deep && sha256sum <bottom.bin)
h_out=$(deep_cd out/deep && sha256sum <bottom.bin)
[ "$h_src" = "$h_out" ] || fail "bottom.bin differs"

# a folder of the snapshot, deep inside
hs_rc 0 restore "$snap/deep" out-folder
diff <(deep_listing src/deep) <(deep_listing out-folder/deep) >&2 || fail "the restored folder differs"

# again into the same TARGET: every file is a conflict, named with its long path
hs_rc 2 restore "$snap" out
grep -q 'bottom.txt' "$HS_ERR" || fail "the deep conflict is not named"
# with --overwrite: replaced deep down; planted symlinks deep down (to a file
# where the snapshot has a file, to a directory where it has a directory)
# are replaced, never followed
mkdir outside
printf 'precious\n' >outside/victim
outside_list=$HS_TMP/outside.list
tree_listing outside --inodes >"$outside_list"
(
    cd out/deep
    for ((i = 0; i < levels - 1; i++)); do
        cd "$name"
        if [ "$i" = 250 ]; then
            rm at-250
            ln -s "$HS_TMP/outside/victim" at-250
        fi
    done
    rm -r "$name"
    ln -s "$HS_TMP/outside" "$name"
) || fail "setup: planting deep symlinks"
hs_rc 0 restore --overwrite "$snap" out
compare_listing "$outside_list" outside --inodes
diff <(deep_listing src) <(deep_listing out) >&2 || fail "the deep tree differs after --overwrite"
(deep_cd out/deep && [ "$(cat bottom.txt)" = 'the bottom' ]) || fail "bottom.txt not restored"
