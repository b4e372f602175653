#!/bin/bash
# A full store recovers in one night. A run that fails for lack of space (or
# of inodes) gives back what its unfinished tree took, and the tree an
# earlier interrupted run kept for resuming gives way too: the next run finds
# the room and succeeds, rather than failing again on its own leftovers.
# (Tested on size- and inode-limited tmpfs mounts.)

HS_PRIVATE_MOUNTS=1 # lib.sh: a mount namespace of its own
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root (mount)"

# small_fs DIR OPTIONS: a tmpfs with OPTIONS on DIR (skips if mounting fails)
small_fs() {
    mkdir -p "$1"
    mount -t tmpfs -o "$2" tmpfs "$1" 2>/dev/null || skip "cannot mount a tmpfs ($2)"
    at_exit "umount -l '$HS_TMP/$1'"
}

# --- space: 8 MiB ---------------------------------------------------------
small_fs space size=8m
mkdir src
random_file src/a.bin $((2 << 20))
backup_at 1 src space/dest
random_file src/b.bin $((7 << 20)) # does not fit next to a.bin
HARDSNAP_NOW=$(now 2) hs_rc 3 backup src space/dest
grep -q "No space left on device" "$HS_ERR" || fail "not a lack of space: $(cat "$HS_ERR")"
assert_no_partial space/dest
# the user makes room in the source; the next night fits without the leftovers
rm src/b.bin
random_file src/c.bin $((3 << 20))
HARDSNAP_NOW=$(now 3) hs_rc 0 backup src space/dest
compare_trees src "space/dest/$(now 3)"

# an interrupted run's resume tree gives way when the space runs short
# (5 MiB of 8 are used: 2 MiB left by a killed run, 1.5 MiB new data)
mkdir -p space/dest/.hardsnap/partial/2026-01-01T040000Z
random_file space/dest/.hardsnap/partial/2026-01-01T040000Z/left-over $((2 << 20))
random_file src/d.bin $((3 << 19))
HARDSNAP_NOW=$(now 5) hs_rc 3 backup src space/dest
assert_no_partial space/dest
HARDSNAP_NOW=$(now 6) hs_rc 0 backup src space/dest
compare_trees src "space/dest/$(now 6)"

# --- inodes: 80 in all ------------------------------------------------------
small_fs inodes size=64m,nr_inodes=80
rm -rf src
mkdir src
for i in $(seq 1 10); do printf '%s\n' "$i" >"src/f$i"; done
backup_at 1 src inodes/dest
mkdir src/many
for i in $(seq 1 80); do printf '%s\n' "$i" >"src/many/n$i"; done
HARDSNAP_NOW=$(now 2) hs_rc 3 backup src inodes/dest
grep -q "No space left on device" "$HS_ERR" || fail "not a lack of inodes: $(cat "$HS_ERR")"
assert_no_partial inodes/dest
rm -rf src/many
mkdir src/few
for i in $(seq 1 30); do printf '%s\n' "$i" >"src/few/n$i"; done
HARDSNAP_NOW=$(now 3) hs_rc 0 backup src inodes/dest
compare_trees src "inodes/dest/$(now 3)"
exit 0
