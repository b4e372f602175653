#!/bin/bash
# The test infrastructure of remote sources, proven with rsync (which calls
# its remote shell as hardsnap does: `-e CMD [USER@]HOST COMMAND`). The fake
# remote shell (fake_rsh) runs the command here and logs what it was given;
# its relay passes bytes unchanged both ways at once (a command that echoes
# more than the pipes hold), passes EOF each way and the exit status, and
# counts the bytes (at least the file sizes for incompressible files); its
# delay and rate make a round trip and a transfer take their time. Its
# failures: an unreachable host fails as ssh does, a connection dropped
# mid-way makes rsync fail (not hang) and kills the remote command, a stalled
# one is ended by rsync --timeout and its remote command killed. Then a real
# OpenSSH server on 127.0.0.1 (skipped, 77, where sshd cannot run): rsync
# over it, and an authorized_keys forced command is honoured.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
# shellcheck source=tests/integration/remote_lib.sh
source "$(dirname "$HS_TEST_LIB")/remote_lib.sh"

have rsync || skip "rsync is needed (apt-get install rsync)"
have timeout || skip "timeout (coreutils) is needed"
need_relay

# the source: incompressible files, a hard link, a symlink, an empty dir
mkdir -p src/sub/deep src/empty
head -c 300000 /dev/urandom >src/a.bin
head -c 700000 /dev/urandom >src/sub/b.bin
head -c 5000 /dev/urandom >src/sub/deep/c.bin
ln src/a.bin src/sub/a.link
ln -s ../a.bin src/sub/sym
printf 'text\n' >src/sub/deep/t.txt
sizes=$((300000 + 700000 + 5000))

# same_tree A B: same names, contents, hard links, symlinks
same_tree() {
    diff -r --no-dereference "$1" "$2" >&2 || fail "$1 and $2 differ"
    [ "$(stat -c %i "$2/a.bin")" = "$(stat -c %i "$2/sub/a.link")" ] || fail "$2: hard link lost"
}

# ---- the relay alone: bytes unchanged, both ways at once, EOF, exit status
# (a command echoing 8 MiB: both pipes full at once; a relay that blocks
# one way deadlocks here, and the timeout fails the test)
head -c 8388608 /dev/urandom >big.in
rc=0
FAKE_RSH_COUNT=$PWD/relay.cnt rl_timeout 120 "$FAKE_RSH" somehost cat <big.in >big.out || rc=$?
[ $rc = 0 ] || fail "fake_rsh somehost cat exited $rc"
cmp big.in big.out || fail "the relay changed the bytes"
[ "$(cat relay.cnt)" = "8388608 8388608" ] || fail "relay counts: $(cat relay.cnt), want 8388608 both ways"
# EOF client->server reaches the command, which then still answers
out=$(FAKE_RSH_COUNT=$PWD/relay.cnt rl_timeout 120 "$FAKE_RSH" h 'wc -c; echo after-eof' <big.in)
[ "$out" = $'8388608\nafter-eof' ] || fail "half-close: got '$out'"
# the exit status, through the relay and without it
for count in "" "$PWD/relay.cnt"; do
    rc=0
    FAKE_RSH_COUNT=$count rl_timeout 120 "$FAKE_RSH" h 'exit 7' </dev/null || rc=$?
    [ $rc = 7 ] || fail "exit status through fake_rsh (count=$count): $rc, want 7"
done
[ "$(wc -l <relay.cnt)" = 3 ] || fail "one count line a connection: $(cat relay.cnt)"
# a shaped link (the WAN of the benchmark where the kernel has no netem):
# the same bytes, through the queue; a round trip takes at least twice the
# delay, 200 kB at 1600 kbit/s at least a second (lower bounds: a busy
# machine only makes them longer)
FAKE_RSH_DELAY_MS=10 rl_timeout 120 "$FAKE_RSH" h cat <big.in >big.out2 || fail "shaped cat failed"
cmp big.in big.out2 || fail "the shaped relay changed the bytes"
t0=$EPOCHREALTIME
out=$(echo ping | FAKE_RSH_DELAY_MS=200 rl_timeout 120 "$FAKE_RSH" h cat)
t1=$EPOCHREALTIME
[ "$out" = ping ] || fail "delayed echo: '$out'"
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 0.4) }' || fail "a round trip with 200 ms each way took $t0..$t1"
t0=$EPOCHREALTIME
out=$(head -c 200000 big.in | FAKE_RSH_RATE_KBIT=1600 rl_timeout 120 "$FAKE_RSH" h 'wc -c')
t1=$EPOCHREALTIME
[ "$out" = 200000 ] || fail "rate-limited wc -c: '$out'"
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 0.95) }' || fail "200 kB at 1600 kbit/s took $t0..$t1"

