#!/bin/bash
# The root directory of an ISO export (issue 16): libarchive's ISO writer
# makes the image's root itself (0555, owner 0, the time of the export);
# export patches it (lib/export_iso.c), so the image's root carries the
# snapshot root's mode, owner and mtime, or for SNAPSHOT/PATH, PATH's, in
# every record that describes it. Read back by isoinfo -R -l (".", "..",
# a directory's ".."), xorriso (listing, and -extract into a new directory),
# pycdlib (Rock Ridge PX and TF), bsdtar and a loop mount, where each is there.
HS_PRIVATE_MOUNTS=1 # lib.sh: a mount namespace of its own (the loop mount)
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"
export TZ=UTC

have isoinfo || skip "isoinfo (genisoimage) is needed"

mkdir -p src/dir/sub src/other
printf 'one\n' >src/dir/f
printf 'two\n' >src/other/g
chmod 0750 src
chmod 0711 src/dir
touch -d '2003-04-05 06:07:08' src/dir
touch -d '2000-01-02 03:04:05' src
owner=$(id -u):$(id -g)
if is_root; then
    chown 1234:5678 src
    owner=1234:5678
fi
backup_at 0 src dest
snap=dest/$(now 0)
[ "$(stat -c '%a %u:%g %Y' "$snap")" = "750 $owner 946782245" ] ||
    fail "the snapshot root is $(stat -c '%a %u:%g %Y' "$snap")"
hs_rc 0 export "$snap" x.iso
hs_rc 0 export "$snap/dir" dir.iso

# isoinfo: "MODE LINKS UID GID SIZE Mon DD YYYY [...] NAME" for ".", ".." of
# the root, and the ".." of a directory in it. Not the owner: isoinfo
# (genisoimage 1.1.11) shows owners past 255 wrong (1234 as 2322), for
# every entry; xorriso and pycdlib check it below
want_line="drwxr-x--- Jan 2 2000"
isoinfo -R -l -i x.iso >iso.list 2>iso.err || fail "isoinfo: $(cat iso.err)"
root_lines() {
    awk -v d="$2" '/^Directory listing of / { dir = substr($0, 22); next }
         dir == d && $NF == "'"$3"'" { print $1, $6, $7, $8 }' "$1"
}
for rec in "/ ." "/ .." "/dir/ .." "/other/ .."; do
    # shellcheck disable=SC2086 # two words: the directory and the record
    got=$(root_lines iso.list $rec)
    [ "$got" = "$want_line" ] || fail "x.iso: isoinfo $rec: '$got', expected '$want_line'"
done
# what is not the root keeps its own
[ "$(root_lines iso.list /dir/ .)" = "drwx--x--x Apr 5 2003" ] ||
    fail "x.iso: /dir/.: $(root_lines iso.list /dir/ .)"
# Joliet has no Rock Ridge, but its directory records' dates
isoinfo -J -l -i x.iso >joliet.list
[ "$(root_lines joliet.list / . | cut -d' ' -f2-)" = "Jan 2 2000" ] ||
    fail "x.iso: Joliet /.: $(root_lines joliet.list / .)"
# SNAPSHOT/PATH: the root is PATH's
isoinfo -R -l -i dir.iso >dir.list
[ "$(root_lines dir.list / .)" = "drwx--x--x Apr 5 2003" ] ||
    fail "dir.iso: /.: $(root_lines dir.list / .)"

if have xorriso; then
    xorriso -indev x.iso -lsdl / 2>/dev/null | awk '{ print $1, $3, $4, $6, $7, $8 }' >xo.out
    [ "$(cat xo.out)" = "drwxr-x--- ${owner%:*} ${owner#*:} Jan 2 2000" ] ||
        fail "xorriso -lsdl /: $(cat xo.out)"
    # extracted into a directory it makes, which takes the root's mode and mtime
    xorriso -osirrox on -indev x.iso -extract / out.xorriso >xo.err 2>&1 ||
        fail "xorriso -extract: $(cat xo.err)"
    [ "$(stat -c '%a %u:%g %Y' out.xorriso)" = "750 $owner 946782245" ] ||
        fail "xorriso -extract: the root is $(stat -c '%a %u:%g %Y' out.xorriso)"
else
    note "xorriso not available: not checked"
fi

if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pycdlib' 2>/dev/null; then
    # the root's "." and "..": Rock Ridge mode, owner, and the mtime among TF's
    # times (pycdlib 1.12 names TF's fields in another order than RRIP 1.12)
    /usr/bin/python3 - x.iso >pycd.out <<'PY'
import sys, pycdlib
iso = pycdlib.PyCdlib()
iso.open(sys.argv[1])
for c in iso.list_children(rr_path='/'):
    if not (c.is_dot() or c.is_dotdot()):
        continue
    rr = c.rock_ridge
    px = rr.dr_entries.px_record or rr.ce_entries.px_record
    tf = rr.dr_entries.tf_record or rr.ce_entries.tf_record
    times = set()
    for f in ('creation_time', 'access_time', 'modification_time', 'attribute_change_time'):
        t = getattr(tf, f, None)
        if t is not None and hasattr(t, 'years_since_1900'):
            times.add('%04d-%02d-%02d %02d:%02d:%02d' % (t.years_since_1900 + 1900, t.month,
                      t.day_of_month, t.hour, t.minute, t.second))
    print('%o %d:%d %s' % (rr.get_file_mode(), px.posix_user_id, px.posix_group_id,
                           '2000-01-02 03:04:05' in times))
iso.close()
PY
    [ "$(sort -u pycd.out)" = "40750 $owner True" ] || fail "pycdlib: $(cat pycd.out)"
else
    note "pycdlib (python3-pycdlib) not available: not checked"
fi

if have bsdtar; then
    # bsdtar sets the mode of the directory it extracts into, not its mtime
    # (as for a tar's "./")
    mkdir out.bsdtar
    bsdtar -xf x.iso -C out.bsdtar 2>bsd.err || fail "bsdtar -x: $(cat bsd.err)"
    [ "$(stat -c '%a %u:%g' out.bsdtar)" = "750 $owner" ] ||
        fail "bsdtar -x: the root is $(stat -c '%a %u:%g' out.bsdtar)"
fi

mkdir mnt
if is_root && mount -o loop,ro x.iso mnt 2>mount.err; then
    at_exit umount mnt
    [ "$(stat -c '%a %u:%g %Y' mnt)" = "750 $owner 946782245" ] ||
        fail "mounted: the root is $(stat -c '%a %u:%g %Y' mnt)"
    umount mnt
else
    note "cannot loop-mount the image here ($(head -1 mount.err 2>/dev/null)): mount not checked"
fi
