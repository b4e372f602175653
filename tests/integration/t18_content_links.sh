#!/bin/bash
# Content links: a file with nothing to link at its own path (renamed, moved,
# rotated) is linked to the previous snapshot's inode with the same content
# and metadata, found through that snapshot's content index
# (.hardsnap/manifests/NAME.hsi). Changed metadata still means a copy, the
# source's hard-link grouping is kept exactly (no --dedup), and the index is
# rebuilt when damaged or missing, and removed with its snapshot.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# ---- helpers ---------------------------------------------------------------

# stat_num FIELD: the first number of the "FIELD:" line of the last --stats
# output ($HS_OUT); fails when there is no such line.
stat_num() {
    local v
    v=$(sed -n "s/^$1: *\\([0-9][0-9]*\\).*/\\1/p" "$HS_OUT" | head -n 1)
    [ -n "$v" ] || fail "no '$1:' line in the --stats output of: $HS_LAST"
    printf '%s\n' "$v"
}

# expect_stat FIELD VALUE: the last --stats output says FIELD: VALUE.
expect_stat() {
    local got
    got=$(stat_num "$1")
    if [ "$got" != "$2" ]; then
        sed 's/^/  | /' "$HS_OUT" >&2
        fail "$HS_LAST: '$1' is $got, expected $2"
    fi
}

# summary_linked NAME: the "L linked" figure of the summary line of NAME.
summary_linked() {
    local v
    v=$(sed -n "s/^$1: [0-9]* files (\\([0-9]*\\) linked, .*/\\1/p" "$HS_OUT")
    [ -n "$v" ] || fail "no summary line for $1 in the output of: $HS_LAST"
    printf '%s\n' "$v"
}

# summary_files NAME: the "N files" figure of the summary line of NAME.
summary_files() {
    local v
    v=$(sed -n "s/^$1: \\([0-9]*\\) files (.*/\\1/p" "$HS_OUT")
    [ -n "$v" ] || fail "no summary line for $1 in the output of: $HS_LAST"
    printf '%s\n' "$v"
}

MAN=dest/.hardsnap/manifests
N=0 # the next fake clock step of the main store
PREV="" CUR=""

# snap: a backup of src into dest with --stats at the next clock step;
# the new snapshot must equal the source, and the previous one must be
# exactly what it was (same names, metadata and inodes).
snap() {
    PREV=$CUR
    CUR=$(now "$N")
    N=$((N + 1))
    backup_at "$((N - 1))" --stats src dest
    assert_latest dest "$CUR"
    assert_no_partial dest
    compare_trees src "dest/$CUR"
    if [ -n "$PREV" ]; then
        compare_listing "$HS_TMP/listing.$PREV" "dest/$PREV" --inodes
    fi
    tree_listing "dest/$CUR" --inodes >"$HS_TMP/listing.$CUR"
}

# file_set DIR: "relative-path inode" of every regular file under DIR, sorted.
file_set() {
    (cd "$1" && find . -type f -printf '%p %i\n' | sort)
}

# ---- the first snapshot -------------------------------------------------------

mkdir -p src/photos/2024 src/inbox src/hl src/dups src/logs
# 1: a folder of 30 files of 64 KiB random data and a few small ones
for i in $(seq -w 1 30); do
    random_file "src/photos/img-$i.bin" 65536
done
printf 'index of the photos\n' >src/photos/index.txt
printf 'caption\n' >src/photos/2024/caption.txt
random_file src/photos/2024/raw.bin 3000
chmod 0600 src/photos/2024/raw.bin
n_photos=33
# 2: a few hundred small files with distinct contents (many of equal size)
for i in $(seq -w 1 300); do
    printf 'message number %s\n' "$i" >"src/inbox/msg-$i"
done
# 5: source hard-link groups
printf 'group one\n' >src/hl/one
ln src/hl/one src/hl/two
printf 'group three\n' >src/hl/three
ln src/hl/three src/hl/four
printf 'group five\n' >src/hl/five
ln src/hl/five src/hl/six
# 6: two separate files with equal content and metadata
random_file src/dups/d1 5000
cp -p src/dups/d1 src/dups/d2
# a log to rotate
random_file src/logs/app.log 7000
# a symlink and an empty file (never content-linked)
ln -s photos/index.txt src/link-to-index
: >src/empty
if [ "$HS_HAVE_XATTR" = 1 ]; then
    setfattr -n user.tag -v 'holiday' src/photos/img-07.bin
    setfattr -n user.tag -v 'work' src/photos/img-08.bin
