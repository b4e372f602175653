#!/bin/bash
# The example hook conf/hooks/pg-dump as a source's before hook, against a
# throwaway PostgreSQL cluster (its own socket directory, no TCP): the
# snapshot holds globals.sql and a pg_dump -Fc per database with the rows of
# that moment, no temporary file; a dropped database's dump goes. With the
# server down the hook fails: the source fails, the run exits 1, its tree is
# the previous snapshot's (linked) and status names it stale.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

pgbin=""
for d in /usr/lib/postgresql/*/bin; do # the newest version (the glob sorts 15 after 13)
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && pgbin=$d
done
[ -n "$pgbin" ] || skip "the PostgreSQL server (Debian's postgresql) is not installed"
{ have pg_dump && have pg_dumpall && have psql && have pg_restore; } || skip "the PostgreSQL clients are needed"
hook=$(cd "$(dirname "$HS_TEST_LIB")/../.." && pwd)/conf/hooks/pg-dump
[ -x "$hook" ] || fail "$hook is missing"

# the server runs as nobody when we are root (it refuses root)
pgrun() {
    if is_root; then as_user "$@"; else "$@"; fi
}
mkdir pg
if is_root; then
    chmod 711 "$HS_TMP"
    chown 65534:65534 pg
fi
pgrun "$pgbin/initdb" -D "$HS_TMP/pg/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >pg/initdb.log 2>&1 || fail "initdb failed: $(tail -n 20 pg/initdb.log)"
pgrun "$pgbin/pg_ctl" -D "$HS_TMP/pg/data" -l "$HS_TMP/pg/server.log" -w -t 300 \
    -o "-k $HS_TMP/pg -c listen_addresses= -c fsync=off" start >/dev/null ||
    fail "the server did not start: $(tail -n 20 pg/server.log)"
at_exit "pgrun '$pgbin/pg_ctl' -D '$HS_TMP/pg/data' -m immediate -w stop"
export PGHOST=$HS_TMP/pg PGUSER=postgres
sql() { # sql DB STATEMENT
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "$2" >/dev/null
}
sql postgres "CREATE DATABASE shop"
sql postgres "CREATE DATABASE crm"
sql postgres "CREATE ROLE clerk LOGIN"
sql shop "CREATE TABLE items (name text); INSERT INTO items VALUES ('hardsnap-row-1')"
sql crm "CREATE TABLE people (name text); INSERT INTO people VALUES ('ada')"

# restored DUMP: the SQL a dump restores (pg_restore, no server needed)
restored() {
    pg_restore -f - "$1" || fail "pg_restore cannot read $1"
}

mkdir files
printf 'f\n' >files/f
export HOOK=$hook DUMPS=$HS_TMP/dumps
# shellcheck disable=SC2016 # expanded by the hook's shell
{
    printf '[hardsnap]\ndest = dest\n'
    printf '[source files]\npath = files\n'
    printf '[source postgres]\npath = %s\n' "$DUMPS"
    printf '%s\n' 'before = "$HOOK" "$DUMPS"'
} >run.conf
mkdir -p "$DUMPS"

# ---- a run: every database dumped, the rows of now in the snapshot
HARDSNAP_NOW=$(now 1) hs_rc 0 run -c run.conf -q
s1=dest/$(now 1)/postgres
[ "$(cd "$s1" && echo *)" = "crm.pgdump globals.sql postgres.pgdump shop.pgdump" ] ||
    fail "the dumps in the snapshot: $(entries "$s1")"
[ -z "$(cd "$s1" && find . -name '.*' ! -name .)" ] || fail "temporary files in the snapshot: $(entries "$s1")"
restored "$s1/shop.pgdump" | grep -qx 'hardsnap-row-1' || fail "the row is not in shop's dump"
restored "$s1/crm.pgdump" | grep -qx 'ada' || fail "the row is not in crm's dump"
grep -q 'CREATE ROLE clerk' "$s1/globals.sql" || fail "the role is not in globals.sql"
[ "$(stat -c %a "$DUMPS/globals.sql")" = 600 ] || fail "globals.sql is open to others"

# ---- the next: the new row, and the dropped database's dump gone
sql shop "INSERT INTO items VALUES ('hardsnap-row-2')"
sql postgres "DROP DATABASE crm"
HARDSNAP_NOW=$(now 2) hs_rc 0 run -c run.conf -q
s2=dest/$(now 2)/postgres
restored "$s2/shop.pgdump" | grep -qx 'hardsnap-row-2' || fail "the new row is not in the dump"
assert_absent "$s2/crm.pgdump" "$DUMPS/crm.pgdump"

# ---- the server down: the hook fails, so does the source; its tree is the
# previous snapshot's, the run exits 1 and status names it stale
pgrun "$pgbin/pg_ctl" -D "$HS_TMP/pg/data" -m fast -w stop >/dev/null
HARDSNAP_NOW=$(now 3) hs_rc 1 run -c run.conf -q
grep -q "source postgres: before hook failed: exit 1" "$HS_ERR" || fail "not said: $(cat "$HS_ERR")"
grep -q "pg-dump: globals.sql: pg_dumpall --globals-only failed" "$HS_ERR" ||
    fail "the hook does not say what failed: $(cat "$HS_ERR")"
s3=dest/$(now 3)/postgres
assert_all_linked "$s2" "$s3"
same_inode "dest/$(now 2)/files/f" "dest/$(now 3)/files/f"
[ -z "$(cd "$DUMPS" && find . -name '.*' ! -name .)" ] || fail "temporary files left: $(entries "$DUMPS")"
HARDSNAP_NOW=$(now 3) hs_rc 1 status dest
grep -q "stale source: postgres" "$HS_OUT" || fail "not stale: $(cat "$HS_OUT")"
exit 0
