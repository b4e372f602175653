# shellcheck shell=bash
# Helpers of the tests of remote sources: a fake remote shell, a real OpenSSH
# server on 127.0.0.1 made and stopped by the test, and (for the benchmark) a
# pair of network namespaces with a slow link between them. Sourced after
# lib.sh, which gives HS_TMP, at_exit, skip, note and have. A script without
# lib.sh (tests/bench_remote.sh) defines those and sets RL_SKIP_RETURNS=1: a
# helper that cannot run then returns 77 instead of exiting.
#
# Environment: HS_FAKE_RSH    the fake remote shell (default: fake_rsh beside
#                             this file)
#              HS_FAKE_RELAY  its byte relay (default: BUILD/tests/fake_relay
#                             beside $HARDSNAP); ctest sets both
#
# Fake remote shell (see fake_rsh for its FAKE_RSH_* knobs):
#   $FAKE_RSH                 use as `-e "$FAKE_RSH"`: runs the command here
#   need_relay                skips unless the relay (byte counts, drops,
#                             stalls) is there
#   rsh_bytes FILE            "C2S S2C": the sums of a FAKE_RSH_COUNT file
# Real sshd (root, openssh-server):
#   sshd_start                starts sshd on 127.0.0.1, a free high port, with
#                             a host key and a client key made in HS_TMP; sets
#                             SSH_RSH (use as `-e "$SSH_RSH"`), SSH_HOST,
#                             SSH_USER, SSH_PORT, SSH_KEY, SSHD_PID, SSHD_LOG;
#                             stopped on exit whatever happens
#                             SSHD_ALLOW_USERS: more users it lets in (their
#                             own keys: give them a Match block below)
#                             SSHD_EXTRA_CONFIG: lines added at the end of
#                             sshd_config (Match blocks)
#   sshd_force_command [CMD]  the client key's authorized_keys line becomes
#                             command="CMD",restrict (no CMD: a plain key)
#   sshd_stop
# Slow link (root, netns, tc):
#   netns_pair_start          namespaces NETNS_C and NETNS_S joined by a veth
#                             pair (10.231.0.1 and .2, inside them only), each
#                             end shaped to NETNS_DELAY_MS (50) ms and
#                             NETNS_RATE_KBIT (20000) kbit/s by netem; sshd in
#                             NETNS_S on 10.231.0.2 (SSH_HOST); run the client
#                             with `in_client CMD...`. Without netem in the
#                             kernel: tbf gives the rate, NETNS_RELAY_DELAY_MS
#                             is set and the delay is the relay's (run ssh
#                             through fake_rsh with FAKE_RSH_VIA and
#                             FAKE_RSH_DELAY_MS); NETNS_SHAPING says which
#   netns_bytes               "RX TX" bytes of the client's end of the link
#   netns_pair_stop
# Misc:
#   wait_gone PID [SECONDS]   waits (default 60 s) until PID has gone
#   rl_timeout SECONDS CMD... CMD, killed after SECONDS (exit 124): a hang
#                             fails the test instead of stalling ctest

# shellcheck disable=SC2034 # FAKE_RSH is for the tests
RL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAKE_RSH=${HS_FAKE_RSH:-$RL_DIR/fake_rsh}
if [ -z "${HS_FAKE_RELAY:-}" ] && [ -n "${HARDSNAP:-}" ] &&
    [ -x "$(dirname "$HARDSNAP")/tests/fake_relay" ]; then
    HS_FAKE_RELAY=$(dirname "$HARDSNAP")/tests/fake_relay
fi
export HS_FAKE_RELAY=${HS_FAKE_RELAY:-}

rl__skip() {
    if [ "${RL_SKIP_RETURNS:-0}" = 1 ]; then
        echo "SKIP: ${HS_TEST_NAME:-remote}: $*" >&2
        return 77
    fi
    skip "$@"
}

need_relay() {
    [ -n "$HS_FAKE_RELAY" ] && [ -x "$HS_FAKE_RELAY" ] && return 0
    rl__skip "no byte relay: set HS_FAKE_RELAY (BUILD/tests/fake_relay, built with the tests)"
}

rsh_bytes() {
    awk '{ c += $1; s += $2 } END { printf "%.0f %.0f\n", c, s }' "$1"
}

wait_gone() {
    local pid=$1 secs=${2:-60} end
    end=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}

rl_timeout() {
    local secs=$1
    shift
    timeout -k 10 "$secs" "$@"
}

# ---------------------------------------------------------------- sshd

SSHD_PID=''
SSHD_NETNS=''

