#!/bin/bash
# Issue 12, class 12: files that steer root's run. The config file of the
# cron line and an --exclude-from file are read whoever owns them and
# whoever can write them or their directory. A user who can write the
# config makes "run -c" keep one snapshot (the others are deleted), leave
# everyone out, or send the backup to a DEST of hers; an exclude file of
# hers drops other users' files silently; either one swapped for a fifo
# hangs root's run. As cron, sudo and logrotate do, root must not act on
# such a file: a config or exclude file that another user owns or can
# write (itself or its directory, unless sticky) is refused, and it is
# never opened blocking.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root (files among users)"
have setpriv || skip "needs setpriv"
have timeout || skip "needs timeout"
chmod 0755 "$HS_TMP"

mkdir -p src/alice src/bob
printf 'alice\n' >src/alice/f
printf 'bob\n' >src/bob/f
for n in 1 2 3; do
    backup_at "$n" src dest
done

conf() { # FILE: a config keeping one snapshot (what bob wrote)
    printf '[hardsnap]\ndest = %s\n[source home]\npath = %s\n[retain]\nkeep-last = 1\n' \
        "$HS_TMP/dest" "$HS_TMP/src" >"$1"
}
assert_kept() {
    [ "$(count_snapshots dest)" -ge 3 ] ||
        fail "$1: snapshots were deleted by a config another user could write: $(snapshots dest | tr '\n' ' ')"
}
run_conf() { # WHAT FILE
    local rc=0
    HARDSNAP_NOW=$(now 10) timeout -s KILL 20 "$HARDSNAP" run -c "$2" >out 2>err || rc=$?
    note "$1: exit $rc: $(cat err)"
    [ "$rc" != 137 ] || fail "$1: run -c hung (killed after 20 s)"
    [ "$rc" != 0 ] || fail "$1: run -c exited 0"
    assert_kept "$1"
}

# owned by bob
mkdir etc1
conf etc1/hs.conf
chown 65534 etc1/hs.conf
run_conf "a config owned by uid 65534" etc1/hs.conf

# root's, but writable by all
mkdir etc2
conf etc2/hs.conf
chmod 0666 etc2/hs.conf
run_conf "a world-writable config" etc2/hs.conf

# root's, in a directory bob owns (he can replace it at will)
mkdir etc3
conf etc3/hs.conf
chown 65534 etc3
run_conf "a config in a directory owned by uid 65534" etc3/hs.conf

# ... and he replaces it by a fifo: root's run must not wait on it
rm etc3/hs.conf
as_user mkfifo etc3/hs.conf
rc=0
timeout -s KILL 20 "$HARDSNAP" run -c etc3/hs.conf >out 2>err || rc=$?
[ "$rc" != 137 ] || fail "run -c on a fifo in a user's directory hung (killed after 20 s)"

# an exclude file bob owns, excluding everything
mkdir bobetc
chown 65534 bobetc
as_user sh -c 'printf "*\n" >bobetc/excludes'
rc=0
HARDSNAP_NOW=$(now 11) "$HARDSNAP" backup --exclude-from bobetc/excludes src dest >out 2>err || rc=$?
note "exclude file of bob's: exit $rc: $(cat err)"
[ "$rc" != 0 ] || fail "an exclude file owned by uid 65534 was used, exit 0"
if [ -d "dest/$(now 11)" ] && [ ! -e "dest/$(now 11)/alice/f" ]; then
    fail "bob's exclude file dropped alice's files from the snapshot"
fi
rm bobetc/excludes
as_user mkfifo bobetc/excludes
rc=0
HARDSNAP_NOW=$(now 12) timeout -s KILL 20 "$HARDSNAP" backup --exclude-from bobetc/excludes src dest \
    >out 2>err || rc=$?
[ "$rc" != 137 ] || fail "an exclude file swapped for a fifo hung the backup (killed after 20 s)"
# a symlink to a config: followed when root's and in root's directory, not
# when it sits where bob can swap it
mkdir etc4 etc5
printf '[hardsnap]\ndest = %s\n[source home]\npath = %s\n' "$HS_TMP/dest" "$HS_TMP/src" >etc4/keep.conf
ln -s ../etc4/keep.conf etc5/hs.conf
chown 65534 etc5
run_conf "a root symlink in a directory owned by uid 65534" etc5/hs.conf
HARDSNAP_NOW=$(now 13) hs_rc 0 backup -c etc4/../etc4/keep.conf -q
ln -s keep.conf etc4/link.conf
HARDSNAP_NOW=$(now 14) hs_rc 0 backup -c etc4/link.conf -q
exit 0
