/* Import through the library: archives made here with libarchive's writer. */
#include "testutil.h"

#include "hardsnap.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* One member: type 'f' file, 'd' directory, 'l' symlink, 'h' hard link
 * (to = the other path); mtime in seconds. */
struct member {
    char type;
    const char *path;
    const char *data_or_to;
    unsigned mode;
    long mtime;
    const char *xattr; /* a value of user.test, or NULL */
};

static void make_tar(const char *rel, const struct member *m, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    ck_assert_int_eq(archive_write_open_filename(a, tu_path(rel)), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].path);
        archive_entry_set_mtime(e, m[i].mtime, 0);
        archive_entry_set_uid(e, getuid());
        archive_entry_set_gid(e, getgid());
        size_t len = 0;
        if (m[i].type == 'f') {
            len = strlen(m[i].data_or_to);
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t)len);
        } else if (m[i].type == 'd') {
            archive_entry_set_filetype(e, AE_IFDIR);
        } else if (m[i].type == 'l') {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, m[i].data_or_to);
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, m[i].data_or_to);
        }
        archive_entry_set_perm(e, m[i].mode);
        if (m[i].xattr)
            archive_entry_xattr_add_entry(e, "user.test", m[i].xattr, strlen(m[i].xattr));
        ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
        if (len)
            ck_assert_int_eq(archive_write_data(a, m[i].data_or_to, len), (la_ssize_t)len);
        archive_entry_free(e);
    }
    ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static enum hs_status run_import(const char *archive, const char *now, struct hs_backup_result *res,
                                 char *msg, size_t msg_size)
{
    char arch[4096], dest[4096];
    snprintf(arch, sizeof arch, "%s", tu_path(archive));
    snprintf(dest, sizeof dest, "%s", tu_path("dest"));
    struct hs_import_opts o = {.archive = arch, .dest = dest, .now = now};
    struct hs_err e = {0};
    enum hs_status r = hs_import(&o, res, &e);
    snprintf(msg, msg_size, "%s", e.msg ? e.msg : "");
    hs_err_clear(&e);
    return r;
}

