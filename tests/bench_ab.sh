#!/bin/bash
# tests/bench_ab.sh [-r REPS] OLD NEW [TREE...]: the no-change incremental
# backup of each tree (default: small usr) with two hardsnap binaries, in one
# interleaved run (OLD NEW NEW OLD ...), each repetition from the same store
# (one snapshot made by OLD); prints the medians and NEW/OLD. For "within N %
# of the commit before": build the commit before (e.g. a git worktree) and
# this one in Release. Needs root (the kit's journaled scratch ext4 at
# /tmp/bench/mnt, trees built there once). Not part of ctest.
set -euo pipefail
# shellcheck source=tests/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
reps=11
[ "${1:-}" = -r ] && { reps=$2; shift 2; }
[ $# -ge 2 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2")
shift 2
trees=("$@")
[ ${#trees[@]} -gt 0 ] || trees=(small usr)
bench_mount
base=2026-01-01T000000Z next=2026-01-02T000000Z

# one timed backup: seconds on stdout
timed() {
	local bin=$1 src=$2 dest=$3 t0 t1
	sync
	t0=$EPOCHREALTIME
	HARDSNAP_NOW=$next "$bin" backup -q "$src" "$dest"
	t1=$EPOCHREALTIME
	rm -rf "${dest:?}/$next" "$dest/.hardsnap/manifests/$next".*
	ln -sfn "$base" "$dest/latest"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf '| tree | old (s) | new (s) | new/old |\n|---|---|---|---|\n'
for t in "${trees[@]}"; do
	src=$M/trees/$t dest=$M/ab-$t
	[ -d "$src" ] || "$kit/mktree.sh" "$t" "$src" >&2
	rm -rf "$dest"
	HARDSNAP_NOW=$base "$old" backup -q "$src" "$dest"
	timed "$old" "$src" "$dest" >/dev/null # warm both the tree and the store
	: >"$dest.old" && : >"$dest.new"
	for ((r = 0; r < reps; r++)); do
		if ((r % 2)); then order=(new old); else order=(old new); fi
		for w in "${order[@]}"; do
			if [ "$w" = old ]; then timed "$old" "$src" "$dest" >>"$dest.old"; else timed "$new" "$src" "$dest" >>"$dest.new"; fi
		done
	done
	o=$(median <"$dest.old") n=$(median <"$dest.new")
	printf '| %s | %s | %s | %s |\n' "$t" "$o" "$n" "$(awk -v a="$o" -v b="$n" 'BEGIN { printf "%.3f", b / a }')"
done
