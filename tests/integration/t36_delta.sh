#!/bin/bash
# A changed big file costs only its changed blocks where the store's file
# system shares extents (btrfs, xfs with reflink=1): the issue's case, a
# 128 MiB file with twenty scattered 64 KiB writes (1 %), must cost under
# 16 MiB of new space. The new snapshot holds the new content (a new inode),
# the old one its old content and inode, verify passes, and the next run
# still links the file unchanged and carries its block hashes on. On the
# temp directory's file system (ext4 here: no reflinks) the same change is a
# plain copy, as before.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

MIB=$((1024 * 1024))

# delta_on DIR: backups into DIR/dest of src with the big file, changed
delta_on() {
    local fs=$1 dir=$2 dest=$2/dest n0 s1 s2 h1 grew w
    HARDSNAP_NOW=$(now 1) hs_rc 0 backup src "$dest" -q
    s1=$dest/$(now 1)
    h1=$(sha256sum <"$s1/big.img")
    big_change src/big.img
    n0=$(used_bytes "$dir")
    HARDSNAP_NOW=$(now 2) hs_rc 0 backup src "$dest" --json
    s2=$dest/$(now 2)
    grew=$(($(used_bytes "$dir") - n0))
    note "$fs: $((grew / 1024)) KiB new for 1.3 MiB of changed data in a 128 MiB file"
    [ "$(json_stat delta_files)" = 1 ] || fail "$fs: no delta copy: $(head -c 2000 "$HS_OUT")"
    [ "$(json_stat delta_bytes)" = $((128 * MIB)) ] || fail "$fs: delta_bytes $(json_stat delta_bytes)"
    w=$(json_stat delta_written)
    if [ "$w" -lt $((20 * 65536)) ] || [ "$w" -gt $((40 * 65536)) ]; then
        fail "$fs: $w bytes of changed blocks written, not 20 to 40 blocks of 64 KiB"
    fi
    [ "$grew" -lt $((16 * MIB)) ] || fail "$fs: the change cost $grew bytes of new space"
    cmp src/big.img "$s2/big.img" || fail "$fs: the new snapshot's content is wrong"
    [ "$(sha256sum <"$s1/big.img")" = "$h1" ] || fail "$fs: the old snapshot's file changed"
    not_same_inode "$s1/big.img" "$s2/big.img"
    same_inode "$s1/small" "$s2/small"
    hs_rc 0 verify "$dest" --all
    # unchanged now: linked, its block hashes carried on, so a later change
    # is again a delta against the newest version
    HARDSNAP_NOW=$(now 3) hs_rc 0 backup src "$dest" -q
    same_inode "$s2/big.img" "$dest/$(now 3)/big.img"
    big_change src/big.img
    HARDSNAP_NOW=$(now 4) hs_rc 0 backup src "$dest" --json
    [ "$(json_stat delta_files)" = 1 ] || fail "$fs: no delta copy after a linked run"
    cmp src/big.img "$dest/$(now 4)/big.img" || fail "$fs: the fourth snapshot's content is wrong"
    hs_rc 0 verify "$dest" --all
    [ -f "$dest/.hardsnap/manifests/$(now 4).hsb" ] || fail "$fs: no block map of $(now 4)"
    # prune drops a snapshot's block map with its manifest
    hs_rc 0 prune "$dest" --keep-last 1
    assert_absent "$dest/.hardsnap/manifests/$(now 1).hsb"
    # bit rot: verify names the damaged blocks' byte ranges, not only the file
    printf 'rot' | dd of="$dest/$(now 4)/big.img" bs=1 seek=70000 conv=notrunc status=none
    printf 'rot' | dd of="$dest/$(now 4)/big.img" bs=1 seek=$((100 * MIB)) conv=notrunc status=none
    hs_rc 1 verify "$dest/$(now 4)"
    grep -q "big.img: .*bytes 65536-131071, 104857600-104923135 (2 of 2048 blocks of 64 KiB)" \
        "$HS_OUT" "$HS_ERR" || fail "$fs: verify did not name the damaged blocks: $(cat "$HS_OUT" "$HS_ERR")"
}

mkdir src
random_file src/big.img $((128 * MIB))
printf 'small\n' >src/small

# ---- no reflinks (the temp directory's file system): a plain copy
HARDSNAP_NOW=$(now 1) hs_rc 0 backup src plain -q
big_change src/big.img
HARDSNAP_NOW=$(now 2) hs_rc 0 backup src plain --json
plain_fs=$(stat -f -c %T plain)
if [ "$plain_fs" != btrfs ] && [ "$plain_fs" != xfs ]; then
    [ "$(json_stat delta_files)" = 0 ] || fail "a delta copy on $plain_fs"
    [ "$(json_stat bytes_copied)" = $((128 * MIB)) ] || fail "not a whole copy on $plain_fs"
fi
cmp src/big.img "plain/$(now 2)/big.img" || fail "the plain copy's content is wrong"
rm -rf plain
random_file src/big.img $((128 * MIB))

# ---- btrfs and xfs loop mounts
is_root || skip "mounting loop file systems needs root"
ran=0
for fs in btrfs xfs; do
    case $fs in
    btrfs) mkfs=(mkfs.btrfs -q) ;;
    xfs) mkfs=(mkfs.xfs -q -m reflink=1) ;;
    esac
    if ! have "${mkfs[0]}"; then
        note "$fs: ${mkfs[0]} is not installed (tests/deps.sh installs it): not tested"
        continue
    fi
    truncate -s 1G "$fs.img"
    "${mkfs[@]}" "$fs.img" >/dev/null 2>&1 || fail "${mkfs[*]} failed"
    mkdir "$fs"
    if ! mount -o loop "$fs.img" "$fs" 2>/dev/null; then
        note "$fs: cannot mount a loop device here: not tested"
        continue
    fi
    at_exit "umount -l '$HS_TMP/$fs'"
    delta_on "$fs" "$HS_TMP/$fs"
    umount "$fs" && rm "$fs.img"
    ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || skip "neither btrfs nor xfs could be mounted here"
exit 0
