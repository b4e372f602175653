#!/bin/bash
# tests/package/run.sh SOURCE_DIR: the Debian package. Configures a Release
# build of SOURCE_DIR for /usr in a temp dir (its own build: never the
# sanitizer build's binary, which needs the ASan runtime), makes the .deb
# with `cpack -G DEB` and checks what is in it: the binary, the library, the
# man pages, the units (ExecStart naming /usr/bin/hardsnap), the bash
# completion, the examples, the Depends line.
# Then, only as root and with HS_TEST_DPKG=1 or CI set (it changes the
# system), installs it with dpkg -i (a hardsnap package already there, from
# an earlier run, is purged first), runs /usr/bin/hardsnap --version and a
# real backup with it, finds the man page (man -w, where man-db is), purges
# the package and checks its files are gone.
# Environment: HS_KEEP_TMP=1 keeps the temp dir; CMAKE (default cmake) and
# CPACK (default: cpack beside it).
set -euo pipefail
src=$(cd "$1" && pwd)
cmake=${CMAKE:-cmake}
cpack=${CPACK:-$(dirname "$(command -v "$cmake" || echo cmake)")/cpack}

fail() {
	echo "FAIL: package: $*" >&2
	exit 1
}
skip() {
	echo "SKIP: package: $*" >&2
	exit 77
}
note() {
	echo "# package: $*" >&2
}
for t in "$cmake" "$cpack" dpkg dpkg-deb dpkg-shlibdeps; do
	command -v "$t" >/dev/null || skip "$t is not installed"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hs-package.XXXXXX")
