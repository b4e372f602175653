#!/bin/bash
# report: one self-contained HTML page (no URL, no external asset) with the
# numbers list and the log give, the biggest growers of the two newest
# snapshots, every name from the store escaped (a file named to break out
# of the page's script does not run); written atomically, never through a
# symlink; then rendered by headless Chromium: no script error, the chart
# drawn, a PNG that is not blank.
# shellcheck source=tests/integration/lib.sh
source "$HS_TEST_LIB"

# --- usage and errors ------------------------------------------------------
mkdir src empty-dir
hs_rc 2 report
hs_rc 2 report empty-dir
grep -q -- "-o FILE" "$HS_ERR" || fail "no -o: the message does not say -o: $(cat "$HS_ERR")"
hs_rc 2 report empty-dir -o out.html extra
hs_rc 2 report empty-dir -o out.html --max-age soon
hs_rc 3 report missing-store -o out.html
grep -q "missing-store" "$HS_ERR" || fail "not a store: DEST not named: $(cat "$HS_ERR")"
hs_rc 3 report empty-dir -o out.html
grep -q "not a hardsnap store.*empty-dir" "$HS_ERR" || fail "not a store: $(cat "$HS_ERR")"
[ ! -e out.html ] || fail "a failed report left out.html"

# --- a store: 4 runs (one failed), hostile names, files that grow -----------
hostile='x</script><img src=x onerror=alert(1)>' # a directory "x<" and a file in it
mkdir src/docs src/'x<'
random_file src/docs/a 10000
random_file src/docs/b 5000
for i in $(seq 1 25); do random_file "src/docs/g$i" 100; done
backup_at 1 src dest
chmod 0700 dest
random_file "src/$hostile" 200000
random_file src/docs/a 30000
backup_at 2 src dest
# a run that fails: the lock is held
exec 8>dest/.hardsnap/lock
flock -n 8 || fail "cannot take the lock"
HARDSNAP_NOW=$(now 3) hs_rc 4 backup src dest
exec 8>&-
# the last run: a big new file, the hostile one grows, 25 small ones grow
random_file src/docs/big 400000
random_file src/'"><svg onload=alert(2)>' 150000
random_file "src/$(printf 'new\nline')" 120000
random_file "src/$hostile" 300000
for i in $(seq 1 25); do random_file "src/docs/g$i" $((1000 + i * 10)); done
backup_at 4 src dest

HARDSNAP_NOW=$(now 5) hs_rc 0 report dest -o out.html
grep -qx "report: out.html" "$HS_OUT" || fail "report said: $(cat "$HS_OUT")"
[ -f out.html ] || fail "no out.html"
[ ! -e out.html.tmp ] || fail "out.html.tmp left"
HARDSNAP_NOW=$(now 5) hs_rc 0 report dest -q -o quiet.html
[ ! -s "$HS_OUT" ] || fail "-q printed: $(cat "$HS_OUT")"
hs_rc 0 list dest --json
cp "$HS_OUT" list.json

# self-contained, escaped, and the numbers of list and the log
python3 - out.html list.json "$hostile" <<'EOF' || fail "the page is not what it should be (above)"
import html.parser, json, re, sys

page = open(sys.argv[1], encoding="utf-8").read()
listing = json.load(open(sys.argv[2]))
hostile = sys.argv[3]

class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text, self.scripts = set(), [], [], []
        self.in_script = None
    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag == "script":
            self.in_script = dict(attrs)
            self.scripts.append([dict(attrs), ""])
    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = None
    def handle_data(self, data):
        if self.in_script is not None:
            self.scripts[-1][1] += data
        else:
            self.text.append(data)

p = P()
p.feed(page)
p.close()
bad = []
allowed = {"html", "head", "meta", "title", "style", "script", "body", "header", "h1", "h2",
           "p", "main", "section", "div", "span", "b", "i", "svg", "line", "text", "polyline",
           "circle", "rect", "title", "details", "summary", "table", "tr", "th", "td",
           "footer", "code"}
if p.tags - allowed:
    bad.append("unexpected elements: %s" % sorted(p.tags - allowed))
