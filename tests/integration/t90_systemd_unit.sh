#!/bin/bash
# conf/hardsnap.service as far as it can be tested without systemd as PID 1:
# systemd-analyze verify accepts it (and the timer); its store path has the
# "-" that lets it start before the store exists; none of the options that
# break a backup (RestrictSUIDSGID, PrivateDevices, a device policy) is set;
# and a real `run` (backup, then prune) under setpriv with the unit's
# NoNewPrivileges and capability bounding set keeps set-uid and set-gid
# bits, owners, a device node, file capabilities and user.*, trusted.* and
# security.* xattrs, and prunes a snapshot with read-only directories. A
# bounding set without CAP_CHOWN and CAP_FSETID loses owners and the set-gid
# bit: the check sees a unit that is too tight.
conf=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../conf" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

unit=$conf/hardsnap.service
timer=${unit%.service}.timer
[ -f "$unit" ] || fail "no $unit"
[ -f "$timer" ] || fail "no $timer"
ran=0

# --- the cron file, and the docs that show it ---------------------------------
# cron's own PATH is /usr/bin:/bin: without its PATH line, a hardsnap that
# cmake --install put in /usr/local/bin is not found. hardsnap(1) and README
# show the same two lines.
cron=$conf/hardsnap.cron
path_line=$(grep '^PATH=' "$cron") || fail "$cron sets no PATH"
grep -q '^PATH=\(.*:\)\?/usr/local/bin\(:\|$\)' <<<"$path_line" || fail "$cron's PATH lacks /usr/local/bin: $path_line"
job=$(grep -E '^[0-9*]' "$cron")
[ "$(wc -l <<<"$job")" = 1 ] || fail "$cron holds $(wc -l <<<"$job") jobs, expected 1"
for doc in "$conf/../docs/hardsnap.1" "$conf/../README.md"; do
    grep -qxF -- "$path_line" "$doc" || fail "$doc does not show hardsnap.cron's line $path_line"
    grep -qxF -- "$job" "$doc" || fail "$doc does not show hardsnap.cron's line $job"
done

# --- what the unit says ------------------------------------------------------
# key KEY: the values of KEY= in the unit, one a line
key() {
    sed -n "s/^$1=//p" "$unit"
}
[ "$(key ReadWritePaths)" = -/var/backups/hardsnap ] ||
    fail "ReadWritePaths is '$(key ReadWritePaths)', want -/var/backups/hardsnap (the '-': a missing store does not fail the unit)"
[ "$(key ExecStartPre)" = "+/bin/mkdir -p -m 0700 /var/backups/hardsnap" ] ||
    fail "ExecStartPre is '$(key ExecStartPre)': it must make the store that ReadWritePaths names (0700)"
[ "$(key ExecStart)" = "/usr/local/bin/hardsnap run -q -c /etc/hardsnap.conf" ] ||
    fail "ExecStart is '$(key ExecStart)' (CMakeLists.txt rewrites /usr/local/bin/hardsnap for the package)"
for k in RestrictSUIDSGID DevicePolicy DeviceAllow ProtectKernelModules; do
    [ -z "$(key "$k")" ] || fail "$k=$(key "$k") breaks a backup (see the comments in the unit)"
