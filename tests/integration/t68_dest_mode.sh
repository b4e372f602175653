#!/bin/bash
# The store is root's. A DEST other users can enter lets them read every
# user's files in the snapshots and rewrite their own in all snapshots at
# once (the inode keeps their ownership): as root, hardsnap makes a new DEST
# 0700, closes an open one (saying so), and says when a parent directory
# would let a user swap DEST for something else.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root (the store among users)"
have setpriv || skip "needs setpriv"
chmod 0755 "$HS_TMP" # users may reach the test's directories, as /srv

mkdir -p src/alice src/bob
printf 'alice secret\n' >src/alice/secret
chmod 0644 src/alice/secret
printf 'bob owns this\n' >src/bob/mine
chown 65534:65534 src/bob/mine

# a DEST made by backup is 0700
backup_at 1 src dest
[ "$(stat -c %a dest)" = 700 ] || fail "a new DEST is mode $(stat -c %a dest)"
if as_user cat dest/latest/alice/secret >/dev/null 2>&1; then
    fail "a user reads another user's file in a snapshot"
fi
if as_user sh -c 'printf evil >dest/latest/bob/mine' 2>/dev/null; then
    fail "a user rewrote her file in every snapshot"
fi

# an existing DEST left open is closed, once, with a warning
chmod 0755 dest
HARDSNAP_NOW=$(now 2) hs_rc 1 backup src dest
grep -q "was open to other users (mode 0755): made 0700.*: dest\$" "$HS_ERR" ||
    fail "no warning: $(cat "$HS_ERR")"
[ "$(stat -c %a dest)" = 700 ] || fail "DEST is still mode $(stat -c %a dest)"
[ -d "dest/$(now 2)" ] || fail "the snapshot was not made"
HARDSNAP_NOW=$(now 3) hs_rc 0 backup src dest
[ "$(cat "dest/$(now 3)/bob/mine")" = 'bob owns this' ] || fail "bob's file changed"
# prune and import close it too
chmod 0750 dest
HARDSNAP_NOW=$(now 9) hs_rc 1 prune dest --keep-last 5
grep -q "was open to other users (mode 0750)" "$HS_ERR" || fail "prune: $(cat "$HS_ERR")"
[ "$(stat -c %a dest)" = 700 ] || fail "prune left DEST mode $(stat -c %a dest)"
chmod 0711 dest
tar -C src -cf a.tar alice
HARDSNAP_NOW=$(now 4) hs_rc 1 import a.tar dest
[ "$(stat -c %a dest)" = 700 ] || fail "import left DEST mode $(stat -c %a dest)"

# a DEST inside a directory a user owns: she could rename it away and put
# her own directory (or a symlink) in its place
mkdir userdir
chown 65534:65534 userdir
HARDSNAP_NOW=$(now 1) hs_rc 1 backup src userdir/dest
grep -q "can be replaced by another user.*: $HS_TMP/userdir\$" "$HS_ERR" ||
    fail "no warning about the parent: $(cat "$HS_ERR")"
# a sticky, world-writable parent (/tmp) is safe: users cannot rename root's
mkdir -m 1777 sticky
HARDSNAP_NOW=$(now 1) hs_rc 0 backup src sticky/dest
exit 0