# sshd_start [ADDR [NETNS]]: sshd listening on ADDR (default 127.0.0.1),
# inside network namespace NETNS if given.
sshd_start() {
    local addr=${1:-127.0.0.1} ns=${2:-} dir try port pre=() v line end sanenv
    [ "$(id -u)" = 0 ] || { rl__skip "a test sshd needs root"; return; }
    [ -x /usr/sbin/sshd ] || { rl__skip "no /usr/sbin/sshd (apt-get install openssh-server)"; return; }
    if ! have ssh || ! have ssh-keygen; then
        rl__skip "no ssh client (apt-get install openssh-client)"
        return
    fi
    dir=$HS_TMP/sshd${ns:+-$ns}
    mkdir -m 700 "$dir" || return 1
    ssh-keygen -q -t ed25519 -N '' -C hs-test-host -f "$dir/host_ed25519" </dev/null || return 1
    ssh-keygen -q -t ed25519 -N '' -C hs-test-client -f "$dir/id_ed25519" </dev/null || return 1
    SSHD_DIR=$dir SSH_KEY=$dir/id_ed25519 SSHD_LOG=$dir/sshd.log
    sshd_force_command "" || return 1
    # sshd's privilege separation directory (the package's tmpfiles.d makes
    # it at boot; a container never booted)
    if ! mkdir -p /run/sshd || ! chmod 755 /run/sshd; then
        rl__skip "cannot make /run/sshd"
        return
    fi
    [ -z "$ns" ] || pre=(ip netns exec "$ns")
    SSHD_NETNS=$ns
    for try in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 40000))
        {
            echo "Port $port"
            echo "ListenAddress $addr"
            echo "HostKey $dir/host_ed25519"
            echo "PidFile $dir/sshd.pid"
            echo "AuthorizedKeysFile $dir/authorized_keys"
            # the key and its file live under /tmp (mode 1777), which
            # StrictModes refuses
            echo "StrictModes no"
            echo "UsePAM no"
            echo "PermitRootLogin prohibit-password"
            echo "AllowUsers $(id -un)${SSHD_ALLOW_USERS:+ $SSHD_ALLOW_USERS}"
            echo "PubkeyAuthentication yes"
            echo "PasswordAuthentication no"
            echo "KbdInteractiveAuthentication no"
            echo "X11Forwarding no"
            echo "PrintMotd no"
            echo "LogLevel VERBOSE"
            # the sanitizer settings of the test reach a remote end started by
            # sshd (one line: sshd takes the first SetEnv line only)
            sanenv=''
            for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
                [ -z "${!v:-}" ] || sanenv+=" $v=\"${!v}\""
            done
            [ -z "$sanenv" ] || echo "SetEnv$sanenv"
            # last: a Match block holds to the end of the file
            [ -z "${SSHD_EXTRA_CONFIG:-}" ] || printf '%s\n' "$SSHD_EXTRA_CONFIG"
        } >"$dir/sshd_config"
        rm -f "$dir/sshd.pid"
        : >"$SSHD_LOG"
        "${pre[@]}" /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$SSHD_LOG" &
        SSHD_PID=$!
        if declare -F at_exit >/dev/null && [ "$try" = 1 ]; then
            at_exit sshd_stop
        fi
        # the pid file is written once the socket is bound (or sshd dies)
        end=$((SECONDS + 60))
        while [ ! -s "$dir/sshd.pid" ] && kill -0 "$SSHD_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do
            sleep 0.05
        done
        [ -s "$dir/sshd.pid" ] && kill -0 "$SSHD_PID" 2>/dev/null && break
        kill "$SSHD_PID" 2>/dev/null || true
        wait "$SSHD_PID" 2>/dev/null || true
        SSHD_PID=''
        grep -q 'Address already in use' "$SSHD_LOG" || break
    done
    if [ -z "$SSHD_PID" ]; then
        while IFS= read -r line; do note "sshd: $line"; done <"$SSHD_LOG"
        rl__skip "sshd did not start (log above)"
        return
    fi
    SSH_PORT=$port SSH_HOST=$addr SSH_USER=$(id -un)
    SSH_RSH="ssh -F /dev/null -p $port -i $SSH_KEY -o IdentitiesOnly=yes -o StrictHostKeyChecking=no"
    SSH_RSH+=" -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=30"
    export SSH_RSH SSH_HOST SSH_USER SSH_PORT SSH_KEY SSHD_PID SSHD_LOG
    # one round trip, so that what fails later is the test's own
    # (in the server's own namespace: the address is there too)
    # shellcheck disable=SC2086 # the words of SSH_RSH
    if ! rl_timeout 120 "${pre[@]}" $SSH_RSH "$SSH_HOST" true </dev/null; then
        while IFS= read -r line; do note "sshd: $line"; done <"$SSHD_LOG"
        echo "FAIL: sshd started but ssh $SSH_HOST -p $port true failed (sshd log above)" >&2
        return 1
    fi
    note "sshd $SSHD_PID on $addr port $port${ns:+ in netns $ns}"
}

