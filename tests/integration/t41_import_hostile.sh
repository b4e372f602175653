#!/bin/bash
# Import of hostile and broken archives. Members with absolute paths, with
# ".." components, or whose path goes through a symlink an earlier member
# made, and hard links to such paths or to members that do not exist, are
# refused one by one: each is named on stderr, the exit status is 1, the
# snapshot holds the other members, and nothing is written outside it (a
# directory outside and the whole temp dir stay as they were, a file outside
# gets no new link). A truncated .tar.gz or .tar, a damaged member header and
# random bytes exit 3 with no new snapshot and latest unchanged; a good
# import still works afterwards. Usage errors exit 2 and create no DEST.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have python3 || skip "python3 is needed to make the hostile archives"
have tar || skip "tar is needed to make the archives"
have gzip || skip "gzip is needed to make a .tar.gz"
unset HARDSNAP_NOW

# assert_msg: the last run said something on stderr in the usual form
assert_msg() {
    grep -q '^hardsnap: ' "$HS_ERR" || fail "no 'hardsnap: ...' message on stderr (got: $(cat "$HS_ERR"))"
}

# outside_listing: everything under the temp dir but the stores and the
# test's own scratch files, with inode numbers and link counts.
outside_listing() {
    (cd "$HS_TMP" && find . -mindepth 1 \( -path './dest*' -o -name '.hs.*' -o -name '.cmp*' \) -prune -o \
        -printf '%p %y %m %i %n %s %T@ %l\n') | sort
}

# hostile FORMAT ARCHIVE: a tar (python's tarfile, FORMAT gnu or pax) of good
# members mixed with hostile ones; the hostile ones aim at $HS_TMP/outside.
hostile() {
    python3 - "$HS_TMP" "$1" "$2" <<'EOF'
import io, sys, tarfile
tmp, fmt, out = sys.argv[1], sys.argv[2], sys.argv[3]
up = "../" * 40 + tmp.lstrip("/")  # from any depth, this is $HS_TMP
T = 1700000000
D, F, S, L = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
members = [
    ("good/", D, None, ""),
    ("good/a.txt", F, b"good a\n", ""),
    (tmp + "/outside/abs-victim", F, b"absolute\n", ""),
    ("../escape-1", F, b"dotdot\n", ""),
    ("../../escape-2", F, b"dotdot\n", ""),
    ("good/../../escape-3", F, b"dotdot inside\n", ""),
    (up + "/outside/escape-4", F, b"deep dotdot\n", ""),
    ("good/b.bin", F, bytes(range(256)) * 40, ""),
    ("evil", S, None, tmp + "/outside"),
    ("evil/pwned", F, b"through a symlink\n", ""),
    ("evil/newdir/", D, None, ""),
    ("rel-evil", S, None, up + "/outside"),
    ("rel-evil/pwned-rel", F, b"through a relative symlink\n", ""),
    ("d/", D, None, ""),
    ("d/lnk", S, None, tmp + "/outside"),
    ("d/lnk/sub/pwned-deep", F, b"through a symlink, deeper\n", ""),
    ("hl-out-dotdot", L, None, "../outside/f"),
    ("hl-out-up", L, None, up + "/outside/f"),
    ("hl-out-abs", L, None, tmp + "/outside/f"),
    ("hl-missing", L, None, "no/such/member"),
    ("hl-refused", L, None, "evil/pwned"),
    ("hl-via-symlink", L, None, "evil/f"),
    ("good/hl-a", L, None, "good/a.txt"),
    ("over", S, None, tmp + "/outside/f"),
    ("over", F, b"written over a symlink\n", ""),
    ("good/c.txt", F, b"last good\n", ""),
]
f = tarfile.PAX_FORMAT if fmt == "pax" else tarfile.GNU_FORMAT
with tarfile.open(out, "w", format=f) as tf:
    for name, typ, data, link in members:
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname, ti.mtime, ti.uid, ti.gid = typ, link, T, 0, 0
        ti.mode = 0o755 if typ in (D, S) else 0o644
        if data is not None:
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        else:
            tf.addfile(ti)
EOF
}

# the refused members, as grep -F patterns for stderr
refused=(
    outside/abs-victim ../escape-1 ../../escape-2 good/../../escape-3 outside/escape-4
    evil/pwned evil/newdir rel-evil/pwned-rel d/lnk/sub/pwned-deep
    hl-out-dotdot hl-out-up hl-out-abs hl-missing hl-refused hl-via-symlink
)

