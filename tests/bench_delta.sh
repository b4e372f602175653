#!/bin/bash
# tests/bench_delta.sh [BUILD_DIR]: the delta copy of a changed big file
# (lib/delta.c) vs a plain copy, on btrfs and xfs loop mounts made here
# (root; sparse images under /tmp, removed after). Not part of ctest.
# For each filesystem: a SIZE_MIB file (random data) as the previous
# version; sources with PCTS % of it rewritten as scattered 64 KiB writes
# (4 KiB aligned); a delta copy per block size in BSS and a plain copy:
# seconds (to fsync and sync) and new space (statvfs, after sync). Then a
# fragmented previous version (FRAG_WRITES scattered 4 KiB rewrites of a
# clone) vs a fresh copy of the same content, at 1 and 10 %.
# Output: lines "fs pct mode block_kib seconds written new_space extents".
set -euo pipefail
B=${1:-build}
TOOL=$B/tests/deltabench
SIZE_MIB=${SIZE_MIB:-512}
BSS=${BSS:-"16 64 128 256"}
PCTS=${PCTS:-"1 10 50 90"}
FSS=${FSS:-"btrfs xfs"}
FRAG_WRITES=${FRAG_WRITES:-20000}
SMALL_MIB=${SMALL_MIB:-"1 4 16 64"}
REPS=${REPS:-5}
[ "$(id -u)" = 0 ] || { echo "bench_delta: needs root (loop mounts)" >&2; exit 77; }
[ -x "$TOOL" ] || { echo "bench_delta: build $TOOL first" >&2; exit 2; }
W=$(mktemp -d /tmp/hs-deltabench.XXXXXX)
M=$W/mnt
mkdir -p "$M"
cleanup() {
	mountpoint -q "$M" && umount "$M"
	rm -rf "$W"
}
trap cleanup EXIT

# rewrite FILE PCT UNIT SEED: rewrites PCT % of FILE in place as UNIT-byte
# writes of random data at distinct random 4 KiB-aligned offsets
rewrite() {
	python3 - "$@" <<'PY'
import os, random, sys
path, pct, unit, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
size = os.path.getsize(path)
rnd = random.Random(seed)
n = int(size * pct / 100 / unit)
slots = rnd.sample(range(size // unit), n)
fd = os.open(path, os.O_WRONLY)
for s in slots:
    off = min(s * unit + rnd.randrange(0, unit, 4096), size - unit)
    os.pwrite(fd, os.urandom(unit), off)
os.close(fd)
PY
}

run() { # fs pct mode bs src prev
	local out
	out=$("$TOOL" "$3" "$4" "$5" "$6" "$M/dst")
	echo "$1 $2 $out"
	rm -f "$M/dst"
	sync
}

for fs in $FSS; do
	command -v "mkfs.$fs" >/dev/null || { echo "bench_delta: no mkfs.$fs, $fs left out" >&2; continue; }
	truncate -s $((SIZE_MIB * 5 + 1024))M "$W/img"
	case $fs in
	btrfs) mkfs.btrfs -q -f "$W/img" >/dev/null ;;
	xfs) mkfs.xfs -q -f -m reflink=1 "$W/img" ;;
	esac
	mount -o loop "$W/img" "$M"
	head -c "${SIZE_MIB}M" /dev/urandom >"$M/prev"
	sync
	for pct in $PCTS; do
		[ "$pct" = none ] && break
		cp "$M/prev" "$W/src"
		rewrite "$W/src" "$pct" 65536 "$pct"
		for bs in $BSS; do run "$fs" "$pct" delta "$bs" "$W/src" "$M/prev"; done
		run "$fs" "$pct" plain 64 "$W/src" "$M/prev"
	done
	# fragmented: a clone rewritten in many small places, vs the same content
	# written fresh
	cp --reflink=always "$M/prev" "$M/frag"
	rewrite "$M/frag" $((FRAG_WRITES * 4 * 100 / 1024 / SIZE_MIB)) 4096 7
	cp --reflink=never "$M/frag" "$M/fresh"
	sync
	for pct in 1 10; do
		cp "$M/frag" "$W/src"
		rewrite "$W/src" "$pct" 65536 "$((pct + 100))"
		for bs in 64 128; do
			run "$fs" "$pct" delta "$bs" "$W/src" "$M/fresh" | sed 's/^/fresh /'
			run "$fs" "$pct" delta "$bs" "$W/src" "$M/frag" | sed 's/^/frag /'
		done
		run "$fs" "$pct" plain 64 "$W/src" "$M/frag" | sed 's/^/frag /'
	done
	for mib in $SMALL_MIB; do
		[ "$mib" = none ] && break
		head -c "${mib}M" /dev/urandom >"$M/small"
		sync
		for change in one 10; do
			cp "$M/small" "$W/src"
			if [ $change = one ]; then
				# 64 KiB at 4 KiB past the middle: two blocks touched
				dd if=/dev/urandom of="$W/src" bs=4k count=16 seek=$((mib * 128 + 1)) \
					conv=notrunc status=none
			else
				rewrite "$W/src" 10 65536 2
			fi
			for _ in $(seq "$REPS"); do
				run "$fs" "$change" delta 64 "$W/src" "$M/small" | sed "s/^/small$mib /"
				run "$fs" "$change" plain 64 "$W/src" "$M/small" | sed "s/^/small$mib /"
			done
		done
	done
	umount "$M"
	rm -f "$W/img" "$W/src"
done
