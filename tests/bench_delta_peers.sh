#!/bin/bash
# bench_delta_peers.sh HARDSNAP [OLD_HARDSNAP]: a changed 4 GiB file, the
# second snapshot timed (up to a sync of the store) and its new space (df),
# hardsnap vs rsync --link-dest vs the hand-made recipe (cp --reflink +
# rsync --inplace --no-whole-file) on btrfs and xfs loop mounts, and on
# ext4 hardsnap vs rsync --link-dest (vs OLD_HARDSNAP, if given). 1, 10 and
# 50 % of the 64 KiB blocks are rewritten (random blocks, fixed seed).
# SIZE_MIB=N makes the file N MiB instead of 4096.
# docs/benchmarks.md has one run's table. Root; WORK (default
# /tmp/hs-delta-peers) holds the two 4 GiB sources and a sparse 40 GiB loop
# image per file system, of which up to 20 GiB get written (removed after).
set -euo pipefail
HS=$(realpath "${1:?usage: bench_delta_peers.sh HARDSNAP [OLD_HARDSNAP]}")
OLD=${2:+$(realpath "$2")}
# shellcheck source=tests/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
W=${WORK:-/tmp/hs-delta-peers}
M=$W/mnt
mkdir -p "$W/srcA" "$W/srcB" "$M"
cd "$W"
trap 'umount "$M" 2>/dev/null || true; rm -f "$W"/*.img' EXIT

used() {
	sync -f "$1"
	df --output=used -B1 "$1" | tail -1 | tr -d ' '
}
# timed CMD...: seconds until CMD and a sync of the store are done
timed() {
	local s rc=0
	s=$(date +%s.%N)
	"$@" >/dev/null 2>>"$W/err.log" || rc=$?
	sync -f "$M"
	printf '%.1f s' "$(echo "$(date +%s.%N) - $s" | bc)"
	[ "$rc" = 0 ] || printf ' (exit %s)' "$rc"
}
# measure NAME CMD...: "NAME T s, N MiB" for CMD
measure() {
	local name=$1 u t
	shift
	u=$(used "$M")
	t=$(timed "$@")
	echo "$name $t, $((($(used "$M") - u) / 1048576)) MiB"
}

size_mib=${SIZE_MIB:-4096} # smaller for a quick try of the script
[ "$(stat -c %s srcA/vm.img 2>/dev/null)" = $((size_mib * 1048576)) ] ||
	head -c $((size_mib * 1048576)) /dev/urandom >srcA/vm.img
touch -d 2026-01-01 srcA/vm.img
for fs in btrfs xfs ext4; do
	truncate -s 40G "$fs.img"
	case $fs in
	btrfs) mkfs.btrfs -q -f "$fs.img" >/dev/null ;;
	xfs) mkfs.xfs -q -f -m reflink=1 "$fs.img" ;;
	ext4) mkfs.ext4 -q -F "$fs.img" ;;
	esac
	mount -o loop "$fs.img" "$M"
	mkdir -p "$M/rs" "$M/rc"
	HARDSNAP_NOW=2026-01-01T000000Z "$HS" backup -q srcA "$M/hs"
	rsync -a srcA/ "$M/rs/1/"
	if [ "$fs" != ext4 ]; then rsync -a srcA/ "$M/rc/1/"; fi
	if [ "$fs" = ext4 ] && [ -n "$OLD" ]; then HARDSNAP_NOW=2026-01-01T000000Z "$OLD" backup -q srcA "$M/old"; fi
	for pct in 1 10 50; do
		cp srcA/vm.img srcB/vm.img
		bench_change_blocks srcB/vm.img "$pct"
		touch -d 2026-01-02 srcB/vm.img
		sync
		line="$fs $pct %: $(HARDSNAP_NOW=2026-01-02T000000Z measure hardsnap "$HS" backup -q srcB "$M/hs")"
		line+=" | $(measure rsync-link-dest rsync -a --link-dest=../1 srcB/ "$M/rs/2/")"
		if [ "$fs" != ext4 ]; then
			line+=" | $(measure reflink+inplace sh -c "cp -a --reflink=always '$M/rc/1' '$M/rc/2' && rsync -a --inplace --no-whole-file srcB/ '$M/rc/2/'")"
			rm -rf "$M/rc/2"
		elif [ -n "$OLD" ]; then
			line+=" | $(HARDSNAP_NOW=2026-01-02T000000Z measure old-hardsnap "$OLD" backup -q srcB "$M/old")"
			rm -rf "$M/old/2026-01-02T000000Z" "$M/old/.hardsnap/manifests/2026-01-02T000000Z".*
		fi
		echo "$line"
		rm -rf "$M/hs/2026-01-02T000000Z" "$M/hs/.hardsnap/manifests/2026-01-02T000000Z".* "$M/rs/2"
	done
	umount "$M"
	rm -f "$fs.img"
done
