#!/bin/bash
# Exports read by the tools a user has: GNU tar lists and extracts a tar of
# UTF-8 names without a word on stderr, and names that are not UTF-8 byte
# for byte; GNU tar gives the directory extracted into the snapshot root's
# mode and mtime ("./"), or for SNAPSHOT/PATH, PATH's; .tar.xz is a valid xz
# written by several threads; unzip takes the zip without complaint; isoinfo
# reads Rock Ridge directory link counts of 2 + subdirectories and no
# rr_moved where no directory is deeper than 8 levels. Xattrs: GNU tar
# extracts an export of files with xattrs without a warning (with and
# without --xattrs, which restores them, binary values too), as bsdtar and
# hardsnap import still restore them (SCHILY.xattr.* alone); a name with
# "=" or "%" also goes as LIBARCHIVE.xattr.*, which libarchive decodes.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have tar || skip "GNU tar is needed"
tar --version | grep -q 'GNU tar' || skip "tar is not GNU tar"

mkdir -p src/dir/sub/subsub src/dir/other src/ünïcødé src/日本
printf 'one\n' >src/dir/f
printf 'two\n' >src/ünïcødé/grüße.txt
printf 'three\n' >src/日本/ファイル
ln -s ünïcødé/grüße.txt src/läink
ln src/dir/f src/dir/hard-ü
chmod 0750 src
touch -d '2003-04-05 06:07:08' src/dir/sub
touch -d '2001-02-03 04:05:06' src/dir
touch -d '2000-01-02 03:04:05' src
backup_at 0 src dest
snap=dest/$(now 0)

# --- UTF-8 names: GNU tar says nothing -------------------------------------------------
hs_rc 0 export "$snap" utf8.tar
for locale in C.UTF-8 C; do
    LC_ALL=$locale tar -tvf utf8.tar >list.out 2>list.err || fail "tar -tvf ($locale): exit $?"
    [ ! -s list.err ] || fail "tar -tvf ($locale) warns: $(head -3 list.err)"
done
grep -q 'hdrcharset' <(strings utf8.tar) && fail "utf8.tar has a hdrcharset record"
mkdir out.utf8
chmod 0755 out.utf8
tar -xf utf8.tar -C out.utf8 2>x.err || fail "tar -xf: exit $?"
[ ! -s x.err ] || fail "tar -xf warns: $(head -3 x.err)"
diff <(cd src && find . | sort) <(cd out.utf8 && find . | sort) >&2 || fail "GNU tar: names differ"
cmp -s "src/ünïcødé/grüße.txt" "out.utf8/ünïcødé/grüße.txt" || fail "GNU tar: content"
[ "$(readlink out.utf8/läink)" = ünïcødé/grüße.txt ] || fail "GNU tar: symlink target"

# --- the root: GNU tar restores its mode and mtime --------------------------------------
[ "$(stat -c '%a %Y' out.utf8)" = "$(stat -c '%a %Y' "$snap")" ] ||
    fail "root after tar -xf: $(stat -c '%a %Y' out.utf8), snapshot root $(stat -c '%a %Y' "$snap")"
[ "$(stat -c %a out.utf8)" = 750 ] || fail "root mode $(stat -c %a out.utf8), expected 750"
[ "$(stat -c '%a %Y' out.utf8/dir/sub)" = "$(stat -c '%a %Y' "$snap/dir/sub")" ] || fail "dir/sub times"
# SNAPSHOT/PATH: the root entry is PATH itself
hs_rc 0 export "$snap/dir" dir.tar
[ "$(tar -tf dir.tar | head -1)" = dir/ ] || fail "dir.tar: first member $(tar -tf dir.tar | head -1)"
mkdir out.dir
tar -xf dir.tar -C out.dir 2>x.err || fail "tar -xf dir.tar: exit $?"
[ ! -s x.err ] || fail "tar -xf dir.tar: $(cat x.err)"
[ "$(stat -c '%a %Y' out.dir/dir)" = "$(stat -c '%a %Y' "$snap/dir")" ] || fail "dir.tar: dir's mode, mtime"

