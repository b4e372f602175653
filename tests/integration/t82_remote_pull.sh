#!/bin/bash
# Pulling a remote source through a remote shell (the fake one: the command
# runs here, its bytes counted by a relay). The first pull equals the source
# (contents, modes, owners, times, xattrs, hard links, holes, a fifo); a
# no-change pull links everything and moves a few hundred bytes where rsync
# -aH --link-dest moves its whole file list; rewrites, chmods, deletions and
# hard-link changes arrive; a renamed directory of big files is linked by
# content and not sent again. A host that cannot be reached fails the run
# (exit 3) when it is the only source, and is carried forward (exit 1,
# stale in the log and in status) beside a local one; a connection dropped
# mid-way fails the run and what arrived is not sent again (also while
# the engine walks the list as it arrives); a damaged base list is not
# used again; a stalled one ends at --timeout; `serve --allow` refuses what is not allowed.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
# shellcheck source=tests/integration/remote_lib.sh
source "$(dirname "$HS_TEST_LIB")/remote_lib.sh"
need_relay

export XDG_CACHE_HOME=$HS_TMP/server-cache
count=$HS_TMP/wire.count
# pull ARGS...: hardsnap backup through the fake remote shell, bytes counted
pull() {
    : >"$count"
    FAKE_RSH_COUNT=$count hs_rc "$@"
}
wire_s2c() {
    rsh_bytes "$count" | cut -d' ' -f2
}
RSH=(-e "$FAKE_RSH" --hardsnap-path "$HARDSNAP")

mktree_basic src
src=$PWD/src

# ---- first pull: the tree as a local backup makes it
s1=$(now 0)
HARDSNAP_NOW=$s1 pull 0 backup "${RSH[@]}" "localhost:$src" dest
compare_trees src "dest/$s1"
is_sparse "dest/$s1/sparse.img" || fail "sparse.img lost its holes"
[ -p "dest/$s1/fifo" ] || fail "fifo not kept"
same_inode "dest/$s1/hl/one" "dest/$s1/sub/hl-two"
same_inode "dest/$s1/hl/one" "dest/$s1/hl-three"
grep -q "localhost $HARDSNAP serve" "$HS_TMP/rsh.log" 2>/dev/null || true
[ -f "dest/.hardsnap/manifests/$s1.hsm" ] || fail "no manifest"
hs_rc 0 verify "dest/$s1"

# ---- no change: everything linked, a few hundred bytes on the wire
s2=$(now 1)
HARDSNAP_NOW=$s2 pull 0 backup --stats "${RSH[@]}" "localhost:$src" dest
assert_all_linked "dest/$s1" "dest/$s2"
compare_trees src "dest/$s2"
nochange=$(wire_s2c)
[ "$nochange" -lt 400 ] || fail "a no-change pull moved $nochange bytes from the server"
grep -q '^remote: ' "$HS_OUT" || fail "--stats says nothing about the wire"

# against rsync over the same remote shell, on a tree of 3000 small files
if have rsync; then
    mkdir -p many
    for d in $(seq 1 30); do
        mkdir -p "many/d$d"
        for f in $(seq 1 100); do echo "$d $f" >"many/d$d/f$f"; done
    done
    r1=$(now 2) r2=$(now 3)
    HARDSNAP_NOW=$r1 pull 0 backup "${RSH[@]}" "localhost:$PWD/many" mdest
    HARDSNAP_NOW=$r2 pull 0 backup "${RSH[@]}" "localhost:$PWD/many" mdest
    hs_bytes=$(rsh_bytes "$count" | awk '{ print $1 + $2 }')
    rsync -aH -e "$FAKE_RSH" "localhost:$PWD/many/" rs1/
    : >"$count"
    FAKE_RSH_COUNT=$count rsync -aH --link-dest="$PWD/rs1" -e "$FAKE_RSH" "localhost:$PWD/many/" rs2/
    rs_bytes=$(rsh_bytes "$count" | awk '{ print $1 + $2 }')
    note "no-change pull of 3000 files: hardsnap $hs_bytes bytes, rsync $rs_bytes bytes"
    [ $((hs_bytes * 100)) -lt "$rs_bytes" ] ||
        fail "hardsnap moved $hs_bytes bytes, not under 1 % of rsync's $rs_bytes"
fi

