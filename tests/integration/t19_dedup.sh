#!/bin/bash
# --dedup: files with equal content and metadata share one inode, new files
# of one run with each other and with the previous snapshot's, even where the
# source has them apart; files whose metadata differs do not. Without it the
# snapshot's hard links are exactly the source's.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# contents DIR: path, type, mode, size, mtime and hash of every entry (no inodes)
contents() {
    (cd "$1" && find . -mindepth 1 -printf '%p %y %m %s %T@\n' | sort &&
        find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

mkdir -p src/a src/b
printf 'shared words\n' >src/a/one
cp -p src/a/one src/a/two      # equal content and metadata
cp -p src/a/one src/b/three
cp -p src/a/one src/b/other-mode
chmod 600 src/b/other-mode     # equal content, other mode
printf 'group\n' >src/b/g1
ln src/b/g1 src/b/g2           # a source hard-link group
cp -p src/b/g1 src/b/g-copy    # equal to the group's content

# without --dedup: four separate inodes for four separate files
backup_at 1 src plain
not_same_inode "plain/$(now 1)/a/one" "plain/$(now 1)/a/two"
not_same_inode "plain/$(now 1)/a/one" "plain/$(now 1)/b/three"
same_inode "plain/$(now 1)/b/g1" "plain/$(now 1)/b/g2"
not_same_inode "plain/$(now 1)/b/g1" "plain/$(now 1)/b/g-copy"

# with --dedup: one inode for the equal ones, the other mode apart
backup_at 1 --dedup --stats src dd
s1="dd/$(now 1)"
same_inode "$s1/a/one" "$s1/a/two"
same_inode "$s1/a/one" "$s1/b/three"
not_same_inode "$s1/a/one" "$s1/b/other-mode"
same_inode "$s1/b/g1" "$s1/b/g2"
same_inode "$s1/b/g1" "$s1/b/g-copy"
grep -q '^content-linked: 3 files' "$HS_OUT" || fail "--stats: $(grep content-linked "$HS_OUT")"
[ "$(stat -c %a "$s1/b/other-mode")" = 600 ] || fail "other-mode lost its mode"
[ "$(contents src)" = "$(contents "$s1")" ] || fail "dedup snapshot differs from the source"
hs_rc 0 verify "$s1"

# a new copy of an old file, made after the first backup: shares the old inode
cp -p src/a/one src/b/later
backup_at 2 --dedup --stats src dd
s2="dd/$(now 2)"
same_inode "$s1/a/one" "$s2/b/later"
same_inode "$s1/a/one" "$s2/a/one"
grep -q '^content-linked: 1 files' "$HS_OUT" || fail "--stats: $(grep content-linked "$HS_OUT")"
# and without --dedup the same copy is copied: a/one is linked at its path
cp -p src/a/one src/b/later2
backup_at 2 --stats src plain
not_same_inode "plain/$(now 2)/b/later2" "plain/$(now 2)/a/one"
same_inode "plain/$(now 1)/a/one" "plain/$(now 2)/a/one"
hs_rc 0 verify dd --all

# sharing made by --dedup does not outlive it: the next run without it
# gives the separate source files separate inodes again (one keeps the old)
backup_at 3 --stats src dd
s3="dd/$(now 3)"
not_same_inode "$s3/a/one" "$s3/a/two"
not_same_inode "$s3/a/one" "$s3/b/three"
same_inode "$s2/a/one" "$s3/a/one"
same_inode "$s3/b/g1" "$s3/b/g2"
not_same_inode "$s3/b/g1" "$s3/b/g-copy"
[ "$(contents src)" = "$(contents "$s3")" ] || fail "snapshot after --dedup differs from the source"
# and a rename after it does not join them either
mv src/a/two src/a/two-renamed
backup_at 4 src dd
not_same_inode "dd/$(now 4)/a/one" "dd/$(now 4)/a/two-renamed"
hs_rc 0 verify dd --all
