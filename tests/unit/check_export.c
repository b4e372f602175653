/* Export through the library: member names, hard-link entries, refusals. */
#include "testutil.h"

#include "hardsnap.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SNAP "dest/2026-01-01T000000Z"

/* A store by hand (no manifest): one snapshot with a group of three names. */
static void make_store(void)
{
    tu_mkdir("dest/.hardsnap");
    tu_write(SNAP "/a/f", "one", 3);
    tu_write(SNAP "/b", "two", 3);
    tu_link(SNAP "/a/f", SNAP "/a/f2");
    tu_link(SNAP "/a/f", SNAP "/c");
    ck_assert_int_eq(symlink("a/f", tu_path(SNAP "/s")), 0);
}

static enum hs_status run_export(const char *src, const char *archive, struct hs_export_stats *st,
                                 char *msg, size_t msg_size)
{
    char source[4096], arch[4096];
    snprintf(source, sizeof source, "%s", tu_path(src));
    snprintf(arch, sizeof arch, "%s", tu_path(archive));
    struct hs_export_opts o = {.source = source, .archive = arch};
    struct hs_err e = {0};
    enum hs_status r = hs_export(&o, st, &e);
    snprintf(msg, msg_size, "%s", e.msg ? e.msg : "");
    hs_err_clear(&e);
    return r;
}

/* "name" or "name=>target" (hard link) or "name->target" (symlink), one
 * per line, of the archive's members; "data" gets the last data read. */
static void members(const char *archive, char *out, size_t size, char *data, size_t dsize)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_all(a);
    archive_read_support_filter_all(a);
    ck_assert_int_eq(archive_read_open_filename(a, tu_path(archive), 65536), ARCHIVE_OK);
    struct archive_entry *e;
    size_t n = 0;
    out[0] = '\0';
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *h = archive_entry_hardlink(e), *s = archive_entry_symlink(e);
        n += (size_t)snprintf(out + n, size - n, "%s%s%s\n", archive_entry_pathname(e),
                              h   ? "=>"
                              : s ? "->"
                                  : "",
                              h   ? h
                              : s ? s
                                  : "");
        ck_assert_uint_lt(n, size);
        la_ssize_t got = archive_read_data(a, data, dsize - 1);
        if (got > 0)
            data[got] = '\0';
    }
    archive_read_free(a);
}

START_TEST(tar_names_and_links)
{
    make_store();
    struct hs_export_stats st;
    char msg[512], list[1024], data[64] = "";
    ck_assert_int_eq(run_export(SNAP, "x.tar", &st, msg, sizeof msg), HS_OK);
    members("x.tar", list, sizeof list, data, sizeof data);
    /* walk order; the root is "./"; later names of the group are links */
    ck_assert_str_eq(list, "./\na/\na/f\na/f2=>a/f\nb\nc=>a/f\ns->a/f\n");
    ck_assert_uint_eq(st.files, 4);
    ck_assert_uint_eq(st.dirs, 2);
    ck_assert_uint_eq(st.symlinks, 1);
    ck_assert_uint_eq(st.hardlinked, 2);
    ck_assert_uint_eq(st.bytes_copied, 6); /* "one" once, "two" */
    ck_assert_int_eq(access(tu_path("x.tar.part"), F_OK), -1);
}
END_TEST

START_TEST(path_starts_with_its_name)
{
    make_store();
    char msg[512], list[1024], data[64] = "";
    ck_assert_int_eq(run_export(SNAP "/a", "a.tar.gz", NULL, msg, sizeof msg), HS_OK);
    members("a.tar.gz", list, sizeof list, data, sizeof data);
    ck_assert_str_eq(list, "a/\na/f\na/f2=>a/f\n");
    ck_assert_int_eq(run_export(SNAP "/c", "c.tar", NULL, msg, sizeof msg), HS_OK);
    members("c.tar", list, sizeof list, data, sizeof data);
    ck_assert_str_eq(list, "c\n");
    ck_assert_str_eq(data, "one");
}
END_TEST

START_TEST(zip_stores_each_name)
{
    make_store();
    char msg[512], list[1024], data[64] = "";
    ck_assert_int_eq(run_export(SNAP "/a", "a.zip", NULL, msg, sizeof msg), HS_OK);
    members("a.zip", list, sizeof list, data, sizeof data);
    ck_assert_str_eq(list, "a/\na/f\na/f2\n");
    ck_assert_str_eq(data, "one"); /* a/f2 has its own copy */
}
END_TEST

START_TEST(refusals_change_nothing)
{
    make_store();
    char msg[512];
    ck_assert_int_eq(run_export(SNAP, "x.rar", NULL, msg, sizeof msg), HS_USAGE);
    ck_assert_ptr_nonnull(strstr(msg, ".tar.zst"));
    ck_assert_int_eq(access(tu_path("x.rar"), F_OK), -1);
    tu_write("old.tar", "old", 3);
    ck_assert_int_eq(run_export(SNAP, "old.tar", NULL, msg, sizeof msg), HS_USAGE);
    ck_assert_file_eq("old.tar", "old", 3);
    ck_assert_int_eq(run_export(SNAP, SNAP "/x.tar", NULL, msg, sizeof msg), HS_USAGE);
    ck_assert_ptr_nonnull(strstr(msg, "inside the store"));
    ck_assert_int_eq(access(tu_path(SNAP "/x.tar"), F_OK), -1);
    ck_assert_int_eq(run_export("dest", "y.tar", NULL, msg, sizeof msg), HS_USAGE);
    ck_assert_int_eq(run_export(SNAP "/nope", "y.tar", NULL, msg, sizeof msg), HS_USAGE);
    ck_assert_int_eq(access(tu_path("y.tar"), F_OK), -1);
}
END_TEST

Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *tc = tu_tcase("export");
    tcase_add_test(tc, tar_names_and_links);
    tcase_add_test(tc, path_starts_with_its_name);
    tcase_add_test(tc, zip_stores_each_name);
    tcase_add_test(tc, refusals_change_nothing);
    suite_add_tcase(s, tc);
    return s;
}
