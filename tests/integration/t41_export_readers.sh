#!/bin/bash
# Every export read by the tools a user would use on it (issue 16): GNU tar,
# bsdtar, 7-Zip, unzip, xorriso, pycdlib, each extraction (or listing)
# compared with the snapshot: names, types, modes, owners, mtimes (seconds),
# symlink targets, contents by hash, hard links. What a reader cannot do
# (hardsnap.1, EXPORT) is left out of its comparison, by name below, and
# nothing else: a new difference fails. Each tool that is missing is noted.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
export TZ=UTC

# as a user restoring a backup would: as root, which the readers let keep
# owners and setuid bits
is_root || skip "needs root (readers restore owners and setuid bits as root only)"

mkdir -p src/d1/d2/d3 src/empty src/ro src/ünï
printf 'one\n' >src/f1
printf 'two\n' >src/d1/f2
: >src/emptyfile
head -c 100000 /dev/urandom >src/d1/d2/big
printf 'u\n' >src/ünï/grüße
ln src/f1 src/d1/hard1
ln src/f1 src/d1/d2/hard2
ln -s f1 src/sl
ln -s ../f1 src/d1/sl2
ln -s /nonexistent src/dangling
chmod 0640 src/f1
chmod 0600 src/d1/f2
chmod 0755 src/d1/d2/big
chmod 4755 src/emptyfile
chmod 0555 src/ro
chmod 0700 src/d1/d2/d3
chmod 0750 src
is_root && chown 1234:5678 src/d1/f2
set_mtime '2001-02-03 04:05:06.123456789' src/f1 src/sl src/d1/f2 src/emptyfile src/d1/d2/big \
    src/dangling src/d1/sl2
set_mtime '2003-03-03 03:03:03' src/ünï/grüße src/ünï
set_mtime '2002-01-01 00:00:01' src/d1/d2/d3 src/d1/d2 src/empty src/ro src/d1
set_mtime '2000-01-02 03:04:05' src
backup_at 0 src dest
snap=dest/$(now 0)
for f in x.tar x.zip x.iso; do
    hs_rc 0 export "$snap" "$f"
done

# listing DIR: "entry PATH TYPE MODE OWNER MTIME TARGET" per name (DIR is
# "."), "link PATH => FIRST" per extra name of a file, "hash SHA1 PATH"
listing() {
    (
        cd "$1" || exit 1
        find . -printf 'entry %p %y %m %U:%G %TY%Tm%Td%TH%TM%TS %l\n' |
            sed -E 's/^(entry \S+ \S+ \S+ \S+ [0-9]+)\.[0-9]+/\1/' | sort
        find . -type f -links +1 -printf '%i %p\n' | sort -k1,1 -k2 |
            awk '{ if ($1 in f) print "link " $2 " => " f[$1]; else f[$1] = $2 }' | sort
        find . -type f -exec sha1sum {} + | awk '{ print "hash", $1, $2 }' | sort -k3
    )
}
listing "$snap" >want.all

# forget LISTING RULES...: a listing less what a reader cannot keep:
#   rootmode, roottime  the root's (the directory extracted into) mode, mtime
#   owner       owners (not restored: the extraction's own)
#   links       hard links (each name its own file)
#   linktime    symlinks' mtimes
#   special     setuid bits dropped, directories writable by their owner
#   abslink     absolute symlink targets (7-Zip makes them relative to the
#               extraction directory)
forget() {
    local file=$1
    shift
    awk -v rules=" $* " '
        function has(r) { return index(rules, " " r " ") > 0 }
        $1 == "link" && has("links") { next }
        $1 == "entry" {
            if ($2 == "." && has("rootmode")) $4 = "-"
            if ($2 == "." && has("roottime")) $6 = "-"
            if (has("owner")) $5 = "-"
            if ($3 == "l" && has("linktime")) $6 = "-"
            if ($3 == "l" && has("abslink") && substr($7, 1, 1) == "/") $7 = "-"
            if (has("special")) {
                m = $4
                if (length(m) == 4) m = substr(m, 2)
                if ($3 == "d") m = (substr(m, 1, 1) + 0 < 2 || substr(m, 1, 1) ~ /[45]/) ? \
                    (substr(m, 1, 1) + 2) substr(m, 2) : m
                $4 = m
            }
        }
        { print }' "$file"
}

# check TOOL DIR RULES...: DIR, as TOOL extracted it, is the snapshot but
# for RULES; the same rules applied to both sides
check() {
    local tool=$1 dir=$2
    shift 2
    listing "$dir" >"got.all.$tool"
    forget want.all "$@" >"want.$tool"
    forget "got.all.$tool" "$@" >"got.$tool"
    diff "want.$tool" "got.$tool" >&2 || fail "$tool: the extraction differs from the snapshot"
}

# --- GNU tar: everything ---------------------------------------------------------------
if have tar && tar --version | grep -q 'GNU tar'; then
    mkdir out.gtar
    tar -xf x.tar -C out.gtar 2>err || fail "GNU tar: $(cat err)"
    [ ! -s err ] || fail "GNU tar warns: $(head -3 err)"
    check gtar out.gtar
else
    note "GNU tar not available"
