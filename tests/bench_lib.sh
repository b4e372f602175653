# shellcheck shell=bash
# What the tests/bench*.sh scripts share (sourced, after set -euo pipefail):
# here (this checkout), kit (the benchmark kit: ../shared/bench, or
# BENCH_KIT=...), M (where the journaled scratch ext4 goes), and:
here=$(cd "$(dirname "$0")/.." && pwd)
kit=${BENCH_KIT:-$here/../shared/bench}
M=/tmp/bench/mnt

# bench_args DEFAULT_REPS [-r REPS] [TREE...]: sets reps and trees (default
# small usr)
# shellcheck disable=SC2034 # reps and trees are read by the scripts
bench_args() {
	reps=$1
	shift
	if [ "${1:-}" = -r ]; then
		reps=$2
		shift 2
	fi
	trees=("$@")
	[ ${#trees[@]} -gt 0 ] || trees=(small usr)
}

# bench_mount: the scratch ext4 at $M, mounted once (root: a loop mount)
bench_mount() {
	mountpoint -q "$M" || "$kit/scratchfs.sh" up "$M" >&2
}

# bench_build: a Release build of this checkout; prints the binary's path
bench_build() {
	# one list: a failure must reach the caller's set -e through $(...)
	cmake -S "$here" -B "$here/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
		cmake --build "$here/build-bench" -j"$(nproc)" --target hardsnap-bin >/dev/null &&
		echo "$here/build-bench/hardsnap"
}