for tag, k, v in p.attrs:
    if k in ("src", "href", "xlink:href", "action", "srcset", "poster", "data") or k.startswith("on"):
        bad.append("attribute %s on <%s>" % (k, tag))
    if v and re.search(r"(https?:|//|url\()", v) and k not in ("content",):
        bad.append("a URL in %s=%r" % (k, v))
for m in re.finditer(r"https?://|url\(|@import", page):
    bad.append("external reference: %r" % page[m.start():m.start() + 40])
csp = [v for t, k, v in p.attrs if t == "meta" and k == "content" and "default-src" in (v or "")]
if not csp or "default-src 'none'" not in csp[0]:
    bad.append("no CSP with default-src 'none': %r" % csp)

text = "".join(p.text)
if hostile not in text:
    bad.append("the hostile name is not shown as text")
if '"><svg onload=alert(2)>' not in text:
    bad.append("the quoting name is not shown as text")
if "new\\nline" not in text:
    bad.append("the name with a new line is not escaped as \\n")

data = [s for a, s in p.scripts if a.get("type") == "application/json"]
code = [s for a, s in p.scripts if a.get("type") != "application/json"]
if len(data) != 1 or len(code) != 2:
    bad.append("scripts: %d data, %d code" % (len(data), len(code)))
else:
    if "<" in data[0]:
        bad.append("a '<' inside the data block")
    d = json.loads(data[0])
    snaps = [(s["name"], s["files"], s["total_bytes"], s["unique_bytes"]) for s in d["snapshots"]]
    want = [(s["name"], s["files"], s["total_bytes"], s["unique_bytes"]) for s in listing]
    if snaps != want:
        bad.append("snapshots %r, list says %r" % (snaps, want))
    runs = [(r["command"], r["status"]) for r in d["runs"]]
    if runs != [("backup", 0), ("backup", 0), ("backup", 4), ("backup", 0)]:
        bad.append("runs: %r" % runs)
    if (d["runs"][3]["copied"], d["runs"][3]["linked"]) != (29, 2):  # a, b linked
        bad.append("the last run's counts: %r" % d["runs"][3])
    g = d["growers"]
    if len(g) != 20:
        bad.append("%d growers, not 20" % len(g))
    elif g[0]["path"] != "docs/big" or not g[0]["added"] or g[0]["after"] != 400000:
        bad.append("the biggest grower: %r" % g[0])
    elif [x["path"] for x in g[1:3]] != ['"><svg onload=alert(2)>', "new\\nline"]:
        bad.append("the new files: %r" % g[1:3])
    elif g[3]["path"] != hostile or g[3]["before"] != 200000 or g[3]["after"] != 300000:
        bad.append("the hostile grower: %r" % g[3])
    elif [x["path"] for x in g[4:]] != ["docs/g%d" % i for i in range(25, 9, -1)]:
        bad.append("the small growers: %r" % [x["path"] for x in g[4:]])
    sizes = [x["after"] - x["before"] for x in g]
    if sizes != sorted(sizes, reverse=True):
        bad.append("growers not biggest first: %r" % sizes)
if 'data-points="%d"' % (2 * len(listing)) not in page:
    bad.append("the chart does not hold 2 points per snapshot")
