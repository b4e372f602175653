/* Restore through the library: events, stats, conflicts, hard links. */
#include "testutil.h"

#include "hardsnap.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SNAP "dest/2026-01-01T000000Z"

struct seen {
    unsigned copies, warnings, more; /* more: the "... and N more" line */
    char last_warning[512];
};

static void on_event(const struct hs_event *ev, void *user)
{
    struct seen *s = user;
    if (ev->type == HS_EV_COPY)
        s->copies++;
    if (ev->type != HS_EV_WARNING)
        return;
    s->warnings++;
    if (strncmp(ev->msg, "... and ", 8) == 0)
        s->more++;
    snprintf(s->last_warning, sizeof s->last_warning, "%s", ev->msg);
}

/* A store by hand (no manifest): dest/.hardsnap and one snapshot. */
static void make_store(void)
{
    tu_mkdir("dest/.hardsnap");
    tu_write(SNAP "/a/f", "one", 3);
    tu_write(SNAP "/b", "two", 3);
    tu_link(SNAP "/a/f", SNAP "/a/f2");
    tu_link(SNAP "/a/f", SNAP "/c");
}

static enum hs_status restore(const char *src, const char *target, bool dry, bool overwrite,
                              struct seen *seen, struct hs_restore_stats *st)
{
    char source[4096], tgt[4096];
    snprintf(source, sizeof source, "%s", tu_path(src));
    snprintf(tgt, sizeof tgt, "%s", tu_path(target));
    struct hs_restore_opts o = {.source = source,
                                .target = tgt,
                                .dry_run = dry,
                                .overwrite = overwrite,
                                .on_event = on_event,
                                .user = seen,
                                .verbose_events = true};
    struct hs_err e = {0};
    enum hs_status r = hs_restore(&o, st, &e);
    if (r == HS_USAGE || r == HS_FAILED)
        snprintf(seen->last_warning, sizeof seen->last_warning, "%s", e.msg ? e.msg : "");
    hs_err_clear(&e);
    return r;
}

START_TEST(whole_snapshot_with_links)
{
    make_store();
    struct seen seen = {0};
    struct hs_restore_stats st;
    ck_assert_int_eq(restore(SNAP, "out", false, false, &seen, &st), HS_OK);
    ck_assert_uint_eq(st.files, 4);
    ck_assert_uint_eq(st.copied, 2);
    ck_assert_uint_eq(st.hardlinked, 2);
    ck_assert_uint_eq(seen.copies, 5); /* a, a/f, a/f2, b, c */
    ck_assert_hardlink("out/a/f", "out/a/f2");
    ck_assert_hardlink("out/a/f", "out/c");
    ck_assert_not_hardlink("out/a/f", SNAP "/a/f");
    ck_assert_file_eq("out/b", "two", 3);
}
END_TEST

START_TEST(dry_run_writes_nothing)
{
    make_store();
    struct seen seen = {0};
    struct hs_restore_stats st;
    ck_assert_int_eq(restore(SNAP "/a", "out", true, false, &seen, &st), HS_OK);
    ck_assert_uint_eq(seen.copies, 3); /* a, a/f, a/f2 */
    ck_assert_uint_eq(st.hardlinked, 1);
    ck_assert_int_eq(access(tu_path("out"), F_OK), -1);
}
END_TEST

START_TEST(conflicts_are_capped)
{
    make_store();
    char name[64];
    for (int i = 0; i < 55; i++) {
        snprintf(name, sizeof name, SNAP "/many/f%02d", i);
        tu_write(name, "s", 1);
        snprintf(name, sizeof name, "out/many/f%02d", i);
        tu_write(name, "t", 1);
    }
    struct seen seen = {0};
    ck_assert_int_eq(restore(SNAP "/many", "out", false, false, &seen, NULL), HS_USAGE);
    ck_assert_uint_eq(seen.warnings, 51);
    ck_assert_uint_eq(seen.more, 1);
    ck_assert_ptr_nonnull(strstr(seen.last_warning, "55 entries exist in the target"));
    ck_assert_file_eq("out/many/f00", "t", 1); /* nothing written */
    ck_assert_int_eq(access(tu_path("out/a"), F_OK), -1);
}
END_TEST

START_TEST(planted_symlink_is_replaced)
{
    make_store();
    tu_mkdir("outside");
    tu_mkdir("out");
    char outside[4096];
    snprintf(outside, sizeof outside, "%s", tu_path("outside"));
    ck_assert_int_eq(symlink(outside, tu_path("out/a")), 0);
    struct seen seen = {0};
    ck_assert_int_eq(restore(SNAP, "out", false, false, &seen, NULL), HS_USAGE);
    ck_assert_int_eq(restore(SNAP, "out", false, true, &seen, NULL), HS_OK);
    struct stat st = tu_lstat("out/a");
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(access(tu_path("outside/f"), F_OK), -1);
    ck_assert_file_eq("out/a/f", "one", 3);
}
END_TEST

START_TEST(file_in_place_of_a_directory_is_refused)
{
    make_store();
    tu_write("out/b/mine", "m", 1);
    struct seen seen = {0};
    ck_assert_int_eq(restore(SNAP, "out", false, true, &seen, NULL), HS_WARN);
    ck_assert_file_eq("out/b/mine", "m", 1);
    ck_assert_file_eq("out/c", "one", 3);
}
END_TEST

Suite *restore_suite(void)
{
    Suite *s = suite_create("restore");
    TCase *tc = tu_tcase("restore");
    tcase_add_test(tc, whole_snapshot_with_links);
    tcase_add_test(tc, dry_run_writes_nothing);
    tcase_add_test(tc, conflicts_are_capped);
    tcase_add_test(tc, planted_symlink_is_replaced);
    tcase_add_test(tc, file_in_place_of_a_directory_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
