#!/bin/bash
# Root restores into a directory a hostile user owns, while that user (nobody,
# through setpriv) replaces every new entry, microseconds after it appears,
# with a symlink to a root-owned file (the victim, mode 0600). Whatever the
# timing, the victim keeps its mode, owner and times, and the restore exits 0
# (no swap came in time) or 1 (a swap was seen and left alone). The snapshot
# is many fifos of mode 4777: one mode set by name through the symlink would
# make the victim setuid and world-writable. A real race, several rounds; the
# deterministic form of the same attack is t60_hostile_restore.sh.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "needs root (the restore) and a second user (the attacker)"
have setpriv || skip "setpriv is needed to act as nobody"
unset HARDSNAP_NOW

# a python3 that nobody can run (root's may live under /root)
py=""
for p in $(type -ap python3) /usr/bin/python3; do
    if as_user "$p" -c '' 2>/dev/null; then
        py=$p
        break
    fi
done
[ -n "$py" ] || skip "no python3 that nobody can run, for the attacker"

FIFOS=300
ROUNDS=8
chmod 0711 "$HS_TMP" # nobody reaches the target and the victim's name, nothing else

mkdir src
for ((i = 0; i < FIFOS; i++)); do
    mkfifo "$(printf 'src/fifo-%03d' "$i")"
done
chown 1234:5678 src/fifo-*
chmod 4777 src/fifo-* # after chown, which clears set-id bits
chown 65534:65534 src  # the target stays the user's when its metadata is restored
backup_at 1 src dest

printf 'root only\n' >victim
chmod 0600 victim
set_mtime '2010-01-01 00:00:00' victim
victim_state() {
    stat -c '%f %u %g %Y %X' victim
}
before=$(victim_state)

mkdir target aside
chown 65534:65534 target aside

# The attacker, one per round. The restore makes the names in sorted order:
# the next one is renamed (a failing syscall while it does not exist) until
# that works, then a symlink to the victim takes its place, microseconds
# after it was made; on to the next name.
cat >attacker.py <<'EOF'
import ctypes, sys
target, aside, victim, ready, count = sys.argv[1:6]
libc = ctypes.CDLL(None, use_errno=True)
names = sorted(b"fifo-%03d" % i for i in range(int(count)))
rename, symlink, v = libc.rename, libc.symlink, victim.encode()
t, a = target.encode() + b"/", aside.encode() + b"/"
open(ready, "w").close()
for name in names:
    while rename(t + name, a + name) != 0:
        pass
    symlink(v, t + name)
EOF
chmod 0644 attacker.py

attacker=""
stop_attacker() {
    if [ -n "$attacker" ]; then
        kill "$attacker" 2>/dev/null || true
        wait "$attacker" 2>/dev/null || true
    fi
    attacker=""
}
at_exit stop_attacker

start_attacker() {
    rm -f aside/ready
    # setpriv itself in the background: $! is the attacker's pid
    setpriv --reuid=65534 --regid=65534 --clear-groups -- "$py" attacker.py "$HS_TMP/target" \
        "$HS_TMP/aside" "$HS_TMP/victim" "$HS_TMP/aside/ready" "$FIFOS" &
    attacker=$!
    for ((i = 0; i < 200; i++)); do
        [ -e aside/ready ] && return 0
        sleep 0.05
    done
    fail "the attacker did not start"
}

swapped=0
for ((round = 1; round <= ROUNDS; round++)); do
    start_attacker
    rc=0
    "$HARDSNAP" restore dest/latest target >"$HS_OUT" 2>"$HS_ERR" || rc=$?
    stop_attacker
    after=$(victim_state)
    [ "$after" = "$before" ] || fail "round $round: the victim changed: '$before' -> '$after'"
    if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
        head -c 2000 "$HS_ERR" >&2
        fail "round $round: restore exited $rc, expected 0 or 1"
    fi
    n=$(grep -c 'replaced in the target while being restored, left alone' "$HS_ERR" || true)
    swapped=$((swapped + n))
    find target aside -mindepth 1 -delete
done
note "$ROUNDS rounds of $FIFOS fifos: $swapped swaps seen and left alone"