# --- xattrs: SCHILY.xattr.* alone, which GNU tar knows ---------------------------------
if have setfattr && have getfattr && touch xa.probe && setfattr -n user.p -v 1 xa.probe 2>/dev/null; then
    mkdir -p srcx/d
    printf 'x\n' >srcx/d/f
    setfattr -n user.text -v hello srcx/d/f
    setfattr -n user.bin -v 0x00ff0a00 srcx/d/f # NUL, a byte that is not UTF-8, newline
    setfattr -n user.dir -v on srcx/d
    backup_at 4 srcx destx
    xsnap=destx/$(now 4)
    want=$(cd "$xsnap" && getfattr -R -d -e hex -m user. . 2>/dev/null)
    [ -n "$want" ] || fail "the snapshot has no xattrs"
    hs_rc 0 export "$xsnap" xa.tar
    strings xa.tar | grep -q 'LIBARCHIVE\.xattr' && fail "xa.tar has LIBARCHIVE.xattr records"
    for opt in --no-xattrs --xattrs; do
        mkdir "out.gx$opt"
        tar "$opt" -xf xa.tar -C "out.gx$opt" 2>x.err || fail "tar $opt -xf xa.tar: exit $?"
        [ ! -s x.err ] || fail "tar $opt -xf xa.tar warns: $(head -3 x.err)"
    done
    tar --xattrs -tvf xa.tar >/dev/null 2>x.err || fail "tar --xattrs -tvf: exit $?"
    [ ! -s x.err ] || fail "tar --xattrs -tvf warns: $(head -3 x.err)"
    [ "$(cd out.gx--xattrs && getfattr -R -d -e hex -m user. .)" = "$want" ] ||
        fail "tar --xattrs -xf: xattrs $(cd out.gx--xattrs && getfattr -R -d -e hex -m user. .)"
    if have bsdtar; then
        mkdir out.bx
        bsdtar -xf xa.tar -C out.bx || fail "bsdtar -xf xa.tar"
        [ "$(cd out.bx && getfattr -R -d -e hex -m user. .)" = "$want" ] ||
            fail "bsdtar -xf: xattrs $(cd out.bx && getfattr -R -d -e hex -m user. .)"
    fi
    HARDSNAP_NOW=$(now 5) hs_rc 0 import xa.tar destxi
    [ "$(cd "destxi/$(now 5)" && getfattr -R -d -e hex -m user. .)" = "$want" ] ||
        fail "import: xattrs $(cd "destxi/$(now 5)" && getfattr -R -d -e hex -m user. .)"
    # a name that SCHILY.xattr.* carries encoded (GNU tar's %3D), which
    # libarchive 3.6 does not decode: LIBARCHIVE.xattr.* too (GNU tar warns)
    setfattr -n 'user.a=b' -v v srcx/d/f
    backup_at 6 srcx destx
    hs_rc 0 export "destx/$(now 6)" xa2.tar
    strings xa2.tar | grep -q 'LIBARCHIVE\.xattr\.user\.a%3Db=' || fail "xa2.tar: no LIBARCHIVE.xattr.user.a%3Db"
    mkdir out.gx2
    tar --xattrs -xf xa2.tar -C out.gx2 2>/dev/null || fail "tar --xattrs -xf xa2.tar"
    [ "$(getfattr --only-values -n 'user.a=b' out.gx2/d/f)" = v ] || fail "tar --xattrs: user.a=b lost"
    HARDSNAP_NOW=$(now 7) hs_rc 0 import xa2.tar destxi
    [ "$(getfattr --only-values -n 'user.a=b' "destxi/$(now 7)/d/f")" = v ] || fail "import: user.a=b lost"
    # (libarchive's reader also gives the encoded twin: import leaves it out)
    [ "$(getfattr -d -m 'user\.a' "destxi/$(now 7)/d/f" | grep -c '^user\.a')" = 1 ] ||
        fail "import: not one user.a xattr: $(getfattr -d -m 'user\.a' "destxi/$(now 7)/d/f")"
else
    note "no setfattr, or no user xattrs here: xattrs not checked"
fi

# --- names that are not UTF-8: byte for byte; GNU tar may warn for those alone ---------
mkdir -p src2/ok
printf 'x\n' >src2/$'\xff'
printf 'y\n' >src2/ok/$'bad\xc0\xaf'
printf 'z\n' >src2/ok/plain-ü
printf 'w\n' >src2/$'\xed\xa0\x80\xed\xb0\x80' # CESU-8: a UTF-16 pair in UTF-8 form
ln -s $'\xfe' src2/ok/link
cdir=$'\xed\xa0\x81\xed\xb0\x81-dir'
mkdir "src2/$cdir"
backup_at 1 src2 dest2
hs_rc 0 export "dest2/$(now 1)" bin.tar
mkdir out.bin
tar -xf bin.tar -C out.bin 2>x.err || fail "tar -xf bin.tar: exit $?"
diff <(cd src2 && find . | sort) <(cd out.bin && find . | sort) >&2 || fail "bin.tar: names differ"
cmp -s src2/$'\xff' out.bin/$'\xff' || fail "bin.tar: \\xff content"
[ "$(readlink out.bin/ok/link)" = $'\xfe' ] || fail "bin.tar: symlink target"
# (with a surrogate in a name the writer must mark every entry binary: GNU
# tar then warns for each; without, only for the entries that are not UTF-8)
# SNAPSHOT/PATH, PATH an empty directory with a surrogate: its name alone
hs_rc 0 export "dest2/$(now 1)/$cdir" cdir.tar
mkdir out.cdir
tar -xf cdir.tar -C out.cdir 2>/dev/null || fail "tar -xf cdir.tar"
[ -d "out.cdir/$cdir" ] || fail "cdir.tar: the directory's name changed: $(find out.cdir | od -c)"
mv src2/$'\xed\xa0\x80\xed\xb0\x80' cesu.keep
mv "src2/$cdir" cdir.keep
backup_at 2 src2 dest3
hs_rc 0 export "dest3/$(now 2)" bin2.tar
tar -tf bin2.tar >/dev/null 2>x.err || fail "tar -tf bin2.tar: exit $?"
warns=$(grep -c "keyword 'hdrcharset'" x.err || true)
[ "$warns" = 3 ] || fail "bin2.tar: $warns hdrcharset warnings, expected 3 (\\xff, bad, link): $(cat x.err)"
grep -v "keyword 'hdrcharset'" x.err && fail "bin2.tar: other warnings"
tar -tf bin2.tar --quoting-style=literal >bin2.list 2>/dev/null
grep -qx 'ok/plain-ü' bin2.list || fail "bin2.tar: plain-ü: $(cat bin2.list)"
mkdir out.bin2
tar -xf bin2.tar -C out.bin2 2>/dev/null || fail "tar -xf bin2.tar"
diff <(cd src2 && find . | sort) <(cd out.bin2 && find . | sort) >&2 || fail "bin2.tar: names differ"

