#!/bin/bash
# File capabilities (security.capability) survive the backup: chown, which
# the backup must do as root, clears them, so it has to come before the
# xattrs are set. Likewise set-id bits on files owned by another user.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root to set capabilities and owners"
{ have setcap && have getcap; } || skip "setcap/getcap (libcap2-bin) not installed"

mkdir -p src/bin
printf '#!/bin/sh\necho ping\n' >src/bin/ping
chmod 0755 src/bin/ping
setcap cap_net_raw+ep src/bin/ping 2>/dev/null || skip "this filesystem does not keep capabilities"
printf 'tool\n' >src/bin/suid
chown 65534:65534 src/bin/suid
chmod 4755 src/bin/suid
printf 'tool\n' >src/bin/sgid
chown 65534:65534 src/bin/sgid
chmod 2755 src/bin/sgid

backup_at 1 src dest
s1=$(now 1)
compare_trees src "dest/$s1"
[ "$(getcap "dest/$s1/bin/ping" | awk '{print $2}')" = "$(getcap src/bin/ping | awk '{print $2}')" ] ||
    fail "the capability of bin/ping was lost: '$(getcap "dest/$s1/bin/ping")'"
[ "$(stat -c %a "dest/$s1/bin/suid")" = 4755 ] || fail "the set-uid bit of bin/suid was lost"

# a capability added later is a change: the new snapshot gets a new inode
# with it, the old snapshot keeps its own
setcap cap_net_raw,cap_net_admin+ep src/bin/ping
backup_at 2 src dest
s2=$(now 2)
not_same_inode "dest/$s1/bin/ping" "dest/$s2/bin/ping"
[ "$(getcap "dest/$s2/bin/ping" | awk '{print $2}')" = "$(getcap src/bin/ping | awk '{print $2}')" ] ||
    fail "the new capability set of bin/ping is not in $s2"
same_inode "dest/$s1/bin/suid" "dest/$s2/bin/suid"
compare_trees src "dest/$s2"
