#!/bin/bash
# Issue 12, class 12 (restore): TARGET named through a symlink another user
# owns. Root restores bob's snapshot into "bobdir/restored", a path in a
# directory bob owns; bob has made "restored" a symlink to a root-owned
# directory (/etc in real life). Today restore follows it, writes bob's
# files there and gives that directory the snapshot root's owner and mode:
# bob owns /etc. The kernel's fs.protected_symlinks stops this only in
# sticky world-writable directories (and only when enabled). A symlink a
# user planted must not lead root's restore out of the place named; root's
# own symlink (t20_restore) may.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root (a restore among users)"
have setpriv || skip "needs setpriv"
chmod 0755 "$HS_TMP"

# bob's home, backed up as a source of its own: the snapshot root is his
mkdir -p src/profile.d
printf 'echo pwned\n' >src/profile.d/bob.sh
chown -R 65534:65534 src
backup_at 1 src dest

mkdir -m 0755 victim
printf 'root file\n' >victim/keep
mkdir bobdir
chown 65534:65534 bobdir
as_user ln -s ../victim bobdir/restored
as_user ln -s ../victim bobdir/one

check_victim() {
    local what=$1
    [ "$(stat -c %u:%g:%a victim)" = 0:0:755 ] ||
        fail "$what: the symlink's target changed to $(stat -c %u:%g:%a victim)"
    if [ -e victim/profile.d ] || [ -e victim/bob.sh ]; then
        fail "$what: files written through bob's symlink: $(ls victim)"
    fi
    [ "$(cat victim/keep)" = 'root file' ] || fail "$what: victim/keep changed"
}

# the whole snapshot
rc=0
"$HARDSNAP" restore "dest/$(now 1)" bobdir/restored >out 2>err || rc=$?
note "whole: exit $rc: $(cat err)"
check_victim "restore SNAPSHOT bobdir/restored"
[ "$rc" = 2 ] || fail "restore through bob's symlink: exit $rc, expected 2"
grep -q "not following a symlink: bobdir/restored: another user owns it" err || fail "the symlink is not named: $(cat err)"

# a path in it
rc=0
"$HARDSNAP" restore "dest/$(now 1)/profile.d/bob.sh" bobdir/one >out 2>err || rc=$?
note "path: exit $rc: $(cat err)"
check_victim "restore SNAPSHOT/PATH bobdir/one"

# a directory component swapped, not the last one
rm bobdir/one bobdir/restored
as_user ln -s .. bobdir/up
mkdir victim/sub
rc=0
"$HARDSNAP" restore "dest/$(now 1)" bobdir/up/victim/sub >out 2>err || rc=$?
note "component: exit $rc: $(cat err)"
if [ "$(stat -c %u victim/sub)" != 0 ] || [ -e victim/sub/profile.d ]; then
    fail "restore through bob's symlink in a middle component wrote into victim/sub"
fi

# the same for export's directory and backup's DEST (root's archive or
# store would land wherever bob points)
as_user ln -s ../victim bobdir/out
rc=0
"$HARDSNAP" export "dest/$(now 1)" bobdir/out/night.tar >out 2>err || rc=$?
[ "$rc" = 2 ] || fail "export through bob's symlink: exit $rc: $(cat err)"
[ ! -e victim/night.tar ] || fail "export wrote through bob's symlink"
rc=0
HARDSNAP_NOW=$(now 2) "$HARDSNAP" backup src bobdir/out/store >out 2>err || rc=$?
[ "$rc" = 2 ] || fail "backup through bob's symlink: exit $rc: $(cat err)"
[ ! -e victim/store ] || fail "backup made a store through bob's symlink"
check_victim "export and backup through bobdir/out"
# root's own symlink is followed, as before
ln -s victim rootlink
HARDSNAP_NOW=$(now 2) hs_rc 0 export "dest/$(now 1)" rootlink/night.tar
[ -s victim/night.tar ] || fail "export through root's own symlink failed"
# a symlink of root's that bob renamed into his own directory (a restore of
# his files left it there) is no better than one he made
ln -s ../victim bobdir/roots-link
as_user mv bobdir/roots-link bobdir/restored2
[ "$(stat -c %u bobdir/restored2)" = 0 ] || fail "the moved link is not root's"
rc=0
"$HARDSNAP" restore "dest/$(now 1)" bobdir/restored2 >out 2>err || rc=$?
[ "$rc" = 2 ] || fail "restore through root's symlink in bob's directory: exit $rc: $(cat err)"
check_victim "restore SNAPSHOT bobdir/restored2"
exit 0
