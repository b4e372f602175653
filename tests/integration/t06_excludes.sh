#!/bin/bash
# --exclude and --exclude-from: what matches is absent from the snapshot,
# everything else is there exactly; a malformed pattern changes nothing.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir -p src
(
    cd src
    mkdir -p sub/deep cache sub/cache/inner other logs/2024 logs/2025 sub/logs/2024 \
        data/x/y other/data build sub/build 'dir with space'
    for f in keep.txt a.tmp sub/b.tmp sub/deep/c.tmp sub/deep/keep.c cache/x sub/cache/inner/y \
        other/cache top-only.log sub/top-only.log logs/2024/app.log logs/2024/keep.txt \
        logs/2025/app.log sub/logs/2024/app.log file1.dat file2.dat file10.dat note1.md note7.md \
        notea.md data/secret data/x/secret data/x/y/secret data/x/public other/secret \
        other/data/secret 'with space' 'dir with space/with space' 'dir with space/kept' \
        x.bak sub/y.bak build/out sub/build/out tmp.keep; do
        printf '%s\n' "$f" >"$f"
    done
    ln keep.txt sub/keep-link.tmp # a hard link: the excluded name goes, the other stays
    find . -depth -exec touch -h -d '2022-02-02 02:02:02.5' {} +
)
cat >patterns <<'EOF2'
# comment lines and blank lines are skipped

*.bak
/build/
EOF2

# the patterns, and the paths they remove
excludes=(
    --exclude '*.tmp'            # unanchored wildcard: a.tmp sub/b.tmp sub/deep/c.tmp sub/keep-link.tmp
    --exclude 'cache/'           # directories only: cache/ sub/cache/, not the file other/cache
    --exclude /top-only.log      # anchored: not sub/top-only.log
    --exclude 'logs/*/app.log'   # a '/' inside anchors it: not sub/logs/2024/app.log
    --exclude 'file?.dat'        # ?: file1.dat file2.dat, not file10.dat
    --exclude 'note[0-9].md'     # class: note1.md note7.md, not notea.md
    --exclude '/data/**/secret'  # **: data/secret data/x/secret data/x/y/secret, not other/...
    --exclude 'with space'       # any component named so, directory or file
    --exclude-from patterns      # *.bak, /build/
)
removed=(a.tmp sub/b.tmp sub/deep/c.tmp sub/keep-link.tmp cache sub/cache top-only.log
    logs/2024/app.log logs/2025/app.log file1.dat file2.dat note1.md note7.md data/secret
    data/x/secret data/x/y/secret 'with space' 'dir with space/with space' x.bak sub/y.bak build)

# the expected snapshot: the source minus those, directory times as in the source
cp -a src expected
for p in "${removed[@]}"; do
    [ -e "expected/$p" ] || fail "test setup: expected/$p does not exist"
    rm -r "expected/$p"
done
(cd src && find . -type d -print0) | while IFS= read -r -d '' d; do
    [ ! -d "expected/$d" ] || touch -r "src/$d" "expected/$d"
done

s1=$(now 0) s2=$(now 1) s3=$(now 2)
HARDSNAP_NOW=$s1 hs_rc 0 backup "${excludes[@]}" src dest
compare_trees expected "dest/$s1"
for p in "${removed[@]}"; do
    [ ! -e "dest/$s1/$p" ] || fail "excluded path is in the snapshot: $p"
done
for p in other/cache sub/top-only.log sub/logs/2024/app.log file10.dat notea.md other/secret \
    other/data/secret data/x/public sub/build/out 'dir with space/kept' tmp.keep sub/deep/keep.c; do
    [ -f "dest/$s1/$p" ] || fail "not excluded, but missing from the snapshot: $p"
done

# the same excludes again: everything linked
HARDSNAP_NOW=$s2 hs_rc 0 backup "${excludes[@]}" src dest
compare_trees expected "dest/$s2"
assert_all_linked "dest/$s1" "dest/$s2"

# without excludes: the whole source, what was there before still linked
HARDSNAP_NOW=$s3 hs_rc 0 backup src dest
compare_trees src "dest/$s3"
same_inode "dest/$s2/keep.txt" "dest/$s3/keep.txt"
same_inode "dest/$s3/keep.txt" "dest/$s3/sub/keep-link.tmp"

# malformed patterns: exit 2 and nothing created or changed
hs_rc 2 backup --exclude '[abc' src new-dest
assert_absent new-dest
grep -q . "$HS_ERR" || fail "no message on stderr for a bad pattern"
printf '*.ok\n[abc\n' >bad-patterns
hs_rc 2 backup --exclude-from bad-patterns src new-dest
assert_absent new-dest
hs_rc 2 backup --exclude-from no-such-file src new-dest
assert_absent new-dest
before=$(snapshots dest | tr '\n' ' ')
HARDSNAP_NOW=$(now 3) hs_rc 2 backup --exclude 'ok' --exclude '[abc' src dest
[ "$(snapshots dest | tr '\n' ' ')" = "$before" ] || fail "a bad pattern changed the snapshots of dest"
[ ! -e "dest/.hardsnap/manifests/$(now 3).hsm" ] || fail "a bad pattern wrote a manifest"
assert_latest dest "$s3"
