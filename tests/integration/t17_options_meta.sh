#!/bin/bash
# Kept metadata the tree comparison does not cover (atime, POSIX ACLs), and
# the options --checksum and --progress.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir -p src/d
random_file src/d/a 100000
random_file src/b 5000
touch -a -d '2020-02-03 04:05:06.123456789' src/d/a
atime=$(stat -c %X.%x src/d/a)
acl=0
if have setfacl && setfacl -m u:65534:r,g:65534:rw src/b 2>/dev/null; then
    acl=1
    setfacl -d -m u:65534:rx src/d
fi

backup_at 1 src dest
s1=$(now 1)
# atime is kept (checked before anything reads the snapshot's copy)
[ "$(stat -c %X.%x "dest/$s1/d/a")" = "$atime" ] ||
    fail "atime of d/a not kept: $(stat -c %x "dest/$s1/d/a"), source had $atime"
if is_root; then # reading with O_NOATIME needs ownership
    [ "$(stat -c %X.%x src/d/a)" = "$atime" ] || fail "the backup changed the source's atime"
fi
compare_trees src "dest/$s1"
if [ $acl = 1 ]; then
    [ "$(getfacl -cp "dest/$s1/b")" = "$(getfacl -cp src/b)" ] || fail "the ACL of b was not kept"
    [ "$(getfacl -cpd "dest/$s1/d")" = "$(getfacl -cpd src/d)" ] ||
        fail "the default ACL of d was not kept"
else
    note "setfacl not available: ACLs not checked"
fi

# --checksum hashes every file and still links the unchanged ones
HARDSNAP_NOW=$(now 2) hs_rc 0 backup --checksum --stats src dest
s2=$(now 2)
grep -Eq '^hashed: +2 files' "$HS_OUT" || fail "--checksum did not hash both files: $(cat "$HS_OUT")"
same_inode "dest/$s1/d/a" "dest/$s2/d/a"
same_inode "dest/$s1/b" "dest/$s2/b"

# an ACL change alone is a change: a new inode, the old snapshot keeps its ACL
if [ $acl = 1 ]; then
    old=$(getfacl -cp "dest/$s1/b")
    setfacl -m u:65534:rw src/b
    backup_at 3 src dest
    not_same_inode "dest/$s2/b" "dest/$(now 3)/b"
    [ "$(getfacl -cp "dest/$(now 3)/b")" = "$(getfacl -cp src/b)" ] || fail "new ACL of b not kept"
    [ "$(getfacl -cp "dest/$s1/b")" = "$old" ] || fail "the old snapshot's ACL changed"
fi

# --progress: a live line on a terminal, nothing when stderr is not one
have script || skip "script (util-linux) not available for the terminal check"
printf 'x\n' >>src/b
HARDSNAP_NOW=$(now 4) hs_rc 0 backup --progress src dest
[ ! -s "$HS_ERR" ] || fail "--progress wrote to a stderr that is not a terminal: $(cat "$HS_ERR")"
random_file src/big 50000000
for i in $(seq 1 3000); do : >"src/d/e$i"; done
HARDSNAP_NOW=$(now 5) script -qfec "$HARDSNAP backup --progress src dest" /dev/null >tty.out ||
    fail "backup under a terminal failed: $(cat tty.out)"
grep -q 'entries' tty.out || fail "--progress printed no progress line on a terminal: $(cat tty.out)"
