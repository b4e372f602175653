#!/bin/bash
# replicate STORE DEST2 adds the snapshots DEST2 lacks, oldest first: each
# is the same tree as in STORE (names, types, modes, owners, ns times,
# targets, xattrs, contents, hard links), and two names (in one snapshot or
# in two) share an inode in DEST2 exactly when they do in STORE: a file
# the store linked from the snapshot before is linked in the replica, a
# file the store moved and linked too, a file it copied is copied. A
# second round adds only the new snapshot and changes none of the old; a
# replication killed midway is finished by the next; a replica pruned by
# its own policy gets the newer snapshots, not the pruned ones again. The
# replica is a store like any other (list, verify, diff, restore, prune).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# same_sharing A B: every snapshot of B is one of A, and the names of B's
# snapshots that share an inode are those that share one in A
same_sharing() {
    python3 - "$1" "$2" <<'EOF' || fail "replica $2 does not share inodes as $1 does"
import os, re, sys
a, b = sys.argv[1], sys.argv[2]
snap = re.compile(r"^\d{4}-\d\d-\d\dT\d{6}Z$")
def groups(store, names):
    by_ino = {}
    for n in names:
        for root, dirs, files in os.walk(os.path.join(store, n)):
            for f in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                p = os.path.join(root, f)
                rel = os.path.relpath(p, store)
                by_ino.setdefault(os.lstat(p).st_ino, set()).add(rel)
    return {frozenset(g) for g in by_ino.values()}
names = sorted(n for n in os.listdir(b) if snap.match(n))
missing = [n for n in names if not os.path.isdir(os.path.join(a, n))]
if missing:
    sys.exit("not in %s: %s" % (a, missing))
ga, gb = groups(a, names), groups(b, names)
if ga != gb:
    for g in sorted(ga - gb, key=sorted)[:5]:
        print("shared in %s only: %s" % (a, sorted(g)), file=sys.stderr)
    for g in sorted(gb - ga, key=sorted)[:5]:
        print("shared in %s only: %s" % (b, sorted(g)), file=sys.stderr)
    sys.exit(1)
EOF
}
# same_snapshots A B: each snapshot of B is the same tree in A
same_snapshots() {
    local s
    for s in $(snapshots "$2"); do
        compare_trees "$1/$s" "$2/$s"
    done
}

mktree_basic src
random_file src/big-a.bin $((3 * 1024 * 1024))
# ---- a store of five snapshots with every kind of change between them
store_at() { HARDSNAP_NOW=$(now "$1") hs_rc 0 backup -q src store; }
store_at 1
printf 'changed\n' >>src/file.txt                 # content
chmod 0640 src/mode-0600                          # metadata only: a copy in the store
mv src/big-a.bin src/sub/big-moved.bin            # moved: linked by content in the store
ln src/sub/4k.bin src/4k-new-link                 # a new hard link to an old file
store_at 2
rm src/hl-three                                   # a group loses a name
printf 'new\n' >src/new-file
cp -p src/big.bin src/big-copy.bin                # equal content, another inode
store_at 3
touch -d '2030-01-01' src/one-byte                # mtime only
rm -rf 'src/dir with space'
store_at 4
# the store linked the moved file by content: the replica must find it by inode
same_inode "store/$(now 1)/big-a.bin" "store/$(now 2)/sub/big-moved.bin"
not_same_inode "store/$(now 1)/mode-0600" "store/$(now 2)/mode-0600"

# ---- the first replication: all of them, into a missing directory
hs_rc 0 replicate store replica
grep -q "added 4 snapshots to replica" "$HS_OUT" || fail "summary: $(cat "$HS_OUT")"
[ "$(snapshots replica | tr '\n' ' ')" = "$(snapshots store | tr '\n' ' ')" ] ||
    fail "replica holds $(snapshots replica | tr '\n' ' ')"
assert_latest replica "$(now 4)"
same_snapshots store replica
same_sharing store replica
hs_rc 0 verify replica --all
for i in 2 3 4; do
    hs_rc 1 diff "store/$(now $((i - 1)))" "store/$(now $i)" && want=$(cat "$HS_OUT")
    hs_rc 1 diff "replica/$(now $((i - 1)))" "replica/$(now $i)"
    [ "$(cat "$HS_OUT")" = "$want" ] || fail "diff of the replica's snapshots $i differs"
