#!/bin/bash
# hardsnap list: files, total and unique bytes per snapshot, exactly, from the
# manifests and by walking a snapshot whose manifest is gone; --json.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

s1=$(now 0) s2=$(now 1) s3=$(now 2)
mkdir -p src/sub
random_file src/a 10000
random_file src/b 3000
random_file src/sub/c 5000
random_file src/hl1 2000
ln src/hl1 src/sub/hl2
: >src/empty
ln -s a src/sym
mkfifo src/fifo
backup_at 0 src dest
# s2: b changes (a new inode), d is new
random_file src/b 4000
random_file src/d 7000
backup_at 1 src dest
# s3: a is gone, c changes
rm src/a
random_file src/sub/c 5001
backup_at 2 src dest

# disk space of a snapshot file, as list counts it
disk() {
    echo $(($(stat -c %b -- "$1") * 512))
}

# a snapshot's own directories: never shared, so unique to it
dirs() {
    echo $(($(disk "dest/$1") + $(disk "dest/$1/sub")))
}

# expected "name files total unique", one line per snapshot
expected() {
    echo "$s1 6 $((10000 + 3000 + 5000 + 2000)) $(($(disk "dest/$s1/b") + $(dirs "$s1")))"
    echo "$s2 7 $((10000 + 4000 + 5000 + 2000 + 7000)) $(dirs "$s2")"
    echo "$s3 6 $((4000 + 5001 + 2000 + 7000)) $(($(disk "dest/$s3/sub/c") + $(dirs "$s3")))"
}

# list_json: the --json output as "name files total unique" lines
list_json() {
    hs_rc 0 list dest --json
    python3 -m json.tool "$HS_OUT" >/dev/null || fail "list --json is not valid JSON: $(cat "$HS_OUT")"
    python3 -c 'import json, sys
for s in json.load(open(sys.argv[1])):
    assert isinstance(s["files"], int) and isinstance(s["unique_bytes"], int)
    print(s["name"], s["files"], s["total_bytes"], s["unique_bytes"])' "$HS_OUT"
}

# not snapshots: ignored
mkdir dest/junk dest/2026-13-01T000000Z
: >"dest/$(now 5)"
before=$(find dest -printf '%p %i %s %T@\n' | sort)

got=$(list_json)
want=$(expected)
[ "$got" = "$want" ] || fail "list --json: got
$got
expected
$want"
# the disk space counted is real: the changed files have blocks
[ "$(disk "dest/$s1/b")" -gt 0 ] || fail "test setup: dest/$s1/b has no blocks"

# the table: a header, one line per snapshot oldest first, a totals line
hs_rc 0 list dest
[ "$(sed -n 1p "$HS_OUT" | awk '{print $1}')" = SNAPSHOT ] || fail "no header: $(cat "$HS_OUT")"
[ "$(sed -n '2,4p' "$HS_OUT" | awk '{print $1}' | tr '\n' ' ')" = "$s1 $s2 $s3 " ] ||
    fail "snapshots not listed oldest first: $(cat "$HS_OUT")"
[ "$(sed -n 2p "$HS_OUT" | awk '{print $2}')" = 6 ] || fail "files of $s1: $(cat "$HS_OUT")"
grep -q '^3 snapshots, .* used on disk$' "$HS_OUT" || fail "no totals line: $(cat "$HS_OUT")"
[ "$(wc -l <"$HS_OUT")" = 5 ] || fail "unexpected lines: $(cat "$HS_OUT")"

# listing wrote nothing into the store
[ "$(find dest -printf '%p %i %s %T@\n' | sort)" = "$before" ] || fail "list changed the store"

# without its manifest, s2 is walked: the same numbers
rm "dest/.hardsnap/manifests/$s2.hsm"
got=$(list_json)
[ "$got" = "$want" ] || fail "list --json without the manifest of $s2: got
$got
expected
$want"
hs_rc 0 list dest
grep -q "^$s2 .*\*\$" "$HS_OUT" || fail "$s2 not marked as walked: $(cat "$HS_OUT")"

# a damaged manifest is not trusted either
m=dest/.hardsnap/manifests/$s3.hsm
printf '\xde\xad' | dd of="$m" bs=1 seek=40 conv=notrunc status=none
got=$(list_json)
[ "$got" = "$want" ] || fail "list --json with a damaged manifest of $s3: got
$got"

# an empty store: an empty array
mkdir empty-src
HARDSNAP_NOW=$(now 0) hs_rc 0 backup empty-src store2
rm -r "store2/$(now 0)" store2/latest
hs_rc 0 list store2 --json
[ "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])))' "$HS_OUT")" = "[]" ] ||
    fail "empty store: $(cat "$HS_OUT")"

# usage
hs_rc 2 list
hs_rc 2 list src
grep -q 'not a hardsnap store' "$HS_ERR" || fail "no clear message: $(cat "$HS_ERR")"
hs_rc 2 list nowhere
hs_rc 2 list dest --bogus
if [ ! -s "$HS_ERR" ] || [ -s "$HS_OUT" ]; then
    fail "unknown option: message not on stderr only"
fi
hs_rc 0 list --help
grep -q 'usage: hardsnap list' "$HS_OUT" || fail "--help not on stdout"