fi
find src -exec touch -h -d '2024-06-01 10:00:00.123456789' {} +

snap
s_first=$CUR
expect_stat content-linked 0

# ---- 1: a folder renamed ---------------------------------------------------
note "1: rename a folder of $n_photos files"
mv src/photos src/pictures
snap
expect_stat content-linked "$n_photos"
expect_stat copied 0
# the summary line counts the content links as linked: all files linked
[ "$(summary_linked "$CUR")" = "$(summary_files "$CUR")" ] ||
    fail "the summary line of $CUR does not count the content links as linked: $(tail -n 1 "$HS_OUT")"
grep -q '^copied: *0 files, 0 B written' "$HS_OUT" || fail "$CUR wrote data: $(grep '^copied:' "$HS_OUT")"
old_set=$(file_set "dest/$PREV/photos")
new_set=$(file_set "dest/$CUR/pictures")
[ "$(printf '%s\n' "$old_set" | wc -l)" = "$n_photos" ] || fail "test setup: not $n_photos photos"
if [ "$old_set" != "$new_set" ]; then
    diff <(printf '%s\n' "$old_set") <(printf '%s\n' "$new_set") | head -20 >&2
    fail "the renamed folder's files in $CUR are not the inodes of $PREV/photos"
fi
same_inode "dest/$PREV/photos/img-01.bin" "dest/$CUR/pictures/img-01.bin"
[ "$(stat -c %a "dest/$CUR/pictures/2024/raw.bin")" = 600 ] || fail "raw.bin lost its mode"
# the new snapshot adds almost no blocks (only its directories)
added=$(du -s -k "dest/$PREV" "dest/$CUR" | awk 'NR == 2 { print $1 }')
[ "$added" -lt 256 ] || fail "the rename backup $CUR added $added KiB (du), expected only directories"
[ -f "$MAN/$PREV.hsi" ] || fail "no content index $MAN/$PREV.hsi after a content-linking backup"
[ ! -e "$MAN/$CUR.hsi" ] || fail "$MAN/$CUR.hsi exists before any backup needed it"

# ---- dry run: no content links, nothing written ---------------------------------
note "dry run after a rename"
mv src/pictures src/pics
hsi_before=$(ls "$MAN")
count_before=$(count_snapshots dest)
HARDSNAP_NOW=$(now 200) hs_rc 0 backup -n --stats src dest
expect_stat content-linked 0
[ "$(count_snapshots dest)" = "$count_before" ] || fail "a dry run made a snapshot"
[ "$(ls "$MAN")" = "$hsi_before" ] || fail "a dry run changed $MAN: $(ls "$MAN")"
mv src/pics src/pictures

