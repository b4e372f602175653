#!/bin/bash
# The pull client treats the stream as hostile (issue 14, Security): a fake
# server (tests/tools/hostile_serve.c, $HS_HOSTILE) sends crafted streams:
# another protocol version, not hardsnap at all, a 4 GiB frame, lists with
# absolute paths, "..", entries under a symlink, out of order, two roots, a
# 1 MiB symlink target, 100000 xattrs, a wrong id or count, KEEP without a
# base; data members not asked for, named ../x or /abs, larger than their
# record, never ending; and connections cut mid-list and mid-data. Each run
# must fail or warn (exit 1 or 3: never 0, never a signal, never a hang),
# say which source, write nothing outside DEST, leave the earlier snapshot as
# it was, and keep its memory bounded.
#
# The changed blocks of a big file (protocol 2: BLOCKS, "INDEX.d"): over a
# store whose snapshot holds an older version of it (an honest pull through
# the real serve), a member of changed blocks for a file no BLOCKS were sent
# for, one whose gaps (blocks left to the base) start or end inside a block,
# one that leaves to the base blocks past its end (the file grew), one whose
# size is not the list's: each fails the source naming the host, publishes
# nothing, and what it leaves (a partial tree) holds only what an honest
# server sends; the whole file where blocks were asked is taken.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

if [ -z "${HS_HOSTILE:-}" ] || [ ! -x "$HS_HOSTILE" ]; then
    skip "HS_HOSTILE (the hostile_serve test tool) is not set"
fi
have timeout || skip "no timeout(1)"

# The remote shell: the host dropped, the command run here (as rsync's own
# tests do; the environment reaches the hostile server as it would a real one).
cat >rsh <<'EOF'
#!/bin/sh
shift
exec sh -c "$*"
EOF
chmod +x rsh
RSH=$HS_TMP/rsh

mktree_basic src
# the delta cases' source: big (8 MiB) and f; bigv1/big is the version the
# hostile server lists (two blocks changed, 100000 bytes more), and what an
# honest server would send
export XDG_CACHE_HOME=$HS_TMP/server-cache
mkdir bigv0 bigv1
random_file bigv0/big $((8 << 20))
printf hello >bigv0/f
cp bigv0/big bigv1/big
for blk in 5 90; do
    head -c 65536 /dev/urandom | dd of=bigv1/big bs=65536 seek=$blk conv=notrunc status=none
done
head -c 100000 /dev/urandom >>bigv1/big
# and big rewritten in full (every block changed), for the real serve
mkdir bigall
random_file bigall/big $((8 << 20))
printf hello >bigall/f
export HS_HOSTILE_BIG=$HS_TMP/bigv1/big
mkdir -p outside/dir
printf 'precious\n' >outside/keep.txt
export HS_HOSTILE_TARGET=$HS_TMP/outside HS_HOSTILE_LOG=$HS_TMP/hostile.log
backup_at 1 src dest
snap1=$HS_TMP/snap1.list
tree_listing "dest/$(now 1)" --inodes >"$snap1"
outside_list=$HS_TMP/outside.list
tree_listing outside --inodes >"$outside_list"
src_list=$HS_TMP/src.list
tree_listing src --inodes >"$src_list"
marker=$HS_TMP/.marker
touch "$marker"
sleep 0.01

# Memory: the client under an address-space limit (not where the binary
# cannot start under one: a sanitizer build), its peak RSS measured where
# /usr/bin/time can.
VLIMIT=$((512 * 1024))
limit_ok=0
(ulimit -v "$VLIMIT" && "$HARDSNAP" --help >/dev/null 2>&1) && limit_ok=1
[ "$limit_ok" = 1 ] || note "no address-space limit (the binary does not start under one)"
timer=()
[ -x /usr/bin/time ] && /usr/bin/time -f %M true 2>/dev/null && timer=(/usr/bin/time -o "$HS_TMP/.rss" -f %M)
MAX_RSS_KB=$((64 * 1024))

