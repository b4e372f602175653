#!/bin/bash
# CLI abuse (issue 7): every command with missing, extra, empty, overlong
# and non-UTF-8 arguments, nonexistent paths, a file where a directory is
# expected, DEST equal to SOURCE, SOURCE inside DEST, a SNAPSHOT outside any
# store, DEST/latest/.., bad options and option values, bad config files.
# Each refused command must
#   - exit with one of the allowed codes (2 usage/config error, 3 failed),
#     never crash (exit >= 128) and never print a sanitizer report;
#   - say why on stderr, every line "hardsnap: ...", with no raw control
#     bytes or invalid UTF-8 (names are escaped, as paths are), and, where
#     the case says so, naming the bad argument;
#   - print nothing on stdout;
#   - change nothing: the whole work tree (store, sources, targets,
#     archives, configs) is compared inode by inode before and after, the
#     store's log (one line per failed backup/prune/import) aside. A failed
#     run (exit 3) may leave directory mtimes changed (work files made and
#     removed again), nothing else.
# Not here: DEST inside SOURCE, which works (t09); HARDSNAP_NOW (t09).
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

W=$HS_TMP/w # everything the commands may see; $HS_OUT/$HS_ERR are outside it
mkdir "$W"
cd "$W" || exit 1

# --- fixtures -------------------------------------------------------------------
mkdir -p src/sub plain tgt "plain-$(printf '\xff\xfe')"
printf 'not a store\n' >"plain-$(printf '\xff\xfe')/q"
printf 'one\n' >src/f
printf 'two\n' >src/sub/g
printf 'plain\n' >plain/q
printf 'a file\n' >afile
printf 'a file\n' >"file-$(printf '\xff\xfe')"
printf 'in the target\n' >tgt/f # restore of f into tgt: exists
ln -s loop-b loop-a
ln -s loop-a loop-b
ln -s nowhere dangling
backup_at 0 src store
printf 'one, changed\n' >src/f
backup_at 1 src store
S0=store/$(now 0)
S1=store/$(now 1)
hs_rc 0 export -q store/latest a.tar
# config files, each wrong in one way
conf() { # conf NAME LINES...: NAME.conf with one line per argument
    local name=$1
    shift
    printf '%s\n' "$@" >"$name.conf"
}
conf good '[hardsnap]' 'dest = store' '[source s]' 'path = src'
conf same-dest '[hardsnap]' 'dest = src' '[source s]' 'path = src'
conf src-file '[hardsnap]' 'dest = store' '[source s]' 'path = afile'
conf src-missing '[hardsnap]' 'dest = store' '[source s]' 'path = no-such-dir'
conf dest-file '[hardsnap]' 'dest = afile' '[source s]' 'path = src'
conf dest-snap '[hardsnap]' 'dest = store/latest' '[source s]' 'path = src'
conf dest-plain '[hardsnap]' 'dest = plain' '[source s]' 'path = src'
conf no-dest '[hardsnap]' '[source s]' 'path = src'
conf no-source '[hardsnap]' 'dest = store'
conf dup-source '[hardsnap]' 'dest = store' '[source s]' 'path = src' '[source s]' 'path = plain'
conf dup-dest '[hardsnap]' 'dest = store' 'dest = plain' '[source s]' 'path = src'
conf bad-key '[hardsnap]' 'dest = store' 'bogus = 1' '[source s]' 'path = src'
conf bad-section '[hardsnap]' 'dest = store' '[bogus]' '[source s]' 'path = src'
conf dotdot-name '[hardsnap]' 'dest = store' '[source ..]' 'path = src'
conf empty-name '[hardsnap]' 'dest = store' '[source ]' 'path = src'
conf empty-exclude '[hardsnap]' 'dest = store' 'exclude =' '[source s]' 'path = src'
conf bad-exclude '[hardsnap]' 'dest = store' 'exclude = [' '[source s]' 'path = src'
conf unclosed '[hardsnap' 'dest = store'
conf bad-daily '[hardsnap]' 'dest = store' '[source s]' 'path = src' '[retain]' 'keep-daily = abc'
conf neg-daily '[hardsnap]' 'dest = store' '[source s]' 'path = src' '[retain]' 'keep-daily = -1'
conf bad-within '[hardsnap]' 'dest = store' '[source s]' 'path = src' '[retain]' 'keep-within = 5x'
conf no-retain '[hardsnap]' 'dest = store' '[source s]' 'path = src'
LONG=$(printf '%05000d' 0)            # one 5000-byte name (> NAME_MAX, > PATH_MAX)
LONGP=$(printf 'd/%.0s' {1..2500})    # 5000 bytes of short components (> PATH_MAX)
BAD=$(printf 'bad\xff\xfe')           # not UTF-8, does not exist
BADESC='bad\xff\xfe'                  # how messages spell it
PLAINBAD=$(printf 'plain-\xff\xfe')   # an existing plain directory, not UTF-8
FILEBAD=$(printf 'file-\xff\xfe')     # an existing regular file, not UTF-8
conf long-dest '[hardsnap]' "dest = $LONG" '[source s]' 'path = src'
printf '[hardsnap]\ndest = store\0x\n[source s]\npath = src\n' >nul.conf
printf '[hardsnap]\ndest = store\n[source s]\npath = src\nexclude = \xff[\n' >bad-utf8.conf

