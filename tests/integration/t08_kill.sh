#!/bin/bash
# kill -9 at any moment: only complete snapshots are ever published, latest
# always points at one, and the next run recovers.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir -p src/big
for ((i = 0; i < 3000; i++)); do
    d=src/small/d$((i / 100))
    [ -d "$d" ] || mkdir -p "$d"
    printf 'small file %d\n' "$i" >"$d/f$i"
done
ln src/small/d0/f0 src/small/d29/link-to-f0

declare -A listing=() # snapshot name -> listing of the source it was made from
checked=" "           # snapshots already compared in full

# change_source N: rewrites the big files (one in place with size and mtime
# kept) and touches some small files, so every run has real work to do
change_source() {
    local n=$1 f
    for f in b1 b2; do
        random_file "src/big/$f" $((20 * 1024 * 1024))
    done
    if [ -f src/big/b3 ]; then
        cp -p src/big/b3 ref-b3
        head -c $((20 * 1024 * 1024)) /dev/urandom 1<>src/big/b3
        touch -r ref-b3 src/big/b3
    else
        random_file src/big/b3 $((20 * 1024 * 1024))
    fi
    touch -d "2020-01-01 00:00:$((n % 60))" src/small/d$((n % 30))/*
}

# check_store [KILLED]: every published snapshot is the source as it was for
# that run, latest points at a published snapshot (or does not exist), the
# newest, except where the run KILLED was killed between publishing its
# snapshot and pointing latest at it (the next run does that)
check_store() {
    local s t newest
    for s in $(snapshots dest); do
        [ -n "${listing[$s]:-}" ] || fail "unexpected snapshot $s"
        case $checked in *" $s "*) continue ;; esac
        compare_listing "${listing[$s]}" "dest/$s"
        checked="$checked$s "
    done
    if [ -e dest/latest ] || [ -L dest/latest ]; then
        [ -L dest/latest ] || fail "dest/latest is not a symlink"
        t=$(readlink dest/latest)
        snapshots dest | grep -qxF -- "$t" || fail "dest/latest -> $t, not a complete snapshot"
        newest=$(snapshots dest | tail -n 1)
        if [ "$t" != "$newest" ]; then
            if [ -z "${1:-}" ] || [ "$newest" != "$1" ] || [ "$t" != "$(snapshots dest | tail -n 2 | head -n 1)" ]; then
                fail "dest/latest -> $t, not the newest snapshot"
            fi
            note "killed between publishing $1 and pointing latest at it"
        fi
    fi
}

delays=(0.02 0.05 0.1 0.15 0.2 0.25 0.3 0.4 0.5 0.7)
killed=0 n=0
for delay in "${delays[@]}"; do
    n=$((n + 1))
    name=$(now "$n")
    change_source "$n"
    listing[$name]=$HS_TMP/src-$n.list
    tree_listing src >"${listing[$name]}"
    HARDSNAP_NOW=$name "$HARDSNAP" backup src dest >run.out 2>run.err &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
    case $rc in
    137) killed=$((killed + 1)) ;;
    0) note "run $n finished within ${delay}s: not killed" ;;
    *) cat run.err >&2; fail "run $n exited $rc before the kill" ;;
    esac
    check_store "$([ "$rc" = 137 ] && echo "$name")"
done
# a few kills in a row on the same source: each resumes the previous one's work
change_source 99
name=$(now 20)
listing[$name]=$HS_TMP/src-20.list
tree_listing src >"${listing[$name]}"
for delay in 0.05 0.1 0.1 0.15; do
    HARDSNAP_NOW=$name "$HARDSNAP" backup src dest >run.out 2>run.err &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
    [ "$rc" = 137 ] && killed=$((killed + 1))
    # a kill between storing the manifest and the final rename leaves a
    # complete snapshot that this run's recovery published under the very
    # name HARDSNAP_NOW asks for again: refused, as the contract says
    if [ "$rc" = 3 ] && grep -q 'already exists' run.err && [ -d "dest/$name" ]; then
        note "the killed run's snapshot was published by the next run's recovery"
        check_store
        break
    fi
    [ "$rc" = 137 ] || [ "$rc" = 0 ] || { cat run.err >&2; fail "run exited $rc before the kill"; }
    check_store "$([ "$rc" = 137 ] && echo "$name")"
    # a kill can land after the snapshot was published, before the exit
    [ "$rc" = 0 ] || [ -d "dest/$name" ] && break
done
note "$killed runs killed mid-way"
[ "$killed" -ge 3 ] || skip "only $killed kills landed before the run completed (machine too fast?)"

# a normal run now works, and leaves no work in progress behind
final=$(now 30)
listing[$final]=$HS_TMP/src-final.list
tree_listing src >"${listing[$final]}"
HARDSNAP_NOW=$final hs_rc 0 backup src dest
compare_trees src "dest/$final"
assert_latest dest "$final"
check_store
assert_no_partial dest
[ -f "dest/.hardsnap/manifests/$final.hsm" ] || fail "no manifest for $final"
# and the next one links everything to it
HARDSNAP_NOW=$(now 31) hs_rc 0 backup src dest
assert_all_linked "dest/$final" "dest/$(now 31)"
