#!/bin/bash
# Never change an object by a name a user can swap. Run as root with the
# fault shim (tests/fault/faultshim.c, action swapnew), every fifo, socket,
# device node, symlink or directory that restore, import or backup makes is
# replaced right after it is made, as a user who can write in its directory
# would do: by a symlink to a root-owned file (the victim), by the user's own
# object of the same kind, or by a hard link to a root-owned fifo. The
# snapshot's objects have mode 4777, odd owners, times and xattrs, so one
# change made by name would show on the victim. Whatever took the name is
# left alone: the victims keep mode, owner, times (ctime too, so no xattr
# came either) and xattrs; each swapped path is named, the entry is skipped
# and the run exits 1 (a backup whose own private tree changed under it
# stops: 3). The real race is t60_hostile_race.sh.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root: owners, device nodes, a root-owned victim"
[ -f "${HS_FAULTSHIM:-}" ] || skip "HS_FAULTSHIM (the fault shim) is not built here (sanitizer build)"
unset HARDSNAP_NOW

# ---- the victims ---------------------------------------------------------

printf 'root only\n' >victim
mkfifo victim-fifo
chmod 0600 victim victim-fifo
if [ "$HS_HAVE_XATTR" = 1 ]; then
    setfattr -n user.keep -v kept victim
    setfattr -n trusted.keep -v kept victim 2>/dev/null || true
fi
set_mtime '2010-01-01 00:00:00' victim victim-fifo

# state FILE [FORMAT]: everything a metadata change would touch (ctime: any
# change; not for victim-fifo, which the shim's hard links change)
state() {
    stat -c "${2:-%f %u %g %X %Y %Z}" -- "$1"
    if have getfattr; then getfattr -h -d -m - --absolute-names -- "$1" 2>/dev/null || true; fi
}
victims() {
    state victim
    state victim-fifo '%f %u %g %X %Y'
}
victims_before=$(victims)
assert_victims() {
    local now
    now=$(victims)
    [ "$now" = "$victims_before" ] || fail "$1: a victim changed: '$victims_before' -> '$now'"
}

# ---- the snapshot -------------------------------------------------------

mkdir -p src/fifo-dir
printf 'plain\n' >src/plain.txt
mkfifo src/fifo-plain src/fifo-dir/fifo-inner
ln -s /nowhere src/fifo-link
have_sock=0
if have python3 && python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
    src/fifo-sock 2>/dev/null; then
    have_sock=1
fi
have_dev=0
mknod src/fifo-dev c 1 3 2>/dev/null && have_dev=1
chown -h 1234:5678 src/fifo-plain src/fifo-link src/fifo-dir
[ "$have_sock" = 1 ] && chown 2345:6789 src/fifo-sock
[ "$have_dev" = 1 ] && chown 3:4 src/fifo-dev
# after chown, which clears set-id bits (fifo-link's target does not exist)
chmod 4777 src/fifo-* 2>/dev/null || true
if [ "$HS_HAVE_XATTR" = 1 ]; then
    setfattr -n trusted.snap -v 1 src/fifo-plain 2>/dev/null || true
    setfattr -n user.snap -v 1 src/fifo-dir
fi
find src -exec touch -h -d '2001-02-03 04:05:06' {} +
backup_at 1 src dest

# the names made and swapped at the top of a tree (fifo-inner never is: its
# directory was swapped and skipped)
swapped_names() {
    printf '%s\n' fifo-plain fifo-link fifo-dir
    [ "$have_sock" = 1 ] && echo fifo-sock
    [ "$have_dev" = 1 ] && echo fifo-dev
    return 0
}

