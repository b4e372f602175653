/* status: the store's health from its top level and its log's last line. */
#include "hardsnap.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void make_store(void)
{
    tu_mkdir("dest/.hardsnap/partial");
    tu_mkdir("dest/.hardsnap/manifests");
    tu_mkdir("dest/2026-01-01T000000Z");
    tu_mkdir("dest/2026-01-02T000000Z");
    tu_mkdir("dest/not-a-snapshot");
    ck_assert_int_eq(chmod(tu_path("dest"), 0700), 0); /* else: open to others */
}

static const char line1[] = "start=2026-01-01T000000Z end=2026-01-01T000010Z command=backup "
                            "status=0 files=1 copied=1 linked=0 bytes=2 "
                            "snapshot=2026-01-01T000000Z\n";
static const char line2[] = "start=2026-01-02T000000Z end=2026-01-02T000005Z command=run "
                            "status=3 files=0 copied=0 linked=0 bytes=0 snapshot=-\n";

START_TEST(last_complete_line)
{
    make_store();
    /* a long log, its last line half written by a run still going */
    char log[20000] = "";
    while (strlen(log) + sizeof line1 < sizeof log - 400)
        strcat(log, line1);
    strcat(log, line2);
    strcat(log, "start=2026-01-03T000000Z end=");
    tu_write("dest/.hardsnap/log", log, strlen(log));
    struct hs_health h;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_health(tu_path("dest"), "2026-01-02T010000Z", 26 * 3600, &h, &e), HS_WARN);
    ck_assert(h.have_last);
    ck_assert_str_eq(h.last_command, "run");
    ck_assert_int_eq(h.last_status, 3);
    ck_assert_str_eq(h.last_end, "2026-01-02T000005Z");
    ck_assert_str_eq(h.last_snapshot, "");
    ck_assert_uint_eq(h.attention, HS_HEALTH_FAILED);
    ck_assert_str_eq(h.newest, "2026-01-02T000000Z");
    ck_assert_int_eq(h.age, 3600);
    ck_assert_uint_eq(h.snapshots, 2);
    hs_health_free(&h);
    hs_err_clear(&e);
}
END_TEST

START_TEST(no_log_no_snapshot)
{
    make_store();
    struct hs_health h;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_health(tu_path("dest"), "2026-01-02T010000Z", 3600, &h, &e), HS_OK);
    ck_assert(!h.have_last);
    hs_health_free(&h);
    ck_assert_int_eq(hs_health(tu_path("dest"), "2026-01-02T020001Z", 3600, &h, &e), HS_WARN);
    ck_assert_uint_eq(h.attention, HS_HEALTH_OLD);
    hs_health_free(&h);
    ck_assert_int_eq(hs_health(tu_path("dest"), "yesterday", 3600, &h, &e), HS_USAGE);
    hs_health_free(&h);
    tu_mkdir("empty/.hardsnap/partial");
    tu_mkdir("empty/.hardsnap/manifests");
    ck_assert_int_eq(chmod(tu_path("empty"), 0700), 0);
    ck_assert_int_eq(hs_health(tu_path("empty"), NULL, 3600, &h, &e), HS_FAILED);
    ck_assert_ptr_nonnull(strstr(e.msg, "no snapshot"));
    hs_health_free(&h);
    ck_assert_int_eq(hs_health(tu_path("nothing-here"), NULL, 3600, &h, &e), HS_FAILED);
    hs_health_free(&h);
    hs_err_clear(&e);
}
END_TEST

Suite *health_suite(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tu_tcase("health");
    tcase_add_test(tc, last_complete_line);
    tcase_add_test(tc, no_log_no_snapshot);
    suite_add_tcase(s, tc);
    return s;
}
