#!/bin/bash
# tests/bench_archive.sh [-r REPS] [TREE...]: export and import against bsdtar,
# interleaved, in one run per tree, on the scratch ext4 of tests/bench.sh.
# Each tree is backed up twice into a store; then, REPS times each:
#   export:  hardsnap export SNAP a.tar   vs  (cd SNAP && bsdtar -cf b.tar .)
#            and the same as .tar.zst     vs  bsdtar --zstd -cf
#   import:  hardsnap import a.tar (new store), again (all unchanged)
#            vs  bsdtar -xpf a.tar && sync (import makes its snapshot durable)
# Prints one line per run: seconds and peak RSS (KiB). Not part of ctest.
set -euo pipefail
# shellcheck source=tests/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
bench_args 5 "$@"
command -v bsdtar >/dev/null || { echo "bench: bsdtar is needed (libarchive-tools)" >&2; exit 2; }
H=$(bench_build)
bench_mount
W=$M/archive-bench

timed() { { /usr/bin/time -f "%e %M" "$@" >/dev/null; } 2>&1 | tail -1; }

for t in "${trees[@]}"; do
	[ -d "$M/trees/$t" ] || "$kit/mktree.sh" "$t" "$M/trees/$t"
	rm -rf "$W" && mkdir -p "$W"
	HARDSNAP_NOW=2026-11-20T000000Z "$H" backup -q "$M/trees/$t" "$W/store"
	HARDSNAP_NOW=2026-11-21T000000Z "$H" backup -q "$M/trees/$t" "$W/store"
	snap=$(readlink -f "$W/store/latest")
	for i in $(seq "$reps"); do
		rm -f "$W"/*.tar "$W"/*.zst
		a=$(timed "$H" export -q "$snap" "$W/a.tar")
		b=$(timed sh -c "cd '$snap' && bsdtar -cf '$W/b.tar' .")
		c=$(timed "$H" export -q "$snap" "$W/a.tar.zst")
		d=$(timed sh -c "cd '$snap' && bsdtar --zstd -cf '$W/b.tar.zst' .")
		echo "$t export run $i: tar hardsnap $a bsdtar $b | zst hardsnap $c bsdtar $d"
	done
	for i in $(seq "$reps"); do
		rm -rf "$W/imp" "$W/x" && mkdir "$W/x" && sync
		a=$(timed env HARDSNAP_NOW=2026-01-01T000000Z "$H" import -q "$W/a.tar" "$W/imp")
		b=$(timed env HARDSNAP_NOW=2026-01-02T000000Z "$H" import -q "$W/a.tar" "$W/imp")
		c=$(timed sh -c "bsdtar -xpf '$W/a.tar' -C '$W/x' && sync")
		echo "$t import run $i: first $a again $b | bsdtar -x + sync $c"
	done
done