# swap_run CODE KIND CALLS MATCH ARGS...: hardsnap ARGS under the shim, every
# CALLS (mknodat,symlinkat,mkdirat) whose name contains MATCH swapped for KIND
# (see faultshim.c); it must exit CODE.
swap_run() {
    local want=$1 kind=$2 calls=$3 match=$4 rc=0 victim=$HS_TMP/victim
    shift 4
    [ "$kind" = link ] && victim=$HS_TMP/victim-fifo
    HS_LAST="hardsnap $* (swapping $kind at $calls of *$match*)"
    env LD_PRELOAD="$HS_FAULTSHIM" HS_FAULT_AT=1 HS_FAULT_ONWARD=1 HS_FAULT_ACTION=swapnew \
        HS_FAULT_SWAP_KIND="$kind" HS_FAULT_SWAP_TARGET="$victim" \
        HS_FAULT_CALLS="$calls" HS_FAULT_MATCH="$match" \
        "$HARDSNAP" "$@" >"$HS_OUT" 2>"$HS_ERR" || rc=$?
    if grep -Eq 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer' "$HS_ERR"; then
        head -c 8000 "$HS_ERR" >&2
        fail "$HS_LAST: sanitizer report"
    fi
    assert_victims "$HS_LAST"
    grep -q 'faultshim: swapped' "$HS_ERR" || fail "$HS_LAST: the shim swapped nothing"
    if [ "$rc" != "$want" ]; then
        head -c 3000 "$HS_ERR" >&2
        fail "$HS_LAST exited $rc, expected $want"
    fi
}

# said WHAT PATH...: the last run warned "hardsnap: WHAT: PATH[: reason]"
# for each
said() {
    local what=$1 p
    shift
    for p in "$@"; do
        awk -v m="hardsnap: $what: $p" '$0 == m || index($0, m ": ") == 1 { found = 1 }
            END { exit !found }' "$HS_ERR" ||
            fail "$HS_LAST: no 'hardsnap: $what: $p' (stderr: $(grep -v faultshim "$HS_ERR" | head -c 1500))"
    done
}

# ---- restore ---------------------------------------------------------------

ALL=mknodat,symlinkat,mkdirat
in_restore='replaced in the target while being restored, left alone'

# a symlink to the victim in place of each new object
swap_run 1 symlink "$ALL" fifo restore dest/latest t1
mapfile -t names < <(swapped_names)
said "$in_restore" "${names[@]/#/t1/}"
for n in "${names[@]}"; do
    [ "$(stat -c '%F %u' "t1/$n")" = "symbolic link 65534" ] || fail "restore: t1/$n was touched"
done
assert_absent t1/fifo-dir.swapped/fifo-inner
[ "$(cat t1/plain.txt)" = plain ] || fail "restore: the other entries were not restored"

# the user's own object of the same kind: never given the snapshot's metadata
swap_run 1 same "$ALL" fifo restore dest/latest t2
said "$in_restore" "${names[@]/#/t2/}"
for n in "${names[@]}"; do
    case $(stat -c '%u %a' "t2/$n") in
    "65534 4777" | 1234* | 2345* | 3\ *) fail "restore: the user's t2/$n got the snapshot's metadata" ;;
    esac
done

# a hard link to a root-owned fifo: ours by type and owner, but two names
swap_run 1 link mknodat fifo-plain restore dest/latest t3
said "$in_restore" t3/fifo-plain

# a replacing restore: the new object under a temporary name, swapped there
mkdir t4
printf 'old\n' >t4/fifo-plain
swap_run 1 symlink mknodat .hardsnap-new restore --overwrite dest/latest t4
said "$in_restore" t4/fifo-plain
[ "$(cat t4/fifo-plain)" = old ] || fail "restore --overwrite: the old entry was not kept"

# ---- import --------------------------------------------------------------------

have tar || skip "tar is needed for the import part"
tar --xattrs --xattrs-include='*' -cf src.tar -C src . 2>/dev/null
swap_run 1 symlink "$ALL" fifo import src.tar dest-import
in_store='replaced in the new snapshot while being made, left out'
said "$in_store" fifo-plain fifo-link fifo-dir
[ "$have_dev" = 1 ] && said "$in_store" fifo-dev
grep -qF 'fifo-dir/fifo-inner: a directory of its path was replaced while being made' "$HS_ERR" ||
    fail "import: fifo-dir/fifo-inner was not refused"

# ---- backup -----------------------------------------------------------------------

swap_run 1 symlink mknodat,symlinkat fifo backup src dest-backup
mapfile -t names < <(swapped_names | grep -vx fifo-dir)
said "$in_store" "${names[@]}" fifo-dir/fifo-inner
# the new tree is private: a directory replaced there stops the backup
swap_run 3 symlink mkdirat fifo backup src dest-backup
said 'replaced in the new snapshot while being made' fifo-dir
