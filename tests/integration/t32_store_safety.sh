#!/bin/bash
# A store copied into a snapshot is a copy, not a store: nothing writes to
# it. A directory full of other things is not turned into a store. A count
# of 0 is no retention rule; an empty [retain] prunes nothing.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# a source that holds a store; backed up twice into an outer store
mkdir -p data/inner-src
printf 'x\n' >data/inner-src/f
backup_at 1 data/inner-src data/store
printf 'y\n' >data/inner-src/f
backup_at 2 data/inner-src data/store
backup_at 3 data outer
backup_at 4 data outer
copy=outer/$(now 3)/store
before=$(tree_listing outer --inodes)
HARDSNAP_NOW=$(now 9) hs_rc 2 prune "$copy" --keep-last 1
grep -q 'inside a snapshot' "$HS_ERR" || fail "no reason given: $(cat "$HS_ERR")"
HARDSNAP_NOW=$(now 9) hs_rc 2 backup data/inner-src "$copy"
HARDSNAP_NOW=$(now 9) hs_rc 2 backup data/inner-src "outer/$(now 3)/new-store"
HARDSNAP_NOW=$(now 9) hs_rc 2 backup data/inner-src outer/.hardsnap/x
hs_rc 2 restore "$copy/latest" "outer/$(now 4)/restored-here"
[ "$(tree_listing outer --inodes)" = "$before" ] || fail "a copy of a store was written to"

# a directory of other things is not made a store; one with snapshots is
mkdir notastore
printf 'notes\n' >notastore/latest
hs_rc 2 backup data/inner-src notastore
[ "$(cat notastore/latest)" = notes ] || fail "notastore/latest changed"
[ ! -e notastore/.hardsnap ] || fail "notastore was made a store"
mkdir -p rsynced/2025-01-01T000000Z
chmod 0700 rsynced # as root, an open DEST is closed with a warning (t68)
cp -a data/inner-src/. rsynced/2025-01-01T000000Z/
backup_at 5 data/inner-src rsynced
same_inode rsynced/2025-01-01T000000Z/f "rsynced/$(now 5)/f"

# latest that is not a symlink is left alone (a warning), the snapshot made
rm store-l -rf
backup_at 6 data/inner-src store-l
rm store-l/latest
printf 'mine\n' >store-l/latest
HARDSNAP_NOW=$(now 7) hs_rc 1 backup data/inner-src store-l
grep -q 'latest is not a symlink' "$HS_ERR" || fail "no warning about latest: $(cat "$HS_ERR")"
[ "$(cat store-l/latest)" = mine ] || fail "a regular file named latest was replaced"
[ -d "store-l/$(now 7)" ] || fail "the snapshot was not made"

# a count of 0 is no rule
HARDSNAP_NOW=$(now 9) hs_rc 2 prune store-l --keep-daily 0
[ "$(count_snapshots store-l)" = 2 ] || fail "--keep-daily 0 deleted snapshots"
cat >r.conf <<CONF
[hardsnap]
dest = store-r
[source s]
path = data/inner-src
[retain]
CONF
for h in 1 2; do HARDSNAP_NOW=$(now "$h") hs_rc 0 run -c r.conf -q; done
[ "$(count_snapshots store-r)" = 2 ] || fail "an empty [retain] pruned"
