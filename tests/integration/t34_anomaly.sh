#!/bin/bash
# Anomalies (issue 15): a run that read every file may still be wrong.
# - Files unchanged since the previous snapshot but written again instead of
#   linked (a snapshot's file replaced; a mount inside the store): a warning
#   naming the first, exit 1, `--stats`, the JSON and the metrics count them.
# - A change rate far above the store's usual (ransomware encrypting a home
#   directory): a warning with both rates, exit 1, anomaly=1 in the metrics,
#   and `status` needs attention until a normal run. Too little history, or
#   a small tree, stays quiet; a link limit (EMLINK) is no anomaly (t13).
HS_PRIVATE_MOUNTS=1 # lib.sh: a mount namespace of its own
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have python3 || skip "python3 is needed to read the JSON"

# metric FILE NAME: the value of the series hardsnap_NAME{dest=...}
metric() {
    sed -n "s/^hardsnap_$2{dest=\"[^\"]*\"} //p" "$1"
}
# edit DIR N: rewrites the first N files of DIR (new content, new mtime)
edit() {
    local i
    for ((i = 0; i < $2; i++)); do
        printf 'rewritten %d\n' "$i" >"$1/f$i"
    done
}

mkdir home
for ((i = 0; i < 400; i++)); do
    printf 'file %d\n' "$i" >"home/f$i"
done
cat >hs.conf <<CONF
[hardsnap]
dest = $HS_TMP/dest
prometheus = $HS_TMP/hardsnap.prom
[source home]
path = $HS_TMP/home
CONF

# --- a change rate far above the usual ----------------------------------
# the first run copies everything; the median of the history stays low
backup_at 1 -c hs.conf
for n in 2 3 4; do
    edit home 1
    touch -d "@$((1700000000 + n))" home/f0
    HARDSNAP_NOW=$(now "$n") hs_rc 0 backup -c hs.conf --json
done
py "$HS_OUT" 'j["totals"]["copied"] == 1 and j["change"]["runs"] == 3 and not j["change"]["anomaly"]'
py "$HS_OUT" 'abs(j["change"]["rate"] - 1 / 400) < 1e-6'
[ "$(metric hardsnap.prom last_run_anomaly)" = 0 ] || fail "anomaly metric set on a normal run"
HARDSNAP_NOW=$(now 4) hs_rc 0 status dest

# "encryption": 300 of 400 files rewritten
for ((i = 0; i < 300; i++)); do
    head -c 64 /dev/urandom >"home/f$i"
done
HARDSNAP_NOW=$(now 5) hs_rc 1 backup -c hs.conf --json
grep -q 'anomaly: .*dest: 300 of 400 files changed (75.0%), where the last 4 runs changed 0.25% (median)' "$HS_ERR" ||
    fail "no anomaly warning with both rates: $(cat "$HS_ERR")"
py "$HS_OUT" 'j["status"] == 1 and j["change"]["anomaly"] and j["change"]["runs"] == 4'
py "$HS_OUT" 'abs(j["change"]["rate"] - 0.75) < 1e-6 and abs(j["change"]["usual"] - 0.0025) < 1e-6'
# the snapshot was still made, with what the source holds now
compare_trees home "dest/$(now 5)/home"
[ "$(metric hardsnap.prom last_run_anomaly)" = 1 ] || fail "no anomaly metric: $(cat hardsnap.prom)"
[ "$(metric hardsnap.prom last_run_change_ratio)" = 0.75 ] || fail "change ratio: $(cat hardsnap.prom)"
grep -q ' anomaly=change$' dest/.hardsnap/log || fail "the log does not say: $(tail -1 dest/.hardsnap/log)"
# the morning after: status needs attention, as does the Nagios check
HARDSNAP_NOW=$(now 6) hs_rc 1 status dest
grep -q '^anomaly in the last run: change (far more files changed than usual' "$HS_OUT" ||
    fail "status does not name the anomaly: $(cat "$HS_OUT")"