# ---- changes: rewrite, chmod, delete, a new file, hard links made and broken
printf 'rewritten\n' >src/file.txt
chmod 0640 src/sub/4k.bin
rm src/one-byte
printf 'new\n' >src/sub/new-file
ln src/sub/new-file src/new-link
rm src/hl-three
mkdir -p src/moving
random_file src/moving/big1.bin 3000000
random_file src/moving/big2.bin 2000000
s3=$(now 4)
HARDSNAP_NOW=$s3 pull 0 backup "${RSH[@]}" "localhost:$src" dest
compare_trees src "dest/$s3"
same_inode "dest/$s3/sub/new-file" "dest/$s3/new-link"
not_same_inode "dest/$s2/sub/4k.bin" "dest/$s3/sub/4k.bin"
same_inode "dest/$s2/hl/one" "dest/$s3/hl/one"
[ "$(wire_s2c)" -gt 5000000 ] || fail "the new big files did not come over the wire ($(wire_s2c) bytes)"

# ---- a renamed directory: its files are in the store, not sent again
mv src/moving src/moved
s4=$(now 5)
HARDSNAP_NOW=$s4 pull 0 backup "${RSH[@]}" "localhost:$src" dest
compare_trees src "dest/$s4"
same_inode "dest/$s3/moving/big1.bin" "dest/$s4/moved/big1.bin"
same_inode "dest/$s3/moving/big2.bin" "dest/$s4/moved/big2.bin"
[ "$(wire_s2c)" -lt 50000 ] || fail "a renamed directory moved $(wire_s2c) bytes"

# ---- the newest snapshot removed by hand: the list kept for it is not
# used as the base (a full list instead), and the pull is still right
printf 'after removal\n' >src/sub/new-file2
rm -rf "dest/$s4" "dest/.hardsnap/manifests/$s4".*
ln -sfn "$s3" dest/latest
s5=$(now 5)
HARDSNAP_NOW=$s5 pull 0 backup "${RSH[@]}" "localhost:$src" dest
compare_trees src "dest/$s5"
same_inode "dest/$s3/moving/big1.bin" "dest/$s5/moved/big1.bin"
s4=$s5

# ---- the only source unreachable: no snapshot, exit 3, ssh's words shown
FAKE_RSH_FAIL=unreachable HARDSNAP_NOW=$(now 6) hs_rc 3 backup "${RSH[@]}" "localhost:$src" dest
grep -q 'Connection refused' "$HS_ERR" || fail "ssh's message not shown"
grep -q "cannot reach localhost" "$HS_ERR" || fail "no 'cannot reach': $(cat "$HS_ERR")"
assert_latest dest "$s4"

# ---- beside a local source: carried forward, stale, then pulled again
mkdir -p local && echo l >local/x
cat >two.conf <<EOF
[hardsnap]
dest = $PWD/dest2
[source web]
path = localhost:$src
rsh = $FAKE_RSH
hardsnap-path = $HARDSNAP
[source here]
path = $PWD/local
EOF
c1=$(now 7) c2=$(now 8) c3=$(now 9)
HARDSNAP_NOW=$c1 hs_rc 0 backup -c two.conf
FAKE_RSH_FAIL=unreachable HARDSNAP_NOW=$c2 hs_rc 1 backup -c two.conf
grep -q "remote source localhost:$src" "$HS_ERR" || fail "the failed source is not named"
compare_trees "dest2/$c1/web" "dest2/$c2/web"
assert_all_linked "dest2/$c1/web" "dest2/$c2/web"
grep -q "stale=web" dest2/.hardsnap/log || fail "the log does not say web is stale"
HARDSNAP_NOW=$c2 hs_rc 1 status dest2
grep -q "stale source: web, not pulled since $c1" "$HS_OUT" || fail "status: $(cat "$HS_OUT")"
HARDSNAP_NOW=$c3 hs_rc 0 backup -c two.conf
HARDSNAP_NOW=$c3 hs_rc 0 status dest2
compare_trees src "dest2/$c3/web"
# a new source that fails at once: nothing of it to carry, the rest is made
cat >>two.conf <<EOF
[source db]
path = localhost:$PWD/no-such-dir
rsh = $FAKE_RSH
hardsnap-path = $HARDSNAP
EOF
c4=$(now 10)
HARDSNAP_NOW=$c4 hs_rc 1 backup -c two.conf
grep -q "no-such-dir" "$HS_ERR" || fail "the failed new source is not named: $(cat "$HS_ERR")"
[ ! -e "dest2/$c4/db" ] || fail "a tree for a source never pulled"
compare_trees src "dest2/$c4/web"
assert_all_linked "dest2/$c3/web" "dest2/$c4/web"

# ---- every source failing: no snapshot
FAKE_RSH_FAIL=unreachable HARDSNAP_NOW=$(now 11) hs_rc 3 backup "${RSH[@]}" localhost:/a localhost:/b dest3
[ ! -e dest3/latest ] || fail "a snapshot of nothing"

