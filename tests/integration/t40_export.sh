#!/bin/bash
# Export: a snapshot as .tar, .tar.gz, .tgz, .tar.xz, .tar.zst, .zip, .iso and
# as a tar on stdout, each extracted again with bsdtar and compared with the
# snapshot: everything for the pax formats, what the format can hold for zip
# and ISO 9660. Hard links are stored once, member names are relative, and
# SNAPSHOT/PATH starts with PATH's last component.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have bsdtar || skip "bsdtar (libarchive-tools) is needed to read the archives"
# UTF-8 names are stored as pax says, in UTF-8 (hdrcharset=BINARY only for
# an entry whose names are not): bsdtar takes them in a UTF-8 locale only
bsdtar() {
    LC_ALL=C.UTF-8 command bsdtar "$@"
}

# extract ARCHIVE DIR [BSDTAR-OPTIONS]: bsdtar -x into the new DIR, keeping
# everything it can; stdin when ARCHIVE is "-".
extract() {
    local archive=$1 dir=$2
    shift 2
    mkdir "$dir"
    bsdtar -xpf "$archive" --numeric-owner -C "$dir" "$@" || fail "bsdtar cannot extract $archive"
}

# The snapshot root is the member "./", from which bsdtar restores the
# mode but not the times: the directory extracted into gets the root's
# metadata, so that trees compare (t40_export_tools checks GNU tar's).
like_root() {
    chown --reference="$snap" "$1"
    chmod --reference="$snap" "$1"
    touch -r "$snap" "$1"
}

# kept_listing DIR [--links]: what zip and ISO 9660 keep of the tree under
# DIR (DIR itself left out): type, mode, owner, size, mtime in whole
# seconds, symlink target, content, device numbers, and with --links the
# hard-link grouping. No ns times, atimes, xattrs or ACLs.
kept_listing() {
    (
        cd "$1" || exit 1
        find . -mindepth 1 -printf 'meta %p\001%y\001%m\001%U\001%G\001%s\001%Ts\001%l\0' |
            hs__records | sed -e 's/^\(meta [^\t]*\td\t[^\t]*\t[^\t]*\t[^\t]*\t\)[^\t]*/\1-/'
        find . -type f -print0 | xargs -0 -r sha256sum -z -- |
            sed -z 's/^\([0-9a-f]*\)  /hash \1\x01/' | hs__records
        find . \( -type b -o -type c \) -print0 | xargs -0 -r stat --printf 'dev %t:%T\001%n\0' -- |
            hs__records
        if [ "${2:-}" = --links ]; then
            find . ! -type d -printf '%i\001%p\0' | hs__records | sort -t "$(printf '\t')" -k2,2 |
                awk -F '\t' '{ if ($1 in first) print "link " $2 " => " first[$1]; else first[$1] = $2 }' |
                sort
        fi
    )
}

# compare_kept A B FILTER [--links]: kept_listing of A and B equal, lines
# matching the extended regexp FILTER left out of both.
compare_kept() {
    local a=$1 b=$2 filter=$3 links=${4:-}
    if ! diff -u <(kept_listing "$a" "$links" | grep -Ev "$filter") \
        <(kept_listing "$b" "$links" | grep -Ev "$filter") >"$HS_TMP/kept.diff"; then
        sed -n '3,60p' "$HS_TMP/kept.diff" >&2
        fail "trees differ in what the format keeps: $a and $b"
    fi
}

# assert_member_names LISTING [ROOT]: no member starts with "/" or "./",
# none is "." but, with ROOT, the first, "./" (the snapshot root)
assert_member_names() {
    local bad
    if [ "${2:-}" = ROOT ]; then
        [ "$(head -1 "$1")" = ./ ] || fail "the first member of $1 is not ./: $(head -1 "$1")"
    fi
    bad=$(sed "${2:+1d}" "$1" | grep -E '^(/|\./|\.$)' || true)
    [ -z "$bad" ] || fail "member names with a leading / or ./ in $1: $(head -5 <<<"$bad")"
    [ -s "$1" ] || fail "no members listed in $1"
}

# atime_of PATH
atime_of() {
    stat -c %x -- "$1"
}

mktree_basic src
acl=0
if have setfacl && have getfacl && setfacl -m u:65534:r,g:65534:rw src/mode-0600 2>/dev/null; then
    acl=1
    setfacl -d -m u:65534:rx src/dir-setgid
