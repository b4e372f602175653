#!/bin/bash
# Hooks: before, after and on-failure around a run, before and after around
# a source, with HARDSNAP_DEST, _SNAPSHOT, _SOURCE, _STATUS and _REPORT (the
# run's JSON summary) in their environment. A global before that exits 75
# skips the run (exit 0, no snapshot, no after); one that fails fails it
# (exit 3, on-failure runs). A source's before may print path=DIR to have DIR
# backed up in its place (a filesystem snapshot: hard-linked copies here,
# same inodes, so unchanged files are linked); 75 skips the source (carried
# forward, not stale), a failure fails it (carried, stale, exit 1). A hook
# past hook-timeout is killed with its process group. A dry run runs none.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"


mkdir -p src/home src/etc
printf 'one\n' >src/home/a
printf 'two\n' >src/home/b
printf 'conf\n' >src/etc/c
log=$PWD/hooks.log
# conf EXTRA...: run.conf with the two sources and the lines given
conf() {
    {
        printf '[hardsnap]\ndest = dest\nhook-timeout = 3s\n'
        printf '%s\n' "$@"
        printf '[source home]\npath = src/home\n%s\n' "${HOME_HOOKS:-}"
        printf '[source etc]\npath = src/etc\n%s\n' "${ETC_HOOKS:-}"
    } >run.conf
}

# ---- the global hooks and what they are told
conf "before = echo \"before \$HARDSNAP_SNAPSHOT \$HARDSNAP_DEST \${HARDSNAP_STATUS:-none}\" >>$log" \
    "after = echo \"after \$HARDSNAP_STATUS \$HARDSNAP_SNAPSHOT\" >>$log; cp \"\$HARDSNAP_REPORT\" $PWD/report.json" \
    "on-failure = echo \"on-failure \$HARDSNAP_STATUS\" >>$log"
