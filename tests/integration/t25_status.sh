#!/bin/bash
# status: healthy (0), needs attention (1: too old, last run failed, a
# snapshot named in the future, DEST open to others, an interrupted run),
# or no snapshot / not a store (3); the same as JSON; --nagios as a Nagios
# plugin says it (OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3); cheap (no
# snapshot read).
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"


mkdir src empty-dir
printf 'x\n' >src/f
hs_rc 3 status missing
hs_rc 3 status empty-dir
grep -q "not a hardsnap store" "$HS_ERR" || fail "no reason: $(cat "$HS_ERR")"
hs_rc 2 status
hs_rc 2 status src --max-age 12
hs_rc 2 status src --bogus

backup_at 1 src dest
chmod 0700 dest
# an hour after the snapshot: healthy
HARDSNAP_NOW=$(now 2) hs_rc 0 status dest
grep -q "^newest snapshot: $(now 1), 1h 0m ago\$" "$HS_OUT" || fail "newest: $(cat "$HS_OUT")"
grep -q "^last run: backup ended .*, exit 0, snapshot $(now 1)\$" "$HS_OUT" || fail "last run: $(cat "$HS_OUT")"
grep -q "^status: OK\$" "$HS_OUT" || fail "not OK: $(cat "$HS_OUT")"
HARDSNAP_NOW=$(now 2) hs_rc 0 status dest --json
py "$HS_OUT" 'j["healthy"] and j["newest"] == "'"$(now 1)"'" and j["age_seconds"] == 3600 and j["last_run"]["status"] == 0 and j["attention"] == []'
# a day and more later: too old for the default 26h, not for --max-age 2d
HARDSNAP_NOW=$(now 28) hs_rc 1 status dest
grep -q "^status: NEEDS ATTENTION: newest older than 1d 2h\$" "$HS_OUT" || fail "$(cat "$HS_OUT")"
HARDSNAP_NOW=$(now 28) hs_rc 0 status dest --max-age 2d

# the last run failed (exit 4: locked); while a run holds the lock, it says so
exec 8>dest/.hardsnap/lock
flock -n 8 || fail "cannot take the lock"
HARDSNAP_NOW=$(now 3) hs_rc 4 backup src dest
HARDSNAP_NOW=$(now 3) hs_rc 1 status dest
grep -q "^a run is in progress\$" "$HS_OUT" || fail "running: $(cat "$HS_OUT")"
exec 8>&-
HARDSNAP_NOW=$(now 3) hs_rc 1 status dest --json
py "$HS_OUT" 'j["attention"] == ["last-run-failed"] and j["last_run"]["status"] == 4 and not j["running"]'
HARDSNAP_NOW=$(now 4) hs_rc 0 backup src dest
HARDSNAP_NOW=$(now 4) hs_rc 0 status dest

# an interrupted run: its tree left in partial/, nobody holding the lock
mkdir dest/.hardsnap/partial/2026-01-01T050000Z
HARDSNAP_NOW=$(now 5) hs_rc 1 status dest
grep -q "^interrupted run:" "$HS_OUT" || fail "$(cat "$HS_OUT")"
rmdir dest/.hardsnap/partial/2026-01-01T050000Z

# a snapshot named in the future; DEST open to other users
ahead=$(date -u -d '+1 day' +%Y-%m-%dT%H%M%SZ)
cp -a "dest/$(now 4)" "dest/$ahead"
chmod 0755 dest
HARDSNAP_NOW=$(now 5) hs_rc 1 status dest --json
py "$HS_OUT" 'j["future"] == ["'"$ahead"'"] and j["newest"] == "'"$(now 4)"'" and j["dest_open"] and j["dest_mode"] == "0755" and j["attention"] == ["future", "dest-open"]'
HARDSNAP_NOW=$(now 5) hs_rc 1 status dest
grep -q "^named in the future: $ahead " "$HS_OUT" || fail "$(cat "$HS_OUT")"
grep -q "^open to other users: mode 0755" "$HS_OUT" || fail "$(cat "$HS_OUT")"
# status changes nothing
[ "$(stat -c %a dest)" = 755 ] || fail "status changed DEST's mode"

# --nagios: one line, the monitoring plugins' exit codes and perfdata
nagios() { # nagios CODE STATE [NOW]
    local code=$1 state=$2
    HARDSNAP_NOW=${3:-$(now 5)} hs_rc "$code" status dest --nagios
    [ "$(wc -l <"$HS_OUT")" = 1 ] || fail "--nagios printed more than a line: $(cat "$HS_OUT")"
    grep -q "^HARDSNAP $state - " "$HS_OUT" || fail "not $state: $(cat "$HS_OUT")"
}
chmod 0700 dest
rm -rf "dest/$ahead"
nagios 0 OK
grep -q "^HARDSNAP OK - newest $(now 4), 1h 0m ago; last backup exit 0 | age=3600s;93600;93600;0 snapshots=2;;;0 stale=0;;;0\$" "$HS_OUT" ||
    fail "OK line: $(cat "$HS_OUT")"
nagios 2 CRITICAL "$(now 40)" # too old
grep -q "older than 1d 2h" "$HS_OUT" || fail "$(cat "$HS_OUT")"
chmod 0755 dest # needs a person, the backups still run: a warning
nagios 1 WARNING
grep -q "dest-open" "$HS_OUT" || fail "$(cat "$HS_OUT")"
chmod 0700 dest
hs_rc 2 status dest --nagios --json
HARDSNAP_NOW=$(now 5) hs_rc 3 status src --nagios
grep -q "^HARDSNAP UNKNOWN - " "$HS_OUT" || fail "not a store: $(cat "$HS_OUT")"
mkdir -m 0700 nosnap
HARDSNAP_NOW=$(now 5) hs_rc 0 backup src nosnap
rm -rf "nosnap/$(now 5)" nosnap/latest nosnap/.hardsnap/manifests/*
HARDSNAP_NOW=$(now 5) hs_rc 2 status nosnap --nagios
grep -q "^HARDSNAP CRITICAL - no snapshot" "$HS_OUT" || fail "no snapshot: $(cat "$HS_OUT")"

# a monitor checking status all the time never costs a run its lock: here
# one that takes the shared lock (as status does) half of every 2 ms
python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
while True:
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        time.sleep(0.001)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        pass
    time.sleep(0.001)
' dest/.hardsnap/lock &
probe=$!
at_exit "kill $probe"
for i in $(seq 1 30); do
    HARDSNAP_NOW=$(now 6) hs_rc 0 prune dest --keep-last 100 -q
done
kill "$probe" 2>/dev/null || true
exit 0
