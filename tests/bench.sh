#!/bin/bash
# tests/bench.sh [-r REPS] [TREE...]: times hardsnap against rsync -aH
# --link-dest, cp -a and cp -al in one interleaved run per tree, with the
# shared benchmark kit (../shared/bench, or BENCH_KIT=...). Needs root: it
# loop-mounts a journaled scratch ext4 at /tmp/bench/mnt and builds the trees
# there (small, usr, large; big) once. Not part of ctest: figures, not verdicts.
# Prints the peers.sh tables; memory of a first backup: see the "full" rows.
set -euo pipefail
# shellcheck source=tests/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
bench_args 5 "$@"
[ -x "$kit/peers.sh" ] || { echo "bench: no benchmark kit at $kit (set BENCH_KIT)" >&2; exit 2; }
bin=$(bench_build)
bench_mount
for t in "${trees[@]}"; do
	[ -d "$M/trees/$t" ] || "$kit/mktree.sh" "$t" "$M/trees/$t"
	phases=full,nochange,change
	[ "$t" = big ] && phases=full
	[ "$t" = large ] && phases=full,nochange
	HARDSNAP=$bin MEMTREE=1 "$kit/peers.sh" -r "$reps" -p "$phases" -l "$t" \
		-o "/tmp/bench/results-hs/$t" "$M/trees/$t" "$M/work-$t"
done
