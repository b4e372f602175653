#!/bin/bash
# -n writes nothing and names what it would copy; -q prints nothing; --stats
# prints counts.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mktree_basic src
nfiles=$(find src -type f -printf x | wc -c)

# a dry run on a fresh DEST creates nothing, and lists the files
HARDSNAP_NOW=$(now 0) hs_rc 0 backup -n src dest
assert_absent dest
grep -qx 'file.txt' "$HS_OUT" || fail "-n on a fresh DEST does not list file.txt: $(head -5 "$HS_OUT")"
grep -qx 'sub/deep/data.bin' "$HS_OUT" || fail "-n on a fresh DEST does not list sub/deep/data.bin"
grep -qxF 'new\nline' "$HS_OUT" || fail "-n does not list 'new\\nline' escaped on one line"
grep -qx 'line' "$HS_OUT" && fail "-n printed a raw newline of a name"
cp "$HS_OUT" fresh-dry-run.out
mkdir dest-parent
HARDSNAP_NOW=$(now 0) hs_rc 0 backup --dry-run src dest-parent/dest
assert_empty_dir dest-parent

# -q: nothing at all on a successful run
s1=$(now 1)
HARDSNAP_NOW=$s1 hs_rc 0 backup -q src dest
[ ! -s "$HS_OUT" ] || fail "-q printed on stdout: $(cat "$HS_OUT")"
[ ! -s "$HS_ERR" ] || fail "-q printed on stderr: $(cat "$HS_ERR")"
compare_trees src "dest/$s1"

# a dry run after one change: lists that file only, writes nothing
printf 'changed content\n' >src/file.txt
printf 'changed too\n' >$'src/new\nline'
store=$HS_TMP/store.list
tree_listing dest --inodes >"$store"
HARDSNAP_NOW=$(now 2) hs_rc 0 backup -n src dest
grep -qx 'file.txt' "$HS_OUT" || fail "-n does not list the changed file.txt: $(cat "$HS_OUT")"
grep -qxF 'new\nline' "$HS_OUT" || fail "-n does not list the changed 'new\\nline': $(cat "$HS_OUT")"
grep -qx 'big.bin' "$HS_OUT" && fail "-n lists the unchanged big.bin"
grep -qx 'sub/deep/data.bin' "$HS_OUT" && fail "-n lists the unchanged sub/deep/data.bin"
compare_listing "$store" dest --inodes
[ "$(snapshots dest)" = "$s1" ] || fail "-n made a snapshot"
[ "$(entries dest/.hardsnap/manifests)" = "$s1.hsm " ] || fail "-n wrote a manifest: $(entries dest/.hardsnap/manifests)"
assert_latest dest "$s1"

# --stats: counts, here one regular file count and the copies
s2=$(now 3)
HARDSNAP_NOW=$s2 hs_rc 0 backup --stats src dest
grep -Eq "(^|[^0-9])$nfiles files" "$HS_OUT" || fail "--stats does not show $nfiles files: $(cat "$HS_OUT")"
grep -Eiq 'copied:? +2( |$)' "$HS_OUT" || fail "--stats does not show 2 copied files: $(cat "$HS_OUT")"
[ "$(wc -l <"$HS_OUT")" -ge 5 ] || fail "--stats printed only $(wc -l <"$HS_OUT") lines"
compare_trees src "dest/$s2"
# -q --stats: the stats all the same, nothing on stderr
HARDSNAP_NOW=$(now 4) hs_rc 0 backup -q --stats src dest
grep -Eq "(^|[^0-9])$nfiles files" "$HS_OUT" || fail "-q --stats does not show the counts"
[ ! -s "$HS_ERR" ] || fail "-q --stats printed on stderr: $(cat "$HS_ERR")"
# -v: each copied path
printf 'third\n' >src/file.txt
HARDSNAP_NOW=$(now 5) hs_rc 0 backup -v src dest
grep -qx 'file.txt' "$HS_OUT" || fail "-v does not list the copied file.txt"
grep -qx 'big.bin' "$HS_OUT" && fail "-v lists the linked big.bin"

# the dry run's summary counts the bytes it would copy (over 1 MiB here), not 0
if grep -q ' 0 B ' fresh-dry-run.out; then
    fail "-n reports 0 bytes to copy for a fresh DEST: $(tail -n 1 fresh-dry-run.out)"
fi

# options may follow the operands, as GNU tools allow
HARDSNAP_NOW=$(now 6) hs_rc 0 backup src dest -q
[ ! -s "$HS_OUT" ] || fail "-q after the operands was not taken as an option: $(cat "$HS_OUT")"
[ -e ./-q ] && fail "-q after the operands was taken as DEST"
compare_trees src "dest/$(now 6)"

# a dry run in the second of the newest snapshot (the clock's, no HARDSNAP_NOW)
# counts against that snapshot, as the real run, which waits for the next
# second, would: all linked, nothing copied. Started at a second's start so
# that both runs fall in it; a second that ran out in between is tried again.
mkdir same-src
printf 'one\n' >same-src/a
printf 'two\n' >same-src/b
same=
for try in 1 2 3; do
    rm -rf same-dest
    sleep "0.$(printf '%03d' $((1000 - 10#$(date +%N | cut -c1-3))))"
    hs_rc 0 backup -q same-src same-dest
    hs_rc 0 backup -n same-src same-dest
    [ "$(date -u +%Y-%m-%dT%H%M%SZ)" = "$(snapshots same-dest)" ] && { same=$try; break; }
done
if [ -n "$same" ]; then
    grep -q '^dry run: 2 files (2 linked, 0 copied)' "$HS_OUT" ||
        fail "-n in the newest snapshot's second does not link against it: $(cat "$HS_OUT")"
else
    note "a dry run in the newest snapshot's second: not checked (the second ran out 3 times)"
fi
