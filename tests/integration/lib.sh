# shellcheck shell=bash
# Shared helpers of the hardsnap integration tests; every tNN_*.sh sources it.
#
# Environment: HARDSNAP   the binary under test (required)
#              HS_KEEP_TMP=1  keep the test's temp dir (its path is printed)
#
# On load: strict mode, a fresh temp dir (cd'ed into, removed on exit), and
# the helpers below. Exit 77 means "skipped" to ctest.

set -Eeuo pipefail
export LC_ALL=C

# A test that mounts sets HS_PRIVATE_MOUNTS=1 before sourcing this file: it
# then runs in a mount namespace of its own (when root and unshare can), so
# whatever a killed test leaves mounted dies with it.
if [ "${HS_PRIVATE_MOUNTS:-}" = 1 ] && [ -z "${HS_IN_MOUNT_NS:-}" ] && [ "$(id -u)" = 0 ] &&
    command -v unshare >/dev/null 2>&1 && unshare -m --propagation private true 2>/dev/null; then
    HS_IN_MOUNT_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
# an unexpected failing command says where it was
trap 'echo "FAIL: ${0##*/}: ${BASH_SOURCE[0]##*/}:$LINENO: command failed (exit $?): $BASH_COMMAND" >&2' ERR
umask 022

if [ -z "${HARDSNAP:-}" ]; then
    echo "FAIL: HARDSNAP is not set (path to the hardsnap binary)" >&2
    exit 1
fi
if [ ! -x "$HARDSNAP" ]; then
    echo "FAIL: HARDSNAP=$HARDSNAP is not an executable" >&2
    exit 1
fi

HS_TEST_NAME=$(basename "$0" .sh)
HS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hs-$HS_TEST_NAME.XXXXXX")
HS_OUT=$HS_TMP/.hs.out # stdout of the last hs_rc
HS_ERR=$HS_TMP/.hs.err # stderr of the last hs_rc
HS_LAST=""             # the last hs_rc command, for messages
HS_AT_EXIT=()          # commands run (eval'ed, in reverse order) before the temp dir goes

# Registers a command to run on exit (unmounts, background jobs, chattr -i ...).
at_exit() {
    HS_AT_EXIT+=("$*")
}

