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
run_case() {
    local n=$1 mode=$2 rcs=$3 rc=0 w
    shift 3
    problems=""
    : >"$HS_HOSTILE_LOG"
    rm -f "$HS_TMP/.rss"
    (
        [ "$limit_ok" = 1 ] && ulimit -v "$VLIMIT"
        HARDSNAP_NOW=$(now "$n") exec timeout -k 5 60 "${timer[@]}" "$HARDSNAP" backup --timeout 5 \
            -e "$RSH" --hardsnap-path "$HS_HOSTILE $mode" host:/whatever dest
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
    changed=$(find "$HS_TMP" -path "$HS_TMP/dest" -prune -o -cnewer "$marker" ! -path "$HS_TMP" \
        ! -name '.hs.*' ! -name '.cmp*' ! -name '.rss' ! -name hostile.log -print)
    [ -z "$changed" ] || problem "changed outside DEST: $changed"
    [ -z "$(find "$HS_TMP" "$(dirname "$HS_TMP")" -maxdepth 1 -name '*pwned*')" ] ||
        problem "a pwned file beside DEST"
    [ -z "$(find "$HS_TMP/dest" -name '*pwned*')" ] || problem "a pwned file in DEST"
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

# the store is still a store
hs_rc 0 verify dest --all
compare_listing "$snap1" "dest/$(now 1)" --inodes
