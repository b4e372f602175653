#!/bin/bash
# tests/install/run.sh BUILD_DIR VERSION SOVERSION: the library as another
# program sees it. Installs BUILD_DIR into a temp DESTDIR (cmake --install),
# then, through pkg-config alone (PKG_CONFIG_LIBDIR: no other .pc is found;
# PKG_CONFIG_SYSROOT_DIR: the DESTDIR in front of its paths), checks the
# installed files (one header, a shared library with its SONAME, no static
# one), that the library exports what hardsnap.h declares and nothing else,
# that the header compiles on its own (C11 -pedantic, and C++ if there is a
# compiler), and builds and runs tests/install/use_lib.c against it.
# Environment: CC (default cc), HS_TEST_CFLAGS (the sanitizer flags of the
# build, if any), HS_KEEP_TMP=1 (keep the temp dir).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1 version=$2 soversion=$3
cc=${CC:-cc}
read -r -a cflags <<<"${HS_TEST_CFLAGS:-}"

fail() {
	echo "FAIL: install: $*" >&2
	exit 1
}
command -v pkg-config >/dev/null || { echo "SKIP: install: pkg-config is not installed" >&2; exit 77; }
command -v readelf >/dev/null || { echo "SKIP: install: readelf (binutils) is not installed" >&2; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hs-install.XXXXXX")
if [ "${HS_KEEP_TMP:-0}" = 1 ]; then
	trap 'echo "install: temp dir kept: $tmp" >&2' EXIT
else
	trap 'rm -rf "$tmp"' EXIT
fi
root=$tmp/root
DESTDIR=$root cmake --install "$build" >"$tmp/install.log" || { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }

# --- what was installed ---------------------------------------------------
pcs=$(find "$root" -name '*.pc')
if [ "$(printf '%s\n' "$pcs" | wc -l)" != 1 ] || [ "${pcs##*/}" != hardsnap.pc ]; then
	fail "pkg-config files installed: $pcs"
fi
headers=$(find "$root" -name '*.h')
if [ "$(printf '%s\n' "$headers" | wc -l)" != 1 ] || [ "${headers##*/}" != hardsnap.h ]; then
	fail "headers installed: $headers"
fi
[ -z "$(find "$root" -name '*.a')" ] || fail "a static library was installed: $(find "$root" -name '*.a')"

export PKG_CONFIG_LIBDIR=${pcs%/*} PKG_CONFIG_PATH='' PKG_CONFIG_SYSROOT_DIR=$root
pkg-config --validate hardsnap || fail "pkg-config --validate hardsnap"
[ "$(pkg-config --modversion hardsnap)" = "$version" ] || fail "version $(pkg-config --modversion hardsnap), want $version"
read -r -a pc_cflags <<<"$(pkg-config --cflags hardsnap)"
read -r -a pc_libs <<<"$(pkg-config --libs hardsnap)"
# a path variable of hardsnap.pc in the DESTDIR (pkgconf puts the sysroot in
# front of variables too, pkg-config 0.29 only of -I and -L)
pc_path() {
	local v
	v=$(pkg-config --variable="$1" hardsnap)
	case $v in "$root"/*) echo "$v" ;; *) echo "$root$v" ;; esac
}
libdir=$(pc_path libdir)
[ "$(dirname "$headers")" = "$(pc_path includedir)" ] ||
	fail "hardsnap.h is in $(dirname "$headers"), hardsnap.pc says $(pc_path includedir)"

lib=$libdir/libhardsnap.so
[ -L "$lib" ] || fail "$lib (the link to build against) is missing"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libhardsnap.so.$soversion" ] || fail "SONAME $soname, want libhardsnap.so.$soversion"
[ -e "$libdir/$soname" ] || fail "$libdir/$soname is missing"

# --- the exported symbols are hardsnap.h's ----------------------------------
# (a function the header declares is "name(" there; its data, the one array;
# names in __ are the compiler's, e.g. ASan's __odr_asan.hs_export_suffixes)
readelf --dyn-syms -W "$lib" |
	awk '$7 != "UND" && $5 == "GLOBAL" && $8 !~ /^__/ { sub(/@.*/, "", $8); print $8 }' |
	sort -u >"$tmp/exported"
grep -o '\bhs_[a-z_]*(' "$headers" | tr -d '(' >"$tmp/declared"
grep -o '\bhs_[a-z_]*\[\]' "$headers" | tr -d '[]' >>"$tmp/declared"
sort -u -o "$tmp/declared" "$tmp/declared"
[ -s "$tmp/exported" ] || fail "no symbol exported"
if ! diff -u "$tmp/declared" "$tmp/exported" >"$tmp/sym.diff"; then
	cat "$tmp/sym.diff" >&2
	fail "exported symbols (+) differ from hardsnap.h's declarations (-)"
fi

# --- the header alone -------------------------------------------------------
printf '#include <hardsnap.h>\n' >"$tmp/alone.c"
"$cc" -std=c11 -pedantic -Wall -Wextra -Werror "${pc_cflags[@]}" -fsyntax-only "$tmp/alone.c" ||
	fail "hardsnap.h does not compile on its own (C11)"
if command -v c++ >/dev/null; then
	printf '#include <hardsnap.h>\nint main() { return hs_version() ? 0 : 1; }\n' >"$tmp/alone.cc"
	c++ -Wall -Wextra -Werror "${pc_cflags[@]}" -fsyntax-only "$tmp/alone.cc" ||
		fail "hardsnap.h does not compile as C++"
fi

# --- a program built against it ---------------------------------------------
"$cc" -std=c11 -Wall -Wextra -Werror "${cflags[@]}" -o "$tmp/use_lib" "$here/use_lib.c" \
	"${pc_cflags[@]}" "${pc_libs[@]}" || fail "use_lib.c does not build with pkg-config's flags"
# it runs with the installed library, not the build's
# (ldd's output read whole: grep -q would stop reading, and under pipefail
# ldd's SIGPIPE would fail a match)
loaded=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/use_lib")
grep -q "libhardsnap.so.$soversion => $libdir/" <<<"$loaded" ||
	fail "use_lib does not load $libdir/$soname: $loaded"
mkdir "$tmp/work"
out=$(LD_LIBRARY_PATH=$libdir "$tmp/use_lib" "$version" "$tmp/work") || fail "use_lib failed"
[ "$out" = "use_lib: ok" ] || fail "use_lib said: $out"
echo "install: ok ($soname, $(wc -l <"$tmp/exported") symbols)"
