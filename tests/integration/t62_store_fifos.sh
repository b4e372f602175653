#!/bin/bash
# Nothing in the store can hang a command (issue 12, class 8). A fifo under
# the name of the newest or an older snapshot's manifest, of a content index,
# of the log or of the lock: every command ends (each runs under timeout:
# exit 124 or 137 is a hang), and does what a damaged or missing file makes it
# do: backup compares files (a notice) and still makes its snapshot, list and
# diff walk the trees, verify says which manifest it could not use, an index
# is rebuilt, a log that cannot be written is a warning (exit 1), a lock that
# is no file stops the commands that need it (exit 3) with its name. A fifo
# named ARCHIVE.part is not removed and not waited on: export exits 2.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
have timeout || skip "timeout (coreutils) is not installed"

# every command below through timeout; a hang says so on stderr
real=$HARDSNAP
HARDSNAP=$HS_TMP/hardsnap-timeout
cat >"$HARDSNAP" <<EOF
#!/bin/sh
timeout -k 5 30 '$real' "\$@"
rc=\$?
if [ "\$rc" = 124 ] || [ "\$rc" = 137 ]; then
    echo "hardsnap: HANGS (killed after 30 s)" >&2
fi
exit "\$rc"
EOF
chmod +x "$HARDSNAP"

s0=$(now 0) s2=$(now 2) s3=$(now 3)

