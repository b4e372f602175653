#!/bin/bash
# What machines read of a run: `backup --json` / `run --json` print one JSON
# object (totals, each source's counts, the prune) and nothing else on
# stdout; `prometheus = FILE` writes node_exporter textfile metrics after
# every run, replaced at once, valid in the text format, per source, and a
# failed run keeps the last success's time. A metrics file that cannot be
# written is a warning naming it, never a lost snapshot.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# metric FILE NAME [LABELS]: the value of the series NAME{dest=...[,LABELS]}
metric() {
    python3 - "$@" <<'PY'
import re, sys
f, name = sys.argv[1], sys.argv[2]
want = sys.argv[3] if len(sys.argv) > 3 else None
for line in open(f):
    m = re.match(r'^hardsnap_(\w+)\{dest="[^"]*"(?:,(source="[^"]*"))?\} (\S+)$', line)
    if m and m.group(1) == name and m.group(2) == want:
        print(m.group(3))
        break
PY
}
# the text format node_exporter reads: HELP and TYPE before each metric's
# samples, every sample line name{labels} value, no duplicate series
check_format() {
    python3 - "$1" <<'PY' || fail "not the Prometheus text format: $(cat "$1")"
import re, sys
seen, typed = set(), set()
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip('\n')
    m = re.match(r'^# (HELP|TYPE) (hardsnap_\w+) (.+)$', line)
    if m:
        if m.group(1) == 'TYPE':
            assert m.group(3) in ('gauge', 'counter'), line
            typed.add(m.group(2))
        continue
    m = re.match(r'^(hardsnap_\w+)(\{[^{}]*\}) (-?[0-9.e+]+)$', line)
    assert m, f"line {n}: {line!r}"
    assert m.group(1) in typed, f"line {n}: no TYPE before {m.group(1)}"
    float(m.group(3))
    key = m.group(1) + m.group(2)
    assert key not in seen, f"line {n}: {key} twice"
    seen.add(key)
assert seen
PY
}

mkdir -p src/home/alice src/etc
printf 'one\n' >src/home/alice/a
printf 'two\n' >src/home/alice/b
printf 'conf\n' >src/etc/c
cat >run.conf <<EOF
[hardsnap]
dest = dest
prometheus = metrics/hardsnap.prom

[source home]
path = src/home

[source etc]
path = src/etc

[retain]
keep-last = 5
EOF
mkdir metrics

# ---- a run: its JSON on stdout, its metrics in the file
HARDSNAP_NOW=$(now 1) hs_rc 0 run -c run.conf --json -v
py "$HS_OUT" 'j["command"] == "run" and j["status"] == 0 and j["snapshot"] == "'"$(now 1)"'" and j["error"] is None'
py "$HS_OUT" 'j["dest"] == "'"$PWD/dest"'" and j["totals"]["files"] == 3 and j["totals"]["copied"] == 3'
py "$HS_OUT" '[(s["name"], s["files"], s["stale"]) for s in j["sources"]] == [("etc", 1, False), ("home", 2, False)]'
py "$HS_OUT" 'j["prune"] == {"kept": 1, "deleted": 0, "freed": 0}'
[ "$(wc -l <"$HS_OUT")" = 1 ] || fail "stdout is more than the JSON object: $(cat "$HS_OUT")"
prom=metrics/hardsnap.prom
check_format "$prom"
[ "$(metric $prom last_run_exit_status)" = 0 ] || fail "exit status: $(cat $prom)"
[ "$(metric $prom last_run_files)" = 3 ] || fail "files: $(cat $prom)"
[ "$(metric $prom source_files 'source="home"')" = 2 ] || fail "home's files: $(cat $prom)"
[ "$(metric $prom source_files 'source="etc"')" = 1 ] || fail "etc's files: $(cat $prom)"
[ "$(metric $prom source_stale 'source="etc"')" = 0 ] || fail "etc stale: $(cat $prom)"
[ "$(metric $prom snapshots)" = 1 ] || fail "snapshots: $(cat $prom)"
success=$(metric $prom last_success_timestamp_seconds)
[ "$success" = "$(metric $prom last_run_timestamp_seconds)" ] || fail "success is not the last run: $(cat $prom)"
grep -q "dest=\"$PWD/dest\"" $prom || fail "the store is not named by its path: $(cat $prom)"
[ "$(find metrics -type f | wc -l)" = 1 ] || fail "files left beside the metrics: $(ls metrics)"