done
# list says the same of both (names, files, total bytes)
list_of() {
    hs_rc 0 list "$1" --json
    python3 -c 'import json, sys; print([(s["name"], s["files"], s["total_bytes"]) for s in json.load(open(sys.argv[1]))])' "$HS_OUT"
}
[ "$(list_of store)" = "$(list_of replica)" ] || fail "list differs: $(list_of store) vs $(list_of replica)"

# ---- the second round: only the new snapshot; the old ones untouched
for s in 1 2 3 4; do tree_listing "replica/$(now $s)" --inodes >"before-$s.listing"; done
printf 'fifth\n' >src/fifth
store_at 5
hs_rc 0 replicate store replica
grep -q "added 1 snapshot to replica" "$HS_OUT" || fail "second round: $(cat "$HS_OUT")"
grep -q "4 already there" "$HS_OUT" || fail "second round: $(cat "$HS_OUT")"
assert_latest replica "$(now 5)"
same_sharing store replica
compare_trees "store/$(now 5)" "replica/$(now 5)"
for s in 1 2 3 4; do compare_listing "before-$s.listing" "replica/$(now $s)" --inodes; done
hs_rc 0 replicate store replica
grep -q "added 0 snapshots" "$HS_OUT" || fail "a third round added: $(cat "$HS_OUT")"

# ---- a replica pruned by its own policy gets the newer ones only
hs_rc 0 prune replica --keep-last 2
[ "$(count_snapshots replica)" = 2 ] || fail "replica prune kept $(count_snapshots replica)"
printf 'sixth\n' >src/sixth
store_at 6
hs_rc 0 replicate store replica
grep -q "added 1 snapshot to replica" "$HS_OUT" || fail "after its prune: $(cat "$HS_OUT")"
[ "$(snapshots replica | tr '\n' ' ')" = "$(now 4) $(now 5) $(now 6) " ] ||
    fail "the pruned replica holds $(snapshots replica | tr '\n' ' ')"
same_sharing store replica
same_snapshots store replica

# ---- equal files a --dedup run made share one inode: shared in the replica
mkdir dsrc
printf 'same\n' >dsrc/a
cp -p dsrc/a dsrc/b
printf 'other\n' >dsrc/c
HARDSNAP_NOW=$(now 1) hs_rc 0 backup -q --dedup dsrc dstore
same_inode "dstore/$(now 1)/a" "dstore/$(now 1)/b"
printf 'more\n' >dsrc/d
HARDSNAP_NOW=$(now 2) hs_rc 0 backup -q --dedup dsrc dstore
hs_rc 0 replicate dstore dreplica
same_snapshots dstore dreplica
same_sharing dstore dreplica

# ---- a snapshot without a manifest to trust: its tree is walked instead
mv "store/.hardsnap/manifests/$(now 2).hsm" nomf.hsm
hs_rc 0 replicate store replica-nomf
mv nomf.hsm "store/.hardsnap/manifests/$(now 2).hsm"
grep -q "$(now 2) has no manifest to trust" "$HS_ERR" || fail "no notice: $(cat "$HS_ERR")"
[ "$(grep -c "no manifest to trust" "$HS_ERR")" = 1 ] || fail "walked more: $(cat "$HS_ERR")"
same_snapshots store replica-nomf
same_sharing store replica-nomf
rm -rf replica-nomf

# ---- killed midway, then resumed: the same end as without the kill
rm -rf replica2
for i in 1 2 3; do random_file "src/kill-$i.bin" $((40 * 1024 * 1024)); done
store_at 7
"$HARDSNAP" replicate -q store replica2 &
pid=$!
for _ in $(seq 1 100); do
    [ -d replica2/.hardsnap/partial ] && [ "$(ls replica2/.hardsnap/partial 2>/dev/null)" ] && break
    sleep 0.05
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
killed_at=$(count_snapshots replica2)
note "killed with $killed_at snapshots replicated"
[ "$killed_at" -lt "$(count_snapshots store)" ] || fail "the kill came after the replication ended"
hs_rc 0 replicate store replica2
[ "$(snapshots replica2 | tr '\n' ' ')" = "$(snapshots store | tr '\n' ' ')" ] ||
    fail "after the kill the replica holds $(snapshots replica2 | tr '\n' ' ')"