hs__cleanup() {
    local rc=$1 i
    set +e
    trap - ERR
    cd / || true
    for ((i = ${#HS_AT_EXIT[@]} - 1; i >= 0; i--)); do
        eval "${HS_AT_EXIT[i]}" >/dev/null 2>&1
    done
    if [ "${HS_KEEP_TMP:-0}" = 1 ]; then
        echo "$HS_TEST_NAME: temp dir kept: $HS_TMP" >&2
    else
        rm -rf --one-file-system "$HS_TMP"
    fi
    exit "$rc"
}
trap 'hs__cleanup $?' EXIT
cd "$HS_TMP"

# fail MSG: the test failed.
fail() {
    echo "FAIL: $HS_TEST_NAME: $*" >&2
    exit 1
}

# skip MSG: the test cannot run here (ctest SKIP_RETURN_CODE 77).
skip() {
    echo "SKIP: $HS_TEST_NAME: $*" >&2
    exit 77
}

# note MSG: progress output (stderr, shown by ctest --output-on-failure).
note() {
    echo "# $*" >&2
}

is_root() {
    [ "$(id -u)" = 0 ]
}

# as_user CMD...: CMD as the unprivileged user nobody (65534), as a hostile
# local user would run it (needs root and setpriv).
as_user() {
    setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

have() {
    command -v "$1" >/dev/null 2>&1
}

# hs ARGS: runs the binary, output not captured.
hs() {
    "$HARDSNAP" "$@"
}

# hs__summary_adds_up: a backup's summary line in $HS_OUT, if any, adds up:
# files = linked + copied + cloned, symlinks and specials = linked + made;
# and --stats' entries line is the sum of its types.
hs__summary_adds_up() {
    local bad
    bad=$(awk '
        match($0, /^[^ ]+: [0-9]+ files \([0-9]+ linked, [0-9]+ copied(, [0-9]+ cloned)?\)/) {
            n = split($0, w, /[^0-9]+/)  # the numbers in the order they stand
            # a name YYYY-MM-DDTHHMMSSZ is 4 numbers; "dry run" leaves an empty w[1]
            i = ($0 ~ /^dry run: /) ? 2 : 5
            f = w[i]; l = w[i + 1]; c = w[i + 2]; k = 0; i += 3
            if ($0 ~ / cloned\)/) { k = w[i]; i++ }
            o = ol = om = 0
            if ($0 ~ / symlinks and specials \(/) { o = w[i]; ol = w[i + 1]; om = w[i + 2] }
            if (l + c + k != f || ol + om != o) print
        }' "$HS_OUT")
    [ -z "$bad" ] || fail "hardsnap $HS_LAST: the summary's counts do not add up: $bad"
    # --stats (backup, run, import): entries = files + dirs + symlinks + specials
    bad=$(awk '
        match($0, /^entries: +[0-9]+ \([0-9]+ files, [0-9]+ dirs, [0-9]+ symlinks, [0-9]+ special\)/) {
            split(substr($0, RSTART, RLENGTH), w, /[^0-9]+/)
            if (w[3] + w[4] + w[5] + w[6] != w[2]) print
        }' "$HS_OUT")
    [ -z "$bad" ] || fail "hardsnap $HS_LAST: --stats entries are not the sum of the types: $bad"
}

# hs_rc CODE ARGS: runs the binary with stdout/stderr in $HS_OUT/$HS_ERR and
# fails unless it exits with CODE. Environment prefixes (HARDSNAP_NOW=...)
# reach the binary.
hs_rc() {
    local want=$1 rc=0
    shift
    HS_LAST="${HARDSNAP_NOW:+HARDSNAP_NOW=$HARDSNAP_NOW }hardsnap $(printf '%q ' "$@")"
    "$HARDSNAP" "$@" >"$HS_OUT" 2>"$HS_ERR" || rc=$?
    # a sanitizer report fails the test whatever the exit status
    if grep -Eq 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer' "$HS_ERR"; then
        head -c 8000 "$HS_ERR" >&2
        fail "hardsnap $* : sanitizer report"
    fi
    hs__summary_adds_up
    if [ "$rc" != "$want" ]; then
        {
            echo "---- command: hardsnap $(printf '%q ' "$@")"
            echo "---- HARDSNAP_NOW=${HARDSNAP_NOW:-}"
            echo "---- stdout:"
            head -c 4000 "$HS_OUT"
            echo "---- stderr:"
            head -c 4000 "$HS_ERR"
        } >&2
        fail "hardsnap $* exited $rc, expected $want"
    fi
}

# now N: the N-th fake clock value, 2026-01-01T000000Z + N hours (N < 24*28).
now() {
    local n=$1
    printf '2026-01-%02dT%02d0000Z' $((1 + n / 24)) $((n % 24))
}

# backup_at N ARGS: hardsnap backup ARGS with HARDSNAP_NOW=$(now N), expecting exit 0.
backup_at() {
    local n=$1
    shift
    HARDSNAP_NOW=$(now "$n") hs_rc 0 backup "$@"
}

# snapshots DEST: the snapshot names in DEST, sorted, one a line.
snapshots() {
    local d=$1 e
    [ -d "$d" ] || return 0
    for e in "$d"/*; do
        if [ ! -d "$e" ] || [ -L "$e" ]; then
            continue
        fi
        e=${e##*/}
        [[ $e =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z$ ]] && printf '%s\n' "$e"
    done | sort
}

# count_snapshots DEST
count_snapshots() {
    snapshots "$1" | wc -l
}

# assert_latest DEST NAME: DEST/latest is a relative symlink to NAME.
assert_latest() {
    local dest=$1 name=$2 t
    [ -L "$dest/latest" ] || fail "$dest/latest is not a symlink"
    t=$(readlink "$dest/latest")
    [ "$t" = "$name" ] || fail "$dest/latest -> '$t', expected '$name'"
    [ -d "$dest/latest/" ] || fail "$dest/latest does not resolve to a directory"
}

inode() {
    stat -c %i -- "$1"
}

# same_inode A B
same_inode() {
    local a b
    a=$(stat -c %d:%i -- "$1") || fail "cannot stat $1"
    b=$(stat -c %d:%i -- "$2") || fail "cannot stat $2"
    [ "$a" = "$b" ] || fail "not the same inode: $1 ($a) and $2 ($b)"
}

# not_same_inode A B
not_same_inode() {
    local a b
    a=$(stat -c %d:%i -- "$1") || fail "cannot stat $1"
    b=$(stat -c %d:%i -- "$2") || fail "cannot stat $2"
    [ "$a" != "$b" ] || fail "same inode, expected different: $1 and $2 ($a)"
}

# Turns NUL-terminated records into lines: backslash, newline and tab are
# escaped, then \001 (the field separator) becomes a tab; sorted bytewise.
hs__records() {
    sed -z -e 's/\\/\\\\/g' -e 's/\n/\\n/g' -e 's/\t/\\t/g' -e 's/\x01/\t/g' | tr '\0' '\n' | sort
}

# tree_listing DIR [--inodes]: a complete, line-based description of the tree
# under DIR (DIR itself is "."): type, mode, owner, size (not for
# directories), mtime in ns (lstat: a symlink's own), symlink target, device
# numbers, content hashes, xattrs and the hard-link grouping. Names are
# escaped, so any name fits on one line. --inodes adds inode numbers (to
# check that a tree stayed the same set of inodes).
tree_listing() {
    local dir=$1 inodes=${2:-}
    local fmt='meta %p\001%y\001%m\001%U\001%G\001%s\001%T@\001%l'
    [ "$inodes" = --inodes ] && fmt="$fmt\\001ino=%i"
    [ -d "$dir" ] || fail "tree_listing: $dir is not a directory"
    (
        cd "$dir" || exit 1
        # metadata; a directory's size depends on its history, not on its entries
        find . -printf "$fmt\\0" | hs__records |
            sed -e 's/^\(meta [^\t]*\td\t[^\t]*\t[^\t]*\t[^\t]*\t\)[^\t]*/\1-/'
        # hard-link grouping: each name of a group maps to the group's smallest name
        find . ! -type d -printf '%i\001%p\0' | hs__records | sort -t "$(printf '\t')" -k2,2 |
            awk -F '\t' '{ if ($1 in first) print "link " $2 " => " first[$1]; else first[$1] = $2 }' |
            sort
        # content
        find . -type f -print0 | xargs -0 -r sha256sum -z -- | sed -z 's/^\([0-9a-f]*\)  /hash \1\x01/' |
            hs__records
        # device numbers
        find . \( -type b -o -type c \) -print0 | xargs -0 -r stat --printf 'dev %t:%T\001%n\0' -- |
            hs__records
        # extended attributes (every namespace), one line per file
        if have getfattr; then
            getfattr -R -P -h -d -m - --absolute-names . 2>/dev/null |
                awk 'BEGIN { RS = "" } { gsub(/\n/, " | "); print "xattr " $0 }' | sort || true
        fi
    )
}

# compare_trees A B: fails with a diff unless A and B are the same tree
# (names, types, modes, owners, sizes, mtimes, targets, devices, contents,
# xattrs, hard-link grouping).
compare_trees() {
    local a=$1 b=$2 la lb
    la=$(mktemp "$HS_TMP/.cmpA.XXXXXX")
    lb=$(mktemp "$HS_TMP/.cmpB.XXXXXX")
    tree_listing "$a" >"$la"
    tree_listing "$b" >"$lb"
    if ! cmp -s "$la" "$lb"; then
        echo "---- trees differ: - $a  + $b" >&2
        diff -u "$la" "$lb" | sed -n '3,80p' >&2 || true
        fail "trees differ: $a and $b"
    fi
    rm -f "$la" "$lb"
}

# compare_listing FILE DIR [--inodes]: DIR still matches a saved tree_listing.
compare_listing() {
    local saved=$1 dir=$2 opt=${3:-} now
    now=$(mktemp "$HS_TMP/.cmpL.XXXXXX")
    tree_listing "$dir" "$opt" >"$now"
    if ! cmp -s "$saved" "$now"; then
        echo "---- $dir changed: - before  + now" >&2
        diff -u "$saved" "$now" | sed -n '3,80p' >&2 || true
        fail "$dir changed"
    fi
    rm -f "$now"
}

# set_mtime TIME PATH...: explicit mtime (and atime), symlinks themselves.
set_mtime() {
    local t=$1
    shift
    touch -h -d "$t" -- "$@"
}

# random_file PATH BYTES
random_file() {
    head -c "$2" /dev/urandom >"$1"
}

# big_change FILE: twenty 64 KiB writes at offsets spread over 128 MiB, not
# aligned to the block size (each touches two 64 KiB blocks at most): the
# changed big file of the block tests (1 %)
big_change() {
    local i
    for i in $(seq 0 19); do
        head -c 65536 /dev/urandom |
            dd of="$1" bs=65536 seek=$((i * 6 * 1048576 + 12345)) oflag=seek_bytes conv=notrunc status=none
    done
}

# used_bytes DIR: the space in use on DIR's file system, after a sync
used_bytes() {
    sync -f "$1"
    df --output=used -B1 "$1" | tail -1 | tr -d ' '
}

# json_stat KEY: the last run's totals[KEY] from its --json output ($HS_OUT)
json_stat() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["totals"][sys.argv[2]])' "$HS_OUT" "$1"
}

# The tree of mktree_deep: HS_DEEP_LEVELS directories named HS_DEEP_NAME, one
# in the other; 20 bytes a level with the "/", 6000 bytes in all: deeper than
# PATH_MAX, so no path from the top reaches the bottom.
HS_DEEP_LEVELS=300
HS_DEEP_NAME=level-0123456789abc

# mktree_deep DIR: DIR/HS_DEEP_NAME/... with at-N (one line) at every 50th
# level and at the bottom bottom.txt ("the bottom", mtime 2020-02-02
# 02:02:02.2), up-link (-> ../bottom.txt) and bottom.bin (100000 random
# bytes). Built by relative steps.
mktree_deep() {
    mkdir -p "$1"
    (
        cd "$1"
        local i
        for ((i = 0; i < HS_DEEP_LEVELS; i++)); do
            mkdir "$HS_DEEP_NAME"
            cd "$HS_DEEP_NAME"
            [ $((i % 50)) = 0 ] && printf 'file at level %d\n' "$i" >"at-$i"
        done
        printf 'the bottom\n' >bottom.txt
        ln -s ../bottom.txt up-link
        random_file bottom.bin 100000
        touch -d '2020-02-02 02:02:02.2' bottom.txt
    ) || fail "could not build the deep tree in $1"
}

# deep_cd DIR: cd into the bottom of a deep tree at DIR, by relative steps.
deep_cd() {
    cd "$1" || fail "cannot cd to $1"
    local i
    for ((i = 0; i < HS_DEEP_LEVELS; i++)); do
        cd "$HS_DEEP_NAME" 2>/dev/null || fail "$1: level $i of $HS_DEEP_LEVELS missing"
    done
}

# deep_listing DIR [--nlink]: find's own view of DIR (it handles paths of any
# length): name, type, mode, owner, mtime (and link count), and the size of
# files.
deep_listing() {
    local fmt='%p %y %m %U %G %T@'
    [ "${2:-}" = --nlink ] && fmt="$fmt %n"
    (cd "$1" && find . -printf "$fmt\\n" -type f -printf '%p size=%s\n' | sort)
}

# HS_HAVE_XATTR: 1 when user xattrs work under the temp dir.
HS_HAVE_XATTR=0
if have setfattr && have getfattr && : >"$HS_TMP/.xattr-probe" &&
    setfattr -n user.probe -v 1 "$HS_TMP/.xattr-probe" 2>/dev/null; then
    HS_HAVE_XATTR=1
fi
rm -f "$HS_TMP/.xattr-probe"

# HS_HAVE_DEV: 1 when mktree_basic could make a device node.
HS_HAVE_DEV=0

# mktree_basic DIR: a varied tree (see the comments). The names of some
# entries are fixed so tests can refer to them: file.txt, sub/deep/data.bin,
# big.bin, hl/one, sub/hl-two, hl-three (one inode), link-rel, dangling,
# fifo, sparse.img, mode-0444, dir-setgid/, empty-dir/.
mktree_basic() {
    local d=$1
    mkdir -p "$d"
    (
        cd "$d"
        mkdir -p -- sub/deep/deeper empty-dir hl dir-setgid 'dir with space' -dashdir
        # regular files of various sizes
        : >empty-file
        printf 'hello, world\n' >file.txt
        printf 'x' >one-byte
        random_file sub/4k.bin 4096
        random_file sub/deep/data.bin 100000
        random_file sub/deep/deeper/odd.bin 65537
        random_file big.bin 1048576
        # names
        printf 'space\n' >'name with space'
        printf 'newline\n' >$'new\nline'
        printf 'tab\n' >$'tab\tname'
        printf 'backslash\n' >'back\slash'
        printf 'utf8\n' >'ünïcödé_日本語_ë'
        printf 'bad utf8\n' >$'bad\xff\xfe-name'
        printf 'dash\n' >./-leading-dash
        printf 'in dash dir\n' >-dashdir/-x
        printf 'spaced\n' >'dir with space/f i l e'
        # symlinks: relative, dangling, absolute, to a directory
        ln -s sub/deep/data.bin link-rel
        ln -s does/not/exist dangling
        ln -s /etc/hostname link-abs
        ln -s sub link-dir
        ln -s ../file.txt sub/link-up
        # a fifo
        mkfifo fifo
        # hard links: one inode, three names in three directories
        printf 'hard linked\n' >hl/one
        ln hl/one sub/hl-two
        ln hl/one hl-three
        # a second group of two in one directory
        random_file hl/pair-a 3000
        ln hl/pair-a hl/pair-b
        # modes
        printf '0600\n' >mode-0600 && chmod 0600 mode-0600
        printf '#!/bin/sh\n' >mode-0755 && chmod 0755 mode-0755
        printf '0444\n' >mode-0444 && chmod 0444 mode-0444
        printf '0000\n' >mode-0000 && chmod 0000 mode-0000
        printf 'suid\n' >mode-4755
        chmod 2755 dir-setgid
        printf 'in setgid\n' >dir-setgid/f
        chmod 0700 sub/deep/deeper
        # sparse: 64 MiB with a few bytes in the middle and at the end
        truncate -s 64M sparse.img
        printf 'middle' | dd of=sparse.img bs=1 seek=$((32 * 1024 * 1024)) conv=notrunc status=none
        printf 'end' | dd of=sparse.img bs=1 seek=$((64 * 1024 * 1024 - 3)) conv=notrunc status=none
        # xattrs
        if [ "$HS_HAVE_XATTR" = 1 ]; then
            setfattr -n user.test -v 'some value' file.txt
            setfattr -n user.bin -v 0x00ff10 sub/4k.bin
            setfattr -n user.dir -v 'on a dir' sub
        fi
        # owners and a device node (root only)
        if is_root; then
            chown 1234:5678 file.txt
            chown 4321:4321 sub/deep
            chown -h 2345:6789 link-rel
            chown 0:1111 mode-4755
            if mknod chardev c 1 3 2>/dev/null; then
                chown 7:8 chardev
            fi
        fi
        chmod 4755 mode-4755 # after chown, which clears it
        # times: files first, then directories bottom-up (children change them)
        find . ! -type d -exec touch -h -d '2021-03-04 05:06:07.123456789' {} +
        set_mtime '2019-12-31 23:59:59.999999999' big.bin
        set_mtime '2001-02-03 04:05:06.000000001' link-rel
        set_mtime '1999-01-01 00:00:00' hl/one
        printf 'old\n' >pre-epoch && set_mtime '1960-06-01 00:00:00.5' pre-epoch
        printf 'future\n' >far-future && set_mtime '2200-01-01 00:00:00.25' far-future
        find . -depth -type d -exec touch -d '2022-05-06 07:08:09.987654321' {} +
        set_mtime '2020-01-01 12:00:00.5' sub/deep
    )
    # shellcheck disable=SC2034 # read by the tests
    [ -e "$d/chardev" ] && HS_HAVE_DEV=1
    return 0
}

# nondirs DIR: the non-directories under DIR, NUL-terminated, relative ("./x").
nondirs() {
    (cd "$1" && find . ! -type d -print0)
}

# assert_all_linked OLD NEW: every non-directory of NEW is the same inode as
# the same path in OLD.
assert_all_linked() {
    local old=$1 new=$2 lo ln bad
    lo=$(mktemp "$HS_TMP/.linkA.XXXXXX")
    ln=$(mktemp "$HS_TMP/.linkB.XXXXXX")
    (cd "$old" && find . ! -type d -printf '%p\001%D:%i\0') | hs__records >"$lo"
    (cd "$new" && find . ! -type d -printf '%p\001%D:%i\0') | hs__records >"$ln"
    [ -s "$ln" ] || fail "assert_all_linked: no files in $new"
    bad=$(awk -F '\t' 'NR == FNR { ino[$1] = $2; next }
        !($1 in ino) { print "  missing in old: " $1; next }
        ino[$1] != $2 { print "  not linked: " $1 }' "$lo" "$ln")
    if [ -n "$bad" ]; then
        printf '%s\n' "$bad" | head -40 >&2
        fail "$(printf '%s\n' "$bad" | wc -l) of $(wc -l <"$ln") non-directories in $new are not linked to $old"
    fi
    rm -f "$lo" "$ln"
}

# assert_absent PATH...: none of them exists (not even as a dangling symlink).
# py FILE EXPR: the Python expression EXPR holds on j, the JSON document in FILE
py() {
    python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert eval(sys.argv[2]), j' "$1" "$2" ||
        fail "$2 does not hold: $(head -c 3000 "$1")"
}

# hook_tree DIR: the small tree the snapshot hooks' tests back up (t28):
# a hard-linked pair, a big file, a file the next run changes
hook_tree() {
    mkdir -p "$1/docs" "$1/etc"
    printf 'keep\n' >"$1/docs/keep.txt"
    random_file "$1/docs/big.bin" 300000
    printf 'v1\n' >"$1/etc/conf"
    ln "$1/docs/keep.txt" "$1/etc/keep-link"
}

assert_absent() {
    local p
    for p in "$@"; do
        if [ -e "$p" ] || [ -L "$p" ]; then
            fail "$p exists, expected it not to (after: $HS_LAST)"
        fi
    done
}

# entries DIR: the names in DIR, space-separated (for messages).
entries() {
    find "$1" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null || true
}

# assert_empty_dir DIR: DIR is a directory with nothing in it.
assert_empty_dir() {
    [ -d "$1" ] || fail "$1 is not a directory"
    [ -z "$(entries "$1")" ] || fail "$1 is not empty: $(entries "$1")"
}

# assert_no_partial DEST: no work in progress is left in DEST/.hardsnap/partial.
assert_no_partial() {
    if [ -d "$1/.hardsnap/partial" ] && [ -n "$(entries "$1/.hardsnap/partial")" ]; then
        fail "leftovers in $1/.hardsnap/partial: $(entries "$1/.hardsnap/partial")"
    fi
}

# is_sparse FILE: allocated size well below the apparent size.
is_sparse() {
    local blocks size
    blocks=$(stat -c %b -- "$1")
    size=$(stat -c %s -- "$1")
    [ $((blocks * 512)) -lt $((size / 4)) ]
}