# ---- nothing changed: linked, per source
sleep 1
HARDSNAP_NOW=$(now 2) hs_rc 0 backup -c run.conf --json
py "$HS_OUT" 'j["command"] == "backup" and j["totals"]["linked"] == 3 and j["totals"]["copied"] == 0 and j["prune"] is None'
[ "$(metric $prom source_linked 'source="home"')" = 2 ] || fail "home's linked: $(cat $prom)"
[ "$(metric $prom snapshots)" = 2 ] || fail "snapshots: $(cat $prom)"

# ---- a run that fails (the store locked): its status, the last success kept
success=$(metric $prom last_success_timestamp_seconds)
exec 8>dest/.hardsnap/lock
flock -n 8 || fail "cannot take the lock"
sleep 1
HARDSNAP_NOW=$(now 3) hs_rc 4 run -c run.conf --json
exec 8>&-
py "$HS_OUT" 'j["status"] == 4 and j["snapshot"] is None and "another hardsnap" in j["error"]'
check_format "$prom"
[ "$(metric $prom last_run_exit_status)" = 4 ] || fail "exit status: $(cat $prom)"
[ "$(metric $prom last_success_timestamp_seconds)" = "$success" ] || fail "the last success was not kept: $(cat $prom)"
[ "$(metric $prom last_run_timestamp_seconds)" != "$success" ] || fail "the failed run's time: $(cat $prom)"

# ---- a metrics file that cannot be written: a warning, the snapshot made
sed -i 's|^prometheus = .*|prometheus = no-such-dir/hardsnap.prom|' run.conf
HARDSNAP_NOW=$(now 4) hs_rc 1 run -c run.conf -q
grep -q "no-such-dir/hardsnap.prom" "$HS_ERR" || fail "the metrics file is not named: $(cat "$HS_ERR")"
[ -d "dest/$(now 4)" ] || fail "no snapshot when the metrics could not be written"

# ---- the log names each run's sources: the report has a row for each
grep -q " sources=etc,home\( \|$\)" dest/.hardsnap/log || fail "the log names no sources: $(cat dest/.hardsnap/log)"
HARDSNAP_NOW=$(now 5) hs_rc 0 report dest -o report.html
for s in etc home; do
    grep -q "<tr><td class=\"path\">$s</td><td>$(now 4 | sed 's/\(....-..-..\)T\(..\)\(..\)\(..\)Z/\1 \2:\3:\4/')</td>" report.html ||
        fail "no row for source $s last backed up at $(now 4): $(grep -A8 'id="sources"' report.html)"
done
grep -q "every other source" report.html && fail "a row for unnamed sources though the log names them all"

# ---- a run that stops before its walk (a source not mounted: exit 2) is
# in the log with its error, so status and the report see it
sed -i 's|^prometheus = .*|prometheus = metrics/hardsnap.prom|; s|^path = src/etc$|path = src/not-mounted|' run.conf
lines=$(wc -l <dest/.hardsnap/log)
HARDSNAP_NOW=$(now 6) hs_rc 2 run -c run.conf -q
[ "$(wc -l <dest/.hardsnap/log)" = $((lines + 1)) ] || fail "no log line for a run that failed early"
tail -1 dest/.hardsnap/log | grep -q ' command=run status=2 error=.*src/not-mounted.* snapshot=-' ||
    fail "the log line does not say why: $(tail -1 dest/.hardsnap/log)"
HARDSNAP_NOW=$(now 6) hs_rc 1 status dest
grep -q 'last-run-failed' "$HS_OUT" || fail "status does not see the failed run: $(cat "$HS_OUT")"
[ "$(metric $prom last_run_exit_status)" = 2 ] || fail "exit status: $(cat $prom)"

# ---- a config that does not load: the JSON object says why
printf '[hardsnap]\nbogus = 1\n' >bad.conf
hs_rc 2 backup -c bad.conf --json
py "$HS_OUT" 'j["status"] == 2 and "bogus" in j["error"]'
exit 0