# sshd_force_command [CMD]: the authorized_keys line of the client key, with
# command="CMD",restrict (as a backup server's key is installed on a host)
sshd_force_command() {
    local cmd=${1:-} pub
    pub=$(cat "$SSH_KEY.pub") || return 1
    if [ -z "$cmd" ]; then
        printf '%s\n' "$pub" >"$SSHD_DIR/authorized_keys"
    else
        cmd=${cmd//\\/\\\\}
        printf 'command="%s",restrict %s\n' "${cmd//\"/\\\"}" "$pub" >"$SSHD_DIR/authorized_keys"
    fi
}

sshd_stop() {
    [ -n "$SSHD_PID" ] || return 0
    kill "$SSHD_PID" 2>/dev/null || true
    wait "$SSHD_PID" 2>/dev/null || true
    wait_gone "$SSHD_PID" 30 || echo "sshd $SSHD_PID did not stop" >&2
    SSHD_PID=''
}

# ---------------------------------------------------------------- netns pair

NETNS_C='' NETNS_S=''

netns_pair_start() {
    local err ns dev rate=${NETNS_RATE_KBIT:-20000} delay=${NETNS_DELAY_MS:-50}
    [ "$(id -u)" = 0 ] || { rl__skip "network namespaces need root"; return; }
    if ! have ip || ! have tc; then
        rl__skip "no ip/tc (apt-get install iproute2)"
        return
    fi
    NETNS_C=hs-c-$$ NETNS_S=hs-s-$$
    if ! err=$(ip netns add "$NETNS_C" 2>&1); then
        NETNS_C='' NETNS_S=''
        rl__skip "network namespaces not allowed here: $err"
        return
    fi
    declare -F at_exit >/dev/null && at_exit netns_pair_stop
    ip netns add "$NETNS_S" || return 1
    ip -n "$NETNS_C" link set lo up && ip -n "$NETNS_S" link set lo up || return 1
    ip -n "$NETNS_C" link add hsc0 type veth peer name hss0 netns "$NETNS_S" || return 1
    ip -n "$NETNS_C" addr add 10.231.0.1/30 dev hsc0 && ip -n "$NETNS_S" addr add 10.231.0.2/30 dev hss0 &&
        ip -n "$NETNS_C" link set hsc0 up && ip -n "$NETNS_S" link set hss0 up || return 1
    NETNS_SHAPING="netem delay ${delay}ms rate ${rate}kbit, both ends" NETNS_RELAY_DELAY_MS=''
    for ns in "$NETNS_C:hsc0" "$NETNS_S:hss0"; do
        dev=${ns#*:} ns=${ns%:*}
        tc -n "$ns" qdisc add dev "$dev" root netem delay "${delay}ms" rate "${rate}kbit" 2>/dev/null && continue
        # no sch_netem in this kernel: the rate by tbf, the delay by the relay
        tc -n "$ns" qdisc add dev "$dev" root tbf rate "${rate}kbit" burst 32kbit latency 400ms || return 1
        NETNS_SHAPING="tbf rate ${rate}kbit both ends (no netem in this kernel), ${delay} ms delay each way by fake_relay"
        NETNS_RELAY_DELAY_MS=$delay
    done
    export NETNS_C NETNS_S NETNS_SHAPING NETNS_RELAY_DELAY_MS
    sshd_start 10.231.0.2 "$NETNS_S" || return
    # shellcheck disable=SC2086 # the words of SSH_RSH
    if ! rl_timeout 120 ip netns exec "$NETNS_C" $SSH_RSH "$SSH_HOST" true </dev/null; then
        while IFS= read -r err; do note "sshd: $err"; done <"$SSHD_LOG"
        echo "FAIL: ssh from $NETNS_C to $SSH_HOST failed (sshd log above)" >&2
        return 1
    fi
    note "netns pair $NETNS_C -- $NETNS_S: $NETNS_SHAPING"
}

in_client() {
    ip netns exec "$NETNS_C" "$@"
}

netns_bytes() {
    # shellcheck disable=SC2016 # expanded in the namespace
    in_client sh -c 'echo "$(cat /sys/class/net/hsc0/statistics/rx_bytes) $(cat /sys/class/net/hsc0/statistics/tx_bytes)"'
}

netns_pair_stop() {
    [ -n "$NETNS_S" ] || [ -n "$NETNS_C" ] || return 0
    [ "$SSHD_NETNS" != "$NETNS_S" ] || sshd_stop
    [ -z "$NETNS_S" ] || ip netns del "$NETNS_S" 2>/dev/null || true
    [ -z "$NETNS_C" ] || ip netns del "$NETNS_C" 2>/dev/null || true
    NETNS_C='' NETNS_S=''
}