fi

# --- bsdtar: tar, zip, ISO: all but the mtime of the directory extracted into --------
if have bsdtar; then
    for f in tar zip iso; do
        mkdir "out.bsdtar.$f"
        LC_ALL=C.UTF-8 bsdtar -xf "x.$f" -C "out.bsdtar.$f" 2>err || fail "bsdtar x.$f: $(cat err)"
        [ ! -s err ] || fail "bsdtar x.$f says: $(head -3 err)"
    done
    check bsdtar.tar out.bsdtar.tar roottime
    check bsdtar.zip out.bsdtar.zip roottime links
    check bsdtar.iso out.bsdtar.iso roottime
else
    note "bsdtar (libarchive-tools) not available"
fi

# --- unzip: -X (owners) -K (setuid); no root, no symlink times; zip has no hard links --
if have unzip; then
    mkdir out.unzip
    (cd out.unzip && LC_ALL=C.UTF-8 unzip -q -X -K ../x.zip) >err 2>&1 || fail "unzip: $(cat err)"
    [ ! -s err ] || fail "unzip says: $(head -3 err)"
    check unzip out.unzip rootmode roottime linktime links
else
    note "unzip not available"
fi

# --- 7-Zip: tar and zip -snld (symlinks with ".." are made); ISO without Rock Ridge ---
sevenz=$(command -v 7zz || command -v 7z || true)
if [ -n "$sevenz" ]; then
    for f in tar zip; do
        mkdir "out.7z.$f"
        (cd "out.7z.$f" && LC_ALL=C.UTF-8 "$sevenz" x -snld "../x.$f") >err 2>&1 || fail "7z x.$f: $(tail -5 err)"
        grep -E 'ERROR|WARNING|Error' err && fail "7z x.$f: $(grep -E 'ERROR|WARNING|Error' err)"
    done
    check 7z.tar out.7z.tar roottime owner special abslink
    check 7z.zip out.7z.zip roottime owner special abslink links
    # ISO: 7-Zip reads the ISO 9660 / Joliet tree alone: names and contents
    mkdir out.7z.iso
    (cd out.7z.iso && LC_ALL=C.UTF-8 "$sevenz" x ../x.iso) >err 2>&1 || fail "7z x.iso: $(tail -5 err)"
    diff <(grep '^hash' want.all | grep -v ' \./\(sl\|dangling\|d1/sl2\)$') \
        <(listing out.7z.iso | grep '^hash' | grep -v ' \./\(sl\|dangling\|d1/sl2\)$') >&2 ||
        fail "7z x.iso: contents differ"
else
    note "7-Zip (7zip) not available"
fi

# --- xorriso: extracted into a directory it makes; -hardlinks on; no symlink times ----
if have xorriso; then
    LC_ALL=C.UTF-8 xorriso -osirrox on -hardlinks on -indev x.iso -extract / out.xorriso >err 2>&1 ||
        fail "xorriso: $(tail -5 err)"
    grep -E 'FAILURE|SORRY|WARNING' err && fail "xorriso: $(grep -E 'FAILURE|SORRY|WARNING' err)"
    check xorriso out.xorriso linktime
else
    note "xorriso not available"
fi

# --- pycdlib: the Rock Ridge tree as it lists it (no hard links, no owners
# compared: it names TF's times in another order than RRIP 1.12) -------------
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pycdlib' 2>/dev/null; then
    /usr/bin/python3 - x.iso >got.pycdlib 2>err <<'PY' || fail "pycdlib: $(cat err)"
import hashlib, io, stat, sys, pycdlib
iso = pycdlib.PyCdlib()
iso.open(sys.argv[1])
out = []
for path, dirs, files in iso.walk(rr_path='/'):
    for name in files:
        p = (path.rstrip('/') + '/' + name)
        rec = iso.get_record(rr_path=p)
        rr = rec.rock_ridge
        mode = rr.get_file_mode()
        if stat.S_ISLNK(mode):
            out.append('l .%s %s' % (p, rr.symlink_path().decode()))
            continue
        buf = io.BytesIO()
        iso.get_file_from_iso_fp(buf, rr_path=p)
        out.append('f .%s %o %s' % (p, stat.S_IMODE(mode), hashlib.sha1(buf.getvalue()).hexdigest()))
    for name in dirs:
        p = (path.rstrip('/') + '/' + name)
        out.append('d .%s %o' % (p, stat.S_IMODE(iso.get_record(rr_path=p).rock_ridge.get_file_mode())))
iso.close()
print('\n'.join(sorted(out)))
PY
    (cd "$snap" && find . -mindepth 1 \( -type d -printf 'd %p %m\n' \) -o \( -type l -printf 'l %p %l\n' \) \
        -o \( -type f -printf 'f %p %m ' -exec sh -c 'sha1sum <"$1" | cut -d" " -f1' sh {} \; \)) |
        LC_ALL=C sort >want.pycdlib
    LC_ALL=C sort got.pycdlib -o got.pycdlib
    diff want.pycdlib got.pycdlib >&2 || fail "pycdlib: the image differs from the snapshot"
else
    note "pycdlib (python3-pycdlib) not available"
fi