# ---- dropped mid-way: exit 3, no snapshot; what arrived is not sent again
mkdir -p drop
random_file drop/a.bin 3000000
random_file drop/b.bin 3000000
random_file drop/c.bin 3000000
d1=$(now 12) d2=$(now 13)
: >"$count"
FAKE_RSH_COUNT=$count FAKE_RSH_DROP_AFTER=7000000 HARDSNAP_NOW=$d1 \
    hs_rc 3 backup "${RSH[@]}" "localhost:$PWD/drop" ddest
[ ! -e ddest/latest ] || fail "a snapshot from a dropped connection"
HARDSNAP_NOW=$d2 pull 0 backup "${RSH[@]}" "localhost:$PWD/drop" ddest
compare_trees drop "ddest/$d2"
[ "$(wire_s2c)" -lt 5000000 ] || fail "after a drop, $(wire_s2c) bytes came again (spool not reused)"

# ---- the only source is walked as its list arrives: a connection dropped
# while the engine is at it (empty files only: no data asked for yet)
# fails the run, no snapshot; the next pull is whole. The delta of a base
# that does not rebuild into the list sent fails the pull too, and the
# base is not used again: the pull after it is whole
mkdir -p stream
for d in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    mkdir "stream/d$d"
    (cd "stream/d$d" && touch $(seq -f 'an-empty-file-with-a-long-name-%g' 1 1000))
done
m1=$(now 20) m2=$(now 21) m3=$(now 22) m4=$(now 23)
FAKE_RSH_DROP_AFTER=300000 HARDSNAP_NOW=$m1 hs_rc 3 backup "${RSH[@]}" "localhost:$PWD/stream" sdest
grep -q "remote source localhost:$PWD/stream" "$HS_ERR" || fail "the dropped source is not named: $(cat "$HS_ERR")"
[ ! -e sdest/latest ] || fail "a snapshot from a connection dropped mid-list"
made=$(find "sdest/.hardsnap/partial/$m1" -type f | wc -l)
if [ "$made" -eq 0 ] || [ "$made" -ge 20000 ]; then
    fail "$made files made before the drop: the list was not walked as it came"
fi
HARDSNAP_NOW=$m2 hs_rc 0 backup "${RSH[@]}" "localhost:$PWD/stream" sdest
compare_trees stream "sdest/$m2"
touch stream/d20/a-new-one
base=$(find sdest/.hardsnap/remote -name '*.base')
[ -f "$base" ] || fail "no base list after a pull"
# a byte of a record changed, the list's end (count and id) kept
size=$(stat -c %s "$base")
printf 'Z' | dd of="$base" bs=1 seek=$((size / 2)) conv=notrunc status=none
HARDSNAP_NOW=$m3 hs_rc 3 backup "${RSH[@]}" "localhost:$PWD/stream" sdest
grep -q "list" "$HS_ERR" || fail "a damaged base not said: $(cat "$HS_ERR")"
[ ! -e "$base" ] || fail "the damaged base is kept for the next pull"
HARDSNAP_NOW=$m4 hs_rc 0 backup "${RSH[@]}" "localhost:$PWD/stream" sdest
compare_trees stream "sdest/$m4"

# ---- stalled: --timeout ends it
start=$SECONDS
FAKE_RSH_STALL_AFTER=20 HARDSNAP_NOW=$(now 14) rl_timeout 60 \
    "$HARDSNAP" backup --timeout 2 "${RSH[@]}" "localhost:$src" dest >"$HS_OUT" 2>"$HS_ERR" && fail "a stalled pull succeeded"
[ $((SECONDS - start)) -lt 30 ] || fail "--timeout 2 took $((SECONDS - start)) s"
grep -q "no data for 2 s" "$HS_ERR" || fail "timeout not named: $(cat "$HS_ERR")"

# ---- serve --allow: only the allowed trees, checked after resolving
mkdir -p allowed/tree outside
echo secret >outside/secret
ln -s ../../outside allowed/tree/escape
cat >allowserve <<EOF
#!/bin/sh
exec "$HARDSNAP" serve --allow "$PWD/allowed"
EOF
chmod +x allowserve
ALLOW=(-e "$FAKE_RSH" --hardsnap-path "$PWD/allowserve")
HARDSNAP_NOW=$(now 15) hs_rc 0 backup "${ALLOW[@]}" "localhost:$PWD/allowed/tree" adest
for bad in "$PWD/outside" "$PWD/allowed/tree/escape" "$PWD/allowed/tree/../../outside" /etc; do
    HARDSNAP_NOW=$(now 16) hs_rc 3 backup "${ALLOW[@]}" "localhost:$bad" adest
    grep -q "not allowed" "$HS_ERR" || fail "$bad: $(cat "$HS_ERR")"
done
# the symlink in the allowed tree is backed up as a symlink, never followed
[ -L "adest/$(now 15)/escape" ] || fail "the symlink was not kept as one"
