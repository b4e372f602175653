#!/bin/bash
# A user cannot stop everyone's backup: while an unprivileged user keeps
# swapping two ~110-level-deep trees of hers (and subtrees inside them), root
# backs up the /home-like source again and again. Every run makes its
# snapshot (exit 0, or 1 with warnings that name her directories only), which
# verifies against its manifest; the other users' files are in each one,
# linked from the run before; a diff against the live tree goes through too.
# Once she stops, the next run exits 0 and its snapshot equals the source.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root (a source owned by several users, setpriv)"
have setpriv || skip "no setpriv"

DEPTH=110
ROUNDS=12
# nobody must reach the stop flag
chmod 0755 "$HS_TMP"

# deep_tree DIR CONTENT: DIR/d/d/... DEPTH levels, a file f in each.
deep_tree() {
    local p=$1 i
    for ((i = 0; i < DEPTH; i++)); do
        p=$p/d
    done
    mkdir -p "$p"
    p=$1
    for ((i = 0; i <= DEPTH; i++)); do
        printf '%s %d\n' "$2" "$i" >"$p/f"
        p=$p/d
    done
}

mkdir -p home/alice/docs home/bob home/u
printf 'alice\n' >home/alice/docs/letter
random_file home/alice/photo 100000
printf 'bob\n' >home/bob/notes
chown -R 1001:1001 home/alice
chown -R 1002:1002 home/bob
deep_tree home/u/A tree-a
deep_tree home/u/B tree-b
chown -R 65534:65534 home/u

# The user renames her two trees into each other's places, and two subtrees
# three levels down, a whole cycle at a time, until told to stop.
stop=$HS_TMP/stop
(
    cd home/u
    # shellcheck disable=SC2016 # the loop's own $1
    exec setpriv --reuid=65534 --regid=65534 --clear-groups -- bash -c '
        while [ ! -e "$1" ]; do
            mv A T; mv B A; mv T B
            mv A/d/d/d X; mv B/d/d/d A/d/d/; mv X B/d/d/d
        done' hostile "$stop"
) 2>/dev/null &
user=$!
at_exit "kill $user"

# others DIR: the other users' names under DIR.
others() {
    (cd "$1" && find alice bob | sort)
}

warned=0
prev=""
for ((i = 1; i <= ROUNDS; i++)); do
    rc=0
    HARDSNAP_NOW=$(now "$i") "$HARDSNAP" backup -q home dest >"$HS_OUT" 2>"$HS_ERR" || rc=$?
    [ "$rc" = 0 ] || [ "$rc" = 1 ] ||
        fail "run $i exited $rc (the user stopped the backup): $(head -c 600 "$HS_ERR")"
    snap=dest/$(now "$i")
    [ -d "$snap" ] || fail "run $i (exit $rc) made no snapshot"
    assert_latest dest "$(now "$i")"
    if [ "$rc" = 1 ]; then
        warned=$((warned + 1))
        [ -s "$HS_ERR" ] || fail "run $i exited 1 without a warning"
        # only her directories are concerned, and by name; her endless
        # swaps may also look like a mass change of the whole store (the
        # anomaly warning, which names the store)
        if grep -v -e '^hardsnap: [^:]*: u/[ABTX]' -e '^hardsnap: anomaly: dest: [0-9]* of [0-9]* files changed' \
            "$HS_ERR" | grep -q .; then
            fail "run $i: a warning that names no moved directory of hers: $(head -c 600 "$HS_ERR")"
        fi
    else
        [ ! -s "$HS_ERR" ] || fail "run $i exited 0 with output: $(head -c 600 "$HS_ERR")"
    fi
    # what was kept is what its manifest says
    hs_rc 0 verify "$snap"
    if [ -z "$prev" ]; then
        compare_trees home/alice "$snap/alice"
        compare_trees home/bob "$snap/bob"
    else
        # the same names, each file linked to the run before's (so still equal)
        [ "$(others "$snap")" = "$(others home)" ] || fail "run $i: other users' files differ"
        for f in alice/docs/letter alice/photo bob/notes; do
            same_inode "$prev/$f" "$snap/$f"
        done
    fi
    # a diff against the live tree walks her tree too
    rc=0
    "$HARDSNAP" diff "$snap" home >/dev/null 2>"$HS_ERR" || rc=$?
    [ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "diff during the race exited $rc: $(head -c 600 "$HS_ERR")"
    prev=$snap
done
note "$warned of $ROUNDS runs met a moved directory (exit 1)"

: >"$stop"
wait "$user" || fail "the renaming loop failed"
HARDSNAP_NOW=$(now $((ROUNDS + 1))) hs_rc 0 backup -q home dest
compare_trees home "dest/$(now $((ROUNDS + 1)))"
