/* report: escaping for HTML and for JSON in a <script>, the log's runs, the
 * top growers, and the page of a small store made by hand. */
#include "htmlreport.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *text_of(const char *s, size_t len, bool json)
{
    struct hs_buf b = {0};
    int r = json ? hs_htmlreport_json(&b, s, len) : hs_htmlreport_text(&b, s, len);
    ck_assert_int_eq(r, 0);
    return b.data;
}

START_TEST(escape_html)
{
    char *t = text_of("<a href=\"x\">'&b", 15, false);
    ck_assert_str_eq(t, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;b");
    free(t);
    /* a new line, a bidi override: escaped as the terminal commands do */
    t = text_of("a\nb\xe2\x80\xae"
                "c",
                7, false);
    ck_assert_str_eq(t, "a\\nb\\xe2\\x80\\xaec");
    free(t);
    /* a NUL-free name cut at len */
    t = text_of("x</script>", 1, false);
    ck_assert_str_eq(t, "x");
    free(t);
}
END_TEST

START_TEST(escape_json)
{
    const char *hostile = "</script><img src=x onerror=alert(1)>";
    char *t = text_of(hostile, strlen(hostile), true);
    ck_assert_str_eq(t, "\"\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e\"");
    ck_assert_ptr_null(strchr(t, '<'));
    free(t);
    t = text_of("q\"\\&\xff", 5, true);
    /* the backslash doubled by hs_escape, then each escaped for JSON */
    ck_assert_str_eq(t, "\"q\\\"\\\\\\\\\\u0026\\\\xff\"");
    free(t);
    t = text_of("<!--", 4, true);
    ck_assert_str_eq(t, "\"\\u003c!--\"");
    free(t);
}
END_TEST

START_TEST(parse_runs)
{
    struct hs_htmlreport_run r;
    ck_assert_int_eq(hs_htmlreport_parse_run("start=2026-01-01T000000Z end=2026-01-01T000130Z "
                                             "command=run status=1 files=10 copied=3 linked=7 "
                                             "bytes=300 snapshot=2026-01-01T000000Z "
                                             "stale=db,we%20b sources=etc,db,we%20b "
                                             "deleted=1 kept=2 freed=9",
                                             &r),
                     1);
    ck_assert_str_eq(r.command, "run");
    ck_assert_int_eq(r.status, 1);
    ck_assert_uint_eq(r.files, 10);
    ck_assert_uint_eq(r.copied, 3);
    ck_assert_uint_eq(r.linked, 7);
    ck_assert_uint_eq(r.bytes, 300);
    ck_assert_int_eq(r.seconds, 90);
    ck_assert_str_eq(r.snapshot, "2026-01-01T000000Z");
    ck_assert_str_eq(r.stale, "db,we b");
    ck_assert_str_eq(r.sources, "etc,db,we b");
    ck_assert_str_eq(r.anomaly, "");
    free(r.stale);
    free(r.sources);
    /* an anomaly as log.c writes it, and one it never would */
    ck_assert_int_eq(hs_htmlreport_parse_run("start=2026-01-01T000000Z end=2026-01-01T000000Z "
                                             "command=run status=1 files=400 copied=300 "
                                             "snapshot=2026-01-01T000000Z anomaly=unlinked,change",
                                             &r),
                     1);
    ck_assert_str_eq(r.anomaly, "unlinked,change");
    ck_assert_int_eq(hs_htmlreport_parse_run("start=2026-01-01T000000Z end=2026-01-01T000000Z "
                                             "command=run status=1 files=400 copied=300 "
                                             "snapshot=2026-01-01T000000Z anomaly=<b>",
                                             &r),
                     1);
    ck_assert_str_eq(r.anomaly, "");
    /* a failed run made no snapshot */
    ck_assert_int_eq(hs_htmlreport_parse_run("start=2026-01-01T000000Z end=2026-01-01T000000Z "
                                             "command=backup status=3 files=0 copied=0 linked=0 "
                                             "bytes=0 snapshot=-",
                                             &r),
                     1);
    ck_assert_str_eq(r.snapshot, "");
    ck_assert_ptr_null(r.stale);
    ck_assert_ptr_null(r.sources);
    /* a prune, a half line: no run */
    ck_assert_int_eq(hs_htmlreport_parse_run("start=2026-01-01T000000Z end=2026-01-01T000000Z "
                                             "command=prune status=0 deleted=1 kept=2 freed=3",
                                             &r),
                     0);
    ck_assert_int_eq(hs_htmlreport_parse_run("start=2026-01-01T000000Z end=", &r), 0);
}
END_TEST

START_TEST(top_growers)
{
    struct hs_htmlreport_data d;
    memset(&d, 0, sizeof d);
    /* growth i * 10 for i = 1..30 in a shuffled order, ties kept in order */
    for (unsigned k = 0; k < 30; k++) {
        unsigned i = (k * 7) % 30 + 1;
        char path[32];
        snprintf(path, sizeof path, "f%02u", i);
        ck_assert_int_eq(hs_htmlreport_add_grower(&d, path, strlen(path), 5, 5 + i * 10, false), 0);
    }
    ck_assert_uint_eq(d.n_growers, HS_HTMLREPORT_GROWERS);
    for (size_t i = 0; i < d.n_growers; i++) {
        char want[32];
        snprintf(want, sizeof want, "f%02zu", 30 - i);
        ck_assert_str_eq(d.growers[i].path, want);
    }
    /* smaller than the smallest of a full list: not kept */
    ck_assert_int_eq(hs_htmlreport_add_grower(&d, "tiny", 4, 0, 1, true), 0);
    ck_assert_str_eq(d.growers[HS_HTMLREPORT_GROWERS - 1].path, "f11");
    hs_htmlreport_free(&d);
}
END_TEST

/* A store made by hand: three snapshots (no manifests: list and the growers
 * walk them), a log with a failed run and a stale source. */
static void make_store(void)
{
    static const char big[5000], mid[3000];
    tu_mkdir("dest/.hardsnap/partial");
    tu_mkdir("dest/.hardsnap/manifests");
    tu_mkdir("dest/.hardsnap/stale");
    tu_write("dest/.hardsnap/stale/db", "since=2026-01-02T000000Z\n", 25);
    tu_write("dest/2026-01-01T000000Z/home/a", mid, 100);
    tu_write("dest/2026-01-02T000000Z/home/a", mid, 200);
    tu_write("dest/2026-01-02T000000Z/db/dump", mid, 50);
    tu_write("dest/2026-01-03T000000Z/home/a", mid, 3000);             /* grew 2800 */
    tu_write("dest/2026-01-03T000000Z/home/x</script><b>", big, 5000); /* new */
    tu_write("dest/2026-01-03T000000Z/home/shrunk", mid, 1);
    tu_write("dest/2026-01-02T000000Z/home/shrunk", mid, 10);
    tu_write("dest/2026-01-03T000000Z/db/dump", mid, 50);
    static const char log[] =
        "start=2026-01-01T000000Z end=2026-01-01T000010Z command=backup status=0 files=1 "
        "copied=1 linked=0 bytes=100 snapshot=2026-01-01T000000Z sources=home\n"
        "start=2026-01-02T000000Z end=2026-01-02T000020Z command=backup status=0 files=3 "
        "copied=2 linked=0 bytes=250 snapshot=2026-01-02T000000Z sources=home,db\n"
        "start=2026-01-02T120000Z end=2026-01-02T120001Z command=backup status=4 files=0 "
        "copied=0 linked=0 bytes=0 snapshot=-\n"
        "start=2026-01-02T130000Z end=2026-01-02T130000Z command=prune status=0 deleted=0 "
        "kept=2 freed=0\n"
        "start=2026-01-03T000000Z end=2026-01-03T000100Z command=run status=1 files=4 "
        "copied=2 linked=1 bytes=8000 snapshot=2026-01-03T000000Z stale=db sources=home,db\n"
        "start=2026-01-04T000000Z end=";
    tu_write("dest/.hardsnap/log", log, sizeof log - 1);
    ck_assert_int_eq(chmod(tu_path("dest"), 0700), 0);
}

START_TEST(made_up_store)
{
    make_store();
    struct hs_htmlreport_data d;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_htmlreport_collect(tu_path("dest"), "2026-01-03T060000Z", 0, &d, &e), 0);
    ck_assert_uint_eq(d.list.n, 3);
    ck_assert_uint_eq(d.list.snapshots[2].total_bytes, 3000 + 5000 + 1 + 50);
    /* the runs: backup, backup, the failed one, the run (not the prune, not the half line) */
    ck_assert_uint_eq(d.n_runs, 4);
    ck_assert_int_eq(d.runs[2].status, 4);
    ck_assert_int_eq(d.runs[3].seconds, 60);
    ck_assert_str_eq(d.last_ok, "2026-01-03T000000Z");
    /* db: carried forward by the last run, stale since the 2nd; home,
     * named by the runs' sources=, backed up by the last */
    ck_assert_uint_eq(d.n_sources, 2);
    ck_assert_str_eq(d.sources[0].name, "db");
    ck_assert(d.sources[0].stale);
    ck_assert_str_eq(d.sources[0].since, "2026-01-02T000000Z");
    ck_assert_str_eq(d.sources[0].last_ok, "2026-01-02T000000Z");
    ck_assert_str_eq(d.sources[1].name, "home");
    ck_assert(!d.sources[1].stale);
    ck_assert_str_eq(d.sources[1].last_ok, "2026-01-03T000000Z");
    /* the growers of the two newest: the new file, then a's growth; not the shrunk one */
    ck_assert_str_eq(d.grow_a, "2026-01-02T000000Z");
    ck_assert_str_eq(d.grow_b, "2026-01-03T000000Z");
    ck_assert_uint_eq(d.n_growers, 2);
    ck_assert_str_eq(d.growers[0].path, "home/x</script><b>");
    ck_assert(d.growers[0].added);
    ck_assert_uint_eq(d.growers[0].after, 5000);
    ck_assert_str_eq(d.growers[1].path, "home/a");
    ck_assert_uint_eq(d.growers[1].before, 200);
    ck_assert_uint_eq(d.growers[1].after, 3000);

    struct hs_buf b = {0};
    ck_assert_int_eq(hs_htmlreport_render(&d, "n0nce", &b), 0);
    const char *p = b.data;
    ck_assert_ptr_nonnull(strstr(p, "script-src 'nonce-n0nce'"));
    ck_assert_ptr_nonnull(strstr(p, "home/x&lt;/script&gt;&lt;b&gt;"));
    ck_assert_ptr_nonnull(strstr(p, "\"path\":\"home/x\\u003c/script\\u003e\\u003cb\\u003e\""));
    ck_assert_ptr_null(strstr(p, "x</script>"));
    ck_assert_ptr_null(strstr(p, "<b>"));
    ck_assert_ptr_nonnull(strstr(p, "data-points=\"6\""));
    ck_assert_ptr_nonnull(strstr(p, "<svg id=\"runs\""));
    ck_assert_ptr_nonnull(strstr(p, "data-bars=\"4\""));
    ck_assert_ptr_nonnull(strstr(p, "stale: its tree is 2026-01-02T000000Z&#39;s"));
    ck_assert_ptr_nonnull(strstr(p, "a source was carried forward"));
    /* nothing from outside: no URL, no src or href attribute */
    ck_assert_ptr_null(strstr(p, "http:"));
    ck_assert_ptr_null(strstr(p, "https:"));
    ck_assert_ptr_null(strstr(p, " src="));
    ck_assert_ptr_null(strstr(p, "href="));
    /* exactly two scripts carry the nonce, and one data block */
    size_t scripts = 0;
    for (const char *q = p; (q = strstr(q, "<script")); q++)
        scripts++;
    ck_assert_uint_eq(scripts, 3);
    hs_buf_free(&b);
    hs_htmlreport_free(&d);
    hs_err_clear(&e);
}
END_TEST