static unsigned entries_in(const char *rel)
{
    DIR *d = opendir(tu_path(rel));
    ck_assert_ptr_nonnull(d);
    unsigned n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

#define S1 "dest/2026-01-01T000000Z"
#define S2 "dest/2026-01-02T000000Z"

/* Members out of order, a directory after its contents, "./" and "//" in
 * names, a path given twice (the last wins), a hard link. */
START_TEST(builds_the_tree)
{
    const struct member m[] = {
        {'f', "./d/f", "old", 0644, 1000, NULL}, {'d', "d/", NULL, 0750, 2000, NULL},
        {'f', "d//f", "new", 0600, 3000, NULL},  {'h', "g", "d/f", 0600, 3000, NULL},
        {'l', "s", "d/f", 0777, 4000, NULL},     {'f', "e/deep/x", "x", 0640, 5000, NULL},
    };
    make_tar("a.tar", m, sizeof m / sizeof m[0]);
    struct hs_backup_result res;
    char msg[512];
    ck_assert_int_eq(run_import("a.tar", NULL, &res, msg, sizeof msg), HS_OK);
    /* named by the newest mtime: 5000 s after the epoch */
    ck_assert_str_eq(res.name, "1970-01-01T012320Z");
    const char *snap = "dest/1970-01-01T012320Z";
    char p[256];
    snprintf(p, sizeof p, "%s/d/f", snap);
    ck_assert_file_eq(p, "new", 3);
    struct stat f = tu_lstat(p);
    ck_assert_uint_eq(f.st_mode & 07777, 0600);
    ck_assert_int_eq(f.st_mtime, 3000);
    snprintf(p, sizeof p, "%s/g", snap);
    ck_assert_uint_eq(tu_lstat(p).st_ino, f.st_ino);
    snprintf(p, sizeof p, "%s/d", snap);
    struct stat d = tu_lstat(p);
    ck_assert_uint_eq(d.st_mode & 07777, 0750);
    ck_assert_int_eq(d.st_mtime, 2000);
    snprintf(p, sizeof p, "%s/e/deep/x", snap);
    ck_assert_file_eq(p, "x", 1);
    ck_assert_uint_eq(res.stats.hardlinked, 1);
    ck_assert_uint_eq(res.stats.symlinks, 1);
    ck_assert_uint_eq(entries_in("dest/.hardsnap/partial"), 0);
}
END_TEST

/* Unchanged files link to the latest snapshot; changed ones do not; an
 * older import does not become latest. */
START_TEST(links_what_is_unchanged)
{
    const struct member a[] = {{'f', "same", "keep", 0644, 100, NULL},
                               {'f', "edit", "v1", 0644, 100, NULL}};
    const struct member b[] = {{'f', "same", "keep", 0644, 100, NULL},
                               {'f', "edit", "v2", 0644, 200, NULL}};
    const struct member c[] = {{'f', "same", "keep", 0600, 100, NULL}};
    make_tar("a.tar", a, 2);
    make_tar("b.tar", b, 2);
    make_tar("c.tar", c, 1);
    struct hs_backup_result res;
    char msg[512];
    ck_assert_int_eq(run_import("a.tar", "2026-01-01T000000Z", &res, msg, sizeof msg), HS_OK);
    ck_assert_int_eq(run_import("b.tar", "2026-01-02T000000Z", &res, msg, sizeof msg), HS_OK);
    ck_assert_uint_eq(res.stats.linked, 1);
    ck_assert_uint_eq(res.stats.copied, 1);
    ck_assert_uint_eq(tu_lstat(S1 "/same").st_ino, tu_lstat(S2 "/same").st_ino);
    ck_assert_uint_ne(tu_lstat(S1 "/edit").st_ino, tu_lstat(S2 "/edit").st_ino);
    ck_assert_file_eq(S1 "/edit", "v1", 2);
    /* other mode: copied, the old snapshot's inode keeps its mode */
    ck_assert_int_eq(run_import("c.tar", "2025-12-31T000000Z", &res, msg, sizeof msg), HS_OK);
    ck_assert_uint_eq(res.stats.linked, 0);
    ck_assert_uint_eq(tu_lstat(S2 "/same").st_mode & 07777, 0644);
    char target[64] = "";
    ck_assert_int_gt(readlink(tu_path("dest/latest"), target, sizeof target - 1), 0);
    ck_assert_str_eq(target, "2026-01-02T000000Z");
    /* the same name again */
    ck_assert_int_eq(run_import("c.tar", "2026-01-02T000000Z", &res, msg, sizeof msg), HS_FAILED);
    ck_assert_ptr_nonnull(strstr(msg, "already exists"));
}
END_TEST

/* Extended attributes are restored, and a file whose attributes changed is
 * not linked (the old snapshot's inode keeps its own). */
START_TEST(xattrs_restored_and_compared)
{
    const struct member a[] = {{'f', "f", "data", 0644, 100, "one"}};
    const struct member b[] = {{'f', "f", "data", 0644, 100, "two"}};
    make_tar("a.tar", a, 1);
    make_tar("b.tar", b, 1);
    struct hs_backup_result res;
    char msg[512], v[16] = "";
    ck_assert_int_eq(run_import("a.tar", "2026-01-01T000000Z", &res, msg, sizeof msg), HS_OK);
    ssize_t got = getxattr(tu_path(S1 "/f"), "user.test", v, sizeof v);
    int err = got < 0 ? errno : 0;
    TU_NEED(err != ENOTSUP, "the temp dir's filesystem has no user xattrs");
    ck_assert_msg(got >= 0, "user.test: %s", strerror(err)); /* the import lost it */
    ck_assert_str_eq(v, "one");
    ck_assert_int_eq(run_import("a.tar", "2026-01-02T000000Z", &res, msg, sizeof msg), HS_OK);
    ck_assert_uint_eq(res.stats.linked, 1);
    ck_assert_int_eq(run_import("b.tar", "2026-01-03T000000Z", &res, msg, sizeof msg), HS_OK);
    ck_assert_uint_eq(res.stats.linked, 0);
    memset(v, 0, sizeof v);
    ck_assert_int_eq(getxattr(tu_path("dest/2026-01-03T000000Z/f"), "user.test", v, sizeof v), 3);
    ck_assert_str_eq(v, "two");
    memset(v, 0, sizeof v);
    ck_assert_int_eq(getxattr(tu_path(S2 "/f"), "user.test", v, sizeof v), 3);
    ck_assert_str_eq(v, "one");
}
END_TEST

/* Absolute paths, "..", paths through a symlink, hard links to what is
 * not there: refused one by one, the rest imported, nothing outside. */
START_TEST(refuses_escapes)
{
    tu_mkdir("outside");
    char abs[4096];
    snprintf(abs, sizeof abs, "%s/abs", tu_path("outside"));
    char up[64] = "../outside/up";
    const struct member m[] = {
        {'f', "ok", "fine", 0644, 10, NULL},
        {'f', abs, "bad", 0644, 10, NULL},
        {'f', up, "bad", 0644, 10, NULL},
        {'f', "a/../../outside/x", "bad", 0644, 10, NULL},
        {'l', "ln", "../outside", 0777, 10, NULL},
        {'f', "ln/through", "bad", 0644, 10, NULL},
        {'h', "hl", "missing", 0644, 10, NULL},
        {'h', "hl2", "../outside/f", 0644, 10, NULL},
    };
    make_tar("x.tar", m, sizeof m / sizeof m[0]);
    struct hs_backup_result res;
    char msg[512];
    ck_assert_int_eq(run_import("x.tar", "2026-01-01T000000Z", &res, msg, sizeof msg), HS_WARN);
    ck_assert_uint_eq(res.stats.warnings, 6);
    ck_assert_uint_eq(entries_in("outside"), 0);
    ck_assert_file_eq(S1 "/ok", "fine", 4);
    ck_assert_uint_eq(entries_in(S1), 2); /* ok, ln */
}
END_TEST

/* A truncated archive: failed, no snapshot, nothing left in partial/. */
START_TEST(truncated_makes_nothing)
{
    char big[20000];
    memset(big, 'z', sizeof big);
    big[sizeof big - 1] = '\0';
    const struct member m[] = {{'f', "one", "1", 0644, 10, NULL},
                               {'f', "big", big, 0644, 10, NULL}};
    make_tar("t.tar", m, 2);
    ck_assert_int_eq(truncate(tu_path("t.tar"), 10000), 0);
    struct hs_backup_result res;
    char msg[512];
    ck_assert_int_eq(run_import("t.tar", "2026-01-01T000000Z", &res, msg, sizeof msg), HS_FAILED);
    ck_assert_ptr_nonnull(strstr(msg, "t.tar"));
    ck_assert_int_eq(access(tu_path(S1), F_OK), -1);
    ck_assert_uint_eq(entries_in("dest/.hardsnap/partial"), 0);
    ck_assert_int_eq(run_import("missing.tar", NULL, &res, msg, sizeof msg), HS_USAGE);
}
END_TEST

Suite *import_suite(void)
{
    Suite *s = suite_create("import");
    TCase *tc = tu_tcase("import");
    tcase_add_test(tc, builds_the_tree);
    tcase_add_test(tc, links_what_is_unchanged);
    tcase_add_test(tc, refuses_escapes);
    tcase_add_test(tc, truncated_makes_nothing);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("xattr");
    tcase_add_test(tc, xattrs_restored_and_compared);
    suite_add_tcase(s, tc);
    return s;
}
