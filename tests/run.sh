#!/bin/bash
# tests/run.sh: the whole test suite, as CI runs it. Installs what is needed
# (tests/deps.sh), checks formatting, builds with -Werror and runs every test,
# then builds again with AddressSanitizer + UBSan and runs every test again,
# then runs the libFuzzer targets for 60 s each (HS_FUZZ_SECONDS).
#   --no-sanitize   skip the sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=1
[ "${1:-}" = --no-sanitize ] && sanitize=0
jobs=$(nproc)

./tests/deps.sh

echo "== clang-format, shellcheck" >&2
clang-format --dry-run --Werror lib/*.[ch] cmd/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch] tests/fault/*.c \
	tests/install/*.c
shellcheck -x tests/*.sh tests/integration/*.sh tests/fuzz/*.sh tests/install/*.sh tests/package/*.sh \
	conf/hooks/* .ci/run
shellcheck -s bash conf/hardsnap.bash-completion

echo "== build (-Werror) and test" >&2
cmake -S . -B build -DHS_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== release build (-O3 -Werror: other warnings than -O2), without the tests" >&2
# (-U: Check's entries a build dir with the tests may have cached before)
cmake -S . -B build-release -DHS_WERROR=ON -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
	-U 'CHECK_*' >/dev/null
cmake --build build-release -j"$jobs"
# the library and the tool alone do not need Check
if grep -q '^CHECK_FOUND' build-release/CMakeCache.txt; then
	echo "-DBUILD_TESTING=OFF still looked for Check" >&2
	exit 1
fi

if [ $sanitize = 1 ]; then
	echo "== build with ASan+UBSan and test" >&2
	cmake -S . -B build-asan -DHS_WERROR=ON -DHS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-asan -j"$jobs"
	# exit codes no hardsnap status uses, so no test mistakes a report for success
	ASAN_OPTIONS=detect_leaks=1:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87 \
		ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
if [ $sanitize = 1 ]; then
	# libFuzzer on the parsers of untrusted bytes: 60 s each (tests/fuzz/run.sh)
	./tests/fuzz/run.sh "${HS_FUZZ_SECONDS:-60}"
fi
echo "== all tests passed" >&2
