#!/bin/bash
# The example hook conf/hooks/healthchecks, wired as its header says, against
# a local HTTP server that records each request: a run pings URL/start, then
# URL with the run's JSON summary as the body; a failed run pings /start and
# URL/3 (the exit status) with the summary; a URL nobody answers at is a
# warning on stderr and never fails or skips the backup.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

have curl || skip "curl is needed"
have python3 || skip "python3 is needed"
hook=$(cd "$(dirname "$HS_TEST_LIB")/../.." && pwd)/conf/hooks/healthchecks
[ -x "$hook" ] || fail "$hook is missing"

# the server: binds a free port, writes it to port (atomically), appends
# one JSON line per request (method, path, body) to requests
cat >server.py <<'PY'
import http.server, json, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        with open("requests", "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "body": body}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")
    do_GET = do_POST = do_HEAD = handle_one
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open("port.tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename("port.tmp", "port")
s.serve_forever()
PY
: >requests
python3 server.py &
server=$!
at_exit "kill $server"
for _ in $(seq 1 600); do
    [ -s port ] && break
    kill -0 "$server" 2>/dev/null || fail "the HTTP server died"
    sleep 0.1
done
[ -s port ] || fail "the HTTP server did not start in 60 s"
url=http://127.0.0.1:$(cat port)/ping/abc

# requests FILE: method and path of each request, one a line
requests() {
    python3 -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l); print(r["method"], r["path"])' "$1"
}
# body N: the body of the N-th request (from 1)
body() {
    sed -n "${1}p" requests >body.json
    python3 -c 'import json, sys; sys.stdout.write(json.loads(open(sys.argv[1]).read())["body"])' body.json
}

mkdir -p src
printf 'one\n' >src/a
conf() { # conf URL [LINE]: run.conf with the three hooks and one source (and LINE)
    printf '[hardsnap]\ndest = dest\nhook-timeout = 2min\n'
    printf '%s = HC_RETRIES=1 HC_MAX_TIME=20 %s %s %s\n' before "$hook" before "$1" \
        after "$hook" after "$1" on-failure "$hook" on-failure "$1"
    printf '[source data]\npath = src\n%s\n' "${2:-}"
}

# ---- a successful run: start, then success with the summary
conf "$url" >run.conf
HARDSNAP_NOW=$(now 1) hs_rc 0 run -c run.conf
[ ! -s "$HS_ERR" ] || fail "a successful run said: $(cat "$HS_ERR")"
[ "$(requests requests)" = "POST /ping/abc/start
POST /ping/abc" ] || fail "pings: $(requests requests)"
body 1 >start.body
[ ! -s start.body ] || fail "the start ping has a body: $(cat start.body)"
body 2 >ok.json
python3 -c 'import json, sys; j = json.load(open(sys.argv[1]))
assert j["status"] == 0 and j["snapshot"] == sys.argv[2], j' ok.json "$(now 1)" ||
    fail "the success ping's body is not the run's summary: $(cat ok.json)"

# ---- a failed run (its only source failed): start, then URL/3 with the summary
: >requests
conf "$url" "before = exit 1" >run.conf
HARDSNAP_NOW=$(now 2) hs_rc 3 run -c run.conf
[ "$(requests requests)" = "POST /ping/abc/start
POST /ping/abc/3" ] || fail "pings of a failed run: $(requests requests)"
body 2 >fail.json
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j["status"] == 3, j' fail.json ||
    fail "the failure ping's body: $(cat fail.json)"

# ---- a before hook that fails: no after, but on-failure pings URL/3
: >requests
{
    printf '[hardsnap]\ndest = dest\nbefore = exit 9\n'
    printf 'on-failure = HC_RETRIES=1 %s on-failure %s\n' "$hook" "$url"
    printf '[source data]\npath = src\n'
} >run.conf
HARDSNAP_NOW=$(now 3) hs_rc 3 run -c run.conf
[ "$(requests requests)" = "POST /ping/abc/3" ] || fail "pings after a failed before: $(requests requests)"

# ---- warnings (here the source's after hook fails: exit 1): a success
# ping, or with HC_WARNING_FAILS=yes URL/1
: >requests
conf "$url" "after = exit 1" >run.conf
HARDSNAP_NOW=$(now 4) hs_rc 1 run -c run.conf
[ "$(requests requests)" = "POST /ping/abc/start
POST /ping/abc" ] || fail "pings of a run with warnings: $(requests requests)"
: >requests
HARDSNAP_NOW=$(now 5) HC_WARNING_FAILS=yes hs_rc 1 run -c run.conf
[ "$(requests requests)" = "POST /ping/abc/start
POST /ping/abc/1" ] || fail "pings of a run with warnings as failures: $(requests requests)"
body 2 >warn.json
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j["status"] == 1, j' warn.json ||
    fail "the warning ping's body: $(cat warn.json)"

# ---- nobody at the URL: a warning, the backup made all the same
dead=http://127.0.0.1:1/ping/abc
: >requests
conf "$dead" >run.conf
HARDSNAP_NOW=$(now 6) hs_rc 0 run -c run.conf
[ -d "dest/$(now 6)" ] || fail "no snapshot when the pings failed"
grep -q "healthchecks: the before ping to $dead/start failed (the backup goes on)" "$HS_ERR" ||
    fail "the failed start ping is not said: $(cat "$HS_ERR")"
grep -q "healthchecks: the after ping to $dead failed" "$HS_ERR" ||
    fail "the failed success ping is not said: $(cat "$HS_ERR")"
[ ! -s requests ] || fail "pings went elsewhere: $(cat requests)"
exit 0
