#!/bin/bash
# Issue 12, class 12 (restore): a default ACL in the target. Bob creates
# the restore directory before root does (in /tmp, or anywhere he can
# write) and gives it a default ACL granting himself rwx. Root restores
# alice's files there: every new file and directory inherits bob's entry,
# and the mode restored from the snapshot only sets the ACL mask, so bob
# reads alice's 0640 file in her 0750 directory. A restored object must
# carry the snapshot's ACL (none here), not one the target's owner chose,
# as rsync -A does.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root (a restore among users)"
have setpriv || skip "needs setpriv"
have setfacl || skip "needs setfacl (acl)"
have getfacl || skip "needs getfacl (acl)"
chmod 0755 "$HS_TMP"

mkdir -p src/alice
printf 'alice private\n' >src/alice/private
chmod 0640 src/alice/private
chmod 0750 src/alice
chown -R 4242:4242 src/alice
backup_at 1 src dest

mkdir -m 1777 pub # /tmp
as_user mkdir pub/restore
if ! as_user setfacl -m u:65534:rwx -d -m u:65534:rwx pub/restore 2>/dev/null; then
    skip "no POSIX ACLs on this file system"
fi

rc=0
"$HARDSNAP" restore "dest/$(now 1)" pub/restore >out 2>err || rc=$?
note "exit $rc: $(cat err)"
if as_user cat pub/restore/alice/private >/dev/null 2>&1; then
    fail "bob reads alice's restored file through an ACL the snapshot does not have"
fi
for f in pub/restore/alice pub/restore/alice/private; do
    [ -e "$f" ] || continue
    if getfacl -cp "$f" 2>/dev/null | grep -q '^user:65534:'; then
        fail "$f carries bob's ACL entry: $(getfacl -cp "$f" 2>/dev/null | tr '\n' ' ')"
    fi
done
# the same in the store: a default ACL on DEST (an admin's, before the
# store was made) must not reach the snapshots' files either
mkdir -m 0700 dest2
setfacl -d -m u:65534:rwx dest2
backup_at 1 src dest2
for f in "dest2/$(now 1)/alice" "dest2/$(now 1)/alice/private"; do
    if getfacl -cp "$f" 2>/dev/null | grep -q '^user:65534:'; then
        fail "$f carries an ACL entry the source does not have"
    fi
done
exit 0