listing() { # the whole work tree, the store's log aside
    (cd "$W" && find . -path ./store/.hardsnap/log -prune -o -printf '%p %y %i %n %s %T@ %m\n' | sort)
}
dirmask() { # the same without directory mtimes
    awk '$2 == "d" { $6 = "-" } { print }'
}
before=$HS_TMP/.before
listing >"$before"
# the store's log: only ever appended to
LOG=$W/store/.hardsnap/log
LOG_COPY=$HS_TMP/.log.before
LOG_STAT=$(stat -c '%i %s' -- "$LOG")
cp "$LOG" "$LOG_COPY"

# --- the cases --------------------------------------------------------------------
NFAIL=0 # cases with a failed expectation
NCASE=0
PROBS=() # what is wrong with the current case
bad() {
    PROBS+=("$*")
}

# t [-m NEEDLE] [-o] [-u] CODES ARGS...: runs hardsnap ARGS, expecting an
# exit code in CODES ("2", "2 3"), a "hardsnap: " message on stderr (with
# -m, one that contains NEEDLE; with -u, a usage text is also fine), nothing
# on stdout (with -o, output is fine) and no change. A failed case is
# reported and counted; the test fails at the end.
t() {
    local needle="" usage=0 out=0 want rc=0 c ok=0 changed=0 now p
    while :; do
        case $1 in
        -m) needle=$2 && shift 2 ;;
        -o) out=1 && shift ;;
        -u) usage=1 && shift ;;
        *) break ;;
        esac
    done
    want=$1
    shift
    NCASE=$((NCASE + 1))
    PROBS=()
    HARDSNAP_NOW=$(now 5) "$HARDSNAP" "$@" >"$HS_OUT" 2>"$HS_ERR" </dev/null || rc=$?
    if grep -aEq 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|AddressSanitizer|LeakSanitizer' "$HS_ERR"; then
        bad "sanitizer report"
    fi
    if [ "$rc" -ge 128 ]; then
        bad "crashed: exit $rc (signal $((rc - 128)))"
    fi
    for c in $want; do
        if [ "$rc" = "$c" ]; then ok=1; fi
    done
    [ "$ok" = 1 ] || bad "exit $rc, expected ${want// / or }"
    if [ ! -s "$HS_ERR" ]; then
        bad "nothing on stderr"
    elif [ "$usage" = 1 ] && grep -q '^usage: hardsnap' "$HS_ERR"; then
        :
    elif grep -aqv '^hardsnap: ' "$HS_ERR"; then
        bad "a stderr line does not start with 'hardsnap: '"
    fi
    if grep -aq "$(printf '[\001-\010\013-\037\177]')" "$HS_ERR"; then
        bad "raw control bytes on stderr (not escaped)"
    fi
    if ! iconv -f UTF-8 -t UTF-8 "$HS_ERR" >/dev/null 2>&1; then
        bad "invalid UTF-8 on stderr (an argument's raw bytes, not escaped)"
    fi
    if [ -n "$needle" ] && ! grep -aqF -- "$needle" "$HS_ERR"; then
        bad "the message does not name '${needle:0:60}'"
    fi
    [ "$out" = 1 ] || [ ! -s "$HS_OUT" ] || bad "output on stdout"
    now=$HS_TMP/.now
    listing >"$now"
    if [ "$rc" = 3 ]; then
        cmp -s <(dirmask <"$before") <(dirmask <"$now") || changed=1
    else
        cmp -s "$before" "$now" || changed=1
    fi
    p=$(stat -c '%i %s' -- "$LOG" 2>/dev/null) || p=gone
    if [ "$p" != "$LOG_STAT" ]; then
        if [ "${p% *}" != "${LOG_STAT% *}" ] ||
            ! head -c "${LOG_STAT#* }" "$LOG" | cmp -s - "$LOG_COPY"; then
            bad "the store's log was replaced or rewritten, not appended to"
        fi
        LOG_STAT=$p
        cp "$LOG" "$LOG_COPY" 2>/dev/null || true
    fi
    if [ "$changed" = 1 ]; then
        bad "changed the tree: $({ diff -a "$before" "$now" || true; } | grep -a '^[<>]' | head -6 | cut -c1-120 | cat -v | tr '\n' '|')"
        cp "$now" "$before" # compare the next cases with what is there now
    fi
    if [ ${#PROBS[@]} -gt 0 ]; then
        NFAIL=$((NFAIL + 1))
        {
            echo "---- FAILED: hardsnap $(printf '%q ' "$@" | cut -c1-160)"
            for p in "${PROBS[@]}"; do echo "     - $p"; done
            echo "     stderr: $(head -c 400 "$HS_ERR" | cat -v | tr '\n' '|')"
            [ ! -s "$HS_OUT" ] || echo "     stdout: $(head -c 200 "$HS_OUT" | cat -v | tr '\n' '|')"
        } >&2
    fi
    return 0
}

CMDS=(backup run list diff versions restore prune verify export import)

# -- no arguments, only the verb, unknown verbs and global options
t -u 2
for v in "${CMDS[@]}"; do
    t -m "$v" 2 "$v"
    t 2 "$v" --
    t -m --bogus 2 "$v" --bogus
    t -m -Z 2 "$v" -Z
    t 2 "$v" "$(printf -- '--\xff')"
    t 2 "$v" "--$LONG"
done
t -m no-such-command 2 no-such-command
t 2 ""
t 2 --
t 2 -
t 2 -v
t 2 --bogus
t 2 "$(printf '\xff\xfe')"
t 2 "$(printf 'x\ny')"
t 2 "$(printf '\033[31mred')"
t 2 "$LONG"

# -- one argument missing, one too many
t 2 backup src
t 2 backup -n src
t 2 run extra
t 2 run -c good.conf extra
t 2 backup -c good.conf extra
t 2 backup -c good.conf src store
t 2 list store extra
t 2 list --json
t 2 list store --json extra
t 2 diff "$S0"
t 2 diff "$S0" "$S1" extra
t 2 versions store
t 2 versions store f extra
t 2 restore "$S0"
t 2 restore "$S0" tgt extra
t 2 prune store
t 2 prune store -n
t 2 prune --keep-last 1
t 2 prune store store --keep-last 1
t 2 verify "$S0" extra
t 2 verify store store --all
t 2 verify --all
t 2 export "$S0"
t 2 export "$S0" x.tar extra
t 2 import a.tar
t 2 import a.tar store extra

# -- empty arguments
t 2 backup "" store
t 2 backup src ""
t 2 backup src "" store
t 2 backup -c ""
t 2 run -c ""
t 2 prune -c ""
t 2 list ""
t 2 diff "" "$S1"
t 2 diff "$S0" ""
t 2 versions "" f
t 2 versions store ""
t 2 restore "" tgt
t 2 restore "$S0" ""
t 2 prune "" --keep-last 1
t 2 verify ""
t 2 verify "" --all
t 2 export "" x.tar
t 2 export "$S0" ""
t 2 import "" store
t 2 import a.tar ""
t 2 backup --exclude "" src store
t 2 backup --exclude-from "" src store

# -- options missing their value, bad values
t -m --exclude 2 backup src store --exclude
t -m --exclude-from 2 backup src store --exclude-from
t -m -c 2 backup -c
t -m -c 2 backup src store -c
t -m -c 2 run -c
t -m -c 2 prune -c
t -m -c 2 prune store --keep-last 1 -c
for k in last hourly daily weekly monthly yearly within; do
    t -m "--keep-$k" 2 prune store "--keep-$k"
done
t -m abc 2 prune store --keep-daily abc
t -m -1 2 prune store --keep-daily -1
t -m 1x 2 prune store --keep-daily 1x
t 2 prune store --keep-daily ""
t 2 prune store --keep-daily 0
t -m 99999999999999999999 2 prune store --keep-last 99999999999999999999
t 2 prune store --keep-hourly 1000001
t 2 prune store --keep-weekly "$(printf '1\xff')"
t 2 prune store --keep-monthly "$LONG"
t -m 5x 2 prune store --keep-within 5x
t 2 prune store --keep-within ""
t 2 prune store --keep-within 5
t 2 prune store --keep-within h
t 2 prune store --keep-within -5d
t 2 prune store --keep-within 9223372036854775807h
t 2 prune store --keep-within "$(printf '1\xff')"
t 2 prune store --keep-yearly "$(printf '1\ny')"
t -m '[' 2 backup --exclude '[' src store
t 2 backup --exclude-from plain src store

# -- nonexistent paths, 5000-byte paths, non-UTF-8 paths, symlink loops
for X in no-such-dir "$LONG" "$LONGP" "src/$LONG" "$BAD" loop-a; do
    m=$X
    [ "$X" = "$BAD" ] && m=$BADESC
    [ ${#m} -gt 100 ] && m=${m:0:100}
    t -m "$m" 2 backup "$X" store
    t -m "$m" 2 backup src "$X" store
    t -m "$m" "2 3" run -c "$X"
    t -m "$m" "2 3" backup -c "$X"
    t -m "$m" "2 3" prune -c "$X"
    t -m "$m" "2 3" backup --exclude-from "$X" src store
    t -m "$m" "2 3" list "$X"
    t -m "$m" "2 3" diff "$X" "$S1"
    t -m "$m" "2 3" diff "$S0" "$X"
    t -m "$m" "2 3" versions "$X" f
    # versions store PATH for a PATH no snapshot has is an answer, not an
    # error: one "absent" line covering every snapshot (t22_versions)
    t -m "$m" "2 3" restore "$X" tgt
    t -m "$m" "2 3" restore "$S0/$X" tgt
    t -m "$m" "2 3" prune "$X" --keep-last 1
    t -m "$m" "2 3" verify "$X"
    t -m "$m" "2 3" verify "$X" --all
    t -m "$m" "2 3" verify "$S0/$X"
    t -m "$m" "2 3" export "$X" x.tar
    t -m "$m" "2 3" export "$S0/$X" x.tar
    t -m "$m" "2 3" import "$X" store
done
# where a missing DEST, TARGET or ARCHIVE would be created: its parent is missing
# or its name too long
for X in no-parent/x "$LONG" "$LONGP" "no-parent/$BAD"; do
    m=$X
    [ ${#m} -gt 100 ] && m=${m:0:100}
    [ "$X" = "no-parent/$BAD" ] && m=no-parent
    t -m "$m" "2 3" backup src "$X"
    t -m "$m" "2 3" restore "$S0" "$X"
    t -m "$m" "2 3" export "$S0" "$X.tar"
    t -m "$m" "2 3" import a.tar "$X"
done
t -m loop-a "2 3" backup src loop-a
t -m loop-a "2 3" restore "$S0" loop-a
t -m loop-a "2 3" import a.tar loop-a
t -m dangling "2 3" backup src dangling
t -m dangling "2 3" restore "$S0" dangling

# -- a regular file where a directory is expected
for F in afile "$FILEBAD"; do
    m=$F
    [ "$F" = "$FILEBAD" ] && m='file-\xff\xfe'
    t -m "$m" 2 backup "$F" store
    t -m "$m" 2 backup src "$F"
    t -m "$m" 2 backup src "$F" store
    t -m "$m" 2 list "$F"
    t -m "$m" 2 diff "$F" "$S1"
    t -m "$m" 2 diff "$S0" "$F"
    t -m "$m" 2 versions "$F" f
    t -m "$m" 2 restore "$F" tgt
    t -m "$m" 2 restore "$S0" "$F"
    t -m "$m" 2 restore "$S0/f" "$F"
    t -m "$m" 2 prune "$F" --keep-last 1
    t -m "$m" 2 verify "$F"
    t -m "$m" 2 verify "$F" --all
    t -m "$m" 2 export "$F" x.tar
    t -m "$m" 2 import a.tar "$F"
    t -m "$m" "2 3" import "$F" store # not an archive
done
t 2 restore "$S0/f" tgt/../afile
t -m "$S0/f" 2 verify "$S0/f"

# -- a directory where a file is expected
t -m plain "2 3" import plain store
t -m src "2 3" import src store
t -m store "2 3" import store store
t -m "$S0" "2 3" import "$S0" store
t -m plain 2 run -c plain
t -m plain 2 backup -c plain
t -m plain 2 prune -c plain

# -- SNAPSHOT outside any store: plain directories, the store itself, a source
for P in plain "$PLAINBAD" src store store/.hardsnap store/.hardsnap/manifests; do
    m=$P
    [ "$P" = "$PLAINBAD" ] && m='plain-\xff\xfe'
    t -m "$m" 2 diff "$P" "$S1"
    t -m "$m" 2 restore "$P" tgt
    t -m "$m" 2 verify "$P"
    t -m "$m" 2 export "$P" x.tar
done
for P in plain "$PLAINBAD" src; do # and as a store
    m=$P
    [ "$P" = "$PLAINBAD" ] && m='plain-\xff\xfe'
    t -m "$m" 2 list "$P"
    t -m "$m" 2 versions "$P" f
    t -m "$m" 2 prune "$P" --keep-last 1
    t -m "$m" 2 verify "$P" --all
done
t -m plain 2 backup src plain
t -m plain 2 import a.tar plain
t -m 'plain-\xff\xfe' 2 backup src "$PLAINBAD"
t -m 'plain-\xff\xfe' 2 import a.tar "$PLAINBAD"
t 2 list store/latest
t 2 list "$S0"
t 2 versions store/latest f
t 2 verify "$S0" --all
t 2 verify store/latest --all

# -- paths that leave the snapshot, or the store
t 2 restore store/latest/.. tgt
t 2 restore "$S0/.." tgt
t 2 restore "$S0/../../afile" tgt
t 2 restore "$S0/sub/../../.." tgt
t 2 export store/latest/.. x.tar
t 2 export "$S0/../.." x.tar
t 2 verify store/latest/..
t 2 diff store/latest/.. "$S0"
t 2 diff "$S0/../.." "$S1"
t 2 versions store ../f
t 2 versions store sub/../../f

# -- DEST equal to SOURCE, SOURCE inside DEST, DEST inside a snapshot or .hardsnap
t -m src 2 backup src src
t -m src 2 backup src/ src//
t -m src 2 backup src ./src/.
t -m src 2 backup "$W/src" src
t -m store 2 backup store store
t -m store 2 backup store/latest store
t -m store 2 backup "$S0/sub" store
t -m src 2 backup src/sub src
t -m src 2 backup plain src/sub src
t -m src 2 run -c same-dest.conf
t -m store/latest 2 backup src store/latest
t 2 backup src "$S0"
t 2 backup src "$S0/new-store"
t 2 backup src store/latest/new-store
t 2 backup src store/.hardsnap
t 2 backup src store/.hardsnap/new-store
t 2 backup src/ src/sub # DEST in SOURCE, but not empty and not a store
t 2 import a.tar store/latest
t 2 import a.tar "$S0/new-store"
t 2 import a.tar store/.hardsnap
t 2 prune store/latest --keep-last 1
t 2 prune "$S0" --keep-last 1
t 2 prune store/.hardsnap --keep-last 1

# -- restore: the target is in the store, or has the entries already
t -m store 2 restore "$S0" store
t 2 restore "$S0" store/latest
t 2 restore "$S0" "$S0/sub"
t 2 restore "$S0" store/.hardsnap
t -m tgt/f 2 restore "$S0/f" tgt
t -m tgt/f 2 restore "$S0" tgt
t -o -m tgt/f 2 restore -n "$S0" tgt # may print the plan
t -m src/f 2 restore "$S0" src
t 2 restore --overwrite "$S0" afile
t 2 restore --overwrite "$S0/sub" afile

# -- export: unknown suffix, the archive exists, is a directory, is in the store
for A in x x.rar x.TAR .tar x.tar.bz2 x.tar. x.gz x.7z plain plain/ tgt "$BAD"; do
    m=$A
    [ "$A" = "$BAD" ] && m=$BADESC
    t -m "$m" 2 export "$S0" "$A"
done
t -m a.tar 2 export "$S0" a.tar
t -m store/x.tar 2 export "$S0" store/x.tar
t 2 export "$S0" "$S0/x.tar"
t 2 export "$S0" store/.hardsnap/x.tar
t 2 export "$S0" store/latest/x.tar
t -m afile 2 export "$S0" afile/x.tar

# -- config files with errors
# errors in the config's meaning name the bad path; syntax errors and bad
# values name the file and line (CONTRACT: "an error naming the file and line")
t -m src 2 run -c same-dest.conf
t -m afile 2 run -c src-file.conf
t -m no-such-dir 2 run -c src-missing.conf
t -m afile 2 run -c dest-file.conf
t -m store/latest 2 run -c dest-snap.conf
t -m plain 2 run -c dest-plain.conf
for c in no-dest no-source dup-source dup-dest bad-key bad-section dotdot-name empty-name \
    empty-exclude unclosed bad-daily neg-daily bad-within long-dest nul; do
    t -m "$c.conf" 2 run -c "$c.conf"
done
t -m bad-exclude.conf:3 2 run -c bad-exclude.conf
t -m bad-utf8.conf:5 2 run -c bad-utf8.conf
for c in no-dest no-source bad-key bad-section unclosed bad-daily neg-daily bad-within long-dest nul; do
    t -m "$c.conf" 2 backup -c "$c.conf"
    t -m "$c.conf" 2 prune -c "$c.conf"
done
t 2 prune -c no-retain.conf
t 2 prune -c good.conf
t 2 prune -c good.conf store --keep-last 1
t -m afile 2 backup -c afile
t 2 run -c /dev/null
t 2 prune -c /dev/null --keep-last 1

# -- DEST/latest/.. is the store reached through a snapshot: every writer
# refuses it like backup and import do (last: a prune that runs deletes)
t 2 backup src store/latest/..
t 2 import a.tar store/latest/..
t 2 backup src "$S0/.."
t 2 prune store/latest/.. --keep-last 1 -n
t 2 prune "$S0/.." --keep-last 1
t 2 prune store/latest/.. --keep-last 1

note "$NCASE cases, $NFAIL failed"
[ "$NFAIL" = 0 ] || fail "$NFAIL of $NCASE cases failed (see above)"
