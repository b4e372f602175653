#!/bin/bash
# Time never runs backwards in a store. A snapshot named in the future (the
# clock ran a day ahead, then was set back) is named by backup, prune and
# list every time, and is neither latest, nor the next backup's base, nor
# able to push last night's snapshot out of --keep-last. An archive member
# dated 2099 does not name an import. HARDSNAP_NOW may name the past (old
# backups imported) but never the future.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# names relative to the real clock, whatever the day this runs
ahead=$(date -u -d '+1 day' +%Y-%m-%dT%H%M%SZ)
future=$(date -u -d '+2 years' +%Y-%m-%dT%H%M%SZ)

mkdir src
printf 'version one\n' >src/f
touch -d '2020-01-01 00:00:00' src/f
printf 'same all along\n' >src/g
backup_at 1 src dest
s1=dest/$(now 1)
# the clock runs a day ahead for one night: f changed that day
printf 'version two\n' >src/f
backup_at 2 src dest
mv "dest/$(now 2)" "dest/$ahead"
mv "dest/.hardsnap/manifests/$(now 2).hsm" "dest/.hardsnap/manifests/$ahead.hsm"
ln -sfn "$ahead" dest/latest
# the clock is set back; f is back to what the last true snapshot holds
printf 'version one\n' >src/f
touch -d '2020-01-01 00:00:00' src/f

hs_rc 1 backup src dest
grep -q "named in the future.*: $ahead" "$HS_ERR" || fail "backup did not name the future snapshot: $(cat "$HS_ERR")"
real=$(readlink dest/latest)
[ "$real" != "$ahead" ] || fail "latest stayed on the snapshot from the future"
[[ $real < $ahead ]] || fail "latest -> $real"
assert_latest dest "$real"
# the base was the last true snapshot, not the one from the future
same_inode "$s1/f" "dest/$real/f"
same_inode "$s1/g" "dest/$real/g"

# list and its JSON say which one is from the future
hs_rc 0 list dest
grep -q "^$ahead .*!\$" "$HS_OUT" || fail "list does not mark $ahead: $(cat "$HS_OUT")"
grep -q "^$real .*!\$" "$HS_OUT" && fail "list marks $real: $(cat "$HS_OUT")"
grep -q 'named in the future' "$HS_OUT" || fail "list does not explain the mark"
hs_rc 0 list dest --json
python3 - "$HS_OUT" "$ahead" <<'PY'
import json, sys
snaps = json.load(open(sys.argv[1]))
fut = [s["name"] for s in snaps if s["future"]]
assert fut == [sys.argv[2]], fut
PY

# prune --keep-last 1 keeps last night's snapshot (and the one from the future)
hs_rc 1 prune dest --keep-last 1 -n
grep -q "keep *$ahead *(future)" "$HS_OUT" || fail "prune -n: $(cat "$HS_OUT")"
grep -q "keep *$real .*last" "$HS_OUT" || fail "prune -n does not keep $real by --keep-last: $(cat "$HS_OUT")"
hs_rc 1 prune dest --keep-last 1
grep -q "named in the future.*$ahead" "$HS_ERR" || fail "prune did not warn: $(cat "$HS_ERR")"
[ -d "dest/$real" ] || fail "prune deleted last night's snapshot"
[ -d "dest/$ahead" ] || fail "prune deleted the snapshot from the future"
assert_absent "$s1"
assert_latest dest "$real"

# removed by hand, the store is whole again: the next backup exits 0
rm -rf "dest/$ahead"
sleep 1 # a new second for the next name
hs_rc 0 backup src dest
assert_latest dest "$(snapshots dest | tail -n 1)"

# HARDSNAP_NOW: the future is refused (nothing made), the past is an old snapshot
HARDSNAP_NOW=$future hs_rc 2 backup src dest
grep -q "future" "$HS_ERR" || fail "no reason: $(cat "$HS_ERR")"
HARDSNAP_NOW=$future hs_rc 2 prune dest --keep-last 1
if snapshots dest | grep -qF "$future"; then fail "a snapshot named in the future was made"; fi
newest=$(readlink dest/latest)
HARDSNAP_NOW=$(now 5) hs_rc 0 backup src dest
grep -q "older than the newest snapshot, $newest" "$HS_ERR" || fail "no notice: $(cat "$HS_ERR")"
assert_latest dest "$newest"

# an archive with a member dated 2099: named by its newest other member
mkdir arc
printf 'a\n' >arc/old
touch -d '2019-05-06 07:08:09' arc/old
printf 'b\n' >arc/bogus
touch -d '2099-01-01 00:00:00' arc/bogus
tar -C arc -cf a.tar old bogus
hs_rc 0 import a.tar dest
grep -q "1 member dated in the future" "$HS_ERR" || fail "no notice: $(cat "$HS_ERR")"
[ -d dest/2019-05-06T070809Z ] || fail "import not named by its newest true member: $(snapshots dest)"
assert_latest dest "$newest"
HARDSNAP_NOW=$future hs_rc 2 import a.tar dest
exit 0