same_snapshots store replica2
same_sharing store replica2
assert_no_partial replica2
hs_rc 0 verify replica2 --all
# killed between the manifest and the rename: the recovery publishes it
mv "replica2/$(now 7)" replica2/.hardsnap/partial/
ln -sfn "$(now 6)" replica2/latest
hs_rc 0 replicate store replica2
grep -q "added 0 snapshots.*7 already there" "$HS_OUT" || fail "recovered: $(cat "$HS_OUT" "$HS_ERR")"
assert_latest replica2 "$(now 7)"
compare_trees "store/$(now 7)" "replica2/$(now 7)"

# ---- run -c replicates after its prune (replicate = , relative to the file)
mkdir cfg
cat >cfg/hs.conf <<EOF
[hardsnap]
dest = $HS_TMP/store
replicate = ../replica-cfg
[source src]
path = $HS_TMP/src
[retain]
keep-last = 100
EOF
chmod -R go-w cfg
HARDSNAP_NOW=$(now 8) hs_rc 0 run -c cfg/hs.conf -q
assert_latest replica-cfg "$(now 8)"
same_sharing store replica-cfg
same_snapshots store replica-cfg
grep -q replicate replica-cfg/.hardsnap/log || fail "the replica's log has no replicate line"
# a replica that fails is a warning: the snapshot is made
sed -i "s|^\[source src\]|replicate = $HS_TMP/busy\nreplicate = host:/offsite\n&|" cfg/hs.conf
mkdir busy && printf 'x\n' >busy/file
HARDSNAP_NOW=$(now 9) hs_rc 1 run -c cfg/hs.conf -q
[ -d "store/$(now 9)" ] || fail "no snapshot when a replica failed"
assert_latest replica-cfg "$(now 9)"
grep -q "host:/offsite: a replica on another host is not supported yet" "$HS_ERR" ||
    fail "remote replica in the config: $(cat "$HS_ERR")"
[ "$(ls busy)" = file ] || fail "a non-empty directory that is no store was written"

# ---- a store's file gone (pruned meanwhile, damaged): nothing published
touch -r "store/$(now 2)" dir.time
mv "store/$(now 2)/file.txt" gone.txt
hs_rc 3 replicate store replica-gone
mv gone.txt "store/$(now 2)/file.txt"
touch -r dir.time "store/$(now 2)"
grep -q "could not be copied as recorded" "$HS_ERR" || fail "a missing file: $(cat "$HS_ERR")"
[ "$(snapshots replica-gone | tr '\n' ' ')" = "$(now 1) " ] ||
    fail "published with a file missing: $(snapshots replica-gone | tr '\n' ' ')"
hs_rc 0 replicate store replica-gone
same_snapshots store replica-gone
same_sharing store replica-gone
rm -rf replica-gone

# ---- a replica with snapshots newer than the store's: said, exit 1
HARDSNAP_NOW=$(now 20) hs_rc 0 backup -q src replica-cfg
printf 'later\n' >src/later
store_at 10
hs_rc 1 replicate store replica-cfg
grep -q "has snapshots newer than the store's newest" "$HS_ERR" || fail "ahead: $(cat "$HS_ERR")"
assert_absent "replica-cfg/$(now 10)"

# ---- what it refuses
hs_rc 2 replicate store store
grep -q "the replica is the store itself" "$HS_ERR" || fail "store into itself: $(cat "$HS_ERR")"
mkdir notastore
hs_rc 2 replicate notastore replica3
grep -q "not a hardsnap store" "$HS_ERR" || fail "not a store: $(cat "$HS_ERR")"
assert_absent replica3
hs_rc 2 replicate store busy
[ "$(ls busy)" = file ] || fail "a non-empty directory that is no store was written"
hs_rc 2 replicate store host:/backups
grep -q "not supported yet" "$HS_ERR" || fail "remote replica: $(cat "$HS_ERR")"
hs_rc 2 replicate store
exit 0
