#!/bin/bash
# A changed big file of a remote source moves only its changed blocks: the
# client sends the block hashes of its previous version (from the previous
# snapshot's block map on btrfs, by reading that version elsewhere), the
# server sends the blocks that differ, and the client rebuilds the file over
# its previous version (a clone on btrfs: only the changed blocks take new
# space). Twenty scattered 64 KiB writes into 128 MiB move under 4 MiB where
# the first pull moved all of it; the content is the source's, the old
# snapshot keeps its own, verify passes. The file growing and shrinking
# arrives right. A previous version damaged since its block map was written
# is caught by the client (its blocks are checked as they are taken) and
# the file is fetched whole, never rebuilt wrong.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
# shellcheck source=tests/integration/remote_lib.sh
source "$(dirname "$HS_TEST_LIB")/remote_lib.sh"
need_relay

MIB=$((1024 * 1024))
export XDG_CACHE_HOME=$HS_TMP/server-cache
count=$HS_TMP/wire.count
RSH=(-e "$FAKE_RSH" --hardsnap-path "$HARDSNAP")
n=0

# pull DEST RC ARGS...: the next snapshot of src into DEST, bytes counted
pull() {
    local dest=$1 rc=$2
    shift 2
    n=$((n + 1))
    : >"$count"
    HARDSNAP_NOW=$(now $n) FAKE_RSH_COUNT=$count hs_rc "$rc" backup "${RSH[@]}" \
        "localhost:$HS_TMP/src" "$dest" --json "$@"
    snap=$dest/$(now $n)
}
s2c() {
    rsh_bytes "$count" | cut -d' ' -f2
}
# delta_pull DEST WHAT: a pull of the changed file moves under 4 MiB
delta_pull() {
    local dest=$1 what=$2 prev=$snap moved
    pull "$dest" 0
    moved=$(s2c)
    note "$what: $((moved / 1024)) KiB from the server"
    [ "$moved" -lt $((4 * MIB)) ] || fail "$what: $moved bytes moved for the changed blocks"
    [ "$(json_stat delta_files)" = 1 ] || fail "$what: not rebuilt from blocks: $(head -c 1500 "$HS_OUT")"
    cmp src/big.img "$snap/big.img" || fail "$what: the new snapshot's content is wrong"
    not_same_inode "$prev/big.img" "$snap/big.img"
    same_inode "$prev/small" "$snap/small"
}

mkdir src
random_file src/big.img $((128 * MIB))
printf 'small\n' >src/small

# ---- the temp directory's file system (no reflinks on ext4): bases read
pull dest 0
first=$(s2c)
[ "$first" -gt $((128 * MIB)) ] || fail "the first pull moved only $first bytes"
s1=$snap
h1=$(sha256sum <"$s1/big.img")
big_change src/big.img
delta_pull dest "1 % changed"
[ "$(sha256sum <"$s1/big.img")" = "$h1" ] || fail "the old snapshot's file changed"
hs_rc 0 verify dest --all

# grown by a part of a block, then shrunk to inside a block
head -c 100000 /dev/urandom >>src/big.img
delta_pull dest "grown by 100000 bytes"
truncate -s $((100 * MIB + 5)) src/big.img
delta_pull dest "shrunk to 100 MiB + 5"
hs_rc 0 verify dest --all

# the previous version damaged since the last run: here its block hashes
# are made now, of what it holds, so the server sends the damaged block too
damage() {
    chmod u+w "$1"
    printf 'rot' | dd of="$1" bs=1 seek=$((50 * MIB)) conv=notrunc status=none
}
damage "$snap/big.img"
big_change src/big.img
delta_pull dest "a damaged previous version, its hashes read now"
rm -rf dest

# ---- btrfs: the rebuild is a clone, the block hashes come from the block map
is_root || skip "mounting a loop btrfs needs root"
have mkfs.btrfs || skip "mkfs.btrfs is not installed (tests/deps.sh installs it)"
random_file src/big.img $((128 * MIB))
truncate -s 1G btrfs.img
mkfs.btrfs -q btrfs.img >/dev/null 2>&1 || fail "mkfs.btrfs failed"
mkdir btrfs
mount -o loop btrfs.img btrfs 2>/dev/null || skip "cannot mount a loop device here"
at_exit "umount -l '$HS_TMP/btrfs'"
pull btrfs/dest 0
s1=$snap
h1=$(sha256sum <"$s1/big.img")
[ -f "btrfs/dest/.hardsnap/manifests/$(basename "$s1").hsb" ] || fail "no block map on btrfs"
big_change src/big.img
u0=$(used_bytes btrfs)
delta_pull btrfs/dest "btrfs, 1 % changed"
grew=$(($(used_bytes btrfs) - u0))
note "btrfs: $((grew / 1024)) KiB of new space"
[ "$grew" -lt $((16 * MIB)) ] || fail "btrfs: the pulled change cost $grew bytes of new space"
[ "$(sha256sum <"$s1/big.img")" = "$h1" ] || fail "btrfs: the old snapshot's file changed"
hs_rc 0 verify btrfs/dest --all
# the previous version damaged after its block map was written: a block
# the server keeps is taken from it only if its hash is still the one sent,
# so the file is fetched whole, never rebuilt wrong
damage "$snap/big.img"
big_change src/big.img
pull btrfs/dest 0
[ "$(json_stat delta_files)" = 0 ] || fail "btrfs: rebuilt over a damaged previous version"
cmp src/big.img "$snap/big.img" || fail "btrfs: the file fetched after a damaged base is wrong"
[ "$(s2c)" -gt $((100 * MIB)) ] || fail "btrfs: the file after a damaged base was not fetched whole"
umount btrfs && rm btrfs.img
exit 0
