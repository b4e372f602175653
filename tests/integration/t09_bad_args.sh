#!/bin/bash
# Usage errors exit 2 and change nothing; the edge cases of SOURCE and DEST;
# each command's --help against hardsnap(1).
man1=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../docs" && pwd)/hardsnap.1
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mktree_basic src
printf 'a file\n' >afile

# assert_msg: the last run said something on stderr in the usual form
assert_msg() {
    grep -q '^hardsnap: ' "$HS_ERR" || fail "no 'hardsnap: ...' message on stderr (got: $(cat "$HS_ERR"))"
}

# --- usage errors on a fresh DEST ---------------------------------------------
hs_rc 2 backup no-such-dir dest
assert_msg
assert_absent dest
grep -q 'no-such-dir' "$HS_ERR" || fail "the message does not name the missing source: $(cat "$HS_ERR")"
hs_rc 2 backup afile dest
assert_msg
assert_absent dest
hs_rc 2 backup src src no-such-dir dest # one of several is missing
assert_absent dest
rc=0
hs backup src no-parent/dest >/dev/null 2>err || rc=$?
[ "$rc" = 2 ] || [ "$rc" = 3 ] || fail "DEST with a missing parent: exit $rc, expected 2 or 3"
grep -q '^hardsnap: ' err || fail "DEST with a missing parent: no message on stderr"
assert_absent no-parent
hs_rc 2
grep -qi 'usage' "$HS_ERR" || fail "hardsnap without arguments: no usage on stderr"
hs_rc 2 backup
assert_msg
hs_rc 2 backup src
assert_msg
assert_absent src/.hardsnap
hs_rc 2 backup --no-such-option src dest
assert_msg
[ ! -s "$HS_OUT" ] || fail "unknown option: output on stdout"
assert_absent dest
hs_rc 2 backup -Z src dest
assert_msg
assert_absent dest
hs_rc 2 backup --exclude # missing argument
assert_msg
hs_rc 2 no-such-command
assert_msg

# two sources with the same basename
mkdir -p one/data two/data
hs_rc 2 backup one/data two/data dest
assert_msg
assert_absent dest
hs_rc 2 backup one/data two/data/ dest
assert_absent dest

# --- help and version ---------------------------------------------------------
hs_rc 0 backup --help
grep -q 'usage: hardsnap backup' "$HS_OUT" || fail "backup --help: no usage on stdout"
grep -q -- '--exclude' "$HS_OUT" || fail "backup --help does not list --exclude"
[ ! -s "$HS_ERR" ] || fail "backup --help wrote to stderr"
long=$(awk 'length > 80' "$HS_OUT")
[ -z "$long" ] || fail "backup --help has lines over 80 columns: $long"
hs_rc 0 backup -h
grep -q 'usage: hardsnap backup' "$HS_OUT" || fail "backup -h: no usage on stdout"
hs_rc 0 --help
grep -q 'backup' "$HS_OUT" || fail "hardsnap --help does not list backup"
[ ! -s "$HS_ERR" ] || fail "hardsnap --help wrote to stderr"
hs_rc 0 --version
grep -Eq '^hardsnap [0-9]+\.[0-9]+' "$HS_OUT" || fail "--version printed: $(cat "$HS_OUT")"
[ ! -s "$HS_ERR" ] || fail "--version wrote to stderr"
# every command that hardsnap --help lists: its --help on stdout within 80
# columns, a subsection in hardsnap(1), and each of its long options there
hs_rc 0 --help
long=$(awk 'length > 80' "$HS_OUT")
[ -z "$long" ] || fail "hardsnap --help has lines over 80 columns: $long"
cmds=$(awk '/^  [a-z]+ / { print $1 }' "$HS_OUT" | sort -u)
[ "$(wc -w <<<"$cmds")" -ge 12 ] || fail "hardsnap --help lists only: $cmds"
for c in $cmds; do
    hs_rc 0 "$c" --help
    [ ! -s "$HS_ERR" ] || fail "$c --help wrote to stderr"
    long=$(awk 'length > 80' "$HS_OUT")
    [ -z "$long" ] || fail "$c --help has lines over 80 columns: $long"
    sect=$(awk -v c="$c" '/^\.S[hs] / { on = ($0 == ".Ss " c) } on' "$man1")
    [ -n "$sect" ] || fail "hardsnap(1) has no subsection for $c"
    while read -r o; do
        [ "$o" = --help ] && continue
        grep -qE -- "Fl Fl ${o#--}([^a-z-]|$)" <<<"$sect" ||
            fail "$c --help lists $o, which hardsnap(1)'s $c does not"
    done < <({ grep -oE -- '--[a-z][a-z-]*' "$HS_OUT" || true; } | sort -u)
    hs_rc 2 "$c" --no-such-option </dev/null
    grep -q "^hardsnap: $c: .*--no-such-option" "$HS_ERR" || fail "$c --no-such-option said: $(cat "$HS_ERR")"
    [ ! -s "$HS_OUT" ] || fail "$c --no-such-option wrote to stdout"
