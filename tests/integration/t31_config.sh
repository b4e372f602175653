#!/bin/bash
# Config files: the contract's example (its excludes, sources under their
# NAMEs), paths relative to the file's folder, errors naming file and line
# with nothing changed, and command-line options on top of the file.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

mkdir -p conf data/home/alice/.cache data/home/alice/Downloads data/home/alice/docs data/etc
printf 'cache\n' >data/home/alice/.cache/c
printf 'dl\n' >data/home/alice/Downloads/big.iso
printf 'doc\n' >data/home/alice/docs/thesis.tex
printf 'tmp\n' >data/home/alice/docs/draft.tmp
printf 'conf\n' >data/etc/hosts
# relative to conf/, not to the current directory
cat >conf/hs.conf <<'CONF'
[hardsnap]
dest = ../store
exclude = *.tmp
exclude = /home/*/.cache
one-file-system = yes

[source home]
path = ../data/home
exclude = Downloads

[source etc]
path = ../data/etc

[retain]
keep-daily = 7
CONF
mkdir elsewhere
cd elsewhere
backup_at 1 -c ../conf/hs.conf
cd ..
s=store/$(now 1)
[ -f "$s/home/alice/docs/thesis.tex" ] || fail "home/alice/docs/thesis.tex missing"
[ -f "$s/etc/hosts" ] || fail "etc/hosts missing"
assert_absent "$s/home/alice/.cache" "$s/home/alice/Downloads" "$s/home/alice/docs/draft.tmp"

# the command line adds to the file
HARDSNAP_NOW=$(now 2) hs_rc 0 backup -c conf/hs.conf --exclude thesis.tex
assert_absent "store/$(now 2)/home/alice/docs/thesis.tex"

# errors: file and line named, exit 2, nothing changed
before=$(tree_listing store --inodes)
bad() { # bad LINE TEXT...: a config whose LINE is wrong
    local line=$1
    shift
    printf '%s\n' "$@" >conf/bad.conf
    HARDSNAP_NOW=$(now 9) hs_rc 2 backup -c conf/bad.conf
    grep -q "conf/bad.conf:$line:" "$HS_ERR" || fail "no 'conf/bad.conf:$line:' in: $(cat "$HS_ERR")"
}
bad 3 '[hardsnap]' 'dest = ../store' 'colour = blue' '[source a]' 'path = ../data/etc'
bad 3 '[hardsnap]' 'dest = ../store' 'one-file-system = perhaps' '[source a]' 'path = ../data/etc'
bad 3 '[hardsnap]' 'dest = ../store' '[sauce a]' 'path = ../data/etc'
bad 5 '[hardsnap]' 'dest = ../store' '[source a]' 'path = ../data/etc' '[source a]' 'path = ../data'
bad 4 '[hardsnap]' 'dest = ../store' '[retain]' 'keep-daily = 7x'
[ "$(tree_listing store --inodes)" = "$before" ] || fail "a bad config changed the store"
hs_rc 2 backup -c conf/missing.conf
grep -q 'conf/missing.conf' "$HS_ERR" || fail "a missing config is not named"
