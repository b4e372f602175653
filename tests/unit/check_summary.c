/* summary: a run as JSON and as node_exporter textfile metrics. */
#include "hardsnap.h"
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A run of two sources, one carried forward, with names a format must
 * escape: a quote, a backslash, a newline. */
static struct hs_source_result sources[2];

static struct hs_backup_result two_sources(void)
{
    struct hs_backup_result r = {.sources = sources, .n_sources = 2};
    snprintf(r.name, sizeof r.name, "2026-01-02T000000Z");
    r.stats.files = 7;
    r.stats.linked = 5;
    r.stats.copied = 2;
    r.stats.bytes_copied = 4096;
    snprintf(sources[0].name, sizeof sources[0].name, "we\"b\\1");
    sources[0].stats.files = 7;
    snprintf(sources[1].name, sizeof sources[1].name, "db\n2");
    sources[1].carried = true;
    return r;
}

START_TEST(json_escapes_and_counts)
{
    struct hs_backup_result r = two_sources();
    struct hs_prune_result p = {.kept = 3, .deleted = 1, .freed = 100};
    struct hs_log_entry le = {.start = 1767225600,
                              .end = 1767225660,
                              .command = "run",
                              .status = 1,
                              .error = NULL,
                              .backup = &r,
                              .prune = &p};
    char *j = hs_run_json(NULL, &le);
    ck_assert_ptr_nonnull(j);
    ck_assert_ptr_nonnull(strstr(j, "\"command\": \"run\""));
    ck_assert_ptr_nonnull(strstr(j, "\"dest\": null"));
    ck_assert_ptr_nonnull(strstr(j, "\"start\": \"2026-01-01T000000Z\""));
    ck_assert_ptr_nonnull(strstr(j, "\"end\": \"2026-01-01T000100Z\""));
    ck_assert_ptr_nonnull(strstr(j, "\"snapshot\": \"2026-01-02T000000Z\""));
    ck_assert_ptr_nonnull(strstr(j, "\"name\": \"we\\\"b\\\\1\", \"stale\": false"));
    ck_assert_ptr_nonnull(strstr(j, "\"name\": \"db\\u000a2\", \"stale\": true"));
    ck_assert_ptr_nonnull(strstr(j, "\"prune\": {\"kept\": 3, \"deleted\": 1, \"freed\": 100}"));
    /* one line: a consumer reads it with one readline */
    ck_assert_ptr_eq(strchr(j, '\n'), j + strlen(j) - 1);
    free(j);
    /* a run that failed before it had a result */
    le.backup = NULL;
    le.prune = NULL;
    le.status = 3;
    le.error = "cannot open destination: /x: No such file or directory";
    j = hs_run_json("/x", &le);
    ck_assert_ptr_nonnull(strstr(j, "\"dest\": \"/x\""));
    ck_assert_ptr_nonnull(strstr(j, "\"error\": \"cannot open destination"));
    ck_assert_ptr_null(strstr(j, "\"snapshot\""));
    ck_assert_ptr_nonnull(strstr(j, "\"prune\": null"));
    free(j);
}
END_TEST

START_TEST(json_quote)
{
    char *q = hs_json_quote("a\"b\\c\n\x01\x7f\xc3\xa9 </script>");
    ck_assert_str_eq(q, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\xc3\xa9 </script>\"");
    free(q);
    q = hs_json_quote("");
    ck_assert_str_eq(q, "\"\"");
    free(q);
}
END_TEST

START_TEST(bytes_text)
{
    char buf[32];
    ck_assert_str_eq(hs_bytes_text(buf, sizeof buf, 1023), "1023 B");
    ck_assert_str_eq(hs_bytes_text(buf, sizeof buf, 1536), "1.5 KiB");
    ck_assert_str_eq(hs_bytes_text(buf, sizeof buf, 5ull << 40), "5.0 TiB");
    ck_assert_str_eq(hs_bytes_text(buf, sizeof buf, UINT64_MAX), "16.0 EiB");
}
END_TEST

START_TEST(metrics_labels_and_last_success)
{
    struct hs_backup_result r = two_sources();
    struct hs_log_entry le = {.start = 100, .end = 160, .command = "backup", .backup = &r};
    tu_mkdir("dest");
    struct hs_err e = {0};
    ck_assert_int_eq(hs_metrics_write(tu_path("m.prom"), tu_path("dest"), &le, &e), 0);
    size_t n;
    char *m = tu_read("m.prom", &n);
    ck_assert_ptr_nonnull(strstr(m, "hardsnap_last_run_exit_status{dest=\""));
    ck_assert_ptr_nonnull(strstr(m, "hardsnap_last_success_timestamp_seconds{dest=\""));
    ck_assert_ptr_nonnull(strstr(m, "\"} 160\n"));
    ck_assert_ptr_nonnull(strstr(m, ",source=\"we\\\"b\\\\1\"} 7\n"));
    ck_assert_ptr_nonnull(strstr(m, "hardsnap_source_stale{dest=\""));
    ck_assert_ptr_nonnull(strstr(m, ",source=\"db\\n2\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(m, "hardsnap_last_run_bytes_copied{dest=\""));
    free(m);
    /* a failed run: its own time and status, the success before it kept */
    le.status = 3;
    le.start = 200;
    le.end = 230;
    le.backup = NULL;
    ck_assert_int_eq(hs_metrics_write(tu_path("m.prom"), tu_path("dest"), &le, &e), 0);
    m = tu_read("m.prom", &n);
    char *s = strstr(m, "hardsnap_last_success_timestamp_seconds{");
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(strstr(s, "} 160\n"));
    ck_assert_ptr_nonnull(strstr(m, "hardsnap_last_run_timestamp_seconds{"));
    ck_assert_ptr_nonnull(strstr(m, "} 230\n"));
    ck_assert_ptr_nonnull(strstr(m, "hardsnap_last_run_exit_status{"));
    ck_assert_ptr_null(strstr(m, "hardsnap_source_files"));
    free(m);
    /* where it cannot be written: an error naming the file */
    ck_assert_int_lt(hs_metrics_write(tu_path("no/such/m.prom"), tu_path("dest"), &le, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "no/such/m.prom"));
    hs_err_clear(&e);
}
END_TEST

Suite *summary_suite(void)
{
    Suite *s = suite_create("summary");
    TCase *plain = tu_tcase_plain("json");
    tcase_add_test(plain, json_escapes_and_counts);
    tcase_add_test(plain, json_quote);
    tcase_add_test(plain, bytes_text);
    suite_add_tcase(s, plain);
    TCase *tc = tu_tcase("metrics");
    tcase_add_test(tc, metrics_labels_and_last_success);
    suite_add_tcase(s, tc);
    return s;
}
