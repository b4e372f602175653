#!/bin/bash
# Remote sources, the command line and config side: which SOURCE is remote
# ([USER@]HOST:PATH, while ./a:b is a local directory), -e/--rsh,
# --hardsnap-path and --timeout, the config keys rsh, hardsnap-path and
# timeout, and hardsnap serve's arguments. Usage errors exit 2, name what is
# wrong and change nothing. (Pulls themselves are other tests'.)
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mktree_basic src
mkdir a:b
printf 'colon\n' >a:b/f

# err_names WORD...: the last run's stderr is one "hardsnap: ..." message
# naming every WORD, and nothing went to stdout
err_names() {
    grep -q '^hardsnap: ' "$HS_ERR" || fail "$HS_LAST: no 'hardsnap: ...' on stderr: $(cat "$HS_ERR")"
    local w
    for w in "$@"; do
        grep -qF -- "$w" "$HS_ERR" || fail "$HS_LAST: the message does not name '$w': $(cat "$HS_ERR")"
    done
    [ ! -s "$HS_OUT" ] || fail "$HS_LAST: output on stdout: $(cat "$HS_OUT")"
}

# --- ./a:b is local: a directory with a colon in its name --------------------
backup_at 1 ./a:b dest
compare_trees a:b "dest/$(now 1)"
# with a colon after a '/' anywhere: local too
backup_at 1 "$HS_TMP/a:b" dest2
compare_trees a:b "dest2/$(now 1)"
# several: it goes under its basename, a:b
backup_at 2 src ./a:b dest
compare_trees a:b "dest/$(now 2)/a:b"
compare_trees src "dest/$(now 2)/src"
# the remote options change nothing for local sources
backup_at 3 -e 'ssh -p 2222' --rsh=false --hardsnap-path /nonexistent/hardsnap --timeout 30 \
    ./a:b dest
compare_trees a:b "dest/$(now 3)"
store_list=$HS_TMP/store.list
tree_listing dest --inodes >"$store_list"

# --- malformed remote sources --------------------------------------------------
hs_rc 2 backup :/srv dest
err_names 'without a host' ':/srv'
hs_rc 2 backup web1: dest
err_names 'without a path' 'web1:'
hs_rc 2 backup src @web1:/srv dest
err_names 'empty user' '@web1:/srv'
# a host the remote shell would take for an option (-oProxyCommand runs a command)
hs_rc 2 backup -- -oProxyCommand=touch_pwned:/srv dest
err_names "'-'" '-oProxyCommand=touch_pwned:/srv'
hs_rc 2 backup src u@-oProxyCommand=x:/srv dest
err_names "'-'"
assert_absent touch_pwned
# several sources: a remote one whose basename is empty or "." has no name
for arg in web1:. web1:/ root@web1:/srv/. web1:..; do
    hs_rc 2 backup src "$arg" dest
    err_names "$arg" 'name'
done
compare_listing "$store_list" dest --inodes

# --- --timeout, -e, --hardsnap-path ------------------------------------------------
for bad in 0 -1 +5 5s 1.5 '' ' 5' 1000001 99999999999999999999; do
    hs_rc 2 backup --timeout "$bad" src dest
    err_names '--timeout' "\"$bad\""
    hs_rc 2 backup "--timeout=$bad" src dest
    err_names '--timeout'
done
hs_rc 2 backup src dest --timeout
err_names 'timeout'
hs_rc 2 backup src dest -e
err_names '-e'
hs_rc 2 backup src dest --rsh
err_names 'rsh'
hs_rc 2 backup src dest --hardsnap-path
err_names 'hardsnap-path'
compare_listing "$store_list" dest --inodes
backup_at 4 --timeout 1000000 --timeout=1 src dest

hs_rc 0 backup --help
for opt in '-e, --rsh COMMAND' '--hardsnap-path' '--timeout SECONDS' 'HOST:PATH'; do
    grep -qF -- "$opt" "$HS_OUT" || fail "backup --help does not mention $opt"
done
long=$(awk 'length > 80' "$HS_OUT")
[ -z "$long" ] || fail "backup --help has lines over 80 columns: $long"
hs_rc 0 run --help
grep -qF -- 'hardsnap backup' "$HS_OUT" || fail "run --help does not point at backup's options"

