/* Anomalies: the store's usual change rate from its log, and the judgement
 * of a run against it; status names a run's anomaly from the log. */
#include "anomaly.h"
#include "hardsnap.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A log line of a run: command, status, files, copied, snapshot made. */
static void add_line(char *log, size_t cap, const char *cmd, int status, unsigned files,
                     unsigned copied, bool snapshot)
{
    size_t n = strlen(log);
    snprintf(log + n, cap - n,
             "start=2026-01-01T000000Z end=2026-01-01T000010Z command=%s status=%d files=%u "
             "copied=%u linked=0 bytes=0 snapshot=%s\n",
             cmd, status, files, copied, snapshot ? "2026-01-01T000000Z" : "-");
}

static double usual_of(const char *log, unsigned *runs)
{
    tu_mkdir("dest/.hardsnap");
    tu_write("dest/.hardsnap/log", log, strlen(log));
    int fd = open(tu_path("dest/.hardsnap"), O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(fd, 0);
    double u = hs_anomaly_usual_rate(fd, runs);
    close(fd);
    return u;
}

START_TEST(usual_is_the_median_of_runs_that_made_snapshots)
{
    static char log[8192];
    log[0] = '\0';
    add_line(log, sizeof log, "backup", 0, 1000, 1000, true); /* the first: all copied */
    add_line(log, sizeof log, "run", 1, 1000, 10, true);
    add_line(log, sizeof log, "backup", 3, 1000, 900, false); /* failed: no snapshot */
    add_line(log, sizeof log, "backup", 0, 1000, 30, true);
    strcat(log, "start=2026-01-01T000000Z end=2026-01-01T000010Z command=prune status=0 "
                "deleted=1 kept=3 freed=0\n");
    add_line(log, sizeof log, "backup", 0, 0, 0, true);       /* an empty source: no rate */
    add_line(log, sizeof log, "backup", 2, 1000, 1000, true); /* a usage error */
    add_line(log, sizeof log, "backup", 0, 2000, 40, true);
    strcat(log, "start=2026-01-02T000000Z end=2026-01-02T000001Z command=backup status=0 files=1"
                "000 copied=1000"); /* being written: not yet a line */
    unsigned runs;
    double u = usual_of(log, &runs);
    /* rates 1.0, 0.01, 0.03, 0.02: the median of four */
    ck_assert_uint_eq(runs, 4);
    ck_assert_double_eq_tol(u, 0.025, 1e-9);
}
END_TEST

START_TEST(only_the_last_runs_count)
{
    static char log[16384];
    log[0] = '\0';
    for (int i = 0; i < 30; i++) /* an old, busy time */
        add_line(log, sizeof log, "backup", 0, 100, 50, true);
    for (int i = 0; i < HS_ANOMALY_RUNS; i++)
        add_line(log, sizeof log, "backup", 0, 100, 1, true);
    unsigned runs;
    ck_assert_double_eq_tol(usual_of(log, &runs), 0.01, 1e-9);
    ck_assert_uint_eq(runs, HS_ANOMALY_RUNS);
}
END_TEST

START_TEST(no_log_no_history)
{
    unsigned runs = 7;
    ck_assert_double_eq(usual_of("", &runs), 0);
    ck_assert_uint_eq(runs, 0);
}
END_TEST

START_TEST(judged_far_above_usual)
{
    struct hs_change_alarm c;
    hs_anomaly_judge(&c, 10000, 3000, 0.01, 5);
    ck_assert(c.raised);
    ck_assert_double_eq_tol(c.rate, 0.3, 1e-9);
    ck_assert_double_eq_tol(c.usual, 0.01, 1e-9);
    ck_assert_uint_eq(c.runs, 5);
    /* too little history */
    hs_anomaly_judge(&c, 10000, 3000, 0.01, HS_ANOMALY_MIN_RUNS - 1);
    ck_assert(!c.raised);
    /* a small tree: few files, however large a share */
    hs_anomaly_judge(&c, 150, HS_ANOMALY_MIN_FILES - 1, 0.0, 10);
    ck_assert(!c.raised);
    /* a busy store: 10x its usual is not reached */
    hs_anomaly_judge(&c, 10000, 3000, 0.05, 10);
    ck_assert(!c.raised);
    /* a quiet store: a share too small to matter, even from nothing */
    hs_anomaly_judge(&c, 1000000, 9000, 0.0, 10);
    ck_assert(!c.raised);
    hs_anomaly_judge(&c, 1000000, 10000, 0.0, 10);
    ck_assert(c.raised);
    /* nothing to change */
    hs_anomaly_judge(&c, 0, 0, 0.0, 10);
    ck_assert(!c.raised);
    ck_assert_double_eq(c.rate, 0);
}
END_TEST

START_TEST(status_names_the_anomaly)
{
    tu_mkdir("dest/.hardsnap/partial");
    tu_mkdir("dest/.hardsnap/manifests");
    tu_mkdir("dest/2026-01-02T000000Z");
    ck_assert_int_eq(chmod(tu_path("dest"), 0700), 0);
    static const char log[] = "start=2026-01-02T000000Z end=2026-01-02T000005Z command=backup "
                              "status=1 files=400 copied=300 linked=100 bytes=9 "
                              "snapshot=2026-01-02T000000Z anomaly=unlinked,change\n";
    tu_write("dest/.hardsnap/log", log, strlen(log));
    struct hs_health h;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_health(tu_path("dest"), "2026-01-02T010000Z", 26 * 3600, &h, &e), HS_WARN);
    ck_assert_uint_eq(h.attention, HS_HEALTH_ANOMALY);
    ck_assert_str_eq(h.last_anomaly, "unlinked,change");
    ck_assert_str_eq(h.last_snapshot, "2026-01-02T000000Z");
    hs_health_free(&h);
    hs_err_clear(&e);
}
END_TEST

Suite *anomaly_suite(void)
{
    Suite *s = suite_create("anomaly");
    TCase *tc = tu_tcase("anomaly");
    tcase_add_test(tc, usual_is_the_median_of_runs_that_made_snapshots);
    tcase_add_test(tc, only_the_last_runs_count);
    tcase_add_test(tc, no_log_no_history);
    tcase_add_test(tc, status_names_the_anomaly);
    suite_add_tcase(s, tc);
    TCase *plain = tu_tcase_plain("anomaly_judge");
    tcase_add_test(plain, judged_far_above_usual);
    suite_add_tcase(s, plain);
    return s;
}
