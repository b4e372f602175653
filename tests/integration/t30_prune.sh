#!/bin/bash
# prune: the policy's plan (-n), real deletion (unique data gone, shared
# inodes of kept snapshots intact), the lock, unknown names left alone, an
# interrupted prune finished by the next run, and run -c with [retain].
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir src
random_file src/shared 200000
# one snapshot a day at 02:00 for 10 days, each with a file of its own
for d in $(seq 1 10); do
    random_file src/daily 100000
    HARDSNAP_NOW=$(printf '2026-03-%02dT020000Z' "$d") hs_rc 0 backup src dest
done
mkdir dest/not-a-snapshot
name() { printf '2026-03-%02dT020000Z' "$1"; }
shared_ino=$(inode "dest/$(name 10)/shared")

# the plan: the 3 newest days, and the newest of 3 ISO weeks (03-01 is the
# Sunday of week 9, 03-08 the Sunday of week 10): the union of both rules
export HARDSNAP_NOW=2026-03-10T120000Z
hs_rc 0 prune dest --keep-daily 3 --keep-weekly 3 -n
grep -qx "keep    $(name 10)  (daily,weekly,newest)" "$HS_OUT" || fail "plan: $(cat "$HS_OUT")"
grep -qx "keep    $(name 8)  (daily,weekly)" "$HS_OUT" || fail "plan for 03-08 (a Sunday): $(cat "$HS_OUT")"
grep -qx "keep    $(name 1)  (weekly)" "$HS_OUT" || fail "plan for 03-01: $(cat "$HS_OUT")"
grep -qx "delete  $(name 2)" "$HS_OUT" || fail "plan for 03-02"
[ "$(grep -c '^keep' "$HS_OUT")" = 4 ] || fail "plan keeps $(grep -c '^keep' "$HS_OUT"), not 4"
[ "$(count_snapshots dest)" = 10 ] || fail "-n deleted something"

# the real thing
daily_2=$(inode "dest/$(name 2)/daily")
hs_rc 0 prune dest --keep-daily 3 --keep-weekly 3
[ "$(snapshots dest | tr '\n' ' ')" = "$(name 1) $(name 8) $(name 9) $(name 10) " ] ||
    fail "kept: $(snapshots dest | tr '\n' ' ')"
grep -q "^deleted $(name 2)" "$HS_OUT" || fail "no line for the deleted $(name 2)"
grep -q '^pruned: 6 deleted, 4 kept' "$HS_OUT" || fail "summary: $(tail -1 "$HS_OUT")"
[ ! -e "dest/.hardsnap/manifests/$(name 2).hsm" ] || fail "the manifest of a deleted snapshot stayed"
find dest -xdev -inum "$daily_2" | grep -q . && fail "the unique file of $(name 2) still exists"
[ "$(inode "dest/$(name 10)/shared")" = "$shared_ino" ] || fail "the shared file lost its inode"
for d in 1 8 9 10; do same_inode "dest/$(name 10)/shared" "dest/$(name "$d")/shared"; done
[ -d dest/not-a-snapshot ] || fail "prune removed a name that is not a snapshot"
assert_latest dest "$(name 10)"
grep -q 'command=prune status=0 deleted=6 kept=4' dest/.hardsnap/log || fail "no log line for prune"

# errors: no keep option, a bad number, a bad duration, DEST not a store
hs_rc 2 prune dest
hs_rc 2 prune dest --keep-daily -1
hs_rc 2 prune dest --keep-within 3x
hs_rc 2 prune "$HS_TMP/nowhere" --keep-last 1

# the lock
have flock || skip "flock not available"
exec 9>dest/.hardsnap/lock
flock 9
hs_rc 4 prune dest --keep-last 1
exec 9>&-

# an interrupted prune: a snapshot already moved into the trash
mkdir -p dest/.hardsnap/trash
mv "dest/$(name 8)" dest/.hardsnap/trash/
hs_rc 0 prune dest --keep-last 10
[ -z "$(ls -A dest/.hardsnap/trash)" ] || fail "the trash was not emptied: $(ls -A dest/.hardsnap/trash)"

# run -c: backup, then prune by [retain]
cat >h.conf <<CONF
[hardsnap]
dest = dest2
[source data]
path = src
[retain]
keep-last = 2
CONF
for h in 1 2 3; do
    HARDSNAP_NOW=$(printf '2026-04-01T%02d0000Z' "$h") hs_rc 0 run -c h.conf -q
    [ ! -s "$HS_OUT" ] || fail "run -q printed: $(cat "$HS_OUT")"
done
[ "$(count_snapshots dest2)" = 2 ] || fail "run kept $(count_snapshots dest2) snapshots, not 2"
[ "$(grep -c 'command=run status=0' dest2/.hardsnap/log)" = 3 ] || fail "run log lines"
compare_trees src dest2/latest/data
