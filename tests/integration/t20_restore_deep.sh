#!/bin/bash
# Restore of a tree deeper than PATH_MAX, with a hard-link group whose first
# name is at the bottom, and a planted symlink deep down in TARGET.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mktree_deep src/deep
# the group's first name in walk order is at the bottom ("level-..." < "zz")
(deep_cd src/deep && ln bottom.bin "$HS_TMP/src/deep/zz-top-link") || fail "setup: link"
s=$(now 0)
backup_at 0 src dest
snap=dest/$s

hs_rc 0 restore "$snap" out
diff <(deep_listing src --nlink) <(deep_listing out --nlink) >&2 || fail "the restored deep tree differs"
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
diff <(deep_listing src/deep --nlink) <(deep_listing out-folder/deep --nlink) >&2 || fail "the restored folder differs"

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
    for ((i = 0; i < HS_DEEP_LEVELS - 1; i++)); do
        cd "$HS_DEEP_NAME"
        if [ "$i" = 250 ]; then
            rm at-250
            ln -s "$HS_TMP/outside/victim" at-250
        fi
    done
    rm -r "$HS_DEEP_NAME"
    ln -s "$HS_TMP/outside" "$HS_DEEP_NAME"
) || fail "setup: planting deep symlinks"
hs_rc 0 restore --overwrite "$snap" out
compare_listing "$outside_list" outside --inodes
diff <(deep_listing src --nlink) <(deep_listing out --nlink) >&2 || fail "the deep tree differs after --overwrite"
(deep_cd out/deep && [ "$(cat bottom.txt)" = 'the bottom' ]) || fail "bottom.txt not restored"
