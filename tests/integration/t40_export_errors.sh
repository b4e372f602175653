#!/bin/bash
# Export errors: bad arguments, an unknown suffix, an existing ARCHIVE or one
# inside the store exit 2 and change nothing; a broken pipe and an
# interruption exit 3 and leave no archive; a stale .part is replaced, a
# .part being written is not; unreadable files (as non-root) are warnings.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have bsdtar || skip "bsdtar (libarchive-tools) is needed to read the archives"

# assert_msg: the last run said something on stderr in the usual form
assert_msg() {
    grep -q '^hardsnap: ' "$HS_ERR" || fail "no 'hardsnap: ...' message on stderr (got: $(cat "$HS_ERR"))"
}

mkdir -p src/sub
printf 'a file\n' >src/file.txt
printf 'below\n' >src/sub/f
random_file src/big.bin 3000000
s=$(now 0)
backup_at 0 src dest
snap=dest/$s
store_list=$HS_TMP/store.list
tree_listing dest --inodes >"$store_list"

# --- arguments ----------------------------------------------------------------------
hs_rc 2 export
assert_msg
hs_rc 2 export "$snap"
assert_msg
hs_rc 2 export "$snap" x.tar extra
assert_absent x.tar extra
hs_rc 2 export --bogus "$snap" x.tar
assert_msg
assert_absent x.tar
hs_rc 2 export src x.tar # not a snapshot
grep -q 'not a snapshot' "$HS_ERR" || fail "SNAPSHOT outside a store: $(cat "$HS_ERR")"
hs_rc 2 export "$snap/no/such" x.tar
grep -q 'no such path in the snapshot' "$HS_ERR" || fail "missing PATH: $(cat "$HS_ERR")"
hs_rc 2 export "$snap" no-dir/x.tar
assert_msg
assert_absent x.tar no-dir

# --- the format comes from the name; an unknown one lists the known ---------------------
for name in x.rar x.TAR x.tar.bz2 x .tar; do
    hs_rc 2 export "$snap" "$name"
    for known in .tar .tar.gz .tgz .tar.xz .tar.zst .zip .iso; do
        grep -qF -- "$known" "$HS_ERR" || fail "$name: the message does not list $known: $(cat "$HS_ERR")"
    done
    assert_absent "$name" "$name.part"
done

# --- an existing ARCHIVE is not replaced -------------------------------------------------
printf 'old\n' >exists.tar
ino=$(inode exists.tar)
hs_rc 2 export "$snap" exists.tar
grep -q 'already exists' "$HS_ERR" || fail "existing ARCHIVE: $(cat "$HS_ERR")"
if [ "$(cat exists.tar)" != old ] || [ "$(inode exists.tar)" != "$ino" ]; then
    fail "exists.tar changed"
fi
assert_absent exists.tar.part
ln -s nowhere dangling.tar # a dangling symlink is a name taken too
hs_rc 2 export "$snap" dangling.tar
assert_absent nowhere

# --- not into the snapshot, nor the store ---------------------------------------------------
hs_rc 2 export "$snap" "$snap/x.tar"
grep -q 'inside the store' "$HS_ERR" || fail "ARCHIVE in the snapshot: $(cat "$HS_ERR")"
hs_rc 2 export "$snap/sub" "$snap/sub/x.tar"
hs_rc 2 export "$snap" dest/x.tar
hs_rc 2 export "$snap" dest/.hardsnap/x.tar
ln -s dest dest-link
hs_rc 2 export "$snap" dest-link/x.tar
compare_listing "$store_list" dest --inodes

# --- a broken pipe: exit 3, said why ---------------------------------------------------------
{
    rc=0
    "$HARDSNAP" export "$snap" - 2>pipe.err || rc=$?
    echo "$rc" >pipe.rc
} | head -c 1000 >/dev/null
rc=$(cat pipe.rc)
[ "$rc" = 3 ] || fail "export to a closed pipe: exit $rc, expected 3: $(cat pipe.err)"
grep -q 'Broken pipe' pipe.err || fail "a closed pipe is not named: $(cat pipe.err)"

