#!/bin/bash
# Import of the other formats libarchive reads, and of hardsnap's own
# exports. zip and ISO 9660 come back with what they keep. A snapshot
# exported as pax and imported into a fresh store equals it (all of
# mktree_basic: odd names, owners, setuid, device nodes, pre-1970 and
# far-future ns mtimes, holes; xattrs only noted); imported into its own
# store, every regular file is linked to it. cpio (newc) stores a hard-link
# group's data with its LAST member: every name of the group must get it,
# also when a second import links against the first.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have bsdtar || skip "bsdtar (libarchive-tools) is needed to make the archives"
unset HARDSNAP_NOW

# listing DIR [--seconds] [--no-xattrs] [--drop=ERE]: tree_listing of DIR
# without the root itself; on request mtimes cut to whole seconds, xattr
# lines and the lines matching ERE left out.
listing() {
    local dir=$1 opt seconds=0 xattrs=1 drop='^$'
    shift
    for opt in "$@"; do
        case $opt in
        --seconds) seconds=1 ;;
        --no-xattrs) xattrs=0 ;;
        --drop=*) drop=${opt#--drop=} ;;
        esac
    done
    tree_listing "$dir" | grep -v "^meta \.$(printf '\t')" | grep -Ev -- "$drop" |
        awk -F '\t' -v OFS='\t' -v sec=$seconds -v xa=$xattrs '
            !xa && /^xattr / { next }
            sec && /^meta / { sub(/\.[0-9]*$/, "", $7) }
            { print }'
}

# compare A B [OPTIONS]: listing of A and B equal
compare() {
    local a=$1 b=$2
    shift 2
    if ! diff -u <(listing "$a" "$@") <(listing "$b" "$@") >"$HS_TMP/cmp.diff"; then
        sed -n '3,80p' "$HS_TMP/cmp.diff" >&2
        fail "trees differ: $a and $b"
    fi
}

# imported DEST NAME: verify passes, list shows it, nothing left over.
imported() {
    [ -d "$1/$2" ] || fail "no snapshot $1/$2 (in $1: $(entries "$1"))"
    hs_rc 0 verify "$1/$2"
    hs_rc 0 list "$1"
    grep -q "$2" "$HS_OUT" || fail "list $1 does not show $2"
    assert_no_partial "$1"
}

# --- a tree as cpio (newc) and zip ----------------------------------------------------
mkdir -p c/a c/b c/empty-dir
printf 'group data\n' >c/a/one
ln c/a/one c/b/two
ln c/a/one c/three
random_file c/b/big 300000
ln c/b/big c/a/big-2
printf 'solo\n' >c/solo
: >c/empty
ln -s a/one c/sym
mkfifo c/fifo
chmod 0640 c/solo
find c -depth -exec touch -h -d '2021-03-04 05:06:07' {} +
(cd c && find . -print | bsdtar -n --format=newc -cf ../c.cpio -T -)
# the test's premise: the first names of a group carry no data in the archive
bsdtar -tvf c.cpio | grep -Eq '^-.* 0 .*\./(a/one|b/two|three)$' ||
    fail "c.cpio does not store the group's data with its last member (test setup): $(bsdtar -tvf c.cpio)"

# --- zip: no fifos, no hard links (each name its own data) ------------------------------
cp -a c cz
rm cz/fifo
(cd cz && bsdtar --format=zip -cf ../c.zip .)
HARDSNAP_NOW=$(now 0) hs_rc 0 import c.zip zdest
snap=zdest/$(now 0)
for f in a/one b/two three solo empty b/big a/big-2; do
    cmp -s "cz/$f" "$snap/$f" || fail "zip: $f differs from the source"
    [ "$(stat -c %a "$snap/$f")" = "$(stat -c %a "cz/$f")" ] || fail "zip: $f has mode $(stat -c %a "$snap/$f")"
    [ "$(stat -c %Y "$snap/$f")" = "$(stat -c %Y "cz/$f")" ] || fail "zip: $f has mtime $(stat -c %y "$snap/$f")"
done
[ "$(readlink "$snap/sym")" = a/one ] || fail "zip: sym -> $(readlink "$snap/sym")"
[ -d "$snap/empty-dir" ] || fail "zip: empty-dir is missing"
imported zdest "$(now 0)"

# --- hardsnap's own pax export, into a fresh store: the same tree --------------------------
mktree_basic src
backup_at 0 src dest
snap0=dest/$(now 0)
hs_rc 0 export "$snap0" x.tar
HARDSNAP_NOW=$(now 0) hs_rc 0 import x.tar fresh
compare "$snap0" "fresh/$(now 0)" --no-xattrs
is_sparse "fresh/$(now 0)/sparse.img" || fail "export/import: sparse.img is not sparse"
imported fresh "$(now 0)"
# xattrs are no part of import's promise yet: said, not failed
xa0=$(listing "$snap0" | grep -c '^xattr' || true)
xa1=$(listing "fresh/$(now 0)" | grep -c '^xattr' || true)
[ "$xa0" = "$xa1" ] || note "the import kept $xa1 of the $xa0 files with xattrs in the pax archive"

# --- ... and into its own store: every regular file is linked ---------------------------------
HARDSNAP_NOW=$(now 1) hs_rc 0 import x.tar dest
snap1=dest/$(now 1)
compare "$snap0" "$snap1" --no-xattrs
nl=$(cd "$snap0" && find . -type f -printf '%p\001%i\0' | hs__records)
nl1=$(cd "$snap1" && find . -type f -printf '%p\001%i\0' | hs__records)
[ "$nl" = "$nl1" ] || fail "export/import into the store: not every regular file is linked: $(diff <(echo "$nl") <(echo "$nl1") | head -20)"
imported dest "$(now 1)"

# --- ISO 9660 (Rock Ridge): whole seconds, 1900 to 2155 -------------------------------------
hs_rc 0 export "$snap0" x.iso
HARDSNAP_NOW=$(now 0) hs_rc 0 import x.iso isodest
compare "$snap0" "isodest/$(now 0)" --seconds --no-xattrs '--drop=\./far-future[[:space:]]'
same_inode "isodest/$(now 0)/hl/one" "isodest/$(now 0)/sub/hl-two"
imported isodest "$(now 0)"

# --- cpio newc: a hard-link group's data comes with its last member ------------------
HARDSNAP_NOW=$(now 0) hs_rc 0 import c.cpio cdest
snap=cdest/$(now 0)
for f in a/one b/two three; do
    [ "$(cat "$snap/$f")" = 'group data' ] || fail "cpio: $f holds '$(cat "$snap/$f")', expected 'group data'"
done
cmp -s c/b/big "$snap/a/big-2" || fail "cpio: a/big-2 differs from the source"
same_inode "$snap/a/one" "$snap/three"
same_inode "$snap/b/two" "$snap/three"
same_inode "$snap/b/big" "$snap/a/big-2"
compare c "$snap" --seconds
imported cdest "$(now 0)"
# again, into the same store: whatever is linked, no inode of the first is written
cpio_list=$HS_TMP/cpio.list
tree_listing "$snap" --inodes >"$cpio_list"
HARDSNAP_NOW=$(now 1) hs_rc 0 import c.cpio cdest
for f in a/one b/two three; do
    [ "$(cat "cdest/$(now 1)/$f")" = 'group data' ] || fail "cpio, second import: $f holds '$(cat "cdest/$(now 1)/$f")'"
done
compare c "cdest/$(now 1)" --seconds
compare_listing "$cpio_list" "$snap" --inodes
imported cdest "$(now 1)"