# Cases that fail today because of a known bug in the client (the report of
# the branch that added this test says where): such a case must still fail
# here, and a case listed that passes fails the test, so that the list
# shrinks as the bugs are fixed.
#   data-dotdot, data-abs: remote.c member_index reads an unset end pointer
#     when a member's name does not start with a digit (SIGSEGV)
#   data-unwanted: members for indexes that were not asked for are spooled
#   data-big, data-endless: a member is spooled whatever its size, not
#     bounded by its record's (the disk fills as the server pleases)
#   manyxattrs: xattrs that cannot be decoded count as none, silently, when
#     the file is linked by content (backup_entry.c: hs_eng_hash_source,
#     source_xattr_hash): "hello" is in the store already (the honest case)
KNOWN_BUGS=" "

problems=""
problem() {
    problems+="$*; "
}

# run_case N MODE RCS WORD...: a backup of host:/whatever through the
# hostile server in MODE as snapshot N; RCS the exit statuses allowed (a
# "|" list); every WORD in its stderr.
# The source and store of a case (the delta cases change them).
CASE_SRC=host:/whatever
CASE_DEST=dest
run_case() {
    local n=$1 mode=$2 rcs=$3 rc=0 w
    shift 3
    problems=""
    : >"$HS_HOSTILE_LOG"
    rm -f "$HS_TMP/.rss"
    (
        [ "$limit_ok" = 1 ] && ulimit -v "$VLIMIT"
        HARDSNAP_NOW=$(now "$n") exec timeout -k 5 60 "${timer[@]}" "$HARDSNAP" backup --timeout 5 \
            -e "$RSH" --hardsnap-path "$HS_HOSTILE $mode" "$CASE_SRC" "$CASE_DEST"
    ) >"$HS_OUT" 2>"$HS_ERR" || rc=$?
    # /usr/bin/time says how a killed program ended (its own status may not)
    if [ -s "$HS_TMP/.rss" ] && grep -q '^Command terminated by signal' "$HS_TMP/.rss"; then
        rc=$((128 + $(sed -n 's/^Command terminated by signal \([0-9]*\).*/\1/p' "$HS_TMP/.rss")))
    fi
    if grep -Eq 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer' "$HS_ERR"; then
        problem "sanitizer report"
    fi
    case "|$rcs|" in
    *"|$rc|"*) ;;
    *)
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            problem "hung (killed by timeout)"
        elif [ "$rc" -ge 128 ]; then
            problem "crashed (exit $rc: signal $((rc - 128)))"
        else
            problem "exit $rc, expected $rcs"
        fi
        ;;
    esac
    for w in "$@"; do
        grep -qF -- "$w" "$HS_ERR" || problem "stderr does not name '$w'"
    done
    if [ -s "$HS_TMP/.rss" ]; then
        local rss
        rss=$(tail -n 1 "$HS_TMP/.rss")
        [ "$rss" -le "$MAX_RSS_KB" ] || problem "peak RSS ${rss} KiB (over $MAX_RSS_KB)"
    fi
    # nothing outside DEST: the canary tree, the source, no new or changed file
    # beside them (by ctime: the source has mtimes in the future), nothing named pwned anywhere (in DEST neither: no path of
    # the server's making)
    [ "$(tree_listing outside --inodes)" = "$(cat "$outside_list")" ] || problem "outside/ changed"
    [ "$(tree_listing src --inodes)" = "$(cat "$src_list")" ] || problem "src/ changed"
    local changed
    changed=$(find "$HS_TMP" \( -path "$HS_TMP/dest" -o -path "$HS_TMP/dstore" -o \
        -path "$HS_TMP/server-cache" \) -prune -o -cnewer "$marker" ! -path "$HS_TMP" \
        ! -name '.hs.*' ! -name '.cmp*' ! -name '.rss' ! -name hostile.log -print)
    [ -z "$changed" ] || problem "changed outside DEST: $changed"
    [ -z "$(find "$HS_TMP" "$(dirname "$HS_TMP")" -maxdepth 1 -name '*pwned*')" ] ||
        problem "a pwned file beside DEST"
    [ -z "$(find "$HS_TMP/$CASE_DEST" -name '*pwned*')" ] || problem "a pwned file in DEST"
    # the earlier snapshot, inode by inode
    [ "$(tree_listing "dest/$(now 1)" --inodes)" = "$(cat "$snap1")" ] ||
        problem "the earlier snapshot changed"
}