# --- the config keys ----------------------------------------------------------------
mkdir conf
cat >conf/ok.conf <<'CONF'
[hardsnap]
dest = ../cstore
rsh = ssh -i /nonexistent/key
hardsnap-path = sudo /usr/local/bin/hardsnap
timeout = 600

[source colon]
path = ../a:b
CONF
HARDSNAP_NOW=$(now 5) hs_rc 0 backup -c conf/ok.conf
compare_trees a:b "cstore/$(now 5)/colon"
HARDSNAP_NOW=$(now 6) hs_rc 0 run -c conf/ok.conf --timeout 5 -e ssh
tree_listing cstore --inodes >"$store_list"

# bad LINE WORD TEXT...: a config whose LINE is wrong, the message naming WORD
bad() {
    local line=$1 word=$2
    shift 2
    printf '%s\n' "$@" >conf/bad.conf
    HARDSNAP_NOW=$(now 9) hs_rc 2 backup -c conf/bad.conf
    grep -qF "conf/bad.conf:$line:" "$HS_ERR" || fail "no 'conf/bad.conf:$line:' in: $(cat "$HS_ERR")"
    grep -qF -- "$word" "$HS_ERR" || fail "conf/bad.conf: the message does not name '$word': $(cat "$HS_ERR")"
}
head=('[hardsnap]' 'dest = ../cstore')
bad 5 'rsh is only for a remote source' "${head[@]}" '[source a]' 'path = ../src' 'rsh = ssh'
bad 4 'hardsnap-path is only for a remote source' "${head[@]}" '[source a]' \
    'hardsnap-path = hs' 'path = ../a:b' '[retain]' 'keep-last = 1'
bad 3 'timeout' "${head[@]}" 'timeout = 0' '[source a]' 'path = ../src'
bad 3 '"10m"' "${head[@]}" 'timeout = 10m' '[source a]' 'path = ../src'
bad 5 'timeout' "${head[@]}" '[source a]' 'path = ../src' 'timeout = 5'
bad 4 'without a host' "${head[@]}" '[source a]' 'path = :/srv'
bad 4 'without a path' "${head[@]}" '[source a]' 'path = web1:'
bad 4 "'-'" "${head[@]}" '[source a]' 'path = -oProxyCommand=x:/srv'
bad 4 'duplicate key "rsh"' "${head[@]}" 'rsh = a' 'rsh = b' '[source a]' 'path = ../src'
compare_listing "$store_list" cstore --inodes
# the command line's --timeout is checked with a good config too
hs_rc 2 backup -c conf/ok.conf --timeout 0
err_names '--timeout'
compare_listing "$store_list" cstore --inodes

# --- hardsnap serve: its stdout is the protocol, errors go to stderr ---------------
hs_rc 0 --help
grep -q '^  serve ' "$HS_OUT" || fail "hardsnap --help does not list serve"
hs_rc 0 serve --help
grep -q 'usage: hardsnap serve' "$HS_OUT" || fail "serve --help: no usage on stdout"
for opt in '--allow PATH' '--store DEST' '--timeout SECONDS' 'command="hardsnap serve --allow'; do
    grep -qF -- "$opt" "$HS_OUT" || fail "serve --help does not mention $opt"
done
[ ! -s "$HS_ERR" ] || fail "serve --help wrote to stderr"
long=$(awk 'length > 80' "$HS_OUT")
[ -z "$long" ] || fail "serve --help has lines over 80 columns: $long"
hs_rc 2 serve --allow /nonexistent </dev/null
err_names '/nonexistent' '--allow'
hs_rc 2 serve --allow "$HS_TMP" --allow "$HS_TMP/nonexistent" </dev/null
err_names "$HS_TMP/nonexistent"
hs_rc 2 serve --allow src/file.txt </dev/null
err_names 'src/file.txt' 'not a directory'
hs_rc 2 serve --allow </dev/null
err_names 'allow'
# --store is refused while there is no replicate: ignored, a forced command
# naming it would send any tree (hardsnap(1), serve)
hs_rc 2 serve --store "$HS_TMP/replica" </dev/null
err_names '--store' 'replicas'
assert_absent "$HS_TMP/replica"
for bad in 0 x -1 1000001; do
    hs_rc 2 serve --timeout "$bad" </dev/null
    err_names '--timeout' "\"$bad\""
done
hs_rc 2 serve /srv </dev/null
err_names '/srv'
hs_rc 2 serve --bogus </dev/null
err_names '--bogus'