# ---- 2: files moved across folders -------------------------------------------
note "2: move 300 small files out of inbox/ (half before it in walk order, half after)"
mkdir src/archive src/aaa-sorted
for i in $(seq -w 1 300); do
    if [ $((10#$i % 2)) = 0 ]; then
        mv "src/inbox/msg-$i" src/archive/
    else
        mv "src/inbox/msg-$i" "src/aaa-sorted/moved-$i"
    fi
done
touch -d '2024-06-02' src/inbox src/archive src/aaa-sorted src
snap
expect_stat content-linked 300
expect_stat copied 0
for i in $(seq -w 1 300); do
    if [ $((10#$i % 2)) = 0 ]; then
        to=archive/msg-$i
    else
        to=aaa-sorted/moved-$i
    fi
    [ "$(inode "dest/$PREV/inbox/msg-$i")" = "$(inode "dest/$CUR/$to")" ] ||
        fail "moved file $to in $CUR is not the inode of inbox/msg-$i in $PREV"
done

# ---- log rotation: the old name rewritten, its content under a new name --------
note "log rotation"
mv src/logs/app.log src/logs/app.log.1
random_file src/logs/app.log 7000
snap
expect_stat content-linked 1
expect_stat copied 1
same_inode "dest/$PREV/logs/app.log" "dest/$CUR/logs/app.log.1"
not_same_inode "dest/$PREV/logs/app.log" "dest/$CUR/logs/app.log"
cmp -s src/logs/app.log "dest/$CUR/logs/app.log" || fail "app.log in $CUR has the wrong content"

# ---- 3: renamed with changed metadata: copied ------------------------------------
note "3: rename plus chmod, touch, chown, xattr; a renamed symlink"
P=src/pictures
mv $P/img-01.bin $P/renamed-chmod.bin
chmod 0640 $P/renamed-chmod.bin
mv $P/img-02.bin $P/renamed-touch.bin
touch -d '2024-06-01 10:00:00.123456788' $P/renamed-touch.bin
mv $P/img-09.bin $P/renamed-plain.bin
changed=(img-01.bin:renamed-chmod.bin img-02.bin:renamed-touch.bin)
if is_root; then
    mv $P/img-03.bin $P/renamed-chown.bin
    chown 1234:5678 $P/renamed-chown.bin
    changed+=(img-03.bin:renamed-chown.bin)
fi
if [ "$HS_HAVE_XATTR" = 1 ]; then
    mv $P/img-07.bin $P/renamed-xattr.bin
    setfattr -n user.tag -v 'holidaY' $P/renamed-xattr.bin
    mv $P/img-08.bin $P/renamed-xattr-same.bin # keeps its xattr: linked
fi
mv src/link-to-index src/link-renamed
touch -h -d '2024-06-01 10:00:00.123456789' src/link-renamed
touch -d '2024-06-03' $P src
snap
want_cl=1
[ "$HS_HAVE_XATTR" = 1 ] && want_cl=2
expect_stat content-linked "$want_cl"
expect_stat copied $((${#changed[@]} + HS_HAVE_XATTR))
same_inode "dest/$PREV/pictures/img-09.bin" "dest/$CUR/pictures/renamed-plain.bin"
for pair in "${changed[@]}"; do
    not_same_inode "dest/$PREV/pictures/${pair%%:*}" "dest/$CUR/pictures/${pair#*:}"
done
if [ "$HS_HAVE_XATTR" = 1 ]; then
    not_same_inode "dest/$PREV/pictures/img-07.bin" "dest/$CUR/pictures/renamed-xattr.bin"
    same_inode "dest/$PREV/pictures/img-08.bin" "dest/$CUR/pictures/renamed-xattr-same.bin"
    [ "$(getfattr --only-values -n user.tag "dest/$PREV/pictures/img-07.bin")" = holiday ] ||
        fail "img-07.bin in $PREV lost its xattr"
fi
[ "$(stat -c %a "dest/$PREV/pictures/img-01.bin")" = 644 ] || fail "img-01.bin in $PREV changed mode"
[ "$(stat -c %a "dest/$CUR/pictures/renamed-chmod.bin")" = 640 ] || fail "renamed-chmod.bin: wrong mode"
# (snap compared all of $PREV, modes and mtimes included, with its listing)
[ "$(find "dest/$PREV/pictures/img-02.bin" -printf '%T@')" = "$(find "dest/$s_first/photos/img-02.bin" -printf '%T@')" ] ||
    fail "img-02.bin in $PREV changed mtime"
[ "$(find "dest/$CUR/pictures/renamed-touch.bin" -printf '%T@')" != "$(find "dest/$PREV/pictures/img-02.bin" -printf '%T@')" ] ||
    fail "renamed-touch.bin in $CUR has the old mtime"
not_same_inode "dest/$PREV/link-to-index" "dest/$CUR/link-renamed"

# ---- 4: a copy of a file that is still at its old path ------------------------
note "4: copies (cp -p) of files that stay where they were"
cp -p $P/img-04.bin $P/zz-copy-of-04.bin      # walked after its original
cp -p $P/img-05.bin src/aaa-copy-of-05.bin    # walked before its original
cp -p $P/img-06.bin src/aaa-sorted/copy-of-06 # walked before its original, another folder
touch -d '2024-06-04' $P src src/aaa-sorted
snap
for f in img-04.bin img-05.bin img-06.bin; do
    same_inode "dest/$PREV/pictures/$f" "dest/$CUR/pictures/$f"
done
not_same_inode "dest/$CUR/pictures/img-04.bin" "dest/$CUR/pictures/zz-copy-of-04.bin"
not_same_inode "dest/$CUR/pictures/img-05.bin" "dest/$CUR/aaa-copy-of-05.bin"
not_same_inode "dest/$CUR/pictures/img-06.bin" "dest/$CUR/aaa-sorted/copy-of-06"
expect_stat copied 3
expect_stat content-linked 0

# ---- 5: renamed members of source hard-link groups ------------------------------
note "5: renamed hard-link groups"
mv src/hl/one src/hl/uno # both names of group one renamed
mv src/hl/two src/hl/dos
mv src/hl/three src/hl/zz-three # one name renamed, walked after the kept one
mv src/hl/six src/hl/a-six      # one name renamed, walked before the kept one
touch -d '2024-06-05' src/hl
snap
expect_stat copied 0
for g in one:uno one:dos three:zz-three three:four five:five five:a-six; do
    same_inode "dest/$PREV/hl/${g%%:*}" "dest/$CUR/hl/${g#*:}"
done
not_same_inode "dest/$CUR/hl/uno" "dest/$CUR/hl/four"
not_same_inode "dest/$CUR/hl/uno" "dest/$CUR/hl/five"
for f in uno four five; do
    [ "$(stat -c %h "dest/$CUR/hl/$f")" -ge 2 ] || fail "hl/$f in $CUR is not a hard-link group"
done

# ---- 6: equal contents stay separate files ------------------------------------
note "6: new twins, twins of a deleted file, renamed duplicates"
printf 'a brand new twin\n' >src/new-twin-a
printf 'a brand new twin\n' >src/new-twin-b
touch -d '2024-06-06' src/new-twin-a src/new-twin-b
old05=$(inode "dest/$CUR/pictures/img-05.bin")
cp -p $P/img-10.bin src/twin-x
cp -p $P/img-10.bin src/twin-y
rm $P/img-10.bin
mv src/dups src/dups-renamed
touch -d '2024-06-06' src $P
snap
not_same_inode "dest/$CUR/new-twin-a" "dest/$CUR/new-twin-b"
not_same_inode "dest/$CUR/twin-x" "dest/$CUR/twin-y"
old10=$(inode "dest/$PREV/pictures/img-10.bin")
tx=$(inode "dest/$CUR/twin-x") ty=$(inode "dest/$CUR/twin-y")
[ "$tx" = "$old10" ] || [ "$ty" = "$old10" ] ||
    fail "neither twin-x nor twin-y in $CUR is the inode of the deleted pictures/img-10.bin"
[ "$old05" = "$(inode "dest/$CUR/pictures/img-05.bin")" ] || fail "img-05.bin lost its inode"
d1=$(inode "dest/$CUR/dups-renamed/d1") d2=$(inode "dest/$CUR/dups-renamed/d2")
[ "$d1" != "$d2" ] || fail "the renamed duplicates d1 and d2 share one inode in $CUR"
o1=$(inode "dest/$PREV/dups/d1") o2=$(inode "dest/$PREV/dups/d2")
[ "$(printf '%s\n' "$d1" "$d2" | sort)" = "$(printf '%s\n' "$o1" "$o2" | sort)" ] ||
    fail "renamed duplicates d1, d2 in $CUR ($d1 $d2) are not the inodes of $PREV ($o1 $o2)"
expect_stat content-linked 3 # twin-x or twin-y, d1, d2
expect_stat copied 3         # new-twin-a, new-twin-b, the other twin

# ---- nothing changed: all linked by path ------------------------------------------
snap
expect_stat content-linked 0
expect_stat copied 0
assert_all_linked "dest/$PREV" "dest/$CUR"

# ---- 8: verify the whole store ------------------------------------------------------
hs_rc 0 verify dest --all

# ---- 7: the content index, damaged, missing, or of another tree ----------------------
note "7: content index rebuilt when damaged or missing"
M7=dest7/.hardsnap/manifests
mkdir -p src7/data
for i in $(seq -w 1 20); do
    random_file "src7/data/f-$i" 8192
done
cur_name=data
# b7 STEP: renames the data folder, backs up src7 at clock STEP; every file
# must be content-linked to the files of snapshot $base7
b7() {
    local step=$1 name
    name=r$step
    mv "src7/$cur_name" "src7/$name"
    cur_name=$name
    backup_at "$step" --stats src7 dest7
    compare_trees src7 "dest7/$(now "$step")"
    expect_stat content-linked 20
    expect_stat copied 0
    [ "$(file_set "dest7/$base7/$base7_dir" | awk '{ print $2 }' | sort)" = \
        "$(file_set "dest7/$(now "$step")/$name" | awk '{ print $2 }' | sort)" ] ||
        fail "dest7/$(now "$step")/$name: not the inodes of dest7/$base7/$base7_dir"
}
x7=$(now 100) y7=$(now 101)
backup_at 100 --stats src7 dest7
base7=$x7 base7_dir=data
b7 101
[ -f "$M7/$x7.hsi" ] || fail "no content index of $x7 after the rename backup $y7: $(entries "$M7")"
# the index of the newest snapshot is made by a backup that stays older than
# it (HARDSNAP_NOW before the newest snapshot: $y7 is still the previous one)
base7=$y7 base7_dir=r101
b7 50
[ -f "$M7/$y7.hsi" ] || fail "no content index of $y7 after a backup against it: $(entries "$M7")"
cp "$M7/$y7.hsi" "$HS_TMP/good.hsi"
size=$(stat -c %s "$M7/$y7.hsi")
[ "$size" -gt 1000 ] || fail "test setup: $M7/$y7.hsi is only $size bytes"

# damaged in the middle
head -c 64 /dev/zero | tr '\0' '\252' |
    dd of="$M7/$y7.hsi" bs=1 seek=$((size / 2)) conv=notrunc status=none
cmp -s "$M7/$y7.hsi" "$HS_TMP/good.hsi" && fail "test setup: the index was not damaged"
cp "$M7/$y7.hsi" "$HS_TMP/bad.hsi"
b7 51
cmp -s "$M7/$y7.hsi" "$HS_TMP/bad.hsi" && fail "the damaged index $y7.hsi was not rebuilt"
cmp -s "$M7/$y7.hsi" "$HS_TMP/good.hsi" || fail "the rebuilt index $y7.hsi differs from the first one"

# damaged in its header (record count)
printf '\377\377\377\377' | dd of="$M7/$y7.hsi" bs=1 seek=8 conv=notrunc status=none
b7 52
cmp -s "$M7/$y7.hsi" "$HS_TMP/good.hsi" || fail "the index $y7.hsi with a bad header was not rebuilt"

# cut short
truncate -s $((size / 3)) "$M7/$y7.hsi"
b7 53
cmp -s "$M7/$y7.hsi" "$HS_TMP/good.hsi" || fail "the truncated index $y7.hsi was not rebuilt"

# deleted
rm "$M7/$y7.hsi"
b7 54
[ -f "$M7/$y7.hsi" ] || fail "the deleted index $y7.hsi was not rebuilt"
cmp -s "$M7/$y7.hsi" "$HS_TMP/good.hsi" || fail "the index $y7.hsi rebuilt after deletion differs"

# a valid index of another snapshot in its place
cp "$M7/$x7.hsi" "$M7/$y7.hsi"
b7 55
cmp -s "$M7/$y7.hsi" "$HS_TMP/good.hsi" || fail "$x7's index in place of $y7's was used or kept"

# emptied
: >"$M7/$y7.hsi"
b7 56
cmp -s "$M7/$y7.hsi" "$HS_TMP/good.hsi" || fail "the empty index $y7.hsi was not rebuilt"

# a normal backup after all that, then verify every snapshot
b7 102
hs_rc 0 verify dest7 --all
[ -z "$(find "$M7" -name '*.tmp')" ] || fail "temporary files left in $M7: $(entries "$M7")"

# ---- 9: prune takes the indexes with the manifests ----------------------------------
note "9: prune --keep-last 1 removes the old snapshots' indexes"
# check_orphans DEST: every manifest and index belongs to a snapshot
check_orphans() {
    local f s
    for f in "$1"/.hardsnap/manifests/*; do
        [ -e "$f" ] || continue
        s=${f##*/}
        s=${s%%.*}
        [ -d "$1/$s" ] || fail "$f is left although snapshot $s is gone (after: $HS_LAST)"
    done
}
n_hsi=$(find "$M7" -name '*.hsi' | wc -l)
[ "$n_hsi" -ge 2 ] || fail "test setup: only $n_hsi indexes in $M7 before the prune"
hs_rc 0 prune dest7 --keep-last 1
[ "$(count_snapshots dest7)" = 1 ] || fail "prune --keep-last 1 left $(count_snapshots dest7) snapshots"
check_orphans dest7
assert_absent "$M7/$x7.hsi" "$M7/$y7.hsi" "$M7/$x7.hsm" "$M7/$y7.hsm"
base7=$(now 102) base7_dir=r102
b7 103
check_orphans dest7
[ -f "$M7/$(now 102).hsi" ] || fail "no index of $(now 102) after a rename backup against it"
hs_rc 0 verify dest7 --all

# the main store too
hs_rc 0 prune dest --keep-last 1
check_orphans dest
[ "$(find "$MAN" -name '*.hsi' | wc -l)" -le 1 ] || fail "indexes left after prune: $(entries "$MAN")"
mv src/pictures src/photos
snap
expect_stat content-linked "$(find src/photos -type f | wc -l)"
expect_stat copied 0
check_orphans dest
hs_rc 0 verify dest --all