mkdir outside
printf 'original\n' >outside/f
outside_list=$HS_TMP/outside.list
tree_listing outside --inodes >"$outside_list"

# --- hostile members: refused one by one, the rest imported ---------------------------
n=0
for fmt in gnu pax; do
    hostile "$fmt" "hostile-$fmt.tar"
    [ "$(tar -tf "hostile-$fmt.tar" 2>/dev/null | grep -c escape)" -ge 3 ] ||
        fail "hostile-$fmt.tar does not hold the hostile names (test setup)"
    all_before=$(outside_listing)
    s=$(now "$n")
    HARDSNAP_NOW=$s hs_rc 1 import "hostile-$fmt.tar" dest
    snap=dest/$s
    for p in "${refused[@]}"; do
        grep -qF -- "$p" "$HS_ERR" || fail "$fmt: the refused member $p is not named on stderr: $(cat "$HS_ERR")"
    done
    # the good members are there
    [ "$(cat "$snap/good/a.txt")" = 'good a' ] || fail "$fmt: good/a.txt is missing or wrong"
    [ "$(stat -c %s "$snap/good/b.bin")" = 10240 ] || fail "$fmt: good/b.bin is missing or wrong"
    [ "$(cat "$snap/good/c.txt")" = 'last good' ] || fail "$fmt: good/c.txt (after the refused ones) is missing"
    same_inode "$snap/good/a.txt" "$snap/good/hl-a"
    if [ ! -d "$snap/d" ] || [ -L "$snap/d" ]; then
        fail "$fmt: the directory d is missing"
    fi
    # symlinks with targets outside are fine as symlinks: only following them is not
    [ -L "$snap/evil" ] || fail "$fmt: evil is not a symlink in the snapshot"
    [ "$(readlink "$snap/evil")" = "$HS_TMP/outside" ] || fail "$fmt: evil -> $(readlink "$snap/evil")"
    [ -L "$snap/rel-evil" ] || fail "$fmt: rel-evil is not a symlink in the snapshot"
    [ -L "$snap/d/lnk" ] || fail "$fmt: d/lnk is not a symlink in the snapshot"
    assert_absent "$snap/hl-out-dotdot" "$snap/hl-out-up" "$snap/hl-out-abs" "$snap/hl-missing" \
        "$snap/hl-refused" "$snap/hl-via-symlink" "$snap/escape-1" "$snap/escape-2" "$snap/escape-3"
    # nothing outside the snapshot was written
    compare_listing "$outside_list" outside --inodes
    [ "$(stat -c %h outside/f)" = 1 ] || fail "$fmt: outside/f got $(($(stat -c %h outside/f) - 1)) hard link(s)"
    [ "$(cat outside/f)" = original ] || fail "$fmt: outside/f was written"
    [ "$(outside_listing)" = "$all_before" ] ||
        fail "$fmt: the temp dir changed outside DEST: $(diff <(printf '%s\n' "$all_before") <(outside_listing) | head -20)"
    found=$(find "$HS_TMP" \( -name 'escape-*' -o -name 'pwned*' -o -name abs-victim -o -name newdir \) -print)
    [ -z "$found" ] || fail "$fmt: refused members were written: $found"
    assert_latest dest "$s"
    assert_no_partial dest
    hs_rc 0 verify "$snap"
    hs_rc 0 list dest
    grep -q "$s" "$HS_OUT" || fail "list does not show $s: $(cat "$HS_OUT")"
    n=$((n + 1))
done

# --- broken archives: exit 3, no new snapshot, latest unchanged ------------------------
mkdir -p good/sub
printf 'good file\n' >good/file.txt
random_file good/sub/r1 2000000
random_file good/sub/r2 2000000
tar -czf good.tar.gz -C good .
tar -cf good.tar -C good .
HARDSNAP_NOW=$(now 0) hs_rc 0 import good.tar.gz cdest
snapc=cdest/$(now 0)
snapc_list=$HS_TMP/snapc.list
tree_listing "$snapc" --inodes >"$snapc_list"
size=$(stat -c %s good.tar.gz)
head -c $((size / 2)) good.tar.gz >half.tar.gz
size=$(stat -c %s good.tar)
head -c $((size / 2)) good.tar >half.tar
random_file garbage.bin 100000
# the second member's header damaged: its checksum no longer matches
cp good.tar damaged.tar
[ "$(tar -tf good.tar | head -1)" = ./ ] || fail "good.tar does not start with ./ (test setup)"
printf 'XXXXXXXX' | dd of=damaged.tar bs=1 seek=$((512 + 100)) conv=notrunc status=none
broken() {
    local what=$1 d
    [ "$(snapshots cdest)" = "$(now 0)" ] || fail "$what: snapshots now $(snapshots cdest)"
    assert_latest cdest "$(now 0)"
    assert_no_partial cdest
    compare_listing "$snapc_list" "$snapc" --inodes
    d=$(find cdest -mindepth 1 -maxdepth 1 ! -name .hardsnap ! -name latest ! -name "$(now 0)" -printf '%f ')
    [ -z "$d" ] || fail "$what: left in cdest: $d"
}
for a in half.tar.gz half.tar garbage.bin damaged.tar; do
    HARDSNAP_NOW=$(now 1) hs_rc 3 import "$a" cdest
    assert_msg
    broken "$a"
