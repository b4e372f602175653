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
sleep 0.1

HARDSNAP_NOW=$(now 1) hs_rc 1 backup src dest
kill "$writer"
wait "$writer" 2>/dev/null || true
s1=$(now 1)
grep -q 'changed while being copied.*grow' "$HS_ERR" ||
    fail "no warning naming grow: $(cat "$HS_ERR")"
[ -d "dest/$s1" ] || fail "no snapshot was made"
cmp -s src/stable "dest/$s1/stable" || fail "stable differs"

HARDSNAP_NOW=$(now 2) hs_rc 0 backup src dest
s2=$(now 2)
not_same_inode "dest/$s1/grow" "dest/$s2/grow"
compare_trees src "dest/$s2"