# bounded MODE MIB: the hostile server could push at most MIB MiB before the
# client stopped it (what a client that spools everything would take in).
bounded() {
    local mode=$1 mib=$2 sent
    sent=$(awk -v m="$mode" '$1 == m && $2 == "sent" { print $3 }' "$HS_HOSTILE_LOG")
    [ -n "$sent" ] || {
        problem "the hostile server did not log what it sent"
        return
    }
    [ "$sent" -le $((mib << 20)) ] || problem "the client took in $sent bytes (over $mib MiB)"
}

finish_case() {
    local mode=$1
    case "$KNOWN_BUGS" in
    *" $mode "*)
        [ -n "$problems" ] || fail "$mode: passes now: remove it from KNOWN_BUGS"
        note "$mode: XFAIL (known bug): $problems"
        return
        ;;
    esac
    if [ -n "$problems" ]; then
        echo "---- $mode: stderr:" >&2
        head -c 3000 "$HS_ERR" >&2
        fail "$mode: $problems"
    fi
    note "$mode: ok"
}

# check N MODE RCS WORD...: run_case, and its verdict.
check() {
    run_case "$@"
    finish_case "$2"
}

# The harness first: the tool speaks the protocol well enough for a pull.
check 2 honest 0
[ "$(cat "dest/$(now 2)/f")" = hello ] || fail "honest: the pulled file is not the server's"

SRC=host:/whatever
n=10
# the handshake
check $((n++)) version 3 "$SRC" 'version 2' 'version 99' '9.9.9'
check $((n++)) garbage 3 "$SRC"
check $((n++)) bigframe 3 "$SRC" 'frame'
# the list
for mode in abs dotdot bigtarget symlink order tworoots rootfile; do
    check $((n++)) "$mode" 3 "$SRC" 'list'
done
for mode in badid badcount keep; do
    check $((n++)) "$mode" 3 "$SRC"
done
# a record the engine cannot use: a warning naming the entry
check $((n++)) manyxattrs '1|3' 'xattrs' 'extended attributes'
# the data
for mode in data-unwanted data-dotdot data-abs; do
    check $((n++)) "$mode" '1|3' "$SRC"
done
# a member of 16 MiB (random: the wire carries it all) for a record of 5
# bytes, and one of 1 TiB the server cuts at 256 MiB: the client must stop
# it early, not spool it
run_case $((n++)) data-big '1|3' "$SRC"
bounded data-big 8
finish_case data-big
run_case $((n++)) data-endless '1|3' "$SRC"
bounded data-endless 64
finish_case data-endless
# the connection cut
check $((n++)) cut-list 3 "$SRC"
check $((n++)) cut-data 3 "$SRC"

# ---- the changed blocks of a big file

# blocks_sent MODE: the block hashes the client sent the hostile server
blocks_sent() {
    awk -v m="$1" '$1 == m && $4 == "blocks" { print $5 }' "$HS_HOSTILE_LOG"
}

