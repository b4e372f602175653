#!/bin/bash
# bench_remote_delta.sh HARDSNAP: a changed 4 GiB file pulled over a real
# ssh (sshd on 127.0.0.1, tests/integration/remote_lib.sh), the second
# snapshot timed (up to a sync of the store), the bytes the server sent
# counted (fake_rsh's relay around ssh: the protocol's bytes, before ssh's
# encryption) and its new space (df): hardsnap backup of HOST:PATH vs rsync
# -a --link-dest over the same ssh vs the hand-made recipe (cp --reflink of
# the last copy + rsync --inplace --no-whole-file), stores on btrfs and
# ext4 loop mounts. 1, 10 and 50 % of the 64 KiB blocks are rewritten
# (random blocks, fixed seed). SIZE_MIB=N makes the file N MiB instead of
# 4096. docs/benchmarks.md has one run's table. Root; WORK (default
# /tmp/hs-remote-delta) holds the two sources and a sparse 40 GiB loop
# image, of which up to 13 GiB get written (removed after). Not in ctest.
set -euo pipefail
HS=$(realpath "${1:?usage: bench_remote_delta.sh HARDSNAP}")
# shellcheck source=tests/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
W=${WORK:-/tmp/hs-remote-delta}
M=$W/mnt
mkdir -p "$W/srcA" "$W/srcB" "$M"
cd "$W"

bench_cleanup() {
	umount "$M" 2>/dev/null
	rm -rf "$W"/*.img
}
bench_remote_env bench-rdelta
# shellcheck source=tests/integration/remote_lib.sh
source "$here/tests/integration/remote_lib.sh"
sshd_start
export XDG_CACHE_HOME=$HS_TMP/cache
export FAKE_RSH_VIA=$SSH_RSH FAKE_RSH_COUNT=$HS_TMP/count
RSH=$FAKE_RSH
HOST=$SSH_USER@$SSH_HOST

used() {
	sync -f "$1"
	df --output=used -B1 "$1" | tail -1 | tr -d ' '
}
# measure NAME CMD...: "NAME T s, N MiB sent, N MiB new" for CMD
measure() {
	local name=$1 u s rc=0 t sent
	shift
	u=$(used "$M")
	: >"$FAKE_RSH_COUNT"
	s=$EPOCHREALTIME
	"$@" >/dev/null 2>>"$W/err.log" || rc=$?
	sync -f "$M"
	t=$(awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	sent=$(awk '{ s += $2 } END { printf "%.1f", s / 1048576 }' "$FAKE_RSH_COUNT")
	echo "$name $t s, $sent MiB sent, $((($(used "$M") - u) / 1048576)) MiB new$([ $rc = 0 ] || echo " (exit $rc)")"
}
hs_pull() {
	HARDSNAP_NOW=$1 "$HS" backup -q -e "$RSH" --hardsnap-path "$HS" "$HOST:$2" "$M/hs"
}
rs_pull() {
	rsync -a --numeric-ids -e "$RSH" "${@:3}" "$HOST:$1/" "$2/"
}

size_mib=${SIZE_MIB:-4096}
[ "$(stat -c %s srcA/vm.img 2>/dev/null)" = $((size_mib * 1048576)) ] ||
	head -c $((size_mib * 1048576)) /dev/urandom >srcA/vm.img
touch -d 2026-01-01 srcA/vm.img
echo "$(date -u +%FT%TZ), $(nproc) cores, $(uname -r), $(rsync --version | head -n 1 | awk '{ print "rsync", $3 }'), $(ssh -V 2>&1 | cut -d, -f1), $size_mib MiB"
for fs in btrfs ext4; do
	truncate -s 40G "$fs.img"
	case $fs in
	btrfs) mkfs.btrfs -q -f "$fs.img" >/dev/null ;;
	ext4) mkfs.ext4 -q -F "$fs.img" ;;
	esac
	mount -o loop "$fs.img" "$M"
	mkdir -p "$M/rs" "$M/rc"
	# the first pulls (not timed): the same source path as the changed one
	rm -rf srcB/vm.img && cp srcA/vm.img srcB/vm.img && touch -d 2026-01-01 srcB/vm.img
	hs_pull 2026-01-01T000000Z "$W/srcB"
	rs_pull "$W/srcB" "$M/rs/1"
	if [ "$fs" != ext4 ]; then rs_pull "$W/srcB" "$M/rc/1"; fi
	cp -a "$M/hs/.hardsnap/remote" "$W/remote-saved"
	for pct in 1 10 50; do
		cp srcA/vm.img srcB/vm.img
		bench_change_blocks srcB/vm.img "$pct"
		touch -d 2026-01-02 srcB/vm.img
		sync
		line="$fs $pct %: $(measure hardsnap hs_pull 2026-01-02T000000Z "$W/srcB")"
		line+=" | $(measure rsync-link-dest rs_pull "$W/srcB" "$M/rs/2" --link-dest=../1)"
		if [ "$fs" != ext4 ]; then
			line+=" | $(measure reflink+inplace sh -c "cp -a --reflink=always '$M/rc/1' '$M/rc/2' && rsync -a --inplace --no-whole-file -e '$RSH' '$HOST:$W/srcB/' '$M/rc/2/'")"
			rm -rf "$M/rc/2"
		fi
		echo "$line"
		# the next round starts from the first snapshot again
		rm -rf "$M/hs/2026-01-02T000000Z" "$M/hs/.hardsnap/manifests/2026-01-02T000000Z".* "$M/rs/2"
		ln -sfn 2026-01-01T000000Z "$M/hs/latest"
		rm -rf "$M/hs/.hardsnap/remote" && cp -a "$W/remote-saved" "$M/hs/.hardsnap/remote"
	done
	rm -rf "$W/remote-saved"
	umount "$M"
	rm -f "$fs.img"
done