# a store of three snapshots whose trees differ; the content index of the
# older ones is there (made by the runs after them)
make_store() {
    rm -rf src dest r0 r2 ./*.tar
    mkdir -p src/d
    printf 'one\n' >src/a
    printf 'two\n' >src/d/b
    backup_at 0 -q src dest
    random_file src/big1 70000
    printf 'changed\n' >>src/a
    backup_at 1 -q src dest
    random_file src/d/big2 70000
    printf 'again\n' >>src/a
    backup_at 2 -q src dest
    # the next backup has new names to look up in the newest's content index
    random_file src/d/big3 70000
    mv src/big1 src/big1-moved
}

# each_command KIND CODES...: the commands in order, each with the exit code
# it must give with this fifo in the store; prints nothing when all is right.
each_command() {
    local kind=$1
    shift
    local codes=("$@") i=0
    local cmds=(
        "backup src dest"
        "list dest"
        "verify dest/$s2"
        "verify --all dest"
        "diff dest/$s0 dest/$s2"
        "diff dest/$s2 src"
        "versions dest a"
        "restore dest/$s2 r2"
        "restore dest/$s0 r0"
        "export dest/$s2 e2.tar"
        "export dest/$s0 e0.tar"
        "import e2.tar dest"
        "prune dest --keep-last 3"
    )
    for c in "${cmds[@]}"; do
        local now_n=3
        case $c in import*) now_n=4 ;; esac
        # shellcheck disable=SC2086 # the command's words
        HARDSNAP_NOW=$(now $now_n) hs_rc "${codes[i]}" $c
        note "$kind: hardsnap $c: exit ${codes[i]}"
        case "$c:${codes[i]}" in
        backup*:0 | backup*:1)
            [ -d "dest/$s3" ] || fail "$kind: backup made no snapshot"
            ;;
        esac
        i=$((i + 1))
    done
}

M=dest/.hardsnap/manifests
#                    backup list vfy vfy-all diff diff vers rest rest exp exp imp prune
# --- the newest snapshot's manifest ------------------------------------------------------
make_store
rm "$M/$s2.hsm"
mkfifo "$M/$s2.hsm"
each_command "newest manifest" 0 0 1 1 1 1 0 0 0 0 0 0 0
[ -p "$M/$s2.hsm" ] || fail "the fifo manifest was replaced"

# backup said it compares files; verify names the file
make_store
rm "$M/$s2.hsm"
mkfifo "$M/$s2.hsm"
HARDSNAP_NOW=$s3 hs_rc 0 backup src dest
grep -q "manifest of $s2 is missing or damaged" "$HS_ERR" || fail "no notice: $(cat "$HS_ERR")"
compare_trees src "dest/$s3"
hs_rc 1 verify "dest/$s2"
grep -q "$s2.hsm: not a regular file" "$HS_ERR" || fail "verify: $(cat "$HS_ERR")"

# --- an older snapshot's manifest --------------------------------------------------------
make_store
rm "$M/$s0.hsm"
mkfifo "$M/$s0.hsm"
each_command "older manifest" 0 0 0 1 1 1 0 0 0 0 0 0 0
compare_trees src "dest/$s3"
[ -f r0/a ] || fail "older manifest: nothing restored"

# --- the content index the next backup reads ---------------------------------------------
make_store
rm -f "$M/$s2.hsi"
mkfifo "$M/$s2.hsi"
HARDSNAP_NOW=$s3 hs_rc 0 backup src dest
compare_trees src "dest/$s3"
if [ ! -f "$M/$s2.hsi" ] || [ -p "$M/$s2.hsi" ]; then
    fail "the content index was not rebuilt"
fi
same_inode "dest/$s2/big1" "dest/$s3/big1-moved" # content links still work
make_store
rm -f "$M/$s2.hsi"
mkfifo "$M/$s2.hsi"
each_command "content index" 0 0 0 0 1 1 0 0 0 0 0 0 0

# --- the log: a warning naming it, the work done -------------------------------------------
make_store
rm dest/.hardsnap/log
mkfifo dest/.hardsnap/log
each_command "log" 1 0 0 0 1 1 0 0 0 0 0 1 1
HARDSNAP_NOW=$(now 5) hs_rc 1 backup src dest
grep -q "dest/.hardsnap/log: not a regular file" "$HS_ERR" || fail "log: $(cat "$HS_ERR")"
[ -d "dest/$(now 5)" ] || fail "no snapshot made with a fifo for a log"

# --- the lock: the commands that need it refuse, naming it; the others work ----------------
make_store
rm dest/.hardsnap/lock
mkfifo dest/.hardsnap/lock
each_command "lock" 3 0 0 0 1 1 0 0 0 0 0 3 3
grep -q "dest/.hardsnap/lock: not a regular file" "$HS_ERR" || fail "lock: $(cat "$HS_ERR")"
[ ! -e "dest/$s3" ] || fail "a backup ran without its lock"

# --- a fifo named ARCHIVE.part ------------------------------------------------------------
make_store
mkfifo e.tar.part
hs_rc 2 export "dest/$s2" e.tar
grep -q "e.tar.part: not a regular file" "$HS_ERR" || fail "export: $(cat "$HS_ERR")"
if [ ! -p e.tar.part ] || [ -e e.tar ]; then
    fail "export touched the fifo or wrote the archive"
fi
rm e.tar.part
hs_rc 0 export "dest/$s2" e.tar

# --- a fifo in place of a previous snapshot's file that a renamed one would
# be content-linked to (the review's case): copied, never waited on ---------------------
rm -rf fsrc fdest
mkdir fsrc
random_file fsrc/a 100000
HARDSNAP_NOW=$(now 1) hs_rc 0 backup fsrc fdest
rm "fdest/$(now 1)/a"
mkfifo "fdest/$(now 1)/a"
cp fsrc/a fsrc/b
touch -d 2020-01-01 fsrc/b
rm fsrc/a
rc=0
HARDSNAP_NOW=$(now 2) timeout -s KILL 30 "$HARDSNAP" backup fsrc fdest >"$HS_OUT" 2>"$HS_ERR" || rc=$?
[ "$rc" != 137 ] || fail "a fifo in the previous snapshot hung the backup"
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "backup with a fifo in the previous snapshot: exit $rc: $(cat "$HS_ERR")"
cmp -s fsrc/b "fdest/$(now 2)/b" || fail "b is not what the source holds"
exit 0