# delta_case N MODE RCS WORD...: a fresh store dstore whose snapshot N-1 is
# an honest pull of bigv0 (the real serve), then the hostile pull as
# snapshot N. Beyond run_case's checks: the client sent big's block hashes;
# a published snapshot, and the partial tree a failed run leaves, hold only
# what an honest server sends (bigv1/big, f); in the store only .hardsnap,
# the new snapshot and "latest" changed; snapshot N-1 is as it was.
delta_case() {
    local n=$1 mode=$2 new f rel k
    rm -rf dstore
    HARDSNAP_NOW=$(now $((n - 1))) hs_rc 0 backup -e "$RSH" --hardsnap-path "$HARDSNAP" "$CASE_SRC" dstore
    local prev
    prev=$(tree_listing "dstore/$(now $((n - 1)))" --inodes)
    cmp -s bigv0/big "dstore/$(now $((n - 1)))/big" || fail "$mode: the honest pull is wrong"
    local smark=$HS_TMP/.hs.smark
    touch "$smark"
    sleep 0.01
    run_case "$@"
    k=$(blocks_sent "$mode")
    [ "${k:-0}" = $((8 << 4)) ] || problem "the client sent ${k:-no} block hashes, not 128"
    new=$(now "$n")
    [ "$3" != 3 ] || [ ! -e "dstore/$new" ] || problem "a failed run published $new"
    for f in "dstore/$new" "dstore/.hardsnap/partial/$new"; do
        [ -d "$f" ] || continue
        while IFS= read -r rel; do
            case "$rel" in
            big) cmp -s "$f/big" bigv1/big || problem "$f/big is not the server's file" ;;
            f) [ "$(cat "$f/f")" = hello ] || problem "$f/f is not the server's file" ;;
            *) problem "$f/$rel: not the server's" ;;
            esac
        done < <(cd "$f" && find . -type f -printf '%P\n')
    done
    local outside
    outside=$(find dstore -cnewer "$smark" ! -path dstore ! -path "dstore/.hardsnap" \
        ! -path "dstore/.hardsnap/*" ! -path "dstore/$new" ! -path "dstore/$new/*" ! -path dstore/latest)
    [ -z "$outside" ] || problem "written in the store outside .hardsnap and $new: $outside"
    [ "$(tree_listing "dstore/$(now $((n - 1)))" --inodes)" = "$prev" ] ||
        problem "the previous snapshot changed"
    cmp -s bigv0/big "dstore/$(now $((n - 1)))/big" || problem "the previous big changed"
}

# published N: the run made snapshot N, its big the server's
published() {
    [ -d "dstore/$(now "$1")" ] || problem "no snapshot published"
    cmp -s bigv1/big "dstore/$(now "$1")/big" || problem "the published big is not the server's"
}

CASE_SRC=host:$HS_TMP/bigv0
CASE_DEST=dstore
# the harness: the changed blocks only (not 8 MiB), the file right
delta_case 101 delta-honest 0
published 101
bounded delta-honest 1
finish_case delta-honest
# the server may send the whole file where blocks were asked
delta_case 103 delta-whole 0
published 103
finish_case delta-whole
delta_case 105 delta-unasked 3 "$CASE_SRC" 'unexpected member'
finish_case delta-unasked
delta_case 107 delta-gapstart 3 "$CASE_SRC" 'not whole blocks'
finish_case delta-gapstart
delta_case 109 delta-gapend 3 "$CASE_SRC" 'not whole blocks'
finish_case delta-gapend
delta_case 111 delta-grown 3 "$CASE_SRC" 'a block kept that the base lacks'
finish_case delta-grown
delta_case 113 delta-size 3 "$CASE_SRC" 'unexpected member'
finish_case delta-size
hs_rc 0 verify dstore --all
# the real serve, big rewritten in full: its changed blocks are all of it,
# one data segment that libarchive makes a plain member (serve.c send_sparse
# once sent zeros for it, and the client published them)
rm -rf dstore
HARDSNAP_NOW=$(now 120) hs_rc 0 backup -e "$RSH" --hardsnap-path "$HARDSNAP" "host:$HS_TMP/bigv0" dstore
HARDSNAP_NOW=$(now 121) hs_rc 0 backup -e "$RSH" --hardsnap-path "$HARDSNAP" "host:$HS_TMP/bigall" dstore
cmp -s bigall/big "dstore/$(now 121)/big" || fail "big rewritten in full: the pulled file is wrong"
[ ! -s "$HS_ERR" ] || fail "big rewritten in full: $(head -c 1000 "$HS_ERR")"
note "real serve, big rewritten in full: ok"
CASE_SRC=host:/whatever
CASE_DEST=dest

# the store is still a store
hs_rc 0 verify dest --all
compare_listing "$snap1" "dest/$(now 1)" --inodes
