#!/bin/bash
# The example hook conf/hooks/btrfs-snapshot on a loop-mounted btrfs: a
# source's before takes a read-only snapshot of its subvolume and prints
# path=, after deletes it. What is backed up is the snapshot (a file written
# to the live subvolume after it was taken is not in the backup), under the
# source's paths; each run's snapshot is a new subvolume with another st_dev,
# and still the second run links every unchanged file to the first (change
# detection does not use st_dev). A snapshot a crashed run left is replaced;
# a directory in its place is not removed and fails the source.
HS_PRIVATE_MOUNTS=1 # lib.sh: a mount namespace of its own
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "mounting a btrfs image needs root"
{ have mkfs.btrfs && have btrfs; } || skip "btrfs-progs is needed"
hook=$(cd "$(dirname "$HS_TEST_LIB")/../.." && pwd)/conf/hooks/btrfs-snapshot
[ -x "$hook" ] || fail "$hook is missing"
truncate -s 200M fs.img
mkfs.btrfs -q fs.img >/dev/null 2>&1 || skip "mkfs.btrfs failed"
mkdir mnt
mount -o loop fs.img mnt 2>/dev/null || skip "cannot mount a btrfs image (no loop devices or no btrfs)"
at_exit "umount -l '$HS_TMP/mnt'"

vol=$HS_TMP/mnt/vol
snap=$HS_TMP/mnt/.vol.hardsnap-snapshot # the hook's default place
btrfs subvolume create "$vol" >/dev/null
hook_tree "$vol"

# the before hook as wired, then (to tell the snapshot from the live tree)
# a file written to the live subvolume and the snapshot's st_dev noted (the
# paths in the environment: a config line has at most 199 bytes)
export HOOK=$hook VOL=$vol SNAP=$snap
# shellcheck disable=SC2016 # expanded by the hook's shell
{
    printf '[hardsnap]\ndest = dest\n'
    printf '[source vol]\npath = %s\n' "$vol"
    printf '%s\n' 'before = "$HOOK" before "$VOL" && echo late >"$VOL/late" && stat -c %d "$SNAP" >>devs'
    printf '%s\n' 'after = "$HOOK" after "$VOL"'
} >run.conf

# ---- the first run backs up the snapshot, which is gone after it
HARDSNAP_NOW=$(now 1) hs_rc 0 run -c run.conf -q
s1=dest/$(now 1)/vol
[ -f "$vol/late" ] || fail "the before hook did not run"
assert_absent "$s1/late" "$snap"
rm "$vol/late"
# (the root's mtime is the snapshot's, from before late came and went)
compare_trees "$vol/docs" "$s1/docs"
compare_trees "$vol/etc" "$s1/etc"
same_inode "$s1/docs/keep.txt" "$s1/etc/keep-link"

# ---- the second run: a new snapshot (another st_dev), unchanged files linked
# (btrfs would give the new snapshot the first one's freed device number:
# a subvolume holds it, as any other mounted or opened one would in life)
btrfs subvolume snapshot -r "$vol" mnt/hold >/dev/null
stat -c %d mnt/hold >/dev/null
printf 'v2\n' >"$vol/etc/conf"
printf 'new\n' >"$vol/docs/new.txt"
HARDSNAP_NOW=$(now 2) hs_rc 0 run -c run.conf --json
s2=dest/$(now 2)/vol
assert_absent "$s2/late" "$snap"
rm "$vol/late"
[ "$(sort -u devs | wc -l)" = 2 ] || fail "the two snapshots had one st_dev: $(cat devs)"
! grep -qx "$(stat -c %d "$vol")" devs || fail "a snapshot had the live subvolume's st_dev"
py "$HS_OUT" '[j["sources"][0][k] for k in ("linked", "hardlinked", "copied", "hashed")] == [2, 1, 2, 0]'
same_inode "$s1/docs/keep.txt" "$s2/docs/keep.txt"
same_inode "$s1/docs/big.bin" "$s2/docs/big.bin"
same_inode "$s2/docs/keep.txt" "$s2/etc/keep-link"
not_same_inode "$s1/etc/conf" "$s2/etc/conf"
[ "$(cat "$s2/etc/conf")" = v2 ] || fail "the change is not in the backup"
[ "$(cat "$s1/etc/conf")" = v1 ] || fail "the first backup changed"
compare_trees "$vol/docs" "$s2/docs"
compare_trees "$vol/etc" "$s2/etc"

# ---- a snapshot left by a crashed run (older content) is replaced
btrfs subvolume snapshot -r "$vol" "$snap" >/dev/null
printf 'v3\n' >"$vol/etc/conf"
HARDSNAP_NOW=$(now 3) hs_rc 0 run -c run.conf -q
s3=dest/$(now 3)/vol
[ "$(cat "$s3/etc/conf")" = v3 ] || fail "the stale snapshot was backed up"
assert_absent "$snap"
rm "$vol/late"
assert_all_linked "$s2/docs" "$s3/docs"

# ---- a directory where the snapshot goes: not removed, the source fails
mkdir "$snap"
printf 'mine\n' >"$snap/precious"
HARDSNAP_NOW=$(now 4) hs_rc 3 run -c run.conf -q
grep -q "is not a btrfs subvolume: not removing it" "$HS_ERR" || fail "not said: $(cat "$HS_ERR")"
[ "$(cat "$snap/precious")" = mine ] || fail "the directory in the snapshot's place was touched"
exit 0
