#!/bin/bash
# hardsnap verify: passes on intact snapshots, names a flipped byte, files
# removed from or added to a snapshot, a snapshot without manifest; --all
# reads each inode once.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mktree_basic src
rm -f src/mode-0000 # unreadable for a non-root run
s1=$(now 0) s2=$(now 1) s3=$(now 2)
backup_at 0 src dest
random_file src/sub/4k.bin 5000
backup_at 1 src dest
printf 'changed\n' >src/file.txt
backup_at 2 src dest
before=$(find dest -printf '%p %i %s %T@\n' | sort)

# summary_field WORD: the number before WORD in the summary line
summary_field() {
    grep -oE "[0-9]+ $1" "$HS_OUT" | head -1 | cut -d' ' -f1
}

# intact: exit 0, a summary line
hs_rc 0 verify "dest/$s1"
grep -q '^verified 1 snapshot: .*no problems$' "$HS_OUT" || fail "summary: $(cat "$HS_OUT")"
[ ! -s "$HS_ERR" ] || fail "stderr on success: $(cat "$HS_ERR")"
hs_rc 0 verify dest/latest
# (counted as dots: one name holds a newline)
files=$(find "dest/$s3" -type f -printf . | wc -c)
[ "$(summary_field files)" = "$files" ] || fail "files checked: $(cat "$HS_OUT"), expected $files"

# --all reads each inode once: as many reads as distinct regular-file inodes
hs_rc 0 verify dest --all
grep -q '^verified 3 snapshots: ' "$HS_OUT" || fail "summary: $(cat "$HS_OUT")"
inodes=$(find dest/2026-* -type f -printf '%i\n' | sort -u | wc -l)
names=$(find dest/2026-* -type f -printf . | wc -c)
[ "$(summary_field 'inodes read')" = "$inodes" ] ||
    fail "--all read $(summary_field 'inodes read') inodes, the store has $inodes: $(cat "$HS_OUT")"
[ "$(summary_field files)" = "$names" ] || fail "--all checked $(summary_field files) names, not $names"
[ "$inodes" -lt "$names" ] || fail "test setup: no inode is shared"
# verifying wrote nothing into the store
[ "$(find dest -printf '%p %i %s %T@\n' | sort)" = "$before" ] || fail "verify changed the store"

# flip_byte FILE OFFSET: changes one byte in place (same inode, same size)
flip_byte() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 -- "$1" | tr -d ' ')
    # shellcheck disable=SC2059 # the format is the octal escape
    printf "\\$(printf %03o $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# one flipped byte in a file that all three snapshots share
same_inode "dest/$s1/sub/deep/data.bin" "dest/$s3/sub/deep/data.bin"
flip_byte "dest/$s3/sub/deep/data.bin" 5000
hs_rc 1 verify "dest/$s3"
grep -q "^hardsnap: damaged: $s3/sub/deep/data.bin: " "$HS_ERR" || fail "not named: $(cat "$HS_ERR")"
[ "$(wc -l <"$HS_ERR")" = 1 ] || fail "more than the damaged file: $(cat "$HS_ERR")"
grep -q '1 problem$' "$HS_OUT" || fail "summary: $(cat "$HS_OUT")"
# --all names it in every snapshot, still reading it once
hs_rc 1 verify dest --all
for s in "$s1" "$s2" "$s3"; do
    grep -q "^hardsnap: damaged: $s/sub/deep/data.bin: " "$HS_ERR" || fail "$s not named: $(cat "$HS_ERR")"
done
[ "$(wc -l <"$HS_ERR")" = 3 ] || fail "unexpected problems: $(cat "$HS_ERR")"
[ "$(summary_field 'inodes read')" = "$inodes" ] || fail "damage re-read: $(cat "$HS_OUT")"
flip_byte "dest/$s3/sub/deep/data.bin" 5000 # repaired
hs_rc 0 verify dest --all

# removed from and added to a snapshot since it was made
rm "dest/$s2/one-byte"
rm -r "dest/$s2/-dashdir"
printf 'slipped in\n' >"dest/$s2/added-later"
mkdir -p "dest/$s2/new-dir/inner"
printf 'x\n' >"dest/$s2/new-dir/inner/f"
hs_rc 1 verify "dest/$s2"
for w in "missing: $s2/one-byte" "missing: $s2/-dashdir" "added: $s2/added-later" "added: $s2/new-dir"; do
    grep -q "^hardsnap: $w: " "$HS_ERR" || fail "\"$w\" not reported: $(cat "$HS_ERR")"
done
# a directory is named once, not with its contents
[ "$(wc -l <"$HS_ERR")" = 4 ] || fail "unexpected problems: $(cat "$HS_ERR")"

# a snapshot without a manifest: said so, its files still read
rm "dest/.hardsnap/manifests/$s1.hsm"
hs_rc 1 verify "dest/$s1"
grep -q "^hardsnap: no manifest: $s1: " "$HS_ERR" || fail "no manifest not reported: $(cat "$HS_ERR")"
[ "$(summary_field files)" = "$(find "dest/$s1" -type f -printf . | wc -c)" ] || fail "files not read: $(cat "$HS_OUT")"

# usage
hs_rc 2 verify src
grep -q 'not a snapshot' "$HS_ERR" || fail "no clear message: $(cat "$HS_ERR")"
hs_rc 2 verify dest
hs_rc 2 verify src --all
grep -q 'not a hardsnap store' "$HS_ERR" || fail "no clear message: $(cat "$HS_ERR")"
hs_rc 2 verify "dest/$s3/sub"
hs_rc 2 verify
hs_rc 2 verify dest --all --bogus
hs_rc 0 verify --help
grep -q 'usage: hardsnap verify' "$HS_OUT" || fail "--help not on stdout"