# ---- rsync -e fake_rsh: a pull, what ran, the bytes counted
FAKE_RSH_LOG=$PWD/rsh.log FAKE_RSH_COUNT=$PWD/rsh.cnt \
    rl_timeout 300 rsync -aH -e "$FAKE_RSH" "localhost:$PWD/src/" dst/ || fail "rsync -e fake_rsh failed"
same_tree src dst
grep -q "^localhost rsync --server --sender .* $PWD/src/\$" rsh.log || fail "rsh.log: $(cat rsh.log)"
read -r c2s s2c < <(rsh_bytes rsh.cnt)
note "rsync pull of $sizes bytes: $c2s bytes client->server, $s2c server->client"
[ "$c2s" -gt 0 ] || fail "no client->server bytes counted"
[ "$s2c" -ge $sizes ] || fail "server->client $s2c bytes < the $sizes bytes of incompressible files"
[ "$s2c" -lt $((sizes * 2)) ] || fail "server->client $s2c bytes: implausibly many"
# a user, given either way, is logged as USER@HOST
: >rsh.log
FAKE_RSH_LOG=$PWD/rsh.log rl_timeout 300 rsync -a -e "$FAKE_RSH -l bob" "localhost:$PWD/src/" dst/ ||
    fail "rsync -e 'fake_rsh -l bob' failed"
FAKE_RSH_LOG=$PWD/rsh.log rl_timeout 300 rsync -a -e "$FAKE_RSH" "alice@web1:$PWD/src/" dst/ ||
    fail "rsync alice@web1: failed"
grep -q '^bob@localhost rsync --server' rsh.log || fail "-l bob not logged: $(cat rsh.log)"
grep -q '^alice@web1 rsync --server' rsh.log || fail "alice@web1 not logged: $(cat rsh.log)"

# ---- an unreachable host: ssh's message and exit status reach the user
rc=0
FAKE_RSH_FAIL=unreachable rl_timeout 300 rsync -a -e "$FAKE_RSH" "web1:$PWD/src/" unreach/ 2>err || rc=$?
if [ $rc = 0 ] || [ $rc = 124 ]; then fail "rsync from an unreachable host exited $rc"; fi
grep -q '^ssh: connect to host web1 port 22: Connection refused$' err || fail "no ssh message: $(cat err)"
[ ! -e unreach/a.bin ] || fail "something arrived from an unreachable host"

# remote_pid_rsync FILE: an --rsync-path that records the remote rsync's pid
remote_pid_rsync() {
    printf 'echo $$ >%s; exec rsync' "$1"
}

# ---- a connection dropped mid-way: rsync fails, does not hang; the remote
# command is killed; exactly N bytes reached the client
rc=0
FAKE_RSH_DROP_AFTER=100000 FAKE_RSH_COUNT=$PWD/drop.cnt \
    rl_timeout 300 rsync -a --rsync-path="$(remote_pid_rsync "$PWD/drop.pid")" -e "$FAKE_RSH" \
    "localhost:$PWD/src/" dropped/ 2>err || rc=$?
case $rc in 0 | 124 | 137) fail "rsync over a dropped connection exited $rc" ;; esac
grep -q 'dropped after 100000 bytes' err || fail "no drop message: $(cat err)"
read -r _ s2c <drop.cnt
[ "$s2c" = 100000 ] || fail "dropped after $s2c bytes, want 100000"
wait_gone "$(cat drop.pid)" || fail "the remote rsync outlived the dropped connection"
cmp -s src/sub/b.bin dropped/sub/b.bin && fail "all of b.bin arrived through a connection dropped after 100000 bytes"

# ---- a stalled connection: N bytes arrive, then nothing, but no EOF
# either; when the client goes, the remote command is killed and the relay
# ends (its counts written). `timeout 3 cat` ends by its timeout (124), not
# by data or EOF. Its stdin stays open: the relay takes EOF from the client
# while stalled for the client going away (with </dev/null, a busy machine
# could schedule that EOF after the stall and end the stream).
FAKE_RSH_STALL_AFTER=50000 FAKE_RSH_COUNT=$PWD/stall.cnt \
    rl_timeout 300 "$FAKE_RSH" h "echo \$\$ >$PWD/stall.pid; exec cat $PWD/big.in" < <(sleep 20) |
    {
        head -c 50000 >stall.head
        rc=0
        timeout 3 cat >stall.more || rc=$?
        echo $rc >stall.rc
    } || true
