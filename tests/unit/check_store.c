/* The store: names, layout, lock, publication and recovery. */
#include "store.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(snapshot_names)
{
    char out[HS_SNAPSHOT_NAME_LEN + 1];
    hs_snapshot_name_format(0, out);
    ck_assert_str_eq(out, "1970-01-01T000000Z");
    time_t t;
    ck_assert_int_eq(hs_snapshot_name_parse("2026-11-22T020000Z", &t), 0);
    hs_snapshot_name_format(t, out);
    ck_assert_str_eq(out, "2026-11-22T020000Z");
    const char *bad[] = {"2026-11-22T020000",
                         "2026-11-22T020000Z ",
                         "2026-13-22T020000Z",
                         "2026-02-30T000000Z",
                         "2026-11-22T250000Z",
                         "2026-11-22 020000Z",
                         "latest",
                         "",
                         "2026-11-22T02:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!hs_snapshot_name_valid(bad[i]), "%s accepted", bad[i]);
    ck_assert(hs_snapshot_name_valid("2024-02-29T235959Z"));
}
END_TEST

START_TEST(layout_and_lock)
{
    struct hs_store a, b;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_store_open(&a, tu_path("dest"), HS_STORE_CREATE | HS_STORE_LOCK, &e), 0);
    ck_assert(S_ISDIR(tu_lstat("dest/.hardsnap/partial").st_mode));
    ck_assert(S_ISDIR(tu_lstat("dest/.hardsnap/manifests").st_mode));
    ck_assert_int_eq(tu_lstat("dest/.hardsnap").st_mode & 0777, 0700);
    ck_assert_int_eq(hs_store_open(&b, tu_path("dest"), HS_STORE_LOCK, &e), -EWOULDBLOCK);
    ck_assert_int_eq(e.kind, HS_LOCKED);
    ck_assert_ptr_nonnull(strstr(e.msg, "dest"));
    hs_store_close(&b);
    hs_store_close(&a);
    ck_assert_int_eq(hs_store_open(&b, tu_path("dest"), HS_STORE_LOCK, &e), 0);
    hs_store_close(&b);
    hs_err_clear(&e);
}
END_TEST

START_TEST(missing_parent_is_usage)
{
    struct hs_store s;
    struct hs_err e = {0};
    ck_assert_int_lt(hs_store_open(&s, tu_path("no/such/dest"), HS_STORE_CREATE, &e), 0);
    ck_assert_int_eq(e.kind, HS_USAGE);
    hs_store_close(&s);
    hs_err_clear(&e);
}
END_TEST

static void make_partial(const char *name, bool with_manifest)
{
    char p[128];
    snprintf(p, sizeof p, "dest/.hardsnap/partial/%s/file", name);
    tu_write(p, "x", 1);
    if (with_manifest) {
        snprintf(p, sizeof p, "dest/.hardsnap/partial/%s.hsm", name);
        tu_write(p, "m", 1);
    }
}

START_TEST(publish_and_list)
{
    struct hs_store s;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_store_open(&s, tu_path("dest"), HS_STORE_CREATE | HS_STORE_LOCK, &e), 0);
    tu_mkdir("dest/not-a-snapshot");
    tu_mkdir("dest/2026-99-01T000000Z");
    make_partial("2026-01-02T000000Z", true);
    ck_assert_int_eq(hs_store_publish(&s, "2026-01-02T000000Z", &e, &e), 0);
    make_partial("2026-01-01T000000Z", true);
    ck_assert_int_eq(hs_store_publish(&s, "2026-01-01T000000Z", &e, &e), 0);
    char **names;
    size_t n;
    ck_assert_int_eq(hs_store_list(&s, &names, &n, &e), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], "2026-01-01T000000Z");
    ck_assert_str_eq(names[1], "2026-01-02T000000Z");
    hs_store_list_free(names, n);
    /* an older snapshot does not move latest back */
    char target[64] = {0};
    ck_assert_int_gt(readlink(tu_path("dest/latest"), target, sizeof target - 1), 0);
    ck_assert_str_eq(target, "2026-01-02T000000Z");
    ck_assert(S_ISREG(tu_lstat("dest/.hardsnap/manifests/2026-01-01T000000Z.hsm").st_mode));
    /* never merged into an existing snapshot */
    make_partial("2026-01-01T000000Z", true);
    ck_assert_int_eq(hs_store_publish(&s, "2026-01-01T000000Z", &e, &e), -EEXIST);
    hs_store_close(&s);
    hs_err_clear(&e);
}
END_TEST

START_TEST(recover)
{
    struct hs_store s;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_store_open(&s, tu_path("dest"), HS_STORE_CREATE | HS_STORE_LOCK, &e), 0);
    /* killed after storing the manifest: only the rename was missing */
    make_partial("2026-01-03T000000Z", false);
    tu_write("dest/.hardsnap/manifests/2026-01-03T000000Z.hsm", "m", 1);
    /* two unfinished trees: the newest is kept for reuse */
    make_partial("2026-01-04T000000Z", true);
    make_partial("2026-01-05T000000Z", false);
    /* a manifest whose snapshot is gone */
    tu_write("dest/.hardsnap/manifests/2025-01-01T000000Z.hsm", "m", 1);
    char *resume = NULL;
    ck_assert_int_eq(hs_store_recover(&s, &resume, &e, NULL), 0);
    ck_assert_str_eq(resume, "resume");
    free(resume);
    ck_assert(S_ISDIR(tu_lstat("dest/2026-01-03T000000Z").st_mode));
    ck_assert(S_ISREG(tu_lstat("dest/.hardsnap/partial/resume/file").st_mode));
    struct stat st;
    ck_assert_int_ne(lstat(tu_path("dest/.hardsnap/partial/2026-01-04T000000Z"), &st), 0);
    ck_assert_int_ne(lstat(tu_path("dest/.hardsnap/partial/2026-01-04T000000Z.hsm"), &st), 0);
    ck_assert_int_ne(lstat(tu_path("dest/.hardsnap/manifests/2025-01-01T000000Z.hsm"), &st), 0);
    /* what recovery dropped went through the trash, and is gone from it
     * (rmdir: only an empty directory goes) */
    ck_assert_int_eq(rmdir(tu_path("dest/.hardsnap/trash")), 0);
    char target[64] = {0};
    ck_assert_int_gt(readlink(tu_path("dest/latest"), target, sizeof target - 1), 0);
    ck_assert_str_eq(target, "2026-01-03T000000Z");
    hs_store_close(&s);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tu_tcase("store");
    tcase_add_test(tc, snapshot_names);
    tcase_add_test(tc, layout_and_lock);
    tcase_add_test(tc, missing_parent_is_usage);
    tcase_add_test(tc, publish_and_list);
    tcase_add_test(tc, recover);
    suite_add_tcase(s, tc);
    return s;
}
