#!/bin/bash
# Import: archives made by GNU tar (sparse, hard links, numeric owners), by
# bsdtar (pax, ns mtimes) and compressed ones read from stdin come back as
# snapshots equal to the tree they were made from (contents, types, modes,
# owners, mtimes, symlink targets, hard-link groups, holes). A second import
# links every regular file whose path, size, mtime, mode and owner are
# unchanged to the latest snapshot's inode and writes the changed ones anew.
# Without HARDSNAP_NOW the name is the newest member mtime in UTC; an older
# archive does not move latest back; a name taken is exit 3 and changes
# nothing. verify passes and list shows each imported snapshot.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have tar || skip "GNU tar is needed to make the archives"
tar --version 2>/dev/null | grep -q 'GNU tar' || skip "tar is not GNU tar"
have bsdtar || skip "bsdtar (libarchive-tools) is needed to make pax archives"
have zstd || skip "zstd is needed to make a .tar.zst"
have gzip || skip "gzip is needed to make a .tar.gz"
unset HARDSNAP_NOW

# import_listing DIR [--seconds]: tree_listing of DIR without the root itself
# (the archives' "./" member is not the point here), mtimes cut to whole
# seconds with --seconds (what GNU tar keeps).
import_listing() {
    tree_listing "$1" | grep -v "^meta \.$(printf '\t')" |
        if [ "${2:-}" = --seconds ]; then
            awk -F '\t' -v OFS='\t' '/^meta / { sub(/\.[0-9]*$/, "", $7) } { print }'
        else
            cat
        fi
}

# compare_import SRC SNAP [--seconds]: SNAP holds what SRC held.
compare_import() {
    local src=$1 snap=$2 sec=${3:-}
    if ! diff -u <(import_listing "$src" "$sec") <(import_listing "$snap" "$sec") >"$HS_TMP/import.diff"; then
        sed -n '3,80p' "$HS_TMP/import.diff" >&2
        fail "the snapshot $snap differs from the tree $src the archive was made of"
    fi
}

# inodes DIR: "path<TAB>inode" of each regular file under DIR, sorted.
inodes() {
    (cd "$1" && find . -type f -printf '%p\001%i\0') | hs__records
}