# --- a truncated stream never looks complete ----------------------------------------------
# interrupted while stdout is full: what was written lacks the end-of-archive
mkfifo slow
"$HARDSNAP" export "$snap" - >slow 2>int.err &
pid=$!
exec 3<slow
head -c 4096 <&3 >partial.tar
sleep 0.3
kill -TERM "$pid"
cat <&3 >>partial.tar
exec 3<&-
rc=0
wait "$pid" || rc=$?
[ "$rc" = 3 ] || fail "interrupted export to stdout: exit $rc, expected 3: $(cat int.err)"
grep -q 'interrupted' int.err || fail "the interruption is not said: $(cat int.err)"
if bsdtar -tf partial.tar >/dev/null 2>&1; then
    fail "the stream of an interrupted export reads as a complete archive"
fi

# --- interrupted while writing a file: no ARCHIVE, no .part ----------------------------------
mkdir -p slowsrc
random_file slowsrc/r1 40000000
backup_at 1 slowsrc slowdest
"$HARDSNAP" export "slowdest/$(now 1)" slow.tar.xz 2>int.err &
pid=$!
sleep 0.5
[ -e slow.tar.xz.part ] || note "slow.tar.xz.part not seen while the export runs"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 3 ] || fail "interrupted export: exit $rc, expected 3: $(cat int.err)"
grep -q 'interrupted' int.err || fail "the interruption is not said: $(cat int.err)"
assert_absent slow.tar.xz slow.tar.xz.part

# --- a stale .part is replaced; a .part being written is not touched -----------------------
printf 'left by a killed export\n' >stale.tar.part
hs_rc 0 export "$snap" stale.tar
bsdtar -tf stale.tar | grep -qx file.txt || fail "stale.tar: not an archive of the snapshot"
assert_absent stale.tar.part
if have flock; then
    # the lock is held by this shell itself (fd 4): nothing to kill afterwards
    exec 4>>busy.tar.part
    flock -n 4 || fail "cannot lock busy.tar.part"
    hs_rc 2 export "$snap" busy.tar
    grep -q 'another export' "$HS_ERR" || fail "a locked .part: $(cat "$HS_ERR")"
    assert_absent busy.tar
    [ -e busy.tar.part ] || fail "the .part of another export was removed"
    exec 4>&-
else
    note "flock not available: a .part being written not checked"
fi

# --- as non-root: an unreadable file is skipped, named, exit 1 ------------------------------
nonroot_part() {
    local bin=$HS_TMP/bin/hardsnap rc=0
    mkdir -p bin nr/src nr/out
    cp "$HARDSNAP" "$bin"
    chmod 755 "$HS_TMP" bin "$bin"
    printf 'readable\n' >nr/src/ok
    printf 'secret\n' >nr/src/secret
    chmod 000 nr/src/secret
    backup_at 2 nr/src nr/dest
    chown 65534:65534 nr/out
    chmod 755 nr nr/dest
    setpriv --reuid=65534 --regid=65534 --clear-groups -- \
        "$bin" export "nr/dest/$(now 2)" nr/out/x.tar >nr.out 2>nr.err || rc=$?
    if grep -Eq 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer' nr.err; then
        head -c 8000 nr.err >&2
        fail "as non-root: sanitizer report"
    fi
    [ "$rc" = 1 ] || { cat nr.err >&2; fail "as non-root: exit $rc, expected 1"; }
    grep -q 'secret' nr.err || fail "the unreadable file is not named: $(cat nr.err)"
    [ "$(bsdtar -tf nr/out/x.tar | tr '\n' ' ')" = './ ok ' ] ||
        fail "as non-root: members $(bsdtar -tf nr/out/x.tar)"
}
if is_root && have setpriv; then
    nonroot_part
else
    note "not root or no setpriv: the non-root part is skipped"
fi

compare_listing "$store_list" dest --inodes