done
[ "$(key PrivateDevices)" = no ] || fail "PrivateDevices=$(key PrivateDevices): device nodes cannot be made"
[ "$(key NoNewPrivileges)" = yes ] || fail "NoNewPrivileges=$(key NoNewPrivileges), which this test assumes"
read -r -a caps <<<"$(key CapabilityBoundingSet)"
[ ${#caps[@]} -gt 0 ] || fail "no CapabilityBoundingSet= in the unit"

# --- systemd-analyze verify ------------------------------------------------------
if have systemd-analyze; then
    # the unit and the timer as installed, ExecStart naming the binary under
    # test (verify checks that it exists); --man=no: the man pages are not
    # installed here
    mkdir units
    sed "s|^ExecStart=/usr/local/bin/hardsnap |ExecStart=$HARDSNAP |" "$unit" >units/hardsnap.service
    cp "$timer" units/hardsnap.timer
    rc=0
    systemd-analyze verify --man=no units/hardsnap.service units/hardsnap.timer >verify.out 2>&1 || rc=$?
    if [ "$rc" != 0 ] || [ -s verify.out ]; then
        fail "systemd-analyze verify (exit $rc): $(cat verify.out)"
    fi
    # the check can fail: a unit whose program is missing
    sed "s|^ExecStart=[^ ]*|ExecStart=$HS_TMP/missing/hardsnap|" units/hardsnap.service >units/bad.service
    if systemd-analyze verify --man=no units/bad.service >verify.out 2>&1; then
        fail "systemd-analyze verify accepts a unit whose ExecStart is missing"
    fi
    ran=1
else
    note "systemd-analyze is not installed: the unit was not verified"
fi

# --- a run under the unit's restrictions -------------------------------------------
if ! is_root || ! have setpriv || ! have setfattr; then
    [ "$ran" = 1 ] || skip "no systemd-analyze, and the setpriv part needs root, setpriv and setfattr"
    note "not root, or no setpriv/setfattr: the run under the unit's capabilities was not tested"
    exit 0
fi
# setpriv's form of a list of CAP_X: -all,+x,...
bset() {
    local c out=-all
    for c in "$@"; do
        c=${c#CAP_}
        out+=",+${c,,}"
    done
    printf '%s' "$out"
}
# The unit's read-only view (ProtectSystem=strict, ProtectHome=read-only,
# ReadWritePaths=-STORE), mirrored where a private mount namespace can be
# made: the filesystems of / and of this test's temp dir remounted read-only
# in it, STORE bound read-write over itself when it exists ("-": else
# nothing).
store=$HS_TMP/var/backups/hardsnap
mkdir -p "${store%/*}"
# shellcheck disable=SC2016 # $1, $2: of the inner sh
if unshare -m --propagation private sh -c 'mount -o remount,bind,ro / &&
        mount -o remount,bind,ro "$(findmnt -n -o TARGET -T "$1")" && ! touch "$1/.ro"' sh "$HS_TMP" 2>/dev/null; then
    # shellcheck disable=SC2016
    view=(unshare -m --propagation private sh -c '
        mount -o remount,bind,ro / && mount -o remount,bind,ro "$(findmnt -n -o TARGET -T "$1")" || exit 99
        if [ -d "$2" ]; then
            mount --bind "$2" "$2" && mount -o remount,bind,rw "$2" || exit 99
        fi
        shift 2
        exec "$@"' sh "$HS_TMP" "$store")
    sandboxed=1
else
    view=()
    sandboxed=0
    note "no private mount namespace here (unshare -m, remount): the unit's read-only view is not mirrored"
fi
# restricted BSET ARGS: hardsnap ARGS as the unit runs it (output in
# $HS_OUT/$HS_ERR, exit status in $rc)
restricted() {
    local b=$1
    shift
    rc=0
    "${view[@]}" setpriv --no-new-privs --bounding-set="$b" --inh-caps=-all -- "$HARDSNAP" "$@" >"$HS_OUT" 2>"$HS_ERR" || rc=$?
    [ "$rc" != 99 ] || fail "cannot set up the unit's read-only view: $(cat "$HS_ERR")"
    if grep -Eq 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer' "$HS_ERR"; then
        fail "hardsnap $*: sanitizer report: $(head -c 4000 "$HS_ERR")"
    fi
}
unit_caps=$(bset "${caps[@]}")
setpriv --bounding-set="$unit_caps" true 2>/dev/null || fail "setpriv does not take the unit's capabilities: $unit_caps"

mkdir -p src/ro
printf 'suid\n' >src/suid
chown 65534:65534 src/suid
chmod 4755 src/suid
printf 'sgid\n' >src/sgid
chown 65534:65534 src/sgid
chmod 2755 src/sgid
printf 'theirs\n' >src/theirs
chown 1234:5678 src/theirs
chmod 0640 src/theirs
printf 'x\n' >src/xattrs
setfattr -n user.note -v hello src/xattrs 2>/dev/null || note "no user.* xattrs on this filesystem"
setfattr -n trusted.hs -v t src/xattrs
setfattr -n security.hs -v s src/xattrs
if mknod src/null c 1 3 2>/dev/null; then
    dev=1
else
    dev=0
    note "mknod is not permitted here: no device node in the tree"
fi
if have setcap && printf '#!/bin/sh\n' >src/ping && chmod 0755 src/ping && setcap cap_net_raw+ep src/ping 2>/dev/null; then
    fcaps=1
else
    fcaps=0
    rm -f src/ping
    note "no file capabilities here (setcap)"
fi
# a read-only directory of another user: pruning it needs CAP_DAC_OVERRIDE
printf 'ro\n' >src/ro/f
chown -R 1234:5678 src/ro
chmod 0555 src/ro

cat >hs.conf <<CONF
[hardsnap]
dest = $store
[source sys]
path = $HS_TMP/src
[retain]
keep-last = 1
CONF
# the first night: the store does not exist yet. Without the unit's
# ExecStartPre, hardsnap cannot make it in the read-only view; the
# ExecStartPre (outside the sandboxing: "+") makes it, 0700.
if [ "$sandboxed" = 1 ]; then
    HARDSNAP_NOW=$(now 1) restricted "$unit_caps" run -q -c hs.conf
    if [ "$rc" != 3 ] || [ -e "$store" ]; then
        fail "the store was made in the unit's read-only view (exit $rc): the view is not read-only"
    fi
    grep -q 'Read-only file system' "$HS_ERR" || fail "no EROFS: $(cat "$HS_ERR")"
fi
pre=$(key ExecStartPre)
pre=${pre#+}
read -r -a pre <<<"${pre//\/var\/backups\/hardsnap/$store}"
"${pre[@]}" || fail "the unit's ExecStartPre: ${pre[*]}"
[ "$(stat -c %a:%U "$store")" = 700:root ] || fail "ExecStartPre made $store $(stat -c %a:%U "$store")"
# the first snapshot as the timer's first night makes it; the second one
# prunes the first: both under the unit's restrictions
HARDSNAP_NOW=$(now 1) restricted "$unit_caps" run -q -c hs.conf
[ "$rc" = 0 ] || fail "run under the unit's capabilities: exit $rc: $(cat "$HS_ERR")"
HARDSNAP_NOW=$(now 2) restricted "$unit_caps" run -q -c hs.conf
[ "$rc" = 0 ] || fail "run (and prune) under the unit's capabilities: exit $rc: $(cat "$HS_ERR")"
[ "$(snapshots "$store")" = "$(now 2)" ] || fail "the prune under the unit's capabilities left: $(snapshots "$store")"
snap=$store/$(now 2)/sys
compare_trees src "$snap"
[ "$(stat -c %a:%u:%g "$snap/suid")" = 4755:65534:65534 ] || fail "suid: $(stat -c %a:%u:%g "$snap/suid")"
[ "$(stat -c %a:%u:%g "$snap/sgid")" = 2755:65534:65534 ] || fail "sgid: $(stat -c %a:%u:%g "$snap/sgid")"
[ "$(stat -c %a:%u:%g "$snap/theirs")" = 640:1234:5678 ] || fail "theirs: $(stat -c %a:%u:%g "$snap/theirs")"
[ "$(getfattr --only-values -n trusted.hs "$snap/xattrs" 2>/dev/null)" = t ] || fail "trusted.hs lost"
[ "$(getfattr --only-values -n security.hs "$snap/xattrs" 2>/dev/null)" = s ] || fail "security.hs lost"
if [ "$dev" = 1 ]; then
    [ "$(stat -c %F:%t:%T "$snap/null")" = "character special file:1:3" ] || fail "null: $(stat -c %F:%t:%T "$snap/null")"
fi
if [ "$fcaps" = 1 ]; then
    [ "$(getcap "$snap/ping" | awk '{print $2}')" = "$(getcap src/ping | awk '{print $2}')" ] ||
        fail "the file capability of ping was lost: $(getcap "$snap/ping")"
fi

# --- the negative control: a unit without CAP_CHOWN and CAP_FSETID ---------------
tight=()
for c in "${caps[@]}"; do
    case $c in CAP_CHOWN | CAP_FSETID) ;; *) tight+=("$c") ;; esac
done
[ ${#tight[@]} -lt ${#caps[@]} ] || fail "the unit keeps neither CAP_CHOWN nor CAP_FSETID"
# (in a writable view: only the capabilities differ)
view=()
HARDSNAP_NOW=$(now 3) restricted "$(bset "${tight[@]}")" backup -q src tight
case $rc in 2 | 3) fail "backup without CAP_CHOWN: exit $rc: $(cat "$HS_ERR")" ;; esac
t=tight/$(now 3)
[ -f "$t/theirs" ] || fail "backup without CAP_CHOWN made no $t/theirs (exit $rc)"
[ "$(stat -c %u:%g "$t/theirs")" != 1234:5678 ] ||
    fail "without CAP_CHOWN the owner was still kept: this test cannot see a too tight unit"
[ "$(stat -c %a "$t/sgid")" != 2755 ] || [ "$(stat -c %u:%g "$t/sgid")" != 65534:65534 ] ||
    fail "without CAP_CHOWN and CAP_FSETID the set-gid file of another group was still kept"
note "without CAP_CHOWN/CAP_FSETID: exit $rc, theirs $(stat -c %a:%u:%g "$t/theirs"), sgid $(stat -c %a:%u:%g "$t/sgid")"