START_TEST(writes_file)
{
    make_store();
    tu_write("victim", "keep", 4);
    char victim[4096]; /* tu_path's buffer is overwritten by its next call */
    snprintf(victim, sizeof victim, "%s", tu_path("victim"));
    ck_assert_int_eq(symlink(victim, tu_path("page.html")), 0);
    tu_write("page.html.tmp", "left by a killed report", 23);
    char out[4096], dest[4096], nostore[4096];
    snprintf(out, sizeof out, "%s", tu_path("page.html"));
    snprintf(dest, sizeof dest, "%s", tu_path("dest"));
    snprintf(nostore, sizeof nostore, "%s", tu_path("no-store"));
    struct hs_html_report_opts o = {.dest = dest, .output = out, .now = "2026-01-03T060000Z"};
    struct hs_err e = {0};
    ck_assert_int_eq(hs_html_report(&o, &e), HS_OK);
    /* the symlink was replaced, its target left alone; the temp file is gone */
    ck_assert_file_eq("victim", "keep", 4);
    struct stat st = tu_lstat("page.html");
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(access(tu_path("page.html.tmp"), F_OK), -1);
    size_t n;
    char *page = tu_read("page.html", &n);
    ck_assert_ptr_nonnull(strstr(page, "<!DOCTYPE html>"));
    ck_assert_ptr_nonnull(strstr(page, "</html>\n"));
    free(page);
    /* a temp name that is a symlink is not followed, nor removed */
    ck_assert_int_eq(symlink(victim, tu_path("page.html.tmp")), 0);
    ck_assert_int_eq(hs_html_report(&o, &e), HS_FAILED);
    ck_assert_msg(strstr(e.msg, "not a regular file"), "%s", e.msg);
    ck_assert_file_eq("victim", "keep", 4);
    /* a missing directory, not a store, a bad clock */
    snprintf(out, sizeof out, "%s", tu_path("no-dir/page.html"));
    ck_assert_int_eq(hs_html_report(&o, &e), HS_USAGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "no-dir/page.html"));
    o.dest = nostore;
    ck_assert_int_eq(hs_html_report(&o, &e), HS_FAILED);
    ck_assert_ptr_nonnull(strstr(e.msg, "no-store"));
    o.dest = dest;
    o.now = "yesterday";
    ck_assert_int_eq(hs_html_report(&o, &e), HS_USAGE);
    /* into a snapshot: refused */
    snprintf(out, sizeof out, "%s", tu_path("dest/2026-01-03T000000Z/page.html"));
    o.now = NULL;
    ck_assert_int_eq(hs_html_report(&o, &e), HS_USAGE);
    ck_assert_int_eq(access(tu_path("dest/2026-01-03T000000Z/page.html"), F_OK), -1);
    hs_err_clear(&e);
}
END_TEST

Suite *htmlreport_suite(void)
{
    Suite *s = suite_create("htmlreport");
    TCase *tc = tu_tcase_plain("escape");
    tcase_add_test(tc, escape_html);
    tcase_add_test(tc, escape_json);
    tcase_add_test(tc, parse_runs);
    tcase_add_test(tc, top_growers);
    suite_add_tcase(s, tc);
    tc = tu_tcase("store");
    tcase_add_test(tc, made_up_store);
    tcase_add_test(tc, writes_file);
    suite_add_tcase(s, tc);
    return s;
}
