#!/bin/bash
# tests/bench_content.sh [OLD_BINARY]: content links, measured on the scratch
# ext4 of tests/bench.sh (root: it loop-mounts). Not part of ctest.
#  1. a folder of 1 GiB renamed: new data of hardsnap's next snapshot vs
#     rsync --link-dest's (df, same run), and times;
#  2. 10 000 small files moved between folders: how many hardsnap links;
#  3. hash first vs copy first (HARDSNAP_CONTENT_ORDER), page cache dropped
#     before each timed backup: the 1 GiB folder renamed (all linked), and
#     256 files of 1 MiB rewritten in place (same sizes: nothing to link);
#  4. with OLD_BINARY (a build from before content links): no-change
#     incremental of usr, old and new interleaved, 5 runs each.
set -euo pipefail
# shellcheck source=tests/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
old=${1:-}
H=$(bench_build)
bench_mount
W=$M/content-bench
rm -rf "$W" && mkdir -p "$W/src/photos" "$W/src/docs" "$W/rs" "$W/many/a" "$W/many/b"

used_kib() { sync; df -k --output=used "$M" | tail -1; }
secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }

for i in $(seq 1 256); do head -c 4M /dev/urandom >"$W/src/photos/p$i.jpg"; done
for i in $(seq 1 20); do echo "note $i" >"$W/src/docs/n$i.txt"; done
HARDSNAP_NOW=2026-01-01T000000Z "$H" backup -q "$W/src" "$W/hs"
rsync -aH "$W/src/" "$W/rs/1/"

mv "$W/src/photos" "$W/src/pictures"
u0=$(used_kib)
t=$(secs env HARDSNAP_NOW=2026-01-02T000000Z "$H" backup -q "$W/src" "$W/hs")
u1=$(used_kib)
tr=$(secs rsync -aH --link-dest="$W/rs/1" "$W/src/" "$W/rs/2/")
u2=$(used_kib)
new_inodes=$(comm -13 <(find "$W/hs/2026-01-01T000000Z" -type f -printf '%i\n' | sort -u) \
    <(find "$W/hs/2026-01-02T000000Z" -type f -printf '%i\n' | sort -u) | wc -l)
echo "1 GiB folder renamed: hardsnap $((u1 - u0)) KiB more used (new file inodes: $new_inodes)" \
    "in ${t} s; rsync --link-dest $((u2 - u1)) KiB in ${tr} s"

python3 - "$W/many/a" <<'PY'
import os, sys
for i in range(10000):
    with open(os.path.join(sys.argv[1], f"s{i:05d}"), "w") as f:
        f.write(f"small file {i}\n")
PY
HARDSNAP_NOW=2026-01-01T000000Z "$H" backup -q "$W/many" "$W/hs-many"
mv "$W/many/a"/* "$W/many/b/"
HARDSNAP_NOW=2026-01-02T000000Z "$H" backup --stats "$W/many" "$W/hs-many" |
    grep -E '^(content-linked|copied):' | sed 's/^/10 000 files moved: /'

cold() { sync && echo 3 >/proc/sys/vm/drop_caches; }
mkdir -p "$W/ord/src/rw"
for i in $(seq 1 256); do head -c 1M /dev/urandom >"$W/ord/src/rw/f$i"; done
mv "$W/src/pictures" "$W/ord/src/photos"
HARDSNAP_NOW=2026-01-01T000000Z "$H" backup -q "$W/ord/src" "$W/ord/hs"
n=1
for round in 1 2 3; do
    for order in hash-first copy-first; do
        for d in photos pictures; do [ -d "$W/ord/src/$d" ] && from=$d; done
        to=photos
        [ "$from" = photos ] && to=pictures
        mv "$W/ord/src/$from" "$W/ord/src/$to"
        n=$((n + 1))
        cold
        a=$(secs env HARDSNAP_CONTENT_ORDER=$order HARDSNAP_NOW="2026-01-01T0000$(printf %02d $n)Z" \
            "$H" backup -q "$W/ord/src" "$W/ord/hs")
        for i in $(seq 1 256); do
            head -c 1M /dev/urandom | dd of="$W/ord/src/rw/f$i" conv=notrunc status=none
        done
        n=$((n + 1))
        cold
        b=$(secs env HARDSNAP_CONTENT_ORDER=$order HARDSNAP_NOW="2026-01-01T0000$(printf %02d $n)Z" \
            "$H" backup -q "$W/ord/src" "$W/ord/hs")
        echo "round $round $order: 1 GiB renamed ${a} s, 256 MiB rewritten in place ${b} s"
    done
done

if [ -n "$old" ]; then
    [ -d "$M/trees/usr" ] || "$kit/mktree.sh" usr "$M/trees/usr"
    rm -rf "$W/u-old" "$W/u-new"
    HARDSNAP_NOW=2026-01-01T000000Z "$old" backup -q "$M/trees/usr" "$W/u-old"
    HARDSNAP_NOW=2026-01-01T000000Z "$H" backup -q "$M/trees/usr" "$W/u-new"
    for i in 1 2 3 4 5; do
        a=$(secs env HARDSNAP_NOW=2026-01-0$((i + 1))T000000Z "$old" backup -q "$M/trees/usr" "$W/u-old")
        b=$(secs env HARDSNAP_NOW=2026-01-0$((i + 1))T000000Z "$H" backup -q "$M/trees/usr" "$W/u-new")
        echo "usr no-change run $i: before content links ${a} s, with ${b} s"
    done
fi
