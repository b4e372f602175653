#!/bin/bash
# tests/bench_ab.sh [-r REPS] [-m MODE] OLD NEW [TREE...]: one operation on
# each tree (default: small usr) with two hardsnap binaries, in one
# interleaved run (OLD NEW NEW OLD ...), each repetition from the same store
# (one snapshot made by OLD); prints the medians and NEW/OLD. MODE: nochange
# (the incremental backup, default), full (a first backup into an empty
# store), restore (the snapshot into an empty directory), export (the
# snapshot to a tar). For "within N % of the commit before": build the
# commit before (e.g. a git worktree) and this one in Release. Needs root
# (the kit's journaled scratch ext4 at /tmp/bench/mnt, trees built there
# once). Not part of ctest.
set -euo pipefail
# shellcheck source=tests/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
reps=11 mode=nochange
while [ "${1:-}" = -r ] || [ "${1:-}" = -m ]; do
	if [ "$1" = -r ]; then reps=$2; else mode=$2; fi
	shift 2
done
[ $# -ge 2 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
case $mode in nochange | full | restore | export) ;; *) echo "unknown mode: $mode" >&2; exit 2 ;; esac
old=$(realpath "$1") new=$(realpath "$2")
shift 2
trees=("$@")
[ ${#trees[@]} -gt 0 ] || trees=(small usr)
bench_mount
base=2026-01-01T000000Z next=2026-01-02T000000Z

# the operation of $mode, then what it made removed again
run_op() {
	local bin=$1 src=$2 dest=$3
	case $mode in
	nochange) HARDSNAP_NOW=$next "$bin" backup -q "$src" "$dest" ;;
	full) HARDSNAP_NOW=$next "$bin" backup -q "$src" "$dest.full" ;;
	restore) "$bin" restore -q "$dest/$base" "$dest.out" ;;
	export) "$bin" export -q "$dest/$base" "$dest.tar" ;;
	esac
}

undo_op() {
	local dest=$1
	rm -rf "${dest:?}/$next" "$dest/.hardsnap/manifests/$next".* "$dest.full" "$dest.out" "$dest.tar"
	ln -sfn "$base" "$dest/latest"
}

# one timed operation: seconds on stdout
timed() {
	local bin=$1 src=$2 dest=$3 t0 t1
	sync
	t0=$EPOCHREALTIME
	run_op "$bin" "$src" "$dest"
	t1=$EPOCHREALTIME
	undo_op "$dest"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf '| %s: tree | old (s) | new (s) | new/old |\n|---|---|---|---|\n' "$mode"
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
