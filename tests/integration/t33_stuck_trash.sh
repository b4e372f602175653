#!/bin/bash
# A snapshot that cannot be removed (an immutable file in it) must not stop
# the nights: prune deletes the others, fails (exit 3) naming the file in the
# trash, and points latest at the newest, also when latest was stale; the
# next backup warns (exit 1) and makes its snapshot, as does run -c (its
# prune fails, after the snapshot is made); once the file can go,
# the next prune empties the trash. The trash exists from the first backup,
# so a prune on a full disk needs no new directory. Output that cannot be
# written is an error too: exit 3 for list (its output is its product),
# exit 1 for backup (the snapshot was made).
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir -p src/d
printf 'stuck\n' >src/d/imm
printf 'other\n' >src/other
for n in 1 2 3; do
    printf 'day %s\n' "$n" >src/day
    backup_at "$n" src dest
    rm -f src/d/imm # in the first snapshot only: its inode is that snapshot's alone
done
[ -d dest/.hardsnap/trash ] || fail "no .hardsnap/trash after a backup"

# ---- output that cannot be written ----------------------------------------
rc=0
hs list dest >/dev/full 2>"$HS_ERR" || rc=$?
[ "$rc" = 3 ] || fail "list > /dev/full exited $rc, expected 3"
grep -q '^hardsnap: cannot write to standard output: No space left on device' "$HS_ERR" ||
    fail "list > /dev/full: $(cat "$HS_ERR")"
rc=0
HARDSNAP_NOW=$(now 4) hs backup src dest >/dev/full 2>"$HS_ERR" || rc=$?
[ "$rc" = 1 ] || fail "backup > /dev/full exited $rc, expected 1 (the snapshot is made)"
[ -d "dest/$(now 4)" ] || fail "backup > /dev/full made no snapshot"

# ---- a file that cannot be removed ----------------------------------------
have chattr || skip "chattr is needed to make a file immutable"
chattr +i "dest/$(now 1)/d/imm" 2>/dev/null || skip "this filesystem has no immutable files"
at_exit "chattr -i '$PWD/dest/.hardsnap/trash/$(now 1)/d/imm' '$PWD/dest/$(now 1)/d/imm' 2>/dev/null"
ln -sfn "$(now 2)" dest/latest # stale: prune deletes what it names

HARDSNAP_NOW=$(now 5) hs_rc 3 prune dest --keep-last 1
grep -q "^hardsnap: cannot remove: dest/.hardsnap/trash/$(now 1)/d/imm: Operation not permitted" \
    "$HS_ERR" || fail "prune does not name the stuck file: $(cat "$HS_ERR")"
[ "$(snapshots dest | tr '\n' ' ')" = "$(now 4) " ] ||
    fail "prune stopped at the stuck snapshot: $(snapshots dest | tr '\n' ' ')"
assert_latest dest "$(now 4)"
grep -q "^deleted $(now 2)" "$HS_OUT" || fail "no line for $(now 2): $(cat "$HS_OUT")"

printf 'day 6\n' >src/day
HARDSNAP_NOW=$(now 6) hs_rc 1 backup src dest
grep -q "^hardsnap: cannot remove: dest/.hardsnap/trash/$(now 1)/d/imm: Operation not permitted" \
    "$HS_ERR" || fail "backup does not warn about the trash: $(cat "$HS_ERR")"
assert_latest dest "$(now 6)"
compare_trees src "dest/$(now 6)"

# run = backup + prune: the snapshot is made, so the stuck prune is a
# warning (exit 1), not a failure (3 would say there is no new snapshot)
cat >run.conf <<'CONF'
[hardsnap]
dest = dest

[source main]
path = src

[retain]
keep-last = 1
CONF
HARDSNAP_NOW=$(now 7) hs_rc 1 run -c run.conf
[ -d "dest/$(now 7)/main" ] || fail "run -c made no snapshot"
grep -q "trash/$(now 1)/d/imm" "$HS_ERR" || fail "run -c does not name the stuck file: $(cat "$HS_ERR")"
assert_latest dest "$(now 7)"

# an interrupted prune's leftover after the stuck one: removed all the same,
# with its manifest
mkdir -p "dest/.hardsnap/trash/$(now 30)/x"
printf 'x\n' >"dest/.hardsnap/trash/$(now 30)/x/f"
printf 'm\n' >"dest/.hardsnap/manifests/$(now 30).hsm"
HARDSNAP_NOW=$(now 8) hs_rc 3 prune dest --keep-last 1
[ ! -e "dest/.hardsnap/trash/$(now 30)" ] || fail "the stuck snapshot kept the trash's next entry"
[ ! -e "dest/.hardsnap/manifests/$(now 30).hsm" ] || fail "the trash's next entry kept its manifest"

chattr -i "dest/.hardsnap/trash/$(now 1)/d/imm"
HARDSNAP_NOW=$(now 9) hs_rc 0 prune dest --keep-last 1
[ -z "$(ls -A dest/.hardsnap/trash)" ] || fail "the trash is not empty: $(ls -A dest/.hardsnap/trash)"
left=$(find dest/.hardsnap/manifests -mindepth 1 -printf '%f ')
[ "$left" = "$(now 7).hsm " ] || fail "manifests left: $left"
assert_latest dest "$(now 7)"