done

# --- an existing store: errors change nothing ---------------------------------
s1=$(now 0)
HARDSNAP_NOW=$s1 hs_rc 0 backup src dest
store_list=$HS_TMP/store.list
tree_listing dest --inodes >"$store_list"
HARDSNAP_NOW=$(now 1) hs_rc 2 backup no-such-dir dest
compare_listing "$store_list" dest --inodes
HARDSNAP_NOW=$(now 1) hs_rc 2 backup --bogus src dest
compare_listing "$store_list" dest --inodes
# the name is taken: fails (exit 3), never merges into the existing snapshot
printf 'changed\n' >src/file.txt
HARDSNAP_NOW=$s1 hs_rc 3 backup src dest
assert_msg
# the failed run is in the store's log (the one file it may change)
grep -q 'command=backup status=3' dest/.hardsnap/log || fail "the failed run was not logged"
diff <(grep -v -e '/\.hardsnap/log' -e $'^meta \./\.hardsnap\t' "$store_list") \
    <(tree_listing dest --inodes | grep -v -e '/\.hardsnap/log' -e $'^meta \./\.hardsnap\t') >&2 ||
    fail "the failed run changed the store"
assert_latest dest "$s1"
tree_listing dest --inodes >"$store_list"
# SOURCE inside DEST
mkdir dest/inner
printf 'x\n' >dest/inner/f
tree_listing dest --inodes >"$store_list"
HARDSNAP_NOW=$(now 2) hs_rc 2 backup dest/inner dest
assert_msg
compare_listing "$store_list" dest --inodes
HARDSNAP_NOW=$(now 2) hs_rc 2 backup dest dest
compare_listing "$store_list" dest --inodes
# DEST is a file
cp afile afile.orig
rc=0
HARDSNAP_NOW=$(now 2) hs backup src afile >/dev/null 2>err || rc=$?
[ "$rc" = 2 ] || [ "$rc" = 3 ] || fail "DEST is a file: exit $rc, expected 2 or 3"
cmp -s afile afile.orig || fail "DEST is a file: the file changed"

# --- DEST inside SOURCE: works, the snapshots are not backed up ---------------
rm -rf dest
mkdir -p src2/sub
printf 'data\n' >src2/sub/f
printf 'top\n' >src2/top
HARDSNAP_NOW=$(now 3) hs_rc 0 backup src2 src2/backups
grep -q '^hardsnap: ' "$HS_ERR" || fail "DEST inside SOURCE: no notice on stderr"
HARDSNAP_NOW=$(now 4) hs_rc 0 backup src2 src2/backups
assert_absent "src2/backups/$(now 3)/backups" "src2/backups/$(now 4)/backups"
cp -a src2 expected2
rm -r expected2/backups
touch -r src2 expected2
compare_trees expected2 "src2/backups/$(now 3)"
compare_trees expected2 "src2/backups/$(now 4)"
assert_all_linked "src2/backups/$(now 3)" "src2/backups/$(now 4)"
# the same when DEST is reached through another spelling of the path
HARDSNAP_NOW=$(now 5) hs_rc 0 backup "$HS_TMP/src2/" ./src2/sub/../backups
assert_absent "src2/backups/$(now 5)/backups"
compare_trees expected2 "src2/backups/$(now 5)"

# --- a malformed HARDSNAP_NOW: exit 2, and DEST is not created --------------
for bad in yesterday 2026-01-01 2026-01-01T000000 2026-13-01T000000Z 2026-01-32T000000Z \
    2026-01-01T250000Z 2026-01-01T006000Z 2026-01-01T00:00:00Z ' 2026-01-01T000000Z' \
    2026-01-01T000000Z/x ../2026-01-01T000000Z; do
    HARDSNAP_NOW=$bad hs_rc 2 backup src dest
    assert_msg
    assert_absent dest
done