grep -q 'NEEDS ATTENTION: anomaly' "$HS_OUT" || fail "status: $(cat "$HS_OUT")"
HARDSNAP_NOW=$(now 6) hs_rc 1 status dest --nagios
grep -q '^HARDSNAP WARNING - .*anomaly' "$HS_OUT" || fail "--nagios: $(cat "$HS_OUT")"
HARDSNAP_NOW=$(now 6) hs_rc 1 status dest --json
py "$HS_OUT" 'j["last_run"]["anomaly"] == "change" and "anomaly" in j["attention"]'
# and the report marks the run
HARDSNAP_NOW=$(now 6) hs_rc 0 report dest -o report.html
[ "$(grep -o '<rect class="hit anomaly"' report.html | wc -l)" = 1 ] || fail "the report does not mark the one anomaly run"
grep -q 'the last run raised an anomaly' report.html || fail "the report's health does not name the anomaly"
# the next normal night clears it
edit home 1
HARDSNAP_NOW=$(now 7) hs_rc 0 backup -c hs.conf
HARDSNAP_NOW=$(now 7) hs_rc 0 status dest

# --- too little history, or too few files: quiet -------------------------
mkdir young
for ((i = 0; i < 400; i++)); do printf 'file %d\n' "$i" >"young/f$i"; done
backup_at 1 young ydest
edit young 1
backup_at 2 young ydest
edit young 300
backup_at 3 young ydest
grep -q anomaly "$HS_ERR" && fail "an anomaly from two runs of history: $(cat "$HS_ERR")"

mkdir small
for ((i = 0; i < 60; i++)); do printf 'file %d\n' "$i" >"small/f$i"; done
backup_at 1 small sdest
for n in 2 3 4; do
    edit small 1
    touch -d "@$((1700000000 + n))" small/f0
    backup_at "$n" small sdest
done
edit small 60
backup_at 5 small sdest
grep -q anomaly "$HS_ERR" && fail "an anomaly from 60 changed files: $(cat "$HS_ERR")"

# --- unchanged but not linked ----------------------------------------------
mkdir -p src/sub
printf 'one\n' >src/a
printf 'two\n' >src/sub/b
printf 'three\n' >src/sub/c
backup_at 1 src udest
s1=$(now 1)
# a snapshot's file replaced by an equal copy: the next run cannot link it
cp -p "udest/$s1/a" udest/a.tmp
mv udest/a.tmp "udest/$s1/a"
HARDSNAP_NOW=$(now 2) hs_rc 1 backup --stats src udest
grep -q 'anomaly: unchanged since '"$s1"', yet written again, not linked (1 such files in all: .*): a: that snapshot holds another file there than it recorded$' "$HS_ERR" ||
    fail "no warning naming the file: $(cat "$HS_ERR")"
grep -Eq '^unlinked: +1 ' "$HS_OUT" || fail "--stats: $(cat "$HS_OUT")"
compare_trees src "udest/$(now 2)"
same_inode "udest/$s1/sub/b" "udest/$(now 2)/sub/b"
grep -q ' anomaly=unlinked$' udest/.hardsnap/log || fail "log: $(tail -1 udest/.hardsnap/log)"
# the next run links the fresh copy: no anomaly
backup_at 3 src udest

# a mount inside the store (another mount of the same filesystem: linkat
# fails with EXDEV): every file below it is copied, and said so once
if is_root && mount --bind "udest/$(now 3)/sub" "udest/$(now 3)/sub" 2>/dev/null; then
    at_exit "umount -l '$HS_TMP/udest/$(now 3)/sub'"
    HARDSNAP_NOW=$(now 4) hs_rc 1 backup --json src udest
    grep -q 'anomaly: unchanged since .*, yet written again, not linked (2 such files in all: .*): sub/[bc]: Invalid cross-device link$' "$HS_ERR" ||
        fail "no warning for a mount in the store: $(cat "$HS_ERR")"
    [ "$(grep -c anomaly "$HS_ERR")" = 1 ] || fail "more than one anomaly line: $(cat "$HS_ERR")"
    py "$HS_OUT" 'j["totals"]["unlinked_unchanged"] == 2 and j["totals"]["linked"] == 1'
    compare_trees src "udest/$(now 4)"
else
    note "cannot bind-mount here: the EXDEV case is not tested"
fi
exit 0