fi
# a larger hard-link group: stored three times, it would show in the sizes
random_file src/hl/big-a 3000000
ln src/hl/big-a src/hl/big-b
ln src/hl/big-a src/sub/big-c
touch -h -d '2021-03-04 05:06:07.123456789' src/hl/big-a
touch -d '2022-05-06 07:08:09.987654321' src/hl src/sub
# a sparse file ending in a hole, and one that is all hole
truncate -s 8M src/sparse-tail.img
printf 'head' | dd of=src/sparse-tail.img conv=notrunc status=none
truncate -s 16M src/all-hole.img
touch -d '2021-03-04 05:06:07.123456789' src/sparse-tail.img src/all-hole.img
touch -d '2022-05-06 07:08:09.987654321' src
touch -a -d '2020-02-03 04:05:06.123456789' src/one-byte # an atime of its own
s=$(now 0)
backup_at 0 src dest
snap=dest/$s
snap_list=$HS_TMP/snap.list
tree_listing "$snap" --inodes >"$snap_list"
atime=$(atime_of "$snap/one-byte")
# each inode once, at its apparent size: what an archive that stores data once holds
unique_bytes=$(find "$snap" ! -type d -printf '%i %s\n' | sort -u | awk '{ s += $2 } END { print s }')

# --- the pax tar formats: everything comes back ------------------------------------
for ext in tar tar.gz tgz tar.xz tar.zst; do
    hs_rc 0 export "$snap" "x.$ext"
    grep -q '^exported: ' "$HS_OUT" || fail ".$ext: no summary: $(cat "$HS_OUT")"
    [ -f "x.$ext" ] || fail "x.$ext not created"
    assert_absent "x.$ext.part"
    bsdtar -tf "x.$ext" >"list.$ext" || fail "bsdtar cannot list x.$ext"
    assert_member_names "list.$ext" ROOT
    bsdtar -tvf "x.$ext" >"vlist.$ext"
    # hl/one: 3 names, pair: 2, big-a: 3 => 2 + 1 + 2 link entries
    links=$(grep -c '^h' "vlist.$ext" || true)
    [ "$links" = 5 ] || fail ".$ext: $links hard-link entries, expected 5: $(grep '^h' "vlist.$ext")"
    extract "x.$ext" "out.$ext" --xattrs --acls
    # atime first: the comparisons read the files
    [ "$(atime_of "out.$ext/one-byte")" = "$atime" ] ||
        fail ".$ext: atime of one-byte: $(atime_of "out.$ext/one-byte"), the snapshot has $atime"
    like_root "out.$ext"
    compare_trees "$snap" "out.$ext"
    is_sparse "out.$ext/sparse.img" || fail ".$ext: sparse.img is not sparse after extraction"
    is_sparse "out.$ext/sparse-tail.img" || fail ".$ext: sparse-tail.img is not sparse"
    is_sparse "out.$ext/all-hole.img" || fail ".$ext: all-hole.img is not sparse"
    if [ $acl = 1 ]; then
        [ "$(getfacl -cp "out.$ext/mode-0600")" = "$(getfacl -cp "$snap/mode-0600")" ] ||
            fail ".$ext: ACL of mode-0600 not kept"
        [ "$(getfacl -cpd "out.$ext/dir-setgid")" = "$(getfacl -cpd "$snap/dir-setgid")" ] ||
            fail ".$ext: default ACL of dir-setgid not kept"
    fi
    rm -rf "out.$ext"
done
[ "$acl" = 1 ] || note "setfacl not available: ACLs not checked"
# the plain tar holds each inode's data once, and the holes not at all
tar_size=$(stat -c %s x.tar)
sparse_bytes=$(( (64 + 8 + 16) * 1024 * 1024 ))
[ "$tar_size" -lt $((unique_bytes - sparse_bytes + 1024 * 1024)) ] ||
    fail "x.tar is $tar_size bytes, the data stored once is $((unique_bytes - sparse_bytes))"
