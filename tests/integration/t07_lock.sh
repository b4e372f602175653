#!/bin/bash
# A backup into a locked DEST exits 4 at once and changes nothing.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
have flock || skip "flock (util-linux) is not installed"

mktree_basic src
s1=$(now 0) s2=$(now 1) s3=$(now 2)
HARDSNAP_NOW=$s1 hs_rc 0 backup src dest
listing=$HS_TMP/s1.list
tree_listing "dest/$s1" --inodes >"$listing"
[ -e dest/.hardsnap/lock ] || fail "no dest/.hardsnap/lock after a backup"

# locked_backup NAME: a backup as NAME while the lock is held; must exit 4 fast
locked_backup() {
    local name=$1 t0 t1
    printf 'change %s\n' "$name" >src/changed.txt
    t0=$(date +%s%N)
    HARDSNAP_NOW=$name hs_rc 4 backup src dest
    t1=$(date +%s%N)
    # "at once": not waiting for the holder, who keeps the lock 60 s (or
    # for ever); a busy machine under a sanitizer takes seconds to start one
    [ $(((t1 - t0) / 1000000)) -lt 30000 ] || fail "the locked backup took $(((t1 - t0) / 1000000)) ms, expected at once"
    grep -q '^hardsnap: ' "$HS_ERR" || fail "no 'hardsnap: ...' message on stderr: $(cat "$HS_ERR")"
    grep -q 'dest' "$HS_ERR" || fail "the lock message does not name DEST: $(cat "$HS_ERR")"
    [ ! -s "$HS_OUT" ] || fail "output on stdout from a locked run: $(cat "$HS_OUT")"
    [ "$(snapshots dest)" = "$s1" ] || fail "snapshots changed while locked: $(snapshots dest | tr '\n' ' ')"
    [ ! -e "dest/$name" ] || fail "dest/$name exists after a locked run"
    [ ! -e "dest/.hardsnap/manifests/$name.hsm" ] || fail "a locked run wrote a manifest"
    assert_latest dest "$s1"
    assert_no_partial dest
    compare_listing "$listing" "dest/$s1" --inodes
}

# 1. the lock held by a flock(1) process in the background
rm -f ready
(
    exec 9>>dest/.hardsnap/lock
    flock -n 9 || exit 1
    : >ready
    exec sleep 60
) >/dev/null 2>&1 &
holder=$!
at_exit "kill $holder"
for ((i = 0; i < 600; i++)); do
    [ -e ready ] && break
    kill -0 "$holder" 2>/dev/null || fail "the lock holder died (could it take the lock?)"
    sleep 0.05
done
[ -e ready ] || fail "the lock holder did not take the lock"
locked_backup "$s2"
kill "$holder"
wait "$holder" 2>/dev/null || true

# 2. the lock held by flock(1) on a descriptor of this shell
exec 9>>dest/.hardsnap/lock
flock -n 9 || fail "cannot take the lock for the test"
locked_backup "$s2"
flock -u 9
exec 9>&-

# released: the backup works, with the name it could not use before
HARDSNAP_NOW=$s2 hs_rc 0 backup src dest
compare_trees src "dest/$s2"
assert_latest dest "$s2"

# a lock file left by a killed run is not a lock
HARDSNAP_NOW=$s3 hs_rc 0 backup src dest
assert_latest dest "$s3"
