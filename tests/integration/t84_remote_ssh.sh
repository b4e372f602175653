#!/bin/bash
# Pulling over a real OpenSSH server on 127.0.0.1 (started by the test, with
# keys made by the test; skipped, 77, where sshd cannot run): a pull equals
# the source and a second one links everything, from the command line and
# from a config file whose rsh is one string of ssh options; the
# authorized_keys forced command `command="hardsnap serve --allow DIR",
# restrict` serves what is inside DIR, refuses the rest without reading it,
# and takes the request from the protocol (the client's own command is not
# run); a non-root remote user backs up what it can read and names the rest,
# and with sudo backs up everything; the serving end's base cache is in its
# cache directory, and the served tree is not written to.
#
# The sudoers line that lets the ssh user USER run exactly `hardsnap serve`
# as root, nothing else (a file in /etc/sudoers.d, mode 0440; the client
# then pulls with --hardsnap-path "sudo -n /usr/bin/hardsnap"):
#
#   USER ALL=(root) NOPASSWD: /usr/bin/hardsnap serve
#
# (sudoers matches the arguments exactly: "serve" and nothing more, so no
# --store, no --allow added by the client.) The test writes it with the
# binary under test for /usr/bin/hardsnap, and adds a test-only
# `Defaults:USER env_keep += "XDG_CACHE_HOME"` so that root's cache goes
# into the test's temp dir, not /root/.cache.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
# shellcheck source=tests/integration/remote_lib.sh
source "$(dirname "$HS_TEST_LIB")/remote_lib.sh"

# the remote ends may be another user's: it must reach the trees, its home
# and the binary
chmod 0711 "$HS_TMP"
to=(--timeout 300) # a stalled connection fails the test, not ctest's clock

# ---- a throw-away user for the non-root remote end (made before sshd
# starts: its config lets the user in, with the user's own authorized_keys)
u='' uhome=''
if is_root && have useradd && have userdel; then
    u=hsssh$$
    uhome=$HS_TMP/home-$u
    # -r: no subordinate ids, no aging; password "*": not locked (sshd
    # without PAM refuses a locked account) but no password login
    if useradd -r -M -d "$uhome" -s /bin/sh -p '*' -c 'hardsnap test' "$u" 2>useradd.err; then
        at_exit "userdel -f $u"
        mkdir -m 0700 "$uhome"
        chown "$u:" "$uhome"
    else
        note "useradd failed: $(cat useradd.err)"
        u=''
    fi
fi

# root's remote end keeps its cache in the temp dir (sshd sets the session's
# environment; a Match block's SetEnv replaces the global ones, so the
# sanitizer settings are repeated there)
rcache=$HS_TMP/root-cache
setenv="SetEnv XDG_CACHE_HOME=$rcache"
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
    [ -z "${!v:-}" ] || setenv+=" $v=\"${!v}\""
done
SSHD_EXTRA_CONFIG="Match User root
    $setenv"
if [ -n "$u" ]; then
    SSHD_ALLOW_USERS=$u
    SSHD_EXTRA_CONFIG+="
Match User $u
    AuthorizedKeysFile .ssh/authorized_keys"
fi
export SSHD_ALLOW_USERS SSHD_EXTRA_CONFIG
sshd_start
[ "$SSH_USER" = root ] || fail "sshd_start: SSH_USER=$SSH_USER, the test expects root"
# shellcheck disable=SC2086 # the words of SSH_RSH
env=$(rl_timeout 120 $SSH_RSH "$SSH_HOST" env </dev/null) || fail "ssh env failed"
grep -qx "XDG_CACHE_HOME=$rcache" <<<"$env" || fail "sshd did not set XDG_CACHE_HOME for root: $env"

SSH=(-e "$SSH_RSH" --hardsnap-path "$HARDSNAP" "${to[@]}")
R=$SSH_USER@$SSH_HOST

# ctimes TREE: every path's ctime (a write, a chmod, a new xattr changes it)
ctimes() {
    (cd "$1" && find . -printf '%p %C@\n' | sort)
}