installed=0
cleanup() {
	if [ "$installed" = 1 ]; then
		dpkg --purge hardsnap >/dev/null 2>&1 || true
	fi
	if [ "${HS_KEEP_TMP:-0}" = 1 ]; then
		echo "package: temp dir kept: $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

# --- the build and the package ------------------------------------------------
"$cmake" -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	-DBUILD_TESTING=OFF >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log" >&2; fail "cmake configure"; }
"$cmake" --build "$tmp/build" -j2 >"$tmp/build.log" 2>&1 || { tail -50 "$tmp/build.log" >&2; fail "build"; }
(cd "$tmp/build" && "$cpack" -G DEB) >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB"; }
debs=("$tmp"/build/hardsnap_*.deb)
[ ${#debs[@]} = 1 ] || fail "cpack made ${#debs[@]} packages"
[ -f "${debs[0]}" ] || fail "cpack made: $(ls "$tmp/build"/*.deb 2>&1)"
deb=${debs[0]}
note "made ${deb##*/} ($(stat -c %s "$deb") bytes)"

# --- what is in it -------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' | sed 's| \./| /|' >"$tmp/contents"
# has MODE OWNER PATH: the package holds PATH with that mode and owner
has() {
	grep -qxF -- "$1 $2 $3" "$tmp/contents" || fail "the package lacks '$1 $2 $3'; it holds: $(cat "$tmp/contents")"
}
has -rwxr-xr-x root/root /usr/bin/hardsnap
has -rw-r--r-- root/root /usr/share/man/man1/hardsnap.1.gz
has -rw-r--r-- root/root /usr/share/man/man5/hardsnap.conf.5.gz
has -rw-r--r-- root/root /lib/systemd/system/hardsnap.service
has -rw-r--r-- root/root /lib/systemd/system/hardsnap.timer
has -rw-r--r-- root/root /usr/share/bash-completion/completions/hardsnap
for f in "$src"/conf/*.conf "$src"/conf/hardsnap.cron; do
	has -rw-r--r-- root/root "/usr/share/doc/hardsnap/examples/${f##*/}"
done
if [ -d "$src/conf/hooks" ]; then
	while IFS= read -r f; do
		grep -q " /usr/share/doc/hardsnap/examples/hooks/$f\$" "$tmp/contents" ||
			fail "the package lacks the example hook $f"
	done < <(cd "$src/conf/hooks" && find . -type f | sed 's|^\./||')
fi
grep -Eq '^-rw-r--r-- root/root /usr/lib/([a-z0-9_-]+/)?libhardsnap\.so\.[0-9]+\.[0-9]+\.[0-9]+$' "$tmp/contents" ||
	fail "no libhardsnap.so.X.Y.Z in the package"
# no file outside the places a Debian package may use
if grep -Ev ' /(usr|lib)/' "$tmp/contents"; then
	fail "files outside /usr and /lib in the package (above)"
fi
# the unit starts the packaged binary
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/hardsnap.service >"$tmp/unit"
grep -qx 'ExecStart=/usr/bin/hardsnap run -q -c /etc/hardsnap.conf' "$tmp/unit" ||
	fail "the packaged unit's ExecStart: $(grep ExecStart= "$tmp/unit")"
# the binary is stripped, its Depends come from what it links
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/hardsnap >"$tmp/bin"
if command -v file >/dev/null; then
	file "$tmp/bin" | grep -q ', stripped' || fail "the packaged binary is not stripped: $(file "$tmp/bin")"
fi
depends=$(dpkg-deb -f "$deb" Depends)
for d in libc6 libxxhash0 libarchive13 libinih1; do
	[[ ",$depends," =~ [,\ ]${d}[\ ,] ]] || fail "Depends lacks $d: $depends"
done
[ "$(dpkg-deb -f "$deb" Package)" = hardsnap ] || fail "Package: $(dpkg-deb -f "$deb" Package)"
note "Depends: $depends"

# --- install, use, purge --------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
	note "not root: dpkg -i, the installed binary and dpkg --purge were not tested"
	exit 0
fi
if [ "${HS_TEST_DPKG:-}" != 1 ] && [ -z "${CI:-}" ]; then
	note "HS_TEST_DPKG=1 (or CI) not set: dpkg -i, the installed binary and dpkg --purge were not tested"
	exit 0
fi
if dpkg-query -W -f '${db:Status-Status}' hardsnap 2>/dev/null | grep -qv '^not-installed$'; then
	note "a hardsnap package is installed (an earlier run?): purging it first"
	dpkg --purge hardsnap >"$tmp/purge0.log" 2>&1 || { cat "$tmp/purge0.log" >&2; fail "dpkg --purge of the old package"; }
fi
installed=1
dpkg -i "$deb" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "dpkg -i"; }
[ -x /usr/bin/hardsnap ] || fail "no /usr/bin/hardsnap after dpkg -i"
version=$(/usr/bin/hardsnap --version) || fail "/usr/bin/hardsnap --version failed"
[[ $version == *"$(dpkg-deb -f "$deb" Version)"* ]] || fail "--version says '$version', the package $(dpkg-deb -f "$deb" Version)"
note "installed: $version"
# it runs with the system's libraries alone, not the build's
if ldd /usr/bin/hardsnap | grep -F "$tmp"; then
	fail "/usr/bin/hardsnap links libraries from the build dir (above)"
fi
if command -v man >/dev/null && [ -x /usr/bin/mandb ]; then
	where=$(man -w hardsnap 2>&1) || fail "man -w hardsnap: $where"
	[ "$where" = /usr/share/man/man1/hardsnap.1.gz ] || fail "man -w hardsnap: $where"
	where=$(man -w 5 hardsnap.conf 2>&1) || fail "man -w 5 hardsnap.conf: $where"
else
	note "no man-db: man -w not tested"
fi
# a real backup, twice, with the installed binary
mkdir -p "$tmp/src/d" "$tmp/dest"
printf 'hello\n' >"$tmp/src/d/f"
HARDSNAP_NOW=2026-01-01T000000Z /usr/bin/hardsnap backup -q "$tmp/src" "$tmp/dest/store" ||
	fail "backup with /usr/bin/hardsnap"
HARDSNAP_NOW=2026-01-02T000000Z /usr/bin/hardsnap backup -q "$tmp/src" "$tmp/dest/store" ||
	fail "second backup with /usr/bin/hardsnap"
a=$(stat -c %i "$tmp/dest/store/2026-01-01T000000Z/d/f") b=$(stat -c %i "$tmp/dest/store/2026-01-02T000000Z/d/f")
[ "$a" = "$b" ] || fail "the installed binary's second snapshot did not link the unchanged file"
/usr/bin/hardsnap list "$tmp/dest/store" >"$tmp/list.out" || fail "list with /usr/bin/hardsnap"
[ "$(grep -c '^2026-01-0[12]T000000Z' "$tmp/list.out")" = 2 ] || fail "list: $(cat "$tmp/list.out")"

# the package's files and symlinks (not its directories: /lib, /usr/bin ...)
awk '$1 !~ /^d/ { print $3 }' "$tmp/contents" >"$tmp/files"
grep -qx /usr/bin/hardsnap "$tmp/files" || fail "no /usr/bin/hardsnap in $tmp/files"
dpkg --purge hardsnap >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log" >&2; fail "dpkg --purge"; }
installed=0
dpkg-query -W -f '${db:Status-Status}' hardsnap 2>/dev/null | grep -qv '^not-installed$' &&
	fail "hardsnap still known to dpkg after the purge: $(dpkg -s hardsnap 2>&1 | head -3)"
while IFS= read -r f; do
	if [ -f "$f" ] || [ -L "$f" ]; then
		fail "$f is still there after dpkg --purge"
	fi
done <"$tmp/files"
note "installed, used and purged"