HARDSNAP_NOW=$(now 1) hs_rc 0 run -c run.conf -q
[ "$(cat "$log")" = "before $(now 1) dest none
after 0 $(now 1)" ] || fail "hooks: $(cat "$log")"
py report.json 'j["status"] == 0 and j["snapshot"] == "'"$(now 1)"'" and j["totals"]["files"] == 3'
[ -z "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'hardsnap-report.*' -newer run.conf 2>/dev/null)" ] ||
    fail "the report file is left behind"

# ---- before says not now: nothing made, not a failure, no after
: >"$log"
conf "before = exit 75" "after = echo after >>$log" "on-failure = echo on-failure >>$log"
HARDSNAP_NOW=$(now 2) hs_rc 0 run -c run.conf
grep -q "not now" "$HS_OUT" || fail "the skip is not said: $(cat "$HS_OUT")"
[ ! -e "dest/$(now 2)" ] || fail "a snapshot from a skipped run"
[ ! -s "$log" ] || fail "hooks after a skipped run: $(cat "$log")"
tail -n 1 dest/.hardsnap/log | grep -q "status=0 .*snapshot=-" || fail "log: $(tail -n 1 dest/.hardsnap/log)"

# ---- before fails: the run fails, on-failure is told, after is not run
conf "before = echo dump failed >&2; exit 4" "after = echo after >>$log" \
    "on-failure = echo \"on-failure \$HARDSNAP_STATUS\" >>$log"
HARDSNAP_NOW=$(now 3) hs_rc 3 run -c run.conf
grep -q "before hook failed: exit 4" "$HS_ERR" || fail "not said: $(cat "$HS_ERR")"
grep -q "dump failed" "$HS_ERR" || fail "the hook's stderr is lost: $(cat "$HS_ERR")"
[ "$(cat "$log")" = "on-failure 3" ] || fail "hooks: $(cat "$log")"
[ ! -e "dest/$(now 3)" ] || fail "a snapshot after a failed before hook"

# ---- a hook past hook-timeout is ended with its process group
: >"$log"
conf "before = sleep 300 & echo \$! >$PWD/child.pid; wait"
start=$SECONDS
HARDSNAP_NOW=$(now 4) hs_rc 3 run -c run.conf
[ $((SECONDS - start)) -lt 60 ] || fail "hook-timeout 3s took $((SECONDS - start)) s"
grep -q "hook-timeout" "$HS_ERR" || fail "not said: $(cat "$HS_ERR")"
child=$(cat child.pid)
for _ in $(seq 1 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$child" 2>/dev/null || fail "the hook's child $child outlived it"

# ---- a source's before names a snapshot of it to back up in its place
snapshot_of_home='rm -rf snap && cp -al src/home snap && echo extra >snap/only-in-snap && echo path=snap'
HOME_HOOKS="before = $snapshot_of_home
after = rm -rf snap; echo \"after \$HARDSNAP_SOURCE\" >>$log" conf
: >"$log"
HARDSNAP_NOW=$(now 5) hs_rc 0 run -c run.conf -q
[ -f "dest/$(now 5)/home/only-in-snap" ] || fail "the hook's path was not backed up"
[ -f "dest/$(now 5)/home/a" ] || fail "home/a is missing"
[ -f "dest/$(now 5)/etc/c" ] || fail "etc/c is missing"
[ ! -e snap ] || fail "the source's after hook did not run"
[ "$(cat "$log")" = "after home" ] || fail "hooks: $(cat "$log")"
# again: the same inodes under another path, so unchanged files are linked
HARDSNAP_NOW=$(now 6) hs_rc 0 run -c run.conf --json
py "$HS_OUT" '[(s["name"], s["linked"], s["copied"]) for s in j["sources"]] == [("etc", 1, 0), ("home", 2, 1)]'
same_inode "dest/$(now 5)/home/a" "dest/$(now 6)/home/a"

# ---- a source's before: 75 skips it (carried, not stale), a failure
# fails it (carried, stale, exit 1)
printf 'changed\n' >src/home/a
HOME_HOOKS="before = exit 75" conf
HARDSNAP_NOW=$(now 7) hs_rc 0 run -c run.conf -q
[ ! -s "$HS_ERR" ] || fail "a skipped source was reported: $(cat "$HS_ERR")"
same_inode "dest/$(now 6)/home/a" "dest/$(now 7)/home/a"
HARDSNAP_NOW=$(now 7) hs_rc 0 status dest
HOME_HOOKS="before = exit 2" conf
HARDSNAP_NOW=$(now 8) hs_rc 1 run -c run.conf -q
grep -q "source home: before hook failed: exit 2" "$HS_ERR" || fail "not said: $(cat "$HS_ERR")"
same_inode "dest/$(now 6)/home/a" "dest/$(now 8)/home/a"
HARDSNAP_NOW=$(now 8) hs_rc 1 status dest
grep -q "stale source: home" "$HS_OUT" || fail "not stale: $(cat "$HS_OUT")"

# ---- a source's after that fails: a warning, the snapshot made
HOME_HOOKS="after = exit 1" conf
HARDSNAP_NOW=$(now 9) hs_rc 1 run -c run.conf -q
grep -q "source home: after hook failed: exit 1" "$HS_ERR" || fail "not said: $(cat "$HS_ERR")"
[ "$(cat "dest/$(now 9)/home/a")" = changed ] || fail "the snapshot lacks the change"

# ---- a dry run runs no hook; a bad hook-timeout is a config error
: >"$log"
HOME_HOOKS="before = echo ran >>$log" conf "before = echo ran >>$log"
HARDSNAP_NOW=$(now 10) hs_rc 0 run -c run.conf -n -q
[ ! -s "$log" ] || fail "a dry run ran hooks: $(cat "$log")"
sed -i 's/^hook-timeout = 3s$/hook-timeout = 3 days/' run.conf
hs_rc 2 run -c run.conf
grep -q "run.conf:3: bad duration" "$HS_ERR" || fail "not said: $(cat "$HS_ERR")"
exit 0