# --- .tar.xz: valid, and compressed by several threads ---------------------------------
if have xz; then
    awk 'BEGIN { for (i = 0; i < 3000000; i++) print "the same line again" }' >src/big.txt
    backup_at 3 src dest
    hs_rc 0 export "dest/$(now 3)" x.tar.xz
    xz -t x.tar.xz || fail "x.tar.xz: xz -t"
    tar -tJf x.tar.xz >/dev/null 2>x.err || fail "tar -tJf: exit $?"
    [ ! -s x.err ] || fail "tar -tJf: $(cat x.err)"
    blocks=$(xz -lv x.tar.xz | awk '/^ *Blocks:/ { print $2; exit }')
    if [ "$(nproc)" -ge 2 ]; then
        # liblzma's threads each compress a block of their own (24 MiB at -6)
        [ "${blocks:-0}" -ge 2 ] || fail "x.tar.xz: $blocks block(s): written by one thread"
    else
        note "one CPU: the xz threads are not checked"
    fi
    rm -f src/big.txt
else
    note "xz (xz-utils) not available: .tar.xz not checked"
fi

# --- zip: unzip takes it, "./" included --------------------------------------------------
if have unzip; then
    hs_rc 0 export "$snap" x.zip
    unzip -tq x.zip >z.out 2>&1 || fail "unzip -t: $(cat z.out)"
    mkdir out.zip
    # UTF-8-flagged names: unzip writes them as such in a UTF-8 locale only
    (cd out.zip && LC_ALL=C.UTF-8 unzip -q ../x.zip) >z.out 2>&1 || fail "unzip: $(cat z.out)"
    [ ! -s z.out ] || fail "unzip said: $(cat z.out)"
    cmp -s "src/ünïcødé/grüße.txt" "out.zip/ünïcødé/grüße.txt" || fail "unzip: content"
else
    note "unzip not available: zip not checked"
fi

# --- ISO 9660: Rock Ridge directory link counts, no rr_moved ----------------------------
if have isoinfo; then
    hs_rc 0 export "$snap" x.iso
    isoinfo -R -l -i x.iso >iso.list 2>iso.err || fail "isoinfo: $(cat iso.err)"
    # "path links" for each directory, from its own "." line (the root's
    # made by libarchive with 2 links, patched by export: lib/export_iso.c)
    awk '/^Directory listing of / { dir = substr($0, 22); next }
         /^d/ && / \. *$/ { print dir " " $2 }' iso.list | sort >links.got
    (cd "$snap" && find . -type d -printf '/%P/\n' | sed 's|^//$|/|' | sort | while read -r d; do
        printf '%s %s\n' "$d" $((2 + $(find ".$d" -mindepth 1 -maxdepth 1 -type d | wc -l)))
    done) | sort >links.want
    diff links.want links.got >&2 || fail "Rock Ridge link counts differ from 2 + subdirectories"
    grep -q rr_moved iso.list && fail "x.iso has an rr_moved directory"
    hs_rc 0 export "$snap/dir" dir.iso
    isoinfo -R -l -i dir.iso | awk '/^Directory listing of \/dir\/$/ { getline; print $2 }' >dl
    [ "$(cat dl)" = 4 ] || fail "dir.iso: /dir has $(cat dl) links, expected 4 (sub, other)"
else
    note "isoinfo (genisoimage) not available: ISO link counts not checked"
fi
