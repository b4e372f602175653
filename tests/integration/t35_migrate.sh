#!/bin/bash
# import --from: a store made by Debian's rsnapshot, and one in the layout of
# rsync-time-backup, made hardsnap stores in place: snapshots named by their
# time, with manifests (verify --all clean), every hard link between the old
# snapshots kept, and the first backup linking to the newest of them.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
have rsync || skip "rsync is not installed"

# the old tools' rsync carries what hardsnap keeps (xattrs too), so that
# the first backup finds every unchanged file equal in metadata and links it
rsync_opts=(-a -H --numeric-ids)
short=-aH
if [ "${HS_HAVE_XATTR:-0}" = 1 ]; then
    rsync_opts+=(-X)
    short=-aHX
fi

# inodes DIR: "path inode" of every non-directory, sorted
inodes() {
    (cd "$1" && find . ! -type d -printf '%P %i\n' | sort)
}

# the checks both formats share: DEST holds the snapshots NAMES (oldest
# first) whose trees were saved in $HS_TMP/ref.N (tree listings) and
# $HS_TMP/ino.N (inodes) before the migration
check_migrated() {
    local dest=$1
    shift
    local names=("$@") i
    [ "$(snapshots "$dest")" = "$(printf '%s\n' "${names[@]}")" ] ||
        fail "snapshots in $dest: $(snapshots "$dest" | tr '\n' ' '), expected ${names[*]}"
    assert_latest "$dest" "${names[-1]}"
    hs_rc 0 list "$dest"
    [ "$(grep -c '^20' "$HS_OUT")" = "${#names[@]}" ] || fail "list: $(cat "$HS_OUT")"
    for i in "${!names[@]}"; do
        [ -s "$dest/.hardsnap/manifests/${names[i]}.hsm" ] || fail "no manifest of ${names[i]}"
        compare_listing "$HS_TMP/ref.$i" "$dest/${names[i]}"
        # the same inodes: nothing was copied, every shared file stays shared
        diff -u "$HS_TMP/ino.$i" <(inodes "$dest/${names[i]}") || fail "inodes changed in ${names[i]}"
    done
    hs_rc 0 verify "$dest" --all
    grep -qi 'manifest' "$HS_OUT" "$HS_ERR" && fail "verify speaks of manifests: $(cat "$HS_OUT" "$HS_ERR")"
    # a restore reads the manifest (each group's names in the snapshot): the
    # hard links among the files come back whole
    rm -rf "$HS_TMP/restored"
    hs_rc 0 restore "$dest/latest" "$HS_TMP/restored"
    compare_trees "$dest/${names[-1]}" "$HS_TMP/restored"
    return 0
}

# save the trees of OLD... (oldest first) for check_migrated
save_refs() {
    local i=0 d
    for d in "$@"; do
        tree_listing "$d" >"$HS_TMP/ref.$i"
        inodes "$d" >"$HS_TMP/ino.$i"
        i=$((i + 1))
    done
}

# the first backup after the migration: unchanged files linked to the newest
# migrated snapshot, the changed one copied
check_first_backup() {
    local src=$1 dest=$2 newest=$3 name=$4
    printf 'changed after the migration\n' >"$src/file.txt"
    HARDSNAP_NOW=$name hs_rc 0 backup "$src" "$dest"
    compare_trees "$src" "$dest/$name"
    assert_latest "$dest" "$name"
    not_same_inode "$dest/$newest/file.txt" "$dest/$name/file.txt"
    same_inode "$dest/$newest/big.bin" "$dest/$name/big.bin"
    same_inode "$dest/$newest/sub/deep/data.bin" "$dest/$name/sub/deep/data.bin"
    same_inode "$dest/$newest/hl/one" "$dest/$name/sub/hl-two"
    # every other file is an inode of the newest old snapshot: linked, none
    # copied (a source hard-link group that rsnapshot's rsync without -H split
    # joins one of its old inodes, so the path alone cannot say which)
    local n=0 p ino
    declare -A old_inodes=()
    while read -r ino; do old_inodes[$ino]=1; done < <(find "$dest/$newest" -type f -printf '%i\n')
    while IFS= read -r -d '' p; do
        [ "$p" != ./file.txt ] || continue
        ino=$(stat -c %i -- "$dest/$name/$p")
        [ -n "${old_inodes[$ino]:-}" ] || fail "$dest/$name/$p was copied, not linked"
        n=$((n + 1))
    done < <(cd "$dest/$name" && find . -type f -print0)
    [ "$n" -gt 15 ] || fail "only $n files checked"
    hs_rc 0 verify "$dest" --all
}

