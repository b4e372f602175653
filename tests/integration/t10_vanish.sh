#!/bin/bash
# Warnings and sources: several sources; unreadable entries (exit 1, the
# snapshot is still made, the entries named); -x with a tmpfs inside the
# source. (Files vanishing mid-run cannot be timed reliably: not tested.)
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# --- several sources: each under its basename ---------------------------------
mktree_basic home
mkdir -p etc/conf.d
printf 'a=1\n' >etc/conf.d/a.conf
printf 'host\n' >etc/hostname
ln etc/hostname etc/hostname-link
touch -d '2020-02-02 20:20:20.2' etc/conf.d/a.conf etc/conf.d etc
s1=$(now 0) s2=$(now 1)
HARDSNAP_NOW=$s1 hs_rc 0 backup home etc/ dest
[ "$(cd "dest/$s1" && find . -mindepth 1 -maxdepth 1 | sort | tr '\n' ' ')" = './etc ./home ' ] ||
    fail "snapshot root holds: $(entries "dest/$s1"), expected etc and home"
compare_trees home "dest/$s1/home"
compare_trees etc "dest/$s1/etc"
printf 'b=2\n' >etc/conf.d/b.conf
HARDSNAP_NOW=$s2 hs_rc 0 backup home etc/ dest
compare_trees home "dest/$s2/home"
compare_trees etc "dest/$s2/etc"
same_inode "dest/$s1/home/big.bin" "dest/$s2/home/big.bin"
same_inode "dest/$s1/etc/hostname" "dest/$s2/etc/hostname-link"
[ -f "dest/$s2/etc/conf.d/b.conf" ] || fail "etc/conf.d/b.conf missing in $s2"
# the same sources, one given by an absolute path: the same names
s3=$(now 2)
HARDSNAP_NOW=$s3 hs_rc 0 backup "$HS_TMP/home/" etc dest
assert_all_linked "dest/$s2" "dest/$s3"

# --- unreadable entries (needs a non-root run: root reads everything) ----------
unreadable_part() {
    local bin=$HS_TMP/bin/hardsnap
    mkdir -p bin
    cp "$HARDSNAP" "$bin"
    chmod 755 "$HS_TMP" bin "$bin"
    mkdir -p ur/ok ur/closed
    printf 'readable\n' >ur/ok/f
    printf 'secret\n' >ur/no-read
    printf 'inside\n' >ur/closed/f
    chown -R 65534:65534 ur
    chmod 000 ur/no-read ur/closed
    mkdir urdest
    chown 65534:65534 urdest
    local rc=0
    HARDSNAP_NOW=$(now 3) setpriv --reuid=65534 --regid=65534 --clear-groups -- \
        "$bin" backup ur urdest >ur.out 2>ur.err || rc=$?
    [ "$rc" = 1 ] || { cat ur.err >&2; fail "unreadable entries: exit $rc, expected 1"; }
    grep -q 'no-read' ur.err || fail "the unreadable file is not named on stderr: $(cat ur.err)"
    grep -q 'closed' ur.err || fail "the unreadable directory is not named on stderr: $(cat ur.err)"
    [ "$(snapshots urdest)" = "$(now 3)" ] || fail "no snapshot made despite the warnings"
    assert_latest urdest "$(now 3)"
    cmp -s ur/ok/f "urdest/$(now 3)/ok/f" || fail "ok/f missing or wrong in the snapshot"
    if [ -e "urdest/$(now 3)/no-read" ]; then
        fail "the unreadable file is in the snapshot: $(stat -c '%s bytes' "urdest/$(now 3)/no-read")"
    fi
    [ ! -e "urdest/$(now 3)/closed/f" ] || fail "closed/f in the snapshot, though it could not be read"
}
if is_root && have setpriv; then
    unreadable_part
else
    note "unreadable entries: skipped (needs root and setpriv to run as nobody)"
fi

# --- -x: a filesystem mounted inside the source is not crossed ----------------
is_root || skip "-x part needs root (mount)"
mkdir -p fs/mnt fs/plain
printf 'on the outer fs\n' >fs/plain/f
if ! mount -t tmpfs -o size=8m hs-test fs/mnt 2>/dev/null; then
    skip "cannot mount a tmpfs (not privileged enough?)"
fi
at_exit "umount '$HS_TMP/fs/mnt'"
printf 'on the tmpfs\n' >fs/mnt/inner
mkdir fs/mnt/dir
printf 'deeper\n' >fs/mnt/dir/f
HARDSNAP_NOW=$(now 5) hs_rc 0 backup -x fs xdest
snap=xdest/$(now 5)
[ -d "$snap/mnt" ] || fail "-x: the mount point is missing from the snapshot"
assert_empty_dir "$snap/mnt"
cmp -s fs/plain/f "$snap/plain/f" || fail "-x: plain/f missing or wrong"
HARDSNAP_NOW=$(now 6) hs_rc 0 backup --one-file-system fs xdest
assert_empty_dir "xdest/$(now 6)/mnt"
# without -x the tmpfs is backed up like the rest
HARDSNAP_NOW=$(now 7) hs_rc 0 backup fs xdest
compare_trees fs "xdest/$(now 7)"
