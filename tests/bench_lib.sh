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

# bench_change_blocks FILE PCT: rewrites PCT % of FILE's 64 KiB blocks
# (random blocks, a fixed seed: the same ones in every run)
bench_change_blocks() {
	python3 - "$1" "$2" <<'PYEOF'
import os, random, sys
path, pct, bs = sys.argv[1], float(sys.argv[2]), 65536
n = os.path.getsize(path) // bs
fd = os.open(path, os.O_WRONLY)
for i in sorted(random.Random(17).sample(range(n), int(n * pct / 100))):
    os.pwrite(fd, os.urandom(bs), i * bs)
os.close(fd)
PYEOF
}

# bench_remote_env NAME: what tests/integration/remote_lib.sh expects from
# lib.sh, for a script: HS_TMP (/tmp/NAME.XXXXXX), at_exit, skip, note, have,
# and the byte relay built; on exit the at_exit commands run (newest first),
# then bench_cleanup if the script defines one, and HS_TMP goes. The script
# sources remote_lib.sh after it.
bench_remote_env() {
	HS_TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	HS_AT_EXIT=()
	# shellcheck disable=SC2034 # read by remote_lib.sh
	RL_SKIP_RETURNS=1
	HS_FAKE_RELAY=$HS_TMP/fake_relay
	trap bench__remote_exit EXIT
	cc -O2 -pthread -o "$HS_FAKE_RELAY" "$here/tests/fault/fake_relay.c"
}
at_exit() { HS_AT_EXIT+=("$*"); }
skip() {
	echo "SKIP: $*" >&2
	return 77
}
note() { echo "# $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
bench__remote_exit() {
	local i
	set +e
	for ((i = ${#HS_AT_EXIT[@]} - 1; i >= 0; i--)); do eval "${HS_AT_EXIT[i]}" >/dev/null 2>&1; done
	if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
	rm -rf "$HS_TMP"
}
