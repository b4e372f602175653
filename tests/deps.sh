#!/bin/bash
# tests/deps.sh [--build]: installs the Debian 12 packages hardsnap needs to
# build and test (apt-get; through sudo when not root); with --build, only
# those to build it (and its unit tests). Does nothing if all are present.
set -euo pipefail
PKGS=(build-essential cmake pkg-config libxxhash-dev libarchive-dev libinih-dev check)
if [ "${1:-}" != --build ]; then
	PKGS+=(clang-format shellcheck python3 libcap2-bin
	      attr acl rsync util-linux e2fsprogs libarchive-tools mandoc genisoimage zstd xz-utils
	      btrfs-progs clang openssh-server openssh-client iproute2 sudo passwd)
	# the example hooks' tests (t28_hook_*): a database to dump, LVM, a ping
	PKGS+=(postgresql lvm2 curl)
	# the report's test (t29): a real browser renders the page
	PKGS+=(chromium)
	PKGS+=(xfsprogs) # unit_delta_needs_xfs, tests/bench_delta.sh: xfs with reflinks
	PKGS+=(systemd dpkg-dev file bash-completion) # systemd-analyze, dpkg-shlibdeps (cpack -G DEB)
	PKGS+=(rsnapshot) # t35: a store made by Debian's rsnapshot, migrated
	PKGS+=(unzip tar) # t40_export_tools: the exports read by the tools a user has
	PKGS+=(xorriso 7zip python3-pycdlib) # t41_export_iso, t41_export_readers: more readers
fi
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
echo "deps: installing ${missing[*]}" >&2
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