for b in bad:
    print("report:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF

# -o -: the same page on stdout (but for its nonce)
HARDSNAP_NOW=$(now 5) hs_rc 0 report dest -o -
sed -E 's/nonce(-|=")[a-z0-9]+//g' "$HS_OUT" >stdout.html
sed -E 's/nonce(-|=")[a-z0-9]+//g' out.html >file.html
cmp -s stdout.html file.html || fail "-o - wrote another page: $(diff stdout.html file.html | head -5)"

# --- the output file: atomic, never through a symlink -------------------------
printf 'keep' >victim
ln -s victim link.html
HARDSNAP_NOW=$(now 5) hs_rc 0 report dest -o link.html
[ ! -L link.html ] || fail "link.html is still a symlink"
[ -f link.html ] || fail "link.html is no file"
[ "$(cat victim)" = keep ] || fail "the report was written through the symlink"
ln -s victim out.html.tmp
HARDSNAP_NOW=$(now 5) hs_rc 3 report dest -o out.html
grep -q "out.html.tmp.*not a regular file" "$HS_ERR" || fail "symlink tmp: $(cat "$HS_ERR")"
[ "$(cat victim)" = keep ] || fail "the temp symlink was followed"
[ -L out.html.tmp ] || fail "the temp symlink was removed"
rm out.html.tmp
printf 'half a page' >out.html.tmp # left by a report that was killed
HARDSNAP_NOW=$(now 5) hs_rc 0 report dest -o out.html
[ ! -e out.html.tmp ] || fail "a stale out.html.tmp was left"
hs_rc 2 report dest -o no-such-dir/out.html
grep -q "no-such-dir/out.html" "$HS_ERR" || fail "missing dir: $(cat "$HS_ERR")"
hs_rc 2 report dest -o "dest/$(now 4)/out.html"
[ ! -e "dest/$(now 4)/out.html" ] || fail "the report was written into a snapshot"

# --- a real browser ------------------------------------------------------------
browser=""
for b in chromium chromium-browser google-chrome; do
    have "$b" && browser=$b && break
done
[ -n "$browser" ] || skip "no chromium (apt-get install chromium): the page was checked, not rendered"

# chrome FLAGS...: headless, no sandbox (root), its own profile, no network
# needed; a busy machine gets time, and one more try after a crash.
chrome() {
    local try
    for try in 1 2; do
        if timeout 120 "$browser" --headless=new --no-sandbox --disable-gpu \
            --disable-dev-shm-usage --no-first-run --disable-extensions --mute-audio \
            --user-data-dir="$HS_TMP/profile" --enable-logging=stderr --v=0 "$@"; then
            return 0
        fi
        note "chromium failed (try $try)"
    done
    return 1
}
page="file://$HS_TMP/out.html"
chrome --dump-dom "$page" >dom.html 2>chrome-dom.log || fail "chromium --dump-dom failed: $(tail -5 chrome-dom.log)"
grep -q '<html[^>]* data-chart="drawn"' dom.html ||
    fail "the chart is not drawn: $(head -c 300 dom.html); $(grep -i console chrome-dom.log | head -5)"
! grep -q 'data-error=' dom.html || fail "a script error: $(grep -i console chrome-dom.log | head -5)"
! grep -Eq 'CONSOLE.*(Uncaught|Refused)|Refused to (load|execute|apply)' chrome-dom.log ||
    fail "console: $(grep -E 'Uncaught|Refused' chrome-dom.log | head -5)"
# the hostile names are text in the DOM: no element of theirs
! grep -q '<img' dom.html || fail "an <img> element made it into the page"
grep -q 'x&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;' dom.html || fail "hostile name not in the DOM as text"

chrome --screenshot="$HS_TMP/out.png" --window-size=1200,1600 --hide-scrollbars "$page" \
    >/dev/null 2>chrome-shot.log || fail "chromium --screenshot failed: $(tail -5 chrome-shot.log)"
# a PNG of the window's size with something drawn. python3 has no image
# library here: the filtered scanlines (zlib) of a blank page hold a few
# byte values, mostly zeros; a page of charts and text, many.
python3 - out.png <<'EOF' || fail "the screenshot is not a picture of the page"
import struct, sys, zlib

d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", d[16:24])
assert (w, h) == (1200, 1600), (w, h)
assert len(d) > 30000, "%d bytes: too small for the page" % len(d)
raw, pos = b"", 8
while pos < len(d):
    n, kind = struct.unpack(">I4s", d[pos:pos + 8])
    if kind == b"IDAT":
        raw += d[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(raw)
values, busy = len(set(raw)), 1 - raw.count(0) / len(raw)
assert values > 64 and busy > 0.002, "%d byte values, %.4f not zero: blank" % (values, busy)
print("screenshot: %dx%d, %d bytes, %d byte values, %.1f%% not zero" %
      (w, h, len(d), values, 100 * busy), file=sys.stderr)
EOF
[ -z "${HS_REPORT_PNG:-}" ] || cp out.png "$HS_REPORT_PNG"
echo "t29_report: ok"