done
HARDSNAP_NOW=$(now 1) hs_rc 3 import - cdest <half.tar.gz
assert_msg
broken "half.tar.gz from stdin"
# random bytes and no HARDSNAP_NOW: no name to take, still exit 3
hs_rc 3 import garbage.bin cdest
broken "garbage.bin without HARDSNAP_NOW"
# a good archive afterwards: the failures left nothing in the way
HARDSNAP_NOW=$(now 1) hs_rc 0 import good.tar cdest
assert_latest cdest "$(now 1)"
assert_all_linked "$snapc" "cdest/$(now 1)"
hs_rc 0 verify "cdest/$(now 1)"

# --- usage errors: exit 2, DEST not created ----------------------------------------------
hs_rc 2 import no-such.tar newdest
assert_msg
grep -q 'no-such.tar' "$HS_ERR" || fail "the missing archive is not named: $(cat "$HS_ERR")"
assert_absent newdest
hs_rc 2 import
assert_msg
hs_rc 2 import good.tar
assert_msg
hs_rc 2 import good.tar newdest extra
assert_absent newdest extra
hs_rc 2 import --bogus good.tar newdest
assert_msg
assert_absent newdest
rc=0
hs import good.tar no-parent/newdest >/dev/null 2>err || rc=$?
[ "$rc" = 2 ] || [ "$rc" = 3 ] || fail "DEST with a missing parent: exit $rc, expected 2 or 3"
grep -q '^hardsnap: ' err || fail "DEST with a missing parent: no message on stderr"
assert_absent no-parent
# not a store, or inside a snapshot: refused as backup refuses them
mkdir notstore
printf 'keep\n' >notstore/file
hs_rc 2 import good.tar notstore
[ "$(entries notstore)" = 'file ' ] || fail "a non-store DEST changed: $(entries notstore)"
hs_rc 2 import good.tar "cdest/$(now 0)/inner"
assert_absent "cdest/$(now 0)/inner"
# an existing store: unchanged
store_list=$HS_TMP/store.list
tree_listing cdest --inodes >"$store_list"
HARDSNAP_NOW=$(now 5) hs_rc 2 import no-such.tar cdest
compare_listing "$store_list" cdest --inodes
HARDSNAP_NOW=$(now 5) hs_rc 2 import --bogus good.tar cdest
compare_listing "$store_list" cdest --inodes

# --- a locked store: exit 4 at once, nothing changes ---------------------------------------
if have flock; then
    exec 9>>cdest/.hardsnap/lock
    flock -n 9 || fail "cannot take the lock for the test"
    HARDSNAP_NOW=$(now 5) hs_rc 4 import good.tar cdest
    grep -q '^hardsnap: ' "$HS_ERR" || fail "a locked store: no message"
    exec 9>&-
    [ "$(snapshots cdest | tr '\n' ' ')" = "$(now 0) $(now 1) " ] || fail "a locked store: snapshots $(snapshots cdest)"
    assert_latest cdest "$(now 1)"
    assert_no_partial cdest
    compare_listing "$snapc_list" "$snapc" --inodes
    HARDSNAP_NOW=$(now 5) hs_rc 0 import good.tar cdest
    assert_latest cdest "$(now 5)"
else
    note "flock not available: a locked store not checked"
fi

# --- a bad HARDSNAP_NOW is a usage error: DEST is not created ---------------------------
HARDSNAP_NOW=2026-13-01T000000Z hs_rc 2 import good.tar newdest
grep -q 'HHMMSS' "$HS_ERR" || fail "a bad HARDSNAP_NOW: $(cat "$HS_ERR")"
assert_absent newdest
