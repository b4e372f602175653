#!/bin/bash
# hardsnap versions: one line per distinct version of a path, oldest first,
# with the snapshots in which it did not exist as "absent" lines.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir -p src/home/alice
printf 'first draft\n' >src/home/alice/thesis.tex
set_mtime '2025-03-01 10:00:00' src/home/alice/thesis.tex
printf 'other\n' >src/other
backup_at 0 src dest # v1
backup_at 1 src dest # v1, unchanged
printf 'second draft, longer\n' >src/home/alice/thesis.tex
set_mtime '2025-03-02 11:30:00' src/home/alice/thesis.tex
backup_at 2 src dest # v2
backup_at 3 src dest # v2
rm src/home/alice/thesis.tex
backup_at 4 src dest # absent
backup_at 5 src dest # absent
printf 'third\n' >src/home/alice/thesis.tex
set_mtime '2025-03-05 08:00:00' src/home/alice/thesis.tex
backup_at 6 src dest # v3
# the same content with another mtime: a new inode, but the same version
set_mtime '2025-03-06 08:00:00' src/home/alice/thesis.tex
backup_at 7 src dest # v3
not_same_inode "dest/$(now 6)/home/alice/thesis.tex" "dest/$(now 7)/home/alice/thesis.tex"

# check_versions PATH: the expected lines, without their hashes
check_versions() {
    hs_rc 0 versions dest "$1"
    local got want
    got=$(awk '{ if ($1 == "absent") print; else { $NF = "H"; print } }' "$HS_OUT")
    want="$(now 0)..$(now 1)  2 snapshots  file  12 bytes  2025-03-01T10:00:00Z  H
$(now 2)..$(now 3)  2 snapshots  file  21 bytes  2025-03-02T11:30:00Z  H
absent $(now 4)..$(now 5)  2 snapshots
$(now 6)..$(now 7)  2 snapshots  file  6 bytes  2025-03-05T08:00:00Z  H"
    want=$(printf '%s\n' "$want" | awk '{ if ($1 == "absent") print; else { $NF = "H"; print } }')
    [ "$got" = "$want" ] || fail "versions $1: got
$(cat "$HS_OUT")
expected
$want"
}
export TZ=America/New_York # output is UTC whatever the zone
check_versions home/alice/thesis.tex
check_versions /home/alice/thesis.tex
check_versions home//alice/./thesis.tex

# hashes: 16 hex digits, different for different contents
hashes=$(awk '$1 != "absent" { print $NF }' "$HS_OUT")
[ "$(printf '%s\n' "$hashes" | grep -cE '^[0-9a-f]{16}$')" = 3 ] || fail "bad hashes: $hashes"
[ "$(printf '%s\n' "$hashes" | sort -u | wc -l)" = 3 ] || fail "hashes not distinct: $hashes"

# without a manifest (no hash), snapshots are compared by inode, size, mtime:
# the same lines
rm "dest/.hardsnap/manifests/$(now 1).hsm" "dest/.hardsnap/manifests/$(now 4).hsm"
check_versions home/alice/thesis.tex
hs_rc 0 versions dest home/alice/thesis.tex
grep -q "^$(now 0)..$(now 1) .* -\$" "$HS_OUT" && fail "hash shown for a snapshot without one"

# a path that never existed: one absent line over all snapshots
hs_rc 0 versions dest home/bob/notes.txt
[ "$(cat "$HS_OUT")" = "absent $(now 0)..$(now 7)  8 snapshots" ] || fail "never existed: $(cat "$HS_OUT")"
# a path through a file is not there either
hs_rc 0 versions dest other/x
grep -q '^absent' "$HS_OUT" || fail "other/x: $(cat "$HS_OUT")"
# a path that always existed: one line
hs_rc 0 versions dest other
[ "$(wc -l <"$HS_OUT")" = 1 ] || fail "other: $(cat "$HS_OUT")"
grep -q "^$(now 0)..$(now 7)  8 snapshots  file  6 bytes" "$HS_OUT" || fail "other: $(cat "$HS_OUT")"

# usage
hs_rc 2 versions dest ../etc/passwd
hs_rc 2 versions dest home/../../x
hs_rc 2 versions dest /
hs_rc 2 versions src home/alice/thesis.tex
grep -q 'not a hardsnap store' "$HS_ERR" || fail "no clear message: $(cat "$HS_ERR")"
hs_rc 2 versions dest
hs_rc 2 versions dest x --bogus
hs_rc 0 versions --help
grep -q 'usage: hardsnap versions' "$HS_OUT" || fail "--help not on stdout"
