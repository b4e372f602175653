#!/bin/bash
# Issue 12, class 12 (the store is root's): a DEST another user owns. The
# class 7 check looks at DEST's mode only, and counts a sticky /tmp as a
# safe parent. Bob creates /tmp/backups (mode 0700, his) before root's
# first backup to it: root fills it silently. Owning DEST, bob can rename
# or hide any snapshot, point latest at a snapshot he made (files of his
# in root's or alice's places, restored as his), and open DEST to all.
# As root, a DEST (or .hardsnap in it) owned by another user must not be
# used silently: refused, or at least named (exit 1), as an open one is.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root (the store among users)"
have setpriv || skip "needs setpriv"
chmod 0755 "$HS_TMP"

mkdir -p src/alice
printf 'alice\n' >src/alice/f
mkdir -m 1777 tmp # /tmp
as_user mkdir -m 0700 tmp/backups

rc=0
HARDSNAP_NOW=$(now 1) "$HARDSNAP" backup src tmp/backups >out 2>err || rc=$?
note "backup: exit $rc: $(cat err)"
if [ "$rc" = 0 ]; then
    fail "backup into a DEST owned by uid 65534 exited 0, saying nothing"
fi
grep -q 'tmp/backups' err || fail "the warning does not name DEST: $(cat err)"

# what bob can do with a store he owns, when it was used
if [ -d "tmp/backups/$(now 1)" ]; then
    as_user mv "tmp/backups/$(now 1)" tmp/backups/hidden 2>/dev/null &&
        note "bob hid the snapshot"
fi

# a store of root's whose .hardsnap became bob's (he owned DEST once)
backup_at 1 src dest
chown 65534 dest/.hardsnap
rc=0
HARDSNAP_NOW=$(now 2) "$HARDSNAP" backup src dest >out 2>err || rc=$?
note "backup, .hardsnap bob's: exit $rc: $(cat err)"
[ "$rc" != 0 ] || fail "backup into a store whose .hardsnap is owned by uid 65534 exited 0"
exit 0
