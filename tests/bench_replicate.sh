#!/bin/bash
# tests/bench_replicate.sh [DAYS]: a store of DAYS (default 30) snapshots of
# the kit's usr tree, each after a day of 1 % changes (mutate.sh), copied
# into an empty directory by hardsnap replicate, rsync -aH and cp -a (time
# up to a sync, peak RSS, new space by df), and then, after one more
# snapshot, brought up to date by hardsnap replicate and rsync -aH --delete
# (cp -a has no incremental mode). On the kit's journaled scratch ext4
# (BENCH_MNT, default /tmp/bench/mnt; made if needed). HARDSNAP=BIN uses that
# binary instead of a Release build of this checkout. Root. Not in ctest.
set -euo pipefail
# shellcheck source=tests/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
days=${1:-30}
M=${BENCH_MNT:-$M}
GTIME=/usr/bin/time
[ -x $GTIME ] || { echo "bench_replicate: needs GNU time" >&2; exit 1; }
hs=$(realpath "${HARDSNAP:-$(bench_build)}")
mountpoint -q "$M" || bench_mount
orig=$M/trees/usr
[ -d "$orig" ] || "$kit/mktree.sh" usr "$orig" >&2
w=$M/replicate
rm -rf "$w"
mkdir -p "$w"
trap 'rm -rf "$w"' EXIT
cd "$w"

used() {
	sync -f "$M"
	df --output=used -B1 "$M" | tail -1 | tr -d ' '
}
# measure NAME CMD...: "NAME: T s, RSS MiB peak, N MiB new" for CMD
measure() {
	local name=$1 u s rc=0
	shift
	u=$(used)
	s=$EPOCHREALTIME
	$GTIME -f %M -o "$w/rss" "$@" >/dev/null 2>"$w/err" || rc=$?
	sync -f "$M"
	printf '%s: %s s, %s MiB peak RSS, %s MiB new%s\n' "$name" \
		"$(awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')" \
		"$(awk '{ printf "%.1f", $1 / 1024 }' "$w/rss" | tail -n 1)" \
		$((($(used) - u) / 1048576)) "$([ $rc = 0 ] || echo " (exit $rc: $(head -c 200 "$w/err"))")"
}
snap() { printf '2026-%02d-%02dT020000Z' $((1 + ($1 - 1) / 28)) $((1 + ($1 - 1) % 28)); }

cp -a "$orig" src
for d in $(seq 1 "$days"); do
	[ "$d" = 1 ] || SEED=$d "$kit/mutate.sh" src 1 >/dev/null
	HARDSNAP_NOW=$(snap "$d") "$hs" backup -q src store
done
echo "$(date -u +%FT%TZ), $(nproc) cores, $(uname -r), $(rsync --version | head -n 1 | awk '{ print "rsync", $3 }'), $days snapshots of usr ($(find src ! -type d | wc -l) non-directories a snapshot), store $(du -sm store | cut -f1) MiB"
sync
measure "hardsnap replicate (all)" "$hs" replicate -q store hs
measure "rsync -aH (all)" rsync -aH store/ rs/
measure "cp -a (all)" cp -a store cpa
SEED=$((days + 1)) "$kit/mutate.sh" src 1 >/dev/null
HARDSNAP_NOW=$(snap $((days + 1))) "$hs" backup -q src store
sync
measure "hardsnap replicate (one new)" "$hs" replicate -q store hs
measure "rsync -aH --delete (one new)" rsync -aH --delete store/ rs/