# the compressors really compressed
[ "$(bsdtar -tvf x.tar.zst | wc -l)" = "$(wc -l <list.tar)" ] || fail ".tar.zst lists differently"
[ "$(head -c 4 x.tar.zst | od -An -tx1 | tr -d ' ')" = 28b52ffd ] || fail "x.tar.zst is not zstd"
[ "$(head -c 2 x.tgz | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "x.tgz is not gzip"
[ "$(head -c 6 x.tar.xz | od -An -tx1 | tr -d ' ')" = fd377a585a00 ] || fail "x.tar.xz is not xz"

# --- "-": a pax tar on stdout ----------------------------------------------------------
rc=0
"$HARDSNAP" export "$snap" - 2>stream.err | bsdtar -tf - >list.stream || rc=$?
[ "$rc" = 0 ] || fail "export to - | bsdtar -tf -: exit $rc: $(cat stream.err)"
assert_member_names list.stream ROOT
cmp -s list.stream list.tar || fail "the stream lists other members than x.tar"
grep -q '^exported: ' stream.err || fail "with -, the summary goes to stderr: $(cat stream.err)"
rc=0
mkdir out.stream
"$HARDSNAP" export -q "$snap" - 2>stream.err |
    bsdtar -xpf - --numeric-owner --xattrs --acls -C out.stream || rc=$?
[ "$rc" = 0 ] || fail "export to - | bsdtar -x: exit $rc: $(cat stream.err)"
[ ! -s stream.err ] || fail "-q with -: stderr: $(cat stream.err)"
like_root out.stream
compare_trees "$snap" out.stream
# -v lists on stderr when the archive is stdout: the stream stays a tar
"$HARDSNAP" export -v "$snap" - 2>stream.err | bsdtar -tf - >/dev/null || fail "export -v - broke the stream"
grep -qx 'sub/deep/data.bin' stream.err || fail "-v with -: no listing on stderr"
rm -rf out.stream

# --- zip: no hard links, fifos or device nodes; times in whole seconds ------------------
# zip keeps names, types, modes, owners (the "ux" field), contents, symlinks
# and mtimes in seconds (1970-2038 in its "UT" field). Not kept: hard links
# (each name stores its data: a notice says so), fifos and device nodes
# (warned, exit 1), xattrs, ACLs, ns times, holes. Readers take a "\" in a
# name as a separator, so back\slash comes back as back/slash.
hs_rc 1 export "$snap" x.zip
grep -q 'fifo' "$HS_ERR" || fail "zip: the skipped fifo is not named: $(cat "$HS_ERR")"
grep -q 'no hard links' "$HS_ERR" || fail "zip: no notice about hard links: $(cat "$HS_ERR")"
# names that are UTF-8 are flagged so: bsdtar takes them in a UTF-8 locale only
LC_ALL=C.UTF-8 bsdtar -tf x.zip >list.zip
assert_member_names list.zip ROOT
LC_ALL=C.UTF-8 extract x.zip out.zip
zip_filter='\./(fifo|chardev|back)\b|\./(pre-epoch|far-future)[[:space:]]'
compare_kept "$snap" out.zip "$zip_filter"
cmp -s "$snap/back\\slash" out.zip/back/slash || fail "zip: back\\slash content"
[ "$(stat -c %h out.zip/hl/big-b)" = 1 ] || fail "zip: hard links are not expected back"
cmp -s out.zip/hl/big-a out.zip/sub/big-c || fail "zip: big-c differs from big-a"

# --- ISO 9660 with Rock Ridge and Joliet --------------------------------------------------
# Rock Ridge keeps names, types, modes, owners, symlinks, fifos, device
# nodes, hard links (one extent) and times in seconds for the years
# 1900-2155 (far-future, in 2200, cannot be). Not kept: ns times, atimes,
# xattrs, ACLs, holes (the image holds the zeros).
hs_rc 0 export "$snap" x.iso
extract x.iso out.iso
compare_kept "$snap" out.iso '\./far-future[[:space:]]' --links
# one extent per inode: the image is the data once plus its own structure
iso_size=$(stat -c %s x.iso)
[ "$iso_size" -lt $((unique_bytes + 2 * 1024 * 1024)) ] ||
    fail "x.iso is $iso_size bytes, the data stored once is $unique_bytes"
if have isoinfo; then
    # "path extent" for each file of the image, from its Rock Ridge listing
    isoinfo -R -l -i x.iso | awk '
        /^Directory listing of / { dir = substr($0, 22); next }
        /\[ *-?[0-9]+ [0-9]+\]/ {
            match($0, /\[ *-?[0-9]+ /); ext = substr($0, RSTART + 1, RLENGTH - 2)
            name = substr($0, index($0, "]") + 3); gsub(/ /, "", ext)
            print dir name " " ext
        }' >extents
    extent() {
        awk -v p="$1" 'substr($0, 1, length(p) + 1) == p " " { print $NF }' extents
    }
    one=$(extent /hl/one)
    [ -n "$one" ] || fail "isoinfo does not list /hl/one: $(head -20 extents)"
    if [ "$(extent /sub/hl-two)" != "$one" ] || [ "$(extent /hl-three)" != "$one" ]; then
        fail "hl/one, sub/hl-two, hl-three do not share one extent"
    fi
    big=$(extent /hl/big-a)
    if [ "$(extent /hl/big-b)" != "$big" ] || [ "$(extent /sub/big-c)" != "$big" ]; then
        fail "the big-a group does not share one extent"
    fi
    [ "$(extent /hl/pair-a)" = "$(extent /hl/pair-b)" ] || fail "the pair does not share one extent"
    [ "$big" != "$one" ] || fail "two groups share an extent"
else
    note "isoinfo (genisoimage) not available: extents not checked"
fi
rm -rf out.zip out.iso

# --- SNAPSHOT/PATH: members start with PATH's last component ------------------------------
hs_rc 0 export "$snap/sub" sub.tar
bsdtar -tf sub.tar >list.sub
assert_member_names list.sub
bad=$(grep -v '^sub/' list.sub || true)
[ -z "$bad" ] || fail "SNAPSHOT/sub: members outside sub/: $bad"
grep -qx 'sub/' list.sub || fail "SNAPSHOT/sub: no member for sub itself"
extract sub.tar out.sub --xattrs --acls
compare_trees "$snap/sub" out.sub/sub
hs_rc 0 export "dest/latest/sub/deep/" deep.tar.gz # through latest, a trailing slash
[ "$(bsdtar -tf deep.tar.gz | head -1)" = deep/ ] || fail "latest/sub/deep: first member $(bsdtar -tf deep.tar.gz | head -1)"
hs_rc 0 export "$snap/sub/deep/data.bin" one.tar
[ "$(bsdtar -tf one.tar)" = data.bin ] || fail "a single file: members $(bsdtar -tf one.tar)"
# one name of a group alone: its data, not a link to a name outside
hs_rc 0 export "$snap/sub/hl-two" hl-two.tar
[ "$(bsdtar -tvf hl-two.tar | cut -c1)" = - ] || fail "a lone name of a group is not a file"
extract hl-two.tar out.hl
cmp -s out.hl/hl-two "$snap/hl/one" || fail "hl-two: content"

# reading with O_NOATIME left the atimes alone (checked before the next backup
# links the inodes again: a new ctime lets the next read set the atime)
[ "$(atime_of "$snap/one-byte")" = "$atime" ] || fail "the export changed an atime in the snapshot"

# --- a snapshot sharing its inodes with another: groups are exactly its own ------------
backup_at 1 src dest
s2=$(now 1)
assert_all_linked "$snap" "dest/$s2"
hs_rc 0 export "dest/$s2" x2.tar
[ "$(bsdtar -tvf x2.tar | grep -c '^h')" = 5 ] || fail "second snapshot: link entries $(bsdtar -tvf x2.tar | grep '^h')"
extract x2.tar out.2 --xattrs --acls
like_root out.2
compare_trees "dest/$s2" out.2
[ "$(stat -c %h out.2/file.txt)" = 1 ] || fail "file.txt (2 snapshot names, 1 in this one) came back linked"
# without its manifest, st_nlink bounds the groups: the same archive content
mv "dest/.hardsnap/manifests/$s2.hsm" manifest.saved
hs_rc 0 export "dest/$s2" x2nm.tar
mv manifest.saved "dest/.hardsnap/manifests/$s2.hsm"
extract x2nm.tar out.2nm --xattrs --acls
like_root out.2nm
compare_trees "dest/$s2" out.2nm

# --- output options -----------------------------------------------------------------------
hs_rc 0 export -v "$snap/sub" v.tar
grep -qx 'sub/deep/deeper/odd.bin' "$HS_OUT" || fail "-v does not list sub/deep/deeper/odd.bin"
grep -q '^exported: ' "$HS_OUT" || fail "-v: no summary"
hs_rc 0 export -q "$snap/file.txt" q.tar
if [ -s "$HS_OUT" ] || [ -s "$HS_ERR" ]; then
    fail "-q printed: $(cat "$HS_OUT" "$HS_ERR")"
fi
hs_rc 0 export --progress "$snap/sub" p.tar
[ ! -s "$HS_ERR" ] || fail "--progress wrote to a stderr that is not a terminal"
hs_rc 0 export --help
grep -q 'usage: hardsnap export' "$HS_OUT" || fail "export --help: no usage"
grep -q '\.tar\.zst' "$HS_OUT" || fail "export --help does not name the formats"
long=$(awk 'length > 80' "$HS_OUT")
[ -z "$long" ] || fail "export --help has lines over 80 columns: $long"

# the snapshot is as it was after all of this
compare_listing "$snap_list" "$snap" --inodes
