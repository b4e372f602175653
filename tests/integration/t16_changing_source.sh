#!/bin/bash
# A file that keeps changing while it is copied: copied a second time, then
# kept with a warning (exit 1); the snapshot is still made, and the next run
# copies the file again instead of trusting the torn copy.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir src
random_file src/grow $((64 << 20))
printf 'stable\n' >src/stable
(while :; do printf x >>src/grow; done) &
writer=$!
at_exit "kill $writer"
# the writer is writing before the backup starts
size=$(stat -c %s src/grow)
for ((i = 0; i < 600; i++)); do
    [ "$(stat -c %s src/grow)" != "$size" ] && break
    sleep 0.05
done

# on a busy machine the writer may get no CPU during a whole copy: then the
# file did not change while it was read, and the run rightly exits 0; a few
# tries, each a snapshot of its own, until one copy sees it change
for try in 1 2 3 4 5 6; do
    rc=0
    HARDSNAP_NOW=$(now "$try") "$HARDSNAP" backup src dest >"$HS_OUT" 2>"$HS_ERR" || rc=$?
    [ "$rc" = 1 ] && break
    [ "$rc" = 0 ] || fail "backup exited $rc: $(cat "$HS_ERR")"
    note "try $try: grow did not change during its copy"
done
[ "$rc" = 1 ] || fail "grow never seen changing while being copied, in $try tries"
kill "$writer"
wait "$writer" 2>/dev/null || true
s1=$(now "$try")
grep -q 'changed while being copied.*grow' "$HS_ERR" ||
    fail "no warning naming grow: $(cat "$HS_ERR")"
[ -d "dest/$s1" ] || fail "no snapshot was made"
cmp -s src/stable "dest/$s1/stable" || fail "stable differs"

HARDSNAP_NOW=$(now 10) hs_rc 0 backup src dest
s2=$(now 10)
not_same_inode "dest/$s1/grow" "dest/$s2/grow"
compare_trees src "dest/$s2"
