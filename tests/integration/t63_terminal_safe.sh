#!/bin/bash
# Output is safe for a terminal (issue 12, class 9): names holding C1
# controls (U+009B CSI, U+0085 NEL: valid UTF-8 that terminals act on) or bidi
# overrides and isolates (U+202E, U+2066: "Trojan Source") reach no output raw,
# in any command that prints a path: they come out as \xNN per byte, as a C0
# control (ESC, for comparison) always did. Ordinary UTF-8 stays as it is.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

names=(
    $'csi\xc2\x9b31m'       # U+009B
    $'nel\xc2\x85line'      # U+0085
    $'rlo\xe2\x80\xaetxt.sh' # U+202E
    $'lri\xe2\x81\xa6x'     # U+2066
    $'esc\x1b[2J'           # C0, escaped before too
)
escaped=(
    'csi\xc2\x9b31m'
    'nel\xc2\x85line'
    'rlo\xe2\x80\xaetxt.sh'
    'lri\xe2\x81\xa6x'
    'esc\x1b[2J'
)
raw=($'\xc2\x9b' $'\xc2\x85' $'\xe2\x80\xae' $'\xe2\x81\xa6' $'\x1b')
plain=$'caf\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac' # café-日本, left alone

ALL=$HS_TMP/all-output
: >"$ALL"

# check WHAT [ESCAPED...]: the last command's output holds none of the raw
# sequences and each of the given escaped names.
check() {
    local what=$1 r e
    shift
    cat "$HS_OUT" "$HS_ERR" >>"$ALL"
    for r in "${raw[@]}"; do
        if LC_ALL=C grep -qF -- "$r" "$HS_OUT" "$HS_ERR"; then
            od -c "$HS_OUT" "$HS_ERR" | head -20 >&2
            fail "$what: a raw control sequence reached the output ($(printf '%q' "$r"))"
        fi
    done
    for e in "$@"; do
        LC_ALL=C grep -qF -- "$e" "$HS_OUT" "$HS_ERR" || fail "$what: '$e' not in its output"
    done
}

mkdir src
for n in "${names[@]}" "$plain"; do
    printf 'first\n' >"src/$n"
    mkdir "src/dir-$n"
    printf 'inside\n' >"src/dir-$n/f"
done

# backup -v lists what it copies
backup_at 0 -v src dest
check "backup -v" "${escaped[@]}" "dir-${escaped[0]}/f"
grep -qF "$plain" "$HS_OUT" || fail "backup -v: ordinary UTF-8 was escaped: $(cat "$HS_OUT")"
s0=$(now 0)

for n in "${names[@]}"; do
    printf 'second\n' >>"src/$n"
done
backup_at 1 -v src dest
check "backup -v (changes)" "${escaped[@]}"
s1=$(now 1)

# diff: two snapshots, and a snapshot against the live tree
hs_rc 1 diff "dest/$s0" "dest/$s1"
check "diff" "${escaped[@]}"
rm "src/${names[2]}"
printf 'new\n' >"src/${names[3]}-added"
hs_rc 1 diff "dest/$s1" src
check "diff with the live tree" "${escaped[2]}" "${escaped[3]}-added"

# restore -v, of the whole snapshot and of a path in it
hs_rc 0 restore -v "dest/$s1" r1
check "restore -v" "${escaped[@]}"
hs_rc 0 restore -v "dest/$s1/dir-${names[1]}" r2
check "restore -v of a path" "dir-${escaped[1]}"

# export -v, import -v into a store that has none of it yet
hs_rc 0 export -v "dest/$s1" out.tar
check "export -v" "${escaped[@]}"
HARDSNAP_NOW=$(now 2) hs_rc 0 import -v out.tar dest2
check "import -v" "${escaped[@]}"

# versions of such a path, and one that is no path inside the snapshots
hs_rc 0 versions dest "${names[0]}"
check "versions"
hs_rc 2 versions dest "../${names[2]}"
check "versions (bad path)" "${escaped[2]}"

# verify: a damaged file of the snapshot is named
printf 'rotten\n' >"dest/$s1/${names[4]}"
printf 'rotten\n' >"dest/$s1/${names[0]}"
hs_rc 1 verify "dest/$s1"
check "verify" "${escaped[4]}" "${escaped[0]}"

# error messages that name such a path
hs_rc 2 export "dest/$s1/${names[2]}" "out-${names[3]}.unknown"
check "export (bad archive name)" "${escaped[3]}"
hs_rc 2 restore "dest/$s1/nothing-${names[0]}" r3
check "restore (no such path)" "${escaped[0]}"

# nothing raw anywhere, and the C0 control was escaped all along
for r in "${raw[@]}"; do
    if LC_ALL=C grep -qF -- "$r" "$ALL"; then
        fail "a raw control sequence reached the output ($(printf '%q' "$r"))"
    fi
done