cmp -s stall.head <(head -c 50000 big.in) || fail "the first 50000 bytes of a stalled stream differ"
[ ! -s stall.more ] || fail "$(wc -c <stall.more) bytes came after the stall"
[ "$(cat stall.rc)" = 124 ] || fail "a stalled stream ended (cat exited $(cat stall.rc), not by its timeout)"
wait_gone "$(cat stall.pid)" || fail "the remote command outlived the stalled connection"
[ "$(cut -d' ' -f2 stall.cnt)" = 50000 ] || fail "stall counts: $(cat stall.cnt)"
# rsync --timeout ends a connection stalled from the start, and the remote
# rsync goes with it
rc=0
t0=$SECONDS
FAKE_RSH_STALL_AFTER=0 FAKE_RSH_COUNT=$PWD/stall0.cnt \
    rl_timeout 300 rsync -a --timeout=2 --rsync-path="$(remote_pid_rsync "$PWD/stall0.pid")" \
    -e "$FAKE_RSH" "localhost:$PWD/src/" stalled/ 2>err || rc=$?
note "stalled: rsync --timeout=2 exited $rc after $((SECONDS - t0)) s"
[ $rc = 30 ] || fail "rsync --timeout=2 over a stalled connection exited $rc, want 30 (timeout): $(cat err)"
wait_gone "$(cat stall0.pid)" || fail "the remote rsync outlived the stalled connection"
# (rsync sends SIGUSR1 to its remote shell when it ends: the relay ends then)
end=$((SECONDS + 60))
while [ ! -s stall0.cnt ] && [ $SECONDS -lt $end ]; do sleep 0.05; done
[ "$(cut -d' ' -f2 stall0.cnt)" = 0 ] || fail "stall0 counts: $(cat stall0.cnt)"

# ---- a real OpenSSH server on 127.0.0.1
sshd_start
# shellcheck disable=SC2086,SC2016 # the words of SSH_RSH; $USER expands there
out=$(rl_timeout 120 $SSH_RSH "$SSH_HOST" echo hello '$USER' </dev/null) || fail "ssh echo failed"
[ "$out" = "hello $SSH_USER" ] || fail "ssh echo: '$out'"
rl_timeout 300 rsync -aH -e "$SSH_RSH" "$SSH_USER@$SSH_HOST:$PWD/src/" sshdst/ || fail "rsync over ssh failed"
same_tree src sshdst
# the relay around a real ssh (FAKE_RSH_VIA): counts what crossed it
FAKE_RSH_VIA=$SSH_RSH FAKE_RSH_COUNT=$PWD/via.cnt \
    rl_timeout 300 rsync -aH -e "$FAKE_RSH" "$SSH_HOST:$PWD/src/" viadst/ || fail "rsync via ssh failed"
same_tree src viadst
read -r c2s s2c < <(rsh_bytes via.cnt)
if [ "$c2s" = 0 ] || [ "$s2c" -lt $sizes ]; then fail "via ssh: $c2s / $s2c bytes counted"; fi
# a forced command runs whatever the client asks, which it sees in
# SSH_ORIGINAL_COMMAND
# shellcheck disable=SC2016 # expanded by the forced command's shell
sshd_force_command 'echo "forced: $SSH_ORIGINAL_COMMAND"'
# shellcheck disable=SC2086 # the words of SSH_RSH
out=$(rl_timeout 120 $SSH_RSH "$SSH_HOST" rm -rf "$PWD/src" </dev/null) || fail "ssh with a forced command failed"
[ "$out" = "forced: rm -rf $PWD/src" ] || fail "forced command not honoured: '$out'"
[ -f src/a.bin ] || fail "the client's command ran despite the forced command"
rc=0
rl_timeout 300 rsync -a -e "$SSH_RSH" "$SSH_HOST:$PWD/src/" forced/ 2>err || rc=$?
[ $rc != 0 ] || fail "rsync got past a forced command"
sshd_force_command
pid=$SSHD_PID
sshd_stop
wait_gone "$pid" 1 || fail "sshd still running after sshd_stop"
echo "ok: ${0##*/}"
