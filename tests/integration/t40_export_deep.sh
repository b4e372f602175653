#!/bin/bash
# Export of a tree deeper than PATH_MAX: member names of any length, the
# hard link from the top to a file at the bottom, the data of the deep files.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have bsdtar || skip "bsdtar (libarchive-tools) is needed to read the archives"
mktree_deep src/deep
(deep_cd src/deep && ln bottom.bin "$HS_TMP/src/deep/zz-top-link") || fail "setup: link"
backup_at 0 src dest
snap=dest/$(now 0)

hs_rc 0 export "$snap" deep.tar
# bsdtar 3.6 cannot extract paths this long (its chdir fallback fails on the
# owners and times), so the archive is read without the filesystem: every
# name, in full, and the deep files' data through -xO
# the root is "./"
(cd "$snap" && find . \( -type d -printf '%P/\n' -o -printf '%P\n' \)) | sed 's|^/$|./|' | sort >want.list
bsdtar -tf deep.tar | sort >got.list
diff want.list got.list >&2 || fail "deep.tar: the member names differ from the snapshot's"
longest=$(awk '{ if (length > n) n = length } END { print n }' got.list)
[ "$longest" -gt 4096 ] || fail "the longest member name has $longest bytes, expected > 4096"
bottom=$(grep '/bottom\.bin$' got.list)
[ "$(bsdtar -xOf deep.tar "$bottom" | sha256sum)" = "$(sha256sum <src/deep/zz-top-link)" ] ||
    fail "bottom.bin: the data in the archive differs"
[ "$(bsdtar -xOf deep.tar "${bottom%.bin}.txt")" = 'the bottom' ] || fail "bottom.txt: wrong data"
links=$(bsdtar -tvf deep.tar | grep '^h')
if [ "$(wc -l <<<"$links")" != 1 ] || ! grep -q 'zz-top-link link to .*/bottom\.bin$' <<<"$links"; then
    fail "the deep hard link is not one link entry to bottom.bin: $links"
fi
bsdtar -tvf deep.tar | grep -q '^l.*/up-link -> \.\./bottom\.txt$' || fail "up-link: wrong symlink"

# a folder deep inside: its members start with its own name
hs_rc 0 export "$snap/deep" deep2.tar
[ "$(bsdtar -tf deep2.tar | grep -vc '^deep/')" = 0 ] || fail "deep2.tar: members outside deep/"

# --- ISO 9660: Rock Ridge moves directories below the 8th level to /rr_moved ---------
# libarchive 3.6's writer crashes on some such trees (issue #1517): they are
# refused before anything is written (exit 2), the others come back whole.
hs_rc 2 export "$snap" deep.iso
grep -q 'more than 13 levels deep.*#1517' "$HS_ERR" || fail "deep.iso: $(cat "$HS_ERR")"
assert_absent deep.iso deep.iso.part
# one store per case: each snapshot root is the image's root
mkdir -p iso/same/1/2/3/4/5/6/a/moved iso/same/1/2/3/4/5/6/b/moved
mkdir -p iso/rr/1/2/3/4/5/6/7/moved iso/rr/rr_moved/moved
mkdir -p iso/ok/1/2/3/4/5/6/7/8/9/10/11/12/13 iso/ok/x/2/3/4/5/6/7/moved-too
printf 'at level 13\n' >iso/ok/1/2/3/4/5/6/7/8/9/10/11/12/13/f
for c in same rr ok; do
    backup_at 1 "iso/$c" "iso/dest-$c"
done
hs_rc 2 export "iso/dest-same/latest" same.iso
grep -q 'same name' "$HS_ERR" || fail "same.iso: $(cat "$HS_ERR")"
hs_rc 2 export "iso/dest-rr/latest" rr.iso
assert_absent same.iso same.iso.part rr.iso rr.iso.part
hs_rc 0 export "iso/dest-ok/latest" ok.iso
mkdir out-iso
bsdtar -xpf ok.iso --numeric-owner -C out-iso || fail "bsdtar cannot extract ok.iso"
diff <(cd iso/ok && find . | sort) <(cd out-iso && find . | sort) >&2 ||
    fail "ok.iso: the relocated tree does not come back in place"
[ "$(cat out-iso/1/2/3/4/5/6/7/8/9/10/11/12/13/f)" = 'at level 13' ] || fail "ok.iso: f"
