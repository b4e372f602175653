#!/bin/bash
# tests/fuzz/run.sh [SECONDS]: builds the libFuzzer targets with clang (ASan,
# UBSan) in build-fuzz and runs each for SECONDS (default 60) from the seed
# corpus in tests/fuzz/corpus/TARGET (new finds go to build-fuzz/corpus, so
# the checked-in seeds stay as they are). Any crash, leak, hang or sanitizer
# report fails. Reproduce one with: build-fuzz/tests/fuzz_TARGET CRASH-FILE
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
command -v clang >/dev/null || { echo "fuzz: clang is needed" >&2; exit 2; }
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DHS_FUZZ=ON -DHS_SANITIZE=ON \
	-DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_manifest fuzz_cindex fuzz_config fuzz_wire fuzz_blockmap >/dev/null
for t in manifest cindex config wire blockmap; do
	work=build-fuzz/corpus/$t
	mkdir -p "$work" build-fuzz/crashes
	echo "== fuzz_$t for ${secs}s" >&2
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"build-fuzz/tests/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=build-fuzz/crashes/"$t"- -print_final_stats=1 \
		"$work" "tests/fuzz/corpus/$t" 2>"build-fuzz/fuzz_$t.log" ||
		{ tail -n 60 "build-fuzz/fuzz_$t.log" >&2; echo "fuzz_$t failed" >&2; exit 1; }
	grep -E '^stat::number_of_executed_units|^Done' "build-fuzz/fuzz_$t.log" >&2 || true
done
echo "== fuzzing passed" >&2
