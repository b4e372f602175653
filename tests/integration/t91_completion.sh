#!/bin/bash
# conf/hardsnap.bash-completion, sourced into this bash without the
# bash-completion package (and with it, when it is installed): every command
# of `hardsnap --help` and every option of each command's --help is
# completed; after a store's DEST/, its snapshot names and latest (not
# .hardsnap, not other entries); after -c, files; `versions DEST` completes
# paths in DEST/latest.
completion=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../conf" && pwd)/hardsnap.bash-completion
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

[ -f "$completion" ] || fail "no $completion"

# complete WORD...: COMPREPLY, sorted, one a line, for the command line
# "hardsnap WORD..." with the cursor at the end of the last WORD
# (as in an interactive shell: no set -eu, no ERR trap)
complete_words() {
    set +eEu
    trap - ERR
    COMP_WORDS=(hardsnap "$@")
    COMP_CWORD=$#
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _hardsnap hardsnap "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    if [ ${#COMPREPLY[@]} -gt 0 ]; then
        printf '%s\n' "${COMPREPLY[@]}" | sort
    fi
}
# expect "WORDS" WANT...: completing WORDS gives exactly WANT
expect() {
    local words=$1 got want
    shift
    read -r -a w <<<"$words"
    [[ -z $words || $words == *' ' ]] && w+=('')
    got=$(complete_words "${w[@]}")
    want=$(if [ $# -gt 0 ]; then printf '%s\n' "$@" | sort; fi)
    [ "$got" = "$want" ] || fail "completing 'hardsnap $words': got [$(echo "$got" | tr '\n' ' ')], want [$*]"
}
# offers "WORDS" WANT...: completing WORDS gives at least WANT
offers() {
    local words=$1 got x
    shift
    read -r -a w <<<"$words"
    [[ -z $words || $words == *' ' ]] && w+=('')
    got=$(complete_words "${w[@]}")
    for x in "$@"; do
        grep -qxF -- "$x" <<<"$got" || fail "completing 'hardsnap $words' does not offer '$x': [$(echo "$got" | tr '\n' ' ')]"
    done
}

# the tests below, once without bash-completion's helpers and once with
# them where the package is installed
run_checks() {
    # the commands: all of --help's, and report
    hs_rc 0 --help
    mapfile -t cmds < <(sed -n 's/^  \([a-z][a-z]*\) .*/\1/p' "$HS_OUT" | sort -u)
    [ ${#cmds[@]} -ge 12 ] || fail "only ${#cmds[@]} commands found in hardsnap --help"
    offers '' "${cmds[@]}" report
    expect 're' replicate restore report
    expect 'ba' backup
    expect '--v' --version

    # each command's options: all its --help names
    local c opts
    for c in "${cmds[@]}"; do
        hs_rc 0 "$c" --help
        # run "takes the options of hardsnap backup"
        if grep -q 'options of hardsnap backup' "$HS_OUT"; then
            hs_rc 0 backup --help
        fi
        mapfile -t opts < <(grep -o -- '--[a-z][a-z-]*' "$HS_OUT" | sort -u || true)
        [ ${#opts[@]} -gt 0 ] || fail "no option in hardsnap $c --help"
        offers "$c -" "${opts[@]}"
    done
    offers 'backup -' -c -x -e -n -q -v --exclude --checksum
    offers 'report -' -o
    expect 'backup --che' --checksum
    expect 'prune --keep-wi' --keep-within
    expect 'status /x --n' --nagios
    expect 'backup --exclude ' # a pattern: nothing to offer

    # -c: files
    expect 'backup -c hs' hs.conf
    expect 'run -q --config hs' hs.conf
    # snapshot names after a store's DEST/: not .hardsnap, not other entries
    expect 'list st' store
    expect 'restore store/' store/"$(now 1)" store/"$(now 2)" store/latest
    expect "restore store/$(now 1 | cut -c1-9)" store/"$(now 1)" store/"$(now 2)"
    expect 'diff store/latest store/2026-01-01T02' store/"$(now 2)"
    expect 'verify --all store/l' store/latest
    expect 'export store/2' store/"$(now 1)" store/"$(now 2)"
    # inside a snapshot: its files
    expect "restore store/$(now 2)/d" "store/$(now 2)/docs"
    # not a store: its entries
    expect 'backup src/' src/docs src/notes.txt
    # versions DEST PATH: paths in DEST/latest
    expect 'versions store ' docs/ notes.txt
    expect 'versions store docs/' docs/a.txt
    # a store's snapshot name inside a backup's DEST (the last argument)
    expect 'backup src store/latest' store/latest
}

mkdir -p src/docs
printf 'a\n' >src/docs/a.txt
printf 'n\n' >src/notes.txt
printf '[hardsnap]\n' >hs.conf
backup_at 1 src store
backup_at 2 src store
mkdir store/not-a-snapshot

# shellcheck source=conf/hardsnap.bash-completion
source "$completion"
complete -p hardsnap | grep -q -- '-F _hardsnap hardsnap$' || fail "no complete -F _hardsnap hardsnap"
declare -F _init_completion >/dev/null && fail "_init_completion defined before bash-completion was loaded"
run_checks
note "completion without bash-completion: ok"

bc=/usr/share/bash-completion/bash_completion
if [ -f "$bc" ]; then
    # bash_completion reads the shell's options; not under set -u
    set +u
    # shellcheck source=/dev/null
    source "$bc"
    set -u
    declare -F _init_completion >/dev/null || fail "$bc defines no _init_completion"
    # shellcheck source=conf/hardsnap.bash-completion
    source "$completion"
    run_checks
    note "completion with bash-completion: ok"
else
    note "bash-completion is not installed: tested without it only"
fi
