#!/bin/bash
# Restore errors: bad arguments exit 2 and create nothing; a full target
# exits 3 and leaves the old files and no temporary ones; unreadable
# snapshot files and device nodes (as non-root) are warnings, exit 1.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# assert_msg: the last run said something on stderr in the usual form
assert_msg() {
    grep -q '^hardsnap: ' "$HS_ERR" || fail "no 'hardsnap: ...' message on stderr (got: $(cat "$HS_ERR"))"
}

mkdir -p src/sub
printf 'a file\n' >src/file.txt
printf 'below\n' >src/sub/f
s=$(now 0)
backup_at 0 src dest
snap=dest/$s
store_list=$HS_TMP/store.list
tree_listing dest --inodes >"$store_list"

# --- arguments ----------------------------------------------------------------------
hs_rc 2 restore
assert_msg
hs_rc 2 restore "$snap"
assert_msg
hs_rc 2 restore "$snap" out extra
assert_msg
assert_absent out extra
hs_rc 2 restore --bogus "$snap" out
assert_msg
[ ! -s "$HS_OUT" ] || fail "unknown option: output on stdout"
assert_absent out
hs_rc 2 restore -Z "$snap" out
assert_absent out
# SNAPSHOT not in a store
hs_rc 2 restore src out
assert_msg
grep -q 'not a snapshot' "$HS_ERR" || fail "SNAPSHOT outside a store: $(cat "$HS_ERR")"
assert_absent out
hs_rc 2 restore dest out # the store, not a snapshot in it
assert_absent out
hs_rc 2 restore "dest/$(now 5)" out # no such snapshot
assert_absent out
hs_rc 2 restore no-such-dir out
assert_absent out
# PATH not in the snapshot, or leaving it
hs_rc 2 restore "$snap/no/such/path" out
assert_msg
grep -q 'no such path in the snapshot' "$HS_ERR" || fail "missing PATH: $(cat "$HS_ERR")"
assert_absent out
hs_rc 2 restore "$snap/sub/../file.txt" out
assert_absent out
# PATH through a symlink inside the snapshot is not followed
ln -s sub src/sub-link
backup_at 1 src dest
hs_rc 2 restore "dest/$(now 1)/sub-link/f" out
assert_absent out
tree_listing dest --inodes >"$store_list"
# TARGET's parent missing, TARGET a file, TARGET inside the store
hs_rc 2 restore "$snap" no-parent/out
assert_msg
assert_absent no-parent
printf 'not a dir\n' >afile
hs_rc 2 restore "$snap" afile
assert_msg
[ "$(cat afile)" = 'not a dir' ] || fail "TARGET is a file: the file changed"
hs_rc 2 restore "$snap" dest/restored
assert_msg
assert_absent dest/restored
hs_rc 2 restore "$snap/sub" "$snap"
hs_rc 2 restore "$snap" "$snap/sub"
compare_listing "$store_list" dest --inodes

# --- the target's filesystem is full: exit 3 ------------------------------------------
full_part() {
    mkdir -p big small
    random_file big/huge 4000000
    backup_at 2 big bigdest
    if ! mount -t tmpfs -o size=2m hs-restore-test small 2>/dev/null; then
        note "cannot mount a tmpfs: the disk-full part is skipped"
        return 0
    fi
    at_exit "umount '$HS_TMP/small'"
    hs_rc 3 restore "bigdest/$(now 2)" small
    assert_msg
    grep -q 'No space left on device' "$HS_ERR" || fail "disk full: $(cat "$HS_ERR")"
    assert_absent small/huge
    # --overwrite: the old file stays as it was, and no temporary file is left
    printf 'old\n' >small/huge
    hs_rc 3 restore --overwrite "bigdest/$(now 2)" small
    [ "$(cat small/huge)" = old ] || fail "disk full: the old file changed"
    [ "$(entries small)" = "huge " ] || fail "disk full: left in the target: $(entries small)"
}

# --- as non-root: unreadable files and device nodes are skipped, exit 1 ---------------
nonroot_part() {
    local bin=$HS_TMP/bin/hardsnap rc=0
    mkdir -p bin nr/src
    cp "$HARDSNAP" "$bin"
    chmod 755 "$HS_TMP" bin "$bin"
    printf 'readable\n' >nr/src/ok
    printf 'secret\n' >nr/src/secret
    chmod 000 nr/src/secret
    mknod nr/src/null c 1 3 || return 0
    backup_at 3 nr/src nr/dest
    mkdir nr/t
    chown 65534:65534 nr/t
    chmod 755 nr nr/dest
    setpriv --reuid=65534 --regid=65534 --clear-groups -- \
        "$bin" restore "nr/dest/$(now 3)" nr/t >nr.out 2>nr.err || rc=$?
    if grep -Eq 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer' nr.err; then
        head -c 8000 nr.err >&2
        fail "as non-root: sanitizer report"
    fi
    [ "$rc" = 1 ] || { cat nr.err >&2; fail "as non-root: exit $rc, expected 1"; }
    grep -q 'null' nr.err || fail "the skipped device node is not named: $(cat nr.err)"
    grep -q 'secret' nr.err || fail "the unreadable file is not named: $(cat nr.err)"
    [ "$(cat nr/t/ok)" = readable ] || fail "as non-root: ok not restored"
    assert_absent nr/t/null nr/t/secret
}

if is_root; then
    full_part
    if have setpriv; then
        nonroot_part
    else
        note "setpriv not available: the non-root part is skipped"
    fi
else
    note "not root: the disk-full and non-root parts are skipped"
fi
