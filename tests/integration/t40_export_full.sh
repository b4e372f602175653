#!/bin/bash
# Export onto a full filesystem (a 1 MiB tmpfs): exit 3, the reason said, and
# neither ARCHIVE nor ARCHIVE.part left; the same for ISO 9660, whose data
# reaches the output only when the image is closed.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

is_root || skip "mounting a tmpfs needs root"
mkdir -p src small
random_file src/big.bin 3000000
printf 'small\n' >src/small.txt
backup_at 0 src dest
snap=dest/$(now 0)
if ! mount -t tmpfs -o size=1m hs-export-test small 2>/dev/null; then
    skip "cannot mount a tmpfs"
fi
at_exit "umount '$HS_TMP/small'"

for ext in tar tar.zst zip iso; do
    hs_rc 3 export "$snap" "small/x.$ext"
    grep -q 'No space left on device' "$HS_ERR" || fail ".$ext on a full disk: $(cat "$HS_ERR")"
    assert_absent "small/x.$ext" "small/x.$ext.part"
    [ -z "$(entries small)" ] || fail ".$ext: left on the full filesystem: $(entries small)"
done
# what fits is written as usual
hs_rc 0 export "$snap/small.txt" small/fits.tar
[ "$(bsdtar -tf small/fits.tar)" = small.txt ] || fail "fits.tar: wrong members"