# ---- rsnapshot, as Debian packages it --------------------------------------
if have rsnapshot; then
    mktree_basic src
    snap=$HS_TMP/rsnap
    conf=$HS_TMP/rsnapshot.conf
    # tabs between fields, as rsnapshot wants; no --relative, so that
    # localhost/ holds src's contents (the default keeps the whole path:
    # README says how to continue such a store)
    {
        printf 'config_version\t1.2\n'
        printf 'snapshot_root\t%s/\n' "$snap"
        printf 'no_create_root\t0\n'
        printf 'cmd_rsync\t/usr/bin/rsync\n'
        printf 'cmd_cp\t/bin/cp\n'
        printf 'rsync_short_args\t%s\n' "$short"
        printf 'rsync_long_args\t--delete --numeric-ids --delete-excluded\n'
        printf 'lockfile\t%s/rsnapshot.pid\n' "$HS_TMP"
        printf 'logfile\t%s/rsnapshot.log\n' "$HS_TMP"
        printf 'retain\tdaily\t3\n'
        printf 'backup\t%s/src/\tlocalhost/\n' "$HS_TMP"
    } >"$conf"
    rsnapshot -c "$conf" configtest >/dev/null || fail "rsnapshot configtest: $(rsnapshot -c "$conf" configtest 2>&1)"
    rsnapshot -c "$conf" daily || fail "rsnapshot daily 1 failed"
    touch -d '2026-01-01 02:00:00 UTC' "$snap/daily.0"
    printf 'second\n' >src/file.txt
    printf 'added\n' >src/added
    rsnapshot -c "$conf" daily || fail "rsnapshot daily 2 failed"
    touch -d '2026-01-02 02:00:00 UTC' "$snap/daily.0"
    printf 'third\n' >src/file.txt
    rm src/one-byte
    rsnapshot -c "$conf" daily || fail "rsnapshot daily 3 failed"
    touch -d '2026-01-03 02:30:15 UTC' "$snap/daily.0"
    # rsnapshot linked what did not change: the store to migrate shares inodes
    same_inode "$snap/daily.2/localhost/big.bin" "$snap/daily.0/localhost/big.bin"
    not_same_inode "$snap/daily.2/localhost/file.txt" "$snap/daily.0/localhost/file.txt"
    save_refs "$snap/daily.2/localhost" "$snap/daily.1/localhost" "$snap/daily.0/localhost"

    # a backup into it says what it is and what to do
    hs_rc 2 backup src "$snap"
    grep -q 'an rsnapshot or rsync-time-backup store? See hardsnap import --from' "$HS_ERR" ||
        fail "backup into an rsnapshot store: $(cat "$HS_ERR")"
    # refused before anything is written: not an rsync-time-backup store, and
    # a snapshot name already taken
    hs_rc 2 import --from rsync-time-backup "$snap"
    grep -q 'not an rsync-time-backup store' "$HS_ERR" || fail "no reason: $(cat "$HS_ERR")"
    mkdir "$snap/2026-01-02T020000Z"
    hs_rc 2 import --from rsnapshot "$snap"
    grep -q 'daily.1 would be named 2026-01-02T020000Z, which exists' "$HS_ERR" ||
        fail "collision not named: $(cat "$HS_ERR")"
    [ ! -e "$snap/.hardsnap" ] || fail "a refused migration made .hardsnap"
    rmdir "$snap/2026-01-02T020000Z"
    touch -d '2026-01-03 02:30:15 UTC' "$snap" # (its mtime is no snapshot's time)

    hs_rc 0 import --from rsnapshot -v "$snap"
    grep -q '^daily.2 -> 2026-01-01T020000Z$' "$HS_OUT" || fail "no rename said: $(cat "$HS_OUT")"
    names=(2026-01-01T020000Z 2026-01-02T020000Z 2026-01-03T023015Z)
    for d in daily.0 daily.1 daily.2; do assert_absent "$snap/$d"; done
    check_migrated "$snap" "${names[@]}"
    same_inode "$snap/${names[0]}/big.bin" "$snap/${names[2]}/big.bin"
    [ ! -e "$snap/.hardsnap/migrating" ] || fail "the migration marker was left"

    # again: nothing to do, said so
    hs_rc 0 import --from rsnapshot "$snap"
    grep -q 'already a hardsnap store, nothing to migrate' "$HS_OUT" || fail "second run: $(cat "$HS_OUT")"
    check_first_backup src "$snap" "${names[2]}" 2026-01-04T020000Z

    # a hardsnap store with an old snapshot put into it: refused
    mkdir "$snap/daily.0" && cp -a src "$snap/daily.0/localhost"
    hs_rc 2 import --from rsnapshot "$snap"
    grep -q 'already a hardsnap store' "$HS_ERR" || fail "store in use: $(cat "$HS_ERR")"
    rm -rf src
else
    note "rsnapshot is not installed: its part skipped (tests/deps.sh installs it)"
fi

# ---- rsync-time-backup's layout -----------------------------------------------
# (the script is in no Debian package: its store is made as it makes it, with
# rsync --link-dest, a latest symlink and backup.marker)
mktree_basic src
rtb=$HS_TMP/rtb
mkdir -m 0700 "$rtb" # as root, an open DEST is closed with a warning (t68)
touch "$rtb/backup.marker"
export TZ=UTC # the script names its backups in local time
rsync "${rsync_opts[@]}" src/ "$rtb/2026-02-01-020000/"
printf 'second\n' >src/file.txt
rsync "${rsync_opts[@]}" --link-dest="$rtb/2026-02-01-020000" src/ "$rtb/2026-02-02-020000/"
printf 'third\n' >src/file.txt
printf 'new\n' >src/new-file
rsync "${rsync_opts[@]}" --link-dest="$rtb/2026-02-02-020000" src/ "$rtb/2026-02-03-021500/"
ln -s 2026-02-03-021500 "$rtb/latest"
same_inode "$rtb/2026-02-01-020000/big.bin" "$rtb/2026-02-03-021500/big.bin"
save_refs "$rtb/2026-02-01-020000" "$rtb/2026-02-02-020000" "$rtb/2026-02-03-021500"

