#!/bin/bash
# Valid names are valid (issue 12, class 11): export writes to ARCHIVE.part,
# and where ARCHIVE is 251 to 255 bytes that name would be too long; then the
# temp file gets a shorter name of its own, the same for the same ARCHIVE, so
# everything .part gives still holds: no half archive under ARCHIVE's name,
# the temp file of a killed export is removed by the next one, an export
# under way to the same name is not touched. A 256-byte name is refused.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
have bsdtar || skip "bsdtar (libarchive-tools) is needed to read the archives"
have flock || skip "flock (util-linux) is needed"
max=$(getconf NAME_MAX .)
[ "$max" = 255 ] || skip "the temp dir's filesystem takes names of $max bytes, not 255"

mkdir -p src/sub
printf 'a file\n' >src/file.txt
printf 'below\n' >src/sub/f
random_file src/big.bin 300000 # more than the kill below lets be written
backup_at 0 src dest
snap=dest/$(now 0)

# name_of LEN SUFFIX [FILL]: a name of exactly LEN bytes ending in SUFFIX,
# FILL repeated (then "a"s) before it
name_of() {
    local len=$1 suffix=$2 fill=${3:-a} n=""
    while [ $((${#n} + ${#fill} + ${#suffix})) -le "$len" ]; do
        n+=$fill
    done
    while [ $((${#n} + ${#suffix})) -lt "$len" ]; do
        n+=a
    done
    printf '%s%s' "$n" "$suffix"
}

# extracts ARCHIVE: the snapshot's names and contents (t40 checks the rest)
extracts() {
    rm -rf x
    mkdir x
    bsdtar -xf "$1" -C x || fail "${#1}-byte $2 archive does not extract"
    diff -r "$snap" x >&2 || fail "${#1}-byte $2 archive differs from the snapshot"
}

# --- 250 (the .part fits), 251, 254, 255 bytes -------------------------------------------
for len in 250 251 254 255; do
    for suffix in .tar .tar.zst; do
        name=$(name_of "$len" "$suffix")
        [ "$(printf '%s' "$name" | wc -c)" = "$len" ] || fail "name_of $len is wrong"
        hs_rc 0 export "$snap" "$name"
        extracts "$name" "$suffix"
        [ "$(find . -maxdepth 1 -name '*.part' | wc -l)" = 0 ] || fail "a temp file is left: $(ls)"
        rm "$name"
    done
done
# multibyte characters up to the last byte: still works
name=$(name_of 255 .tar $'\xc3\xa9')
[ "$(printf '%s' "$name" | wc -c)" = 255 ] || fail "name_of 255 (é) is wrong"
hs_rc 0 export "$snap" "$name"
extracts "$name" .tar
rm "$name"

# --- 256 bytes: no file can have that name ------------------------------------------------
name=$(name_of 256 .tar)
hs_rc 2 export "$snap" "$name"
grep -q '^hardsnap: cannot use the archive name: .*: File name too long$' "$HS_ERR" ||
    fail "256 bytes: $(cat "$HS_ERR")"
[ "$(find . -maxdepth 1 -name '*.part' | wc -l)" = 0 ] || fail "a temp file is left: $(ls)"

# --- an export killed while writing leaves its temp file; the next removes it -------------
# (a file size limit kills it with SIGXFSZ partway, as a kill -9 would: nothing cleaned)
for len in 250 255; do
    name=$(name_of "$len" .tar $'\xc3\xa9')
    rc=0
    # shellcheck disable=SC2016 # for the inner shell, which says "File size limit exceeded"
    bash -c 'ulimit -c 0; ulimit -f 64; "$0" export "$1" "$2" >/dev/null 2>&1; exit $?' \
        "$HARDSNAP" "$snap" "$name" 2>/dev/null || rc=$?
    [ "$rc" -gt 128 ] || fail "$len bytes: the export was not killed by the size limit (exit $rc)"
    [ ! -e "$name" ] || fail "$len bytes: a half archive under the final name"
    mapfile -t parts < <(find . -maxdepth 1 -name '*.part' -printf '%f\n')
    [ "${#parts[@]}" = 1 ] || fail "$len bytes: not one temp file: ${parts[*]}"
    part=${parts[0]}
    plen=$(printf '%s' "$part" | wc -c)
    [ "$plen" -le 255 ] || fail "$len bytes: temp name of $plen bytes"
    printf '%s' "$part" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1 ||
        fail "$len bytes: the temp name cuts a character"
    [ "${part:0:20}" = "${name:0:20}" ] || fail "$len bytes: the temp name does not start like ARCHIVE"
    if [ "$len" = 250 ]; then
        [ "$part" = "$name.part" ] || fail "250 bytes: the temp file is not ARCHIVE.part"
    fi

    # an export under way to the same name (it holds the temp file's lock) is not disturbed
    exec 4<"$part"
    flock -n 4 || fail "cannot lock the temp file"
    hs_rc 2 export "$snap" "$name"
    grep -q 'another export is writing' "$HS_ERR" || fail "$len bytes, locked: $(cat "$HS_ERR")"
    [ -e "$part" ] || fail "$len bytes: the temp file of another export was removed"
    [ ! -e "$name" ] || fail "$len bytes: an archive was written beside another export"
    exec 4<&-

    # the killed one's is removed, with a notice
    hs_rc 0 export "$snap" "$name"
    grep -q 'removed the .part file an interrupted export had left' "$HS_ERR" ||
        fail "$len bytes, stale: $(cat "$HS_ERR")"
    [ ! -e "$part" ] || fail "$len bytes: the stale temp file is still there"
    extracts "$name" .tar
    rm "$name"
done

# a stale one made by hand, as a kill leaves it: a file nobody holds a lock on
name=$(name_of 250 .tar.zst)
printf 'left by a killed export\n' >"$name.part"
hs_rc 0 export "$snap" "$name"
[ ! -e "$name.part" ] || fail "the hand-made stale ARCHIVE.part is still there"
extracts "$name" .tar.zst