# assert_linked_except OLD NEW PATH...: each regular file of NEW is the same
# inode as the same path in OLD, except the PATHs ("./x"), which are not.
assert_linked_except() {
    local old=$1 new=$2 bad
    shift 2
    bad=$(awk -F '\t' -v changed="$(printf '%s\n' "$@")" '
        BEGIN { n = split(changed, c, "\n"); for (i = 1; i <= n; i++) if (c[i] != "") ch[c[i]] = 1 }
        NR == FNR { ino[$1] = $2; next }
        ($1 in ch) { seen[$1] = 1; if (ino[$1] == $2) print "  changed but linked: " $1; next }
        !($1 in ino) { print "  not in the old snapshot: " $1; next }
        ino[$1] != $2 { print "  unchanged but not linked: " $1 }
        END { for (p in ch) if (!(p in seen)) print "  missing in the new snapshot: " p }' \
        <(inodes "$old") <(inodes "$new"))
    if [ -n "$bad" ]; then
        printf '%s\n' "$bad" | head -40 >&2
        fail "$new: the links to $old are not as expected"
    fi
}

# assert_imported DEST NAME: verify passes, list shows it, nothing left over.
assert_imported() {
    local dest=$1 name=$2
    [ -d "$dest/$name" ] || fail "no snapshot $dest/$name (in $dest: $(entries "$dest"))"
    hs_rc 0 verify "$dest/$name"
    hs_rc 0 list "$dest"
    grep -q "$name" "$HS_OUT" || fail "list $dest does not show $name: $(cat "$HS_OUT")"
    assert_no_partial "$dest"
}

# --- the source tree ------------------------------------------------------------------
mkdir -p src/sub/deep src/hl src/other src/empty-dir src/many
: >src/empty
printf 'x' >src/one-byte
printf 'hello, world\n' >src/file.txt
random_file src/sub/4k.bin 4096
random_file src/sub/deep/data.bin 100000
random_file src/big.bin 3000000
printf 'space\n' >'src/name with space'
# a hard-link group across two folders, and a pair in one
printf 'hard linked\n' >src/hl/one
ln src/hl/one src/other/two
random_file src/hl/pair-a 5000
ln src/hl/pair-a src/hl/pair-b
ln -s sub/deep/data.bin src/link-rel
ln -s does/not/exist src/dangling
mkfifo src/fifo
# sparse: 32 MiB with a few bytes in the middle and at the end
truncate -s 32M src/sparse.img
printf 'middle' | dd of=src/sparse.img bs=1 seek=$((16 * 1024 * 1024)) conv=notrunc status=none
printf 'end' | dd of=src/sparse.img bs=1 seek=$((32 * 1024 * 1024 - 3)) conv=notrunc status=none
# many small files: changing two of them is about 1 %
for i in $(seq -w 0 199); do
    printf 'small file %s\n' "$i" >"src/many/f$i"
done
chmod 0600 src/file.txt
chmod 0755 src/sub/4k.bin
chmod 0444 src/one-byte
chmod 0700 src/sub/deep
if is_root; then
    chown 1234:5678 src/file.txt
    chown 4321:4321 src/sub
    chown -h 2345:6789 src/link-rel
    chown 77:88 src/many/f160
fi
find src ! -type d -exec touch -h -d '2021-03-04 05:06:07.123456789' {} +
set_mtime '2019-12-31 23:59:59.999999999' src/big.bin
set_mtime '2001-02-03 04:05:06.000000001' src/link-rel
set_mtime '1999-01-01 00:00:00' src/hl/one
find src -depth -type d -exec touch -d '2022-05-06 07:08:09.987654321' {} +
is_sparse src/sparse.img || skip "the temp dir's file system does not keep holes"

# --- GNU tar: a round trip --------------------------------------------------------------
tar --format=gnu --numeric-owner -cSf a1.tar -C src .
s1=$(now 0)
HARDSNAP_NOW=$s1 hs_rc 0 import a1.tar dest
snap1=dest/$s1
assert_latest dest "$s1"
[ "$(count_snapshots dest)" = 1 ] || fail "snapshots after one import: $(snapshots dest)"
compare_import src "$snap1" --seconds
is_sparse "$snap1/sparse.img" || fail "sparse.img is not sparse in the snapshot ($(stat -c '%b blocks' "$snap1/sparse.img"))"
cmp -s src/sparse.img "$snap1/sparse.img" || fail "sparse.img: content"
same_inode "$snap1/hl/one" "$snap1/other/two"
same_inode "$snap1/hl/pair-a" "$snap1/hl/pair-b"
not_same_inode "$snap1/hl/one" "$snap1/hl/pair-a"
[ "$(stat -c %h "$snap1/hl/one")" = 2 ] || fail "hl/one has $(stat -c %h "$snap1/hl/one") links, expected 2"
[ "$(stat -c %h "$snap1/file.txt")" = 1 ] || fail "file.txt has $(stat -c %h "$snap1/file.txt") links, expected 1"
[ -p "$snap1/fifo" ] || fail "fifo is not a fifo"
[ "$(readlink "$snap1/link-rel")" = sub/deep/data.bin ] || fail "link-rel -> $(readlink "$snap1/link-rel")"
[ -d "$snap1/empty-dir" ] || fail "empty-dir is missing"
assert_imported dest "$s1"
snap1_list=$HS_TMP/snap1.list
tree_listing "$snap1" --inodes >"$snap1_list"

# --- a second archive of the same tree with a few changes: the rest is linked -----------
printf 'edited content\n' >src/many/f007 # content (and size, mtime)
touch -d '2023-01-01 00:00:00' src/many/f123 # mtime only
chmod 0600 src/many/f150 # mode only
changed=(./many/f007 ./many/f123 ./many/f150)
if is_root; then
    chown 78:88 src/many/f160 # owner only
    changed+=(./many/f160)
fi
tar --format=gnu --numeric-owner -cSf a2.tar -C src .
s2=$(now 1)
HARDSNAP_NOW=$s2 hs_rc 0 import a2.tar dest
snap2=dest/$s2
assert_latest dest "$s2"
compare_import src "$snap2" --seconds
assert_linked_except "$snap1" "$snap2" "${changed[@]}"
same_inode "$snap2/hl/one" "$snap2/other/two"
same_inode "$snap1/hl/one" "$snap2/other/two"
is_sparse "$snap2/sparse.img" || fail "sparse.img is not sparse in the second snapshot"
[ "$(cat "$snap2/many/f007")" = 'edited content' ] || fail "many/f007: $(cat "$snap2/many/f007")"
[ "$(cat "$snap1/many/f007")" = 'small file 007' ] || fail "the first snapshot's many/f007 changed"
assert_imported dest "$s2"
# the first snapshot is as it was: no inode it shares was written to
compare_listing "$snap1_list" "$snap1" --inodes
hs_rc 0 verify "$snap1"
snap2_list=$HS_TMP/snap2.list
tree_listing "$snap2" --inodes >"$snap2_list"

# --- a name taken: exit 3, nothing changes --------------------------------------------
before=$(snapshots dest)
HARDSNAP_NOW=$s1 hs_rc 3 import a2.tar dest
grep -q '^hardsnap: ' "$HS_ERR" || fail "a taken name: no message: $(cat "$HS_ERR")"
[ "$(snapshots dest)" = "$before" ] || fail "a taken name: snapshots now $(snapshots dest)"
assert_latest dest "$s2"
assert_no_partial dest
compare_listing "$snap1_list" "$snap1" --inodes
compare_listing "$snap2_list" "$snap2" --inodes

# --- without HARDSNAP_NOW: the newest member mtime, in UTC ---------------------------------
mkdir -p tsrc/d
printf 'a\n' >tsrc/a
printf 'b\n' >tsrc/d/b
printf 'newest\n' >tsrc/d/newest
ln -s a tsrc/sym
find tsrc -exec touch -h -d '2025-06-07 08:09:10 UTC' {} +
touch -d '2025-06-08 01:02:03 UTC' tsrc/d/newest
touch -d '2025-06-07 08:09:10 UTC' tsrc/d
tar --format=gnu -cf t.tar -C tsrc .
TZ=Asia/Tokyo hs_rc 0 import t.tar tdest
st=2025-06-08T010203Z
[ "$(snapshots tdest)" = "$st" ] || fail "named from the newest mtime: got '$(snapshots tdest)', expected $st"
assert_latest tdest "$st"
compare_import tsrc "tdest/$st" --seconds
assert_imported tdest "$st"
# the same archive again: the name is taken
hs_rc 3 import t.tar tdest
[ "$(snapshots tdest)" = "$st" ] || fail "a second import of t.tar: snapshots $(snapshots tdest)"
assert_latest tdest "$st"
assert_no_partial tdest
# the newest mtime with ns: the second it falls in, not the next
cp -a tsrc tnsrc
touch -d '2025-06-09 10:11:12.999999999 UTC' tnsrc/a
bsdtar --format=pax -cf tns.tar -C tnsrc .
hs_rc 0 import tns.tar tnsdest
[ "$(snapshots tnsdest)" = 2025-06-09T101112Z ] ||
    fail "newest mtime 10:11:12.999999999: got '$(snapshots tnsdest)', expected 2025-06-09T101112Z"
assert_imported tnsdest 2025-06-09T101112Z

# --- an archive older than latest: imported, latest stays --------------------------------
hs_rc 0 import t.tar dest
[ -d "dest/$st" ] || fail "the older archive was not imported into dest: $(snapshots dest)"
assert_latest dest "$s2"
compare_import tsrc "dest/$st" --seconds
assert_imported dest "$st"
compare_listing "$snap1_list" "$snap1" --inodes
compare_listing "$snap2_list" "$snap2" --inodes
[ "$(count_snapshots dest)" = 3 ] || fail "snapshots in dest: $(snapshots dest)"

# --- pax by bsdtar: ns mtimes; a second import links everything -------------------------
bsdtar --format=pax --numeric-owner -cf p.tar -C src .
bsdtar -tvf p.tar | grep -q '^h' || fail "p.tar has no hard-link members (test setup)"
HARDSNAP_NOW=$(now 0) hs_rc 0 import p.tar pdest
compare_import src "pdest/$(now 0)"
is_sparse "pdest/$(now 0)/sparse.img" || fail "pax: sparse.img is not sparse in the snapshot"
same_inode "pdest/$(now 0)/hl/one" "pdest/$(now 0)/other/two"
assert_imported pdest "$(now 0)"
HARDSNAP_NOW=$(now 1) hs_rc 0 import p.tar pdest
assert_linked_except "pdest/$(now 0)" "pdest/$(now 1)"
compare_import src "pdest/$(now 1)"
assert_latest pdest "$(now 1)"
assert_imported pdest "$(now 1)"
# GNU tar keeps whole seconds: only the files whose mtime has no ns part link
mapfile -t with_ns < <(cd src && find . -type f -printf '%T@ %p\n' |
    awk '$1 !~ /\.0+$/ { print substr($0, index($0, " ") + 1) }')
[ "${#with_ns[@]}" -gt 100 ] || fail "src has only ${#with_ns[@]} files with ns mtimes (test setup)"
HARDSNAP_NOW=$(now 2) hs_rc 0 import a2.tar pdest
assert_linked_except "pdest/$(now 1)" "pdest/$(now 2)" "${with_ns[@]}"
same_inode "pdest/$(now 1)/hl/one" "pdest/$(now 2)/other/two" # 1999-01-01 00:00:00 exactly
# one ns later is another mtime
mkdir nsrc
printf 'ns\n' >nsrc/f
printf 'same\n' >nsrc/g
touch -d '2021-01-01 00:00:00.123456789' nsrc/f nsrc/g
bsdtar --format=pax -cf ns1.tar -C nsrc .
touch -d '2021-01-01 00:00:00.123456788' nsrc/f
bsdtar --format=pax -cf ns2.tar -C nsrc .
HARDSNAP_NOW=$(now 0) hs_rc 0 import ns1.tar nsdest
HARDSNAP_NOW=$(now 1) hs_rc 0 import ns2.tar nsdest
assert_linked_except "nsdest/$(now 0)" "nsdest/$(now 1)" ./f
[ "$(stat -c %y "nsdest/$(now 1)/f")" = "$(stat -c %y nsrc/f)" ] || fail "f: mtime $(stat -c %y "nsdest/$(now 1)/f")"

# --- compressed, from stdin -------------------------------------------------------------
tar --format=gnu --numeric-owner -cSf - -C src . | zstd -q -c >a.tar.zst
[ "$(head -c 4 a.tar.zst | od -An -tx1 | tr -d ' ')" = 28b52ffd ] || fail "a.tar.zst is not zstd (test setup)"
HARDSNAP_NOW=$(now 0) hs_rc 0 import - zdest <a.tar.zst
compare_import src "zdest/$(now 0)" --seconds
is_sparse "zdest/$(now 0)/sparse.img" || fail "zstd from stdin: sparse.img is not sparse"
assert_imported zdest "$(now 0)"
tar --format=gnu --numeric-owner -czSf a.tar.gz -C src .
HARDSNAP_NOW=$(now 0) hs_rc 0 import - gdest <a.tar.gz
compare_import src "gdest/$(now 0)" --seconds
assert_imported gdest "$(now 0)"
# through a pipe (no seeking), linked against the first
rc=0
gzip -dc a.tar.gz | HARDSNAP_NOW=$(now 1) "$HARDSNAP" import - gdest >pipe.out 2>pipe.err || rc=$?
[ "$rc" = 0 ] || fail "import - from a pipe: exit $rc: $(cat pipe.err)"
assert_linked_except "gdest/$(now 0)" "gdest/$(now 1)"
assert_imported gdest "$(now 1)"
# a file argument, xz
if have xz; then
    tar --format=gnu --numeric-owner -cJSf a.tar.xz -C src .
    HARDSNAP_NOW=$(now 0) hs_rc 0 import a.tar.xz xdest
    compare_import src "xdest/$(now 0)" --seconds
    assert_imported xdest "$(now 0)"
fi

# --- output options ------------------------------------------------------------------------
HARDSNAP_NOW=$(now 2) hs_rc 0 import -q a2.tar dest
if [ -s "$HS_OUT" ] || [ -s "$HS_ERR" ]; then
    fail "import -q printed: $(cat "$HS_OUT" "$HS_ERR")"
fi
assert_linked_except "$snap2" "dest/$(now 2)"
assert_latest dest "$(now 2)"
HARDSNAP_NOW=$(now 3) hs_rc 0 import --progress a2.tar dest
[ ! -s "$HS_ERR" ] || fail "--progress wrote to a stderr that is not a terminal: $(cat "$HS_ERR")"
HARDSNAP_NOW=$(now 4) hs_rc 0 import -v a1.tar dest
grep -q 'many/f007' "$HS_OUT" "$HS_ERR" || fail "-v does not name many/f007 (changed against latest)"
hs_rc 0 import --help
grep -q 'usage: hardsnap import' "$HS_OUT" || fail "import --help: no usage"
long=$(awk 'length > 80' "$HS_OUT")
[ -z "$long" ] || fail "import --help has lines over 80 columns: $long"
compare_listing "$snap1_list" "$snap1" --inodes
compare_listing "$snap2_list" "$snap2" --inodes

# --- all members before 1970: the name is still their newest mtime ------------------------
mkdir old
printf 'a\n' >old/a
printf 'b\n' >old/b
touch -d '1950-01-01 00:00:00 UTC' old/b old
touch -d '1960-06-01 12:34:56 UTC' old/a
tar --format=gnu -cf old.tar -C old .
hs_rc 0 import old.tar olddest
[ "$(snapshots olddest)" = 1960-06-01T123456Z ] ||
    fail "members of 1950 and 1960: named '$(snapshots olddest)', expected 1960-06-01T123456Z"
assert_imported olddest 1960-06-01T123456Z
