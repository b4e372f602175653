#!/bin/bash
# The example hook conf/hooks/lvm-snapshot on LVM over a loop device (a VG
# of its own, hs_test_PID): a source's before takes an LVM snapshot of the
# logical volume mounted as the source, mounts it read-only and prints
# path=, after unmounts and removes it. What is backed up is the snapshot (a
# file written to the live file system after it was taken is not in the
# backup), under the source's paths; its st_dev is not the live file
# system's, and still the second run links every unchanged file to the first.
# A snapshot and mount a crashed run left are replaced.
# LVM runs with a configuration of its own (LVM_SYSTEM_DIR): only our loop
# device, no udev (none in a container), no metadata backups.
HS_PRIVATE_MOUNTS=1 # lib.sh: a mount namespace of its own
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "LVM on a loop device needs root"
for c in pvcreate vgcreate lvcreate lvs vgremove dmsetup losetup mkfs.ext4 blkid; do
    have "$c" || skip "$c is needed (lvm2, util-linux, e2fsprogs)"
done
dmsetup version >/dev/null 2>&1 ||
    skip "the device-mapper is not usable here (no dm driver in this kernel or no /dev/mapper/control)"
modprobe dm-snapshot >/dev/null 2>&1 || true
dmsetup targets 2>/dev/null | grep -q '^snapshot ' ||
    skip "the device-mapper has no snapshot target here (dm-snapshot)"
hook=$(cd "$(dirname "$HS_TEST_LIB")/../.." && pwd)/conf/hooks/lvm-snapshot
[ -x "$hook" ] || fail "$hook is missing"

truncate -s 200M pv.img
loop=$(losetup -f --show pv.img 2>/dev/null) || skip "no loop device"
at_exit "losetup -d '$loop'"
mkdir lvmconf
cat >lvmconf/lvm.conf <<CONF
devices {
    filter = [ "a|^$loop\$|", "r|.*|" ]
    global_filter = [ "a|^$loop\$|", "r|.*|" ]
    use_devicesfile = 0
    obtain_device_list_from_udev = 0
    external_device_info_source = "none"
}
activation {
    udev_sync = 0
    udev_rules = 0
    monitoring = 0
}
global {
    use_lvmpolld = 0
}
backup {
    backup = 0
    archive = 0
}
CONF
export LVM_SYSTEM_DIR=$HS_TMP/lvmconf
vg=hs_test_$$
pvcreate -q "$loop" >/dev/null 2>lvm.err || skip "pvcreate on a loop device failed: $(cat lvm.err)"
at_exit "pvremove -q -f '$loop'"
vgcreate -q "$vg" "$loop" >/dev/null 2>lvm.err || skip "vgcreate failed: $(cat lvm.err)"
at_exit "vgremove -q -f '$vg'"
lvcreate -q -L 64M -n data "$vg" >/dev/null 2>lvm.err || skip "lvcreate failed here: $(cat lvm.err)"
dev=$(lvs --noheadings -o lv_path "$vg/data" | tr -d ' ')
[ -b "$dev" ] || skip "LVM made no device node $dev (no udev?)"
mkfs.ext4 -q "$dev" >/dev/null
mkdir live
mount "$dev" live || skip "cannot mount $dev"
at_exit "umount -l '$HS_TMP/live'"
# the hook's mount, if a failed test left it
at_exit "umount -l '$HS_TMP/snapmnt'"

hook_tree live
sync

# the hooks as wired, then (to tell the snapshot from the live tree) a file
# written to the live file system and the snapshot's st_dev noted
export HOOK=$hook ORIGIN=$vg/data MNT=$HS_TMP/snapmnt LIVE=$HS_TMP/live
# shellcheck disable=SC2016 # expanded by the hook's shell
{
    printf '[hardsnap]\ndest = dest\nhook-timeout = 5min\n'
    printf '[source data]\npath = %s\n' "$LIVE"
    printf '%s\n' 'before = "$HOOK" before "$ORIGIN" 32M "$MNT" && echo late >"$LIVE/late" && stat -c %d "$MNT" >>devs'
    printf '%s\n' 'after = "$HOOK" after "$ORIGIN" 32M "$MNT"'
} >run.conf

# snapshot_gone: no snapshot volume, nothing mounted at MNT
snapshot_gone() {
    ! lvs "$vg/data-hardsnap" >/dev/null 2>&1 || fail "the snapshot volume is left: $(lvs "$vg" 2>&1)"
    ! mountpoint -q snapmnt || fail "the snapshot is still mounted"
}

# ---- the first run backs up the snapshot, which is gone after it
HARDSNAP_NOW=$(now 1) hs_rc 0 run -c run.conf -q
s1=dest/$(now 1)/data
[ -f live/late ] || fail "the before hook did not run"
assert_absent "$s1/late"
snapshot_gone
rm live/late
compare_trees live/docs "$s1/docs"
compare_trees live/etc "$s1/etc"
same_inode "$s1/docs/keep.txt" "$s1/etc/keep-link"
! grep -qx "$(stat -c %d live)" devs || fail "the snapshot had the live file system's st_dev"

# ---- the second run: unchanged files linked, without hashing them
printf 'v2\n' >live/etc/conf
printf 'new\n' >live/docs/new.txt
HARDSNAP_NOW=$(now 2) hs_rc 0 run -c run.conf --json
s2=dest/$(now 2)/data
assert_absent "$s2/late"
snapshot_gone
rm live/late
py "$HS_OUT" '[j["sources"][0][k] for k in ("linked", "hardlinked", "copied", "hashed")] == [2, 1, 2, 0]'
same_inode "$s1/docs/keep.txt" "$s2/docs/keep.txt"
same_inode "$s1/docs/big.bin" "$s2/docs/big.bin"
not_same_inode "$s1/etc/conf" "$s2/etc/conf"
[ "$(cat "$s2/etc/conf")" = v2 ] || fail "the change is not in the backup"
compare_trees live/docs "$s2/docs"

# ---- a snapshot (mounted) left by a crashed run is replaced
lvcreate -q -s -L 16M -n data-hardsnap "$vg/data" >/dev/null
mkdir -p snapmnt
mount -o ro "/dev/$vg/data-hardsnap" snapmnt
printf 'v3\n' >live/etc/conf
sync
HARDSNAP_NOW=$(now 3) hs_rc 0 run -c run.conf -q
s3=dest/$(now 3)/data
[ "$(cat "$s3/etc/conf")" = v3 ] || fail "the stale snapshot was backed up"
snapshot_gone
rm live/late
assert_all_linked "$s2/docs" "$s3/docs"
exit 0