# ================================================================ 1. a pull
mktree_basic src
src=$PWD/src
tree_listing src --inodes >src.before
ctimes src >src.ctimes
s1=$(now 0) s2=$(now 1)
HARDSNAP_NOW=$s1 hs_rc 0 backup "${SSH[@]}" "$R:$src" dest
compare_trees src "dest/$s1"
same_inode "dest/$s1/hl/one" "dest/$s1/sub/hl-two"
same_inode "dest/$s1/hl/one" "dest/$s1/hl-three"
is_sparse "dest/$s1/sparse.img" || fail "sparse.img lost its holes"
grep -q "Accepted publickey for $SSH_USER " "$SSHD_LOG" || fail "sshd did not log the pull"
HARDSNAP_NOW=$s2 hs_rc 0 backup "${SSH[@]}" "$R:$src" dest
compare_trees src "dest/$s2"
assert_all_linked "dest/$s1" "dest/$s2"
hs_rc 0 verify "dest/$s2"

# from a config file: rsh is one string, split into words (quotes too; a
# config line holds at most 199 bytes, so only the options that matter)
rsh="ssh -F /dev/null -p $SSH_PORT -i '$SSH_KEY' -o \"UserKnownHostsFile /dev/null\""
rsh+=" -o StrictHostKeyChecking=no -o BatchMode=yes"
cat >web.conf <<EOF
[hardsnap]
dest = $PWD/cdest
timeout = 300
[source web]
path = $R:$src
rsh = $rsh
hardsnap-path = $HARDSNAP
EOF
stores=1
if [ ${#rsh} -gt 190 ]; then
    note "the rsh line is ${#rsh} bytes here (a long TMPDIR): the config pull is not tested"
else
    c1=$(now 2) c2=$(now 3)
    HARDSNAP_NOW=$c1 hs_rc 0 backup -c web.conf
    compare_trees src "cdest/$c1/web"
    HARDSNAP_NOW=$c2 hs_rc 0 backup -c web.conf
    compare_trees src "cdest/$c2/web"
    assert_all_linked "cdest/$c1/web" "cdest/$c2/web"
    stores=2
fi

# ================================================================ 4. the cache (root)
# after two pulls into a store: the base of each store's source, in the
# serving user's cache directory; the served tree is the same inodes with the
# same ctimes (nothing written into it, not even an xattr)
ls "$rcache/hardsnap/serve" >cache.list || fail "no cache directory $rcache/hardsnap/serve"
bases=$(grep -c '^[0-9a-f]\{32\}\.base$' cache.list || true)
[ "$bases" = "$stores" ] || fail "want one KEY.base a store ($stores), the cache holds: $(tr '\n' ' ' <cache.list)"
! grep -q '\.tmp\.' cache.list || fail "a temporary list left in the cache: $(tr '\n' ' ' <cache.list)"
[ "$(stat -c %a "$rcache/hardsnap/serve")" = 700 ] || fail "the cache directory is open to others"
compare_listing src.before src --inodes
ctimes src | cmp -s - src.ctimes || fail "a ctime changed in the served tree: $(ctimes src | diff src.ctimes - | head -5)"

# ================================================================ 2. forced command
mkdir -p allowed/sub/deep outside
printf 'allowed\n' >allowed/sub/a.txt
printf 'deep\n' >allowed/sub/deep/b.txt
ln allowed/sub/a.txt allowed/sub/deep/a-link
ln -s ../../outside allowed/sub/escape
printf 'outside-secret-f00d\n' >outside/secret
# the refused sources must not be read: their atimes are set far back, so
# that a listing of the directory moves its atime (relatime too; files are
# read with O_NOATIME, so the directory is the witness); a filesystem that
# never updates atimes is detected and the check is left to the store's
# contents alone
touch -a -d '2001-01-01 00:00:00' outside outside/secret
atimes() { stat -c '%n %X' outside outside/secret; }
atimes >outside.atimes
mkdir atime-probe
touch -a -d '2001-01-01 00:00:00' atime-probe
ls atime-probe >/dev/null
atime_works=1
[ "$(stat -c %X atime-probe)" != "$(date -d '2001-01-01 00:00:00' +%s)" ] || {
    atime_works=0
    note "reads do not update atimes here: the 'not read' check rests on the store's contents"
}

sshd_force_command "$HARDSNAP serve --allow $PWD/allowed"
f1=$(now 4) f2=$(now 5)
HARDSNAP_NOW=$f1 hs_rc 0 backup "${SSH[@]}" "$R:$PWD/allowed/sub" fdest
compare_trees allowed/sub "fdest/$f1"
[ -L "fdest/$f1/escape" ] || fail "the symlink out of the allowed tree was not kept as a symlink"
# sshd runs the forced command, whatever the client asks for: a
# --hardsnap-path that would fail is not run
HARDSNAP_NOW=$f2 hs_rc 0 backup -e "$SSH_RSH" --hardsnap-path /bin/false "${to[@]}" "$R:$PWD/allowed/sub" fdest
compare_trees allowed/sub "fdest/$f2"
assert_all_linked "fdest/$f1" "fdest/$f2"
for bad in "$PWD/outside" "$PWD/allowed/sub/escape" "$PWD/allowed/../outside" "$PWD/allowed/sub/../../outside"; do
    HARDSNAP_NOW=$(now 6) hs_rc 3 backup "${SSH[@]}" "$R:$bad" fdest
    grep -q "not allowed" "$HS_ERR" || fail "$bad: no 'not allowed': $(cat "$HS_ERR")"
    assert_latest fdest "$f2"
done
# a refused pull into a store of its own: nothing at all
HARDSNAP_NOW=$(now 6) hs_rc 3 backup "${SSH[@]}" "$R:$PWD/outside" odest
grep -q "not allowed" "$HS_ERR" || fail "outside: no 'not allowed': $(cat "$HS_ERR")"
[ "$(count_snapshots odest)" = 0 ] || fail "a snapshot from a refused source"
! grep -rqa 'outside-secret-f00d' fdest odest || fail "the refused source's data reached a store"
[ "$atime_works" = 0 ] || atimes | cmp -s - outside.atimes ||
    fail "the refused source was read: atimes $(atimes | tr '\n' ' '), were $(tr '\n' ' ' <outside.atimes)"
sshd_force_command ""

# ================================================================ 3. a non-root remote user
[ -n "$u" ] || skip "parts 1, 2 and 4 passed; the non-root remote user needs root and useradd"
mkdir -m 0700 "$uhome/.ssh"
cp "$SSH_KEY.pub" "$uhome/.ssh/authorized_keys"
chown -R "$u:" "$uhome/.ssh"

# root's tree: what others may read, a 0600 file and a 0700 directory
mkdir -p usrc/pub/deep usrc/private-0700/inner
printf 'public\n' >usrc/pub/a.txt
random_file usrc/pub/deep/b.bin 70000
ln usrc/pub/a.txt usrc/pub/a-link
ln -s deep/b.bin usrc/pub/sym
printf 'other owner\n' >usrc/pub/owned
chown 1234:5678 usrc/pub/owned
[ "$HS_HAVE_XATTR" = 0 ] || setfattr -n user.note -v 'readable' usrc/pub/a.txt
printf 'root only\n' >usrc/secret-0600
chmod 0600 usrc/secret-0600
printf 'in private\n' >usrc/private-0700/inner/p.txt
chmod 0700 usrc/private-0700
find usrc ! -type d -exec touch -h -d '2021-03-04 05:06:07.123456789' {} +
find usrc -depth -type d -exec touch -d '2022-05-06 07:08:09.987654321' {} +
as_u() {
    setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups -- "$@"
}
as_u "$HARDSNAP" --version >/dev/null || skip "user $u cannot run $HARDSNAP (a directory on its path is closed)"
as_u test -r "$PWD/usrc/pub/a.txt" -a -d "$uhome/.ssh" ||
    skip "user $u cannot reach $HS_TMP (TMPDIR closed to others)"
tree_listing usrc --inodes >usrc.before
ctimes usrc >usrc.ctimes

U=(-e "$SSH_RSH" --hardsnap-path "$HARDSNAP" "${to[@]}")
u1=$(now 7) u2=$(now 8)
HARDSNAP_NOW=$u1 hs_rc 1 backup "${U[@]}" "$u@$SSH_HOST:$PWD/usrc" udest
grep -q "Accepted publickey for $u " "$SSHD_LOG" || fail "sshd did not log in $u"
for name in secret-0600 private-0700; do
    grep "$name" "$HS_ERR" | grep -q 'cannot open' || fail "$name not named with 'cannot open': $(cat "$HS_ERR")"
    grep "$name" "$HS_ERR" | grep -q 'Permission denied' || fail "$name: no 'Permission denied': $(cat "$HS_ERR")"
done
! grep -rqa 'root only' "udest/$u1" || fail "the 0600 file's content reached the store as $u"
! grep -rqa 'in private' "udest/$u1" || fail "the 0700 directory's content reached the store as $u"
# the rest: as the source, without what the user cannot read
# readable TREE: its listing without the unreadable entries (the 0700
# directory's own entry kept when the snapshot has it)
readable() {
    tree_listing "$1" | grep -v -e 'secret-0600' -e 'private-0700/' |
        grep -v -e "^meta ./private-0700"$'\t' || true
}
readable usrc >usrc.readable
readable "udest/$u1" >u1.readable
if ! cmp -s usrc.readable u1.readable; then
    diff -u usrc.readable u1.readable | sed -n '3,60p' >&2
    fail "what $u can read differs from the source"
fi
[ ! -e "udest/$u1/secret-0600" ] || fail "an unreadable file is in the snapshot"

HARDSNAP_NOW=$u2 hs_rc 1 backup "${U[@]}" "$u@$SSH_HOST:$PWD/usrc" udest
readable "udest/$u2" >u2.readable
cmp -s usrc.readable u2.readable || fail "the second pull as $u differs"
assert_all_linked "udest/$u1/pub" "udest/$u2/pub"

# ---- 4. the cache of a non-root user: in its HOME, its own
ucache=$uhome/.cache/hardsnap/serve
ls "$ucache" >ucache.list || fail "no cache in $u's home ($ucache)"
grep -q '^[0-9a-f]\{32\}\.base$' ucache.list || fail "no KEY.base in $ucache: $(tr '\n' ' ' <ucache.list)"
[ "$(stat -c %U "$ucache")" = "$u" ] || fail "$ucache is not $u's"
compare_listing usrc.before usrc --inodes
ctimes usrc | cmp -s - usrc.ctimes || fail "a ctime changed in the tree served to $u"

# ---- sudo: the same user, serve run as root by a sudoers line
have sudo || { note "no sudo here: --hardsnap-path 'sudo -n hardsnap' not tested"; exit 0; }
[ -d /etc/sudoers.d ] || skip "sudo without /etc/sudoers.d"
sudoers=/etc/sudoers.d/hardsnap-test-$$
at_exit "rm -f $sudoers"
{
    echo "$u ALL=(root) NOPASSWD: $HARDSNAP serve"
    echo "Defaults:$u env_keep += \"XDG_CACHE_HOME\""
} >"$sudoers.tmp"
chmod 0440 "$sudoers.tmp"
if have visudo; then visudo -c -q -f "$sudoers.tmp" || fail "visudo refuses $(cat "$sudoers.tmp")"; fi
mv "$sudoers.tmp" "$sudoers"
# exactly that: not another command, not serve with other arguments
# shellcheck disable=SC2086 # the words of SSH_RSH
! rl_timeout 120 $SSH_RSH "$u@$SSH_HOST" sudo -n /bin/true </dev/null 2>/dev/null ||
    fail "the sudoers line lets $u run /bin/true"
# shellcheck disable=SC2086 # the words of SSH_RSH
! rl_timeout 120 $SSH_RSH "$u@$SSH_HOST" sudo -n "$HARDSNAP" --version </dev/null >/dev/null 2>&1 ||
    fail "the sudoers line lets $u run hardsnap --version"

scache=$HS_TMP/sudo-cache
S=(-e "$SSH_RSH" --hardsnap-path "XDG_CACHE_HOME=$scache sudo -n $HARDSNAP" "${to[@]}")
v1=$(now 9) v2=$(now 10)
HARDSNAP_NOW=$v1 hs_rc 0 backup "${S[@]}" "$u@$SSH_HOST:$PWD/usrc" sdest
compare_trees usrc "sdest/$v1"
HARDSNAP_NOW=$v2 hs_rc 0 backup "${S[@]}" "$u@$SSH_HOST:$PWD/usrc" sdest
compare_trees usrc "sdest/$v2"
assert_all_linked "sdest/$v1" "sdest/$v2"
ls "$scache/hardsnap/serve" >scache.list || fail "no cache in $scache"
grep -q '^[0-9a-f]\{32\}\.base$' scache.list || fail "no KEY.base in $scache: $(tr '\n' ' ' <scache.list)"
[ "$(stat -c %U "$scache/hardsnap/serve")" = root ] || fail "sudo's cache is not root's"
compare_listing usrc.before usrc --inodes
ctimes usrc | cmp -s - usrc.ctimes || fail "a ctime changed in the tree served by sudo"