# an interrupted run of the script: refused, nothing changed
touch "$rtb/backup.inprogress"
hs_rc 2 import --from rsync-time-backup "$rtb"
grep -q 'interrupted' "$HS_ERR" || fail "inprogress: $(cat "$HS_ERR")"
rm "$rtb/backup.inprogress"
# not an rsnapshot store
hs_rc 2 import --from rsnapshot "$rtb"
[ ! -e "$rtb/.hardsnap" ] || fail "a refused migration made .hardsnap"

# no date: the calendar would carry it over (February 30th is March 2nd)
mkdir "$rtb/2026-02-30-020000" "$rtb/2026-13-01-020000"
# each inode is read once, though the snapshots share most of them (the
# previous snapshot's manifest has the hashes)
distinct=$(find "$rtb"/2026-02-0* -type f -printf '%i\n' | sort -u | wc -l)
hs_rc 0 import --from rsync-time-backup "$rtb"
grep -q "^3 snapshots migrated: [0-9]* files, $distinct read " "$HS_OUT" ||
    fail "not $distinct inodes read: $(cat "$HS_OUT")"
names=(2026-02-01T020000Z 2026-02-02T020000Z 2026-02-03T021500Z)
check_migrated "$rtb" "${names[@]}"
assert_absent "$rtb/backup.marker" "$rtb/2026-02-01-020000"
for d in 2026-02-30-020000 2026-13-01-020000; do
    [ -d "$rtb/$d" ] || fail "$d, which is no date, was taken for a snapshot"
done
rmdir "$rtb/2026-02-30-020000" "$rtb/2026-13-01-020000"

# what a kill leaves, made by hand: the first snapshot renamed, the second's
# manifest committed but the tree not yet renamed, the third untouched, a
# manifest half written in partial/; the run again continues
mv "$rtb/${names[1]}" "$rtb/2026-02-02-020000"
mv "$rtb/${names[2]}" "$rtb/2026-02-03-021500"
rm "$rtb/.hardsnap/manifests/${names[2]}.hsm"
head -c 100 "$rtb/.hardsnap/manifests/${names[1]}.hsm" >"$rtb/.hardsnap/partial/${names[2]}.hsm"
printf 'rsync-time-backup\n\n' >"$rtb/.hardsnap/migrating"
# meanwhile a backup's recovery must leave the old trees alone
HARDSNAP_NOW=2026-02-03T120000Z hs_rc 0 backup src "$rtb"
for d in 2026-02-02-020000 2026-02-03-021500; do
    [ -d "$rtb/$d" ] || fail "a backup removed the old tree $d"
done
rm -rf "$rtb/2026-02-03T120000Z" "$rtb/.hardsnap/manifests/2026-02-03T120000Z".*
# another hardsnap run holds the lock: exit 4, nothing renamed
if have flock; then
    rc=0
    flock "$rtb/.hardsnap/lock" "$HARDSNAP" import --from rsync-time-backup "$rtb" 2>"$HS_ERR" || rc=$?
    [ "$rc" = 4 ] || fail "import --from under a held lock exited $rc: $(cat "$HS_ERR")"
    [ -d "$rtb/2026-02-03-021500" ] || fail "renamed under a held lock"
fi
hs_rc 0 import --from rsync-time-backup "$rtb"
check_migrated "$rtb" "${names[@]}"
assert_absent "$rtb/.hardsnap/partial/${names[2]}.hsm"
hs_rc 0 import --from rsync-time-backup "$rtb"
check_first_backup src "$rtb" "${names[2]}" 2026-02-04T020000Z

# two old snapshots of one instant: refused, naming both. Names are local
# time; in New York 02:30 on 2026-03-08 does not exist (clocks jump from 2:00
# to 3:00), and is read as 03:30, as mktime(3) does
mkdir -m 0700 "$HS_TMP/rtb2"
touch "$HS_TMP/rtb2/backup.marker"
rsync "${rsync_opts[@]}" src/ "$HS_TMP/rtb2/2026-03-08-023000/"
rsync "${rsync_opts[@]}" src/ "$HS_TMP/rtb2/2026-03-08-033000/"
TZ=America/New_York hs_rc 2 import --from rsync-time-backup "$HS_TMP/rtb2"
grep -q '2026-03-08-023000 and 2026-03-08-033000 both have the time 2026-03-08T073000Z' "$HS_ERR" ||
    fail "one name for two: $(cat "$HS_ERR")"
[ ! -e "$HS_TMP/rtb2/.hardsnap" ] || fail "a refused migration made .hardsnap"
