/* diff: what differs between two records, and two manifests merged. */
#include "diff.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static struct hs_mentry file_rec(const char *path, uint64_t sino, uint8_t fill)
{
    struct hs_mentry m = {0};
    m.path = path;
    m.path_len = strlen(path);
    m.type = HS_FT_REG;
    m.mode = 0644;
    m.uid = m.gid = 1000;
    m.size = 10;
    m.mtime_sec = 1700000000;
    m.sino = sino;
    m.flags = HS_ME_HASH;
    memset(m.hash, fill, sizeof m.hash);
    return m;
}

START_TEST(record_differences)
{
    struct hs_mentry a = file_rec("f", 1, 0xaa), b = file_rec("f", 2, 0xaa);
    ck_assert_uint_eq(hs_diff_records(&a, &b, true), 0);
    b.mode = 0600;
    b.uid = 0;
    ck_assert_uint_eq(hs_diff_records(&a, &b, true), HS_DIFF_MODE | HS_DIFF_OWNER);
    b = file_rec("f", 2, 0xbb);
    ck_assert_uint_eq(hs_diff_records(&a, &b, true), HS_DIFF_CONTENT);
    b.flags = 0; /* a live file: no hash, equal size and mtime count as equal */
    ck_assert_uint_eq(hs_diff_records(&a, &b, false), 0);
    b.size = 11;
    b.mtime_nsec = 1;
    ck_assert_uint_eq(hs_diff_records(&a, &b, false), HS_DIFF_SIZE | HS_DIFF_MTIME);
    /* one inode of one store: nothing can differ, whatever the records say */
    b = file_rec("f", 1, 0xbb);
    ck_assert_uint_eq(hs_diff_records(&a, &b, true), 0);
    ck_assert_uint_eq(hs_diff_records(&a, &b, false), HS_DIFF_CONTENT);
    b.type = HS_FT_DIR;
    ck_assert_uint_eq(hs_diff_records(&a, &b, true), HS_DIFF_TYPE);
    /* directories: their size and mtime follow their entries */
    a.type = b.type = HS_FT_DIR;
    b.size = 4096;
    b.mtime_sec++;
    ck_assert_uint_eq(hs_diff_records(&a, &b, false), 0);
    struct hs_mentry l1 = file_rec("l", 5, 0), l2 = file_rec("l", 6, 0);
    l1.type = l2.type = HS_FT_LNK;
    l1.flags = l2.flags = 0;
    l1.target = "abc", l1.target_len = 3;
    l2.target = "abd", l2.target_len = 3;
    ck_assert_uint_eq(hs_diff_records(&l1, &l2, true), HS_DIFF_TARGET);
}
END_TEST

/* A snapshot on disk: each record's object made in the tree (a file of
 * 10 bytes, or a directory; a record with link_from is a hard link to that
 * path of another snapshot), its inode noted in the record, and the
 * manifest written. */
static void make_snapshot(const char *name, struct hs_mentry *recs, const char *const *link_from,
                          size_t n)
{
    char dir[128], p[256];
    snprintf(dir, sizeof dir, "dest/%s", name);
    tu_mkdir(dir);
    tu_mkdir("dest/.hardsnap/manifests");
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, recs[i].path);
        if (recs[i].type == HS_FT_DIR)
            tu_mkdir(p);
        else if (link_from && link_from[i])
            tu_link(link_from[i], p);
        else
            tu_write(p, "0123456789", 10);
        recs[i].sino = tu_lstat(p).st_ino;
    }
    struct hs_mentry root = {.path = "", .type = HS_FT_DIR, .mode = 0755};
    root.sino = tu_lstat(dir).st_ino;
    char mname[128];
    snprintf(mname, sizeof mname, "dest/.hardsnap/manifests/%s.hsm", name);
    int fd = open(tu_path(mname), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    struct hs_manifest_writer *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_manifest_writer_fdopen(&w, fd, &e), 0);
    ck_assert_int_eq(hs_manifest_put(w, &root, &e), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(hs_manifest_put(w, &recs[i], &e), 0);
    ck_assert_int_eq(hs_manifest_writer_finish(w, false, &e), 0);
    hs_manifest_writer_free(w);
}

static void collect(const struct hs_diff_change *c, void *user)
{
    char *out = user;
    size_t len = strlen(out);
    snprintf(out + len, 4096 - len, "%c %.*s %u\n", c->kind, (int)c->path_len, c->path, c->what);
}

/* The changes and the warnings of one diff. */
struct seen {
    char out[4096]; /* first: collect() writes here */
    int warnings;
};

static void count_warning(const struct hs_event *ev, void *user)
{
    if (ev->type == HS_EV_WARNING)
        ((struct seen *)user)->warnings++;
}

START_TEST(two_manifests)
{
    struct hs_mentry a[] = {file_rec("a", 0, 1), file_rec("b", 0, 1), file_rec("b/x", 0, 1),
                            file_rec("c", 0, 1)};
    struct hs_mentry b[] = {file_rec("a", 0, 1), file_rec("a-new", 0, 2), file_rec("c", 0, 3),
                            file_rec("d", 0, 4)};
    const char *const b_links[] = {"dest/2026-01-01T000000Z/a", NULL, NULL, NULL};
    a[1].type = HS_FT_DIR;
    a[1].flags = 0;
    make_snapshot("2026-01-01T000000Z", a, NULL, 4);
    make_snapshot("2026-01-02T000000Z", b, b_links, 4);
    char out[4096] = "";
    char pa[4200], pb[4200];
    snprintf(pa, sizeof pa, "%s/dest/2026-01-01T000000Z", tu_tmp);
    snprintf(pb, sizeof pb, "%s/dest/2026-01-02T000000Z", tu_tmp);
    struct hs_diff_opts o = {.a = pa, .b = pb, .on_change = collect, .user = out};
    struct hs_err e = {0};
    uint64_t n;
    ck_assert_int_eq(hs_diff(&o, &n, &e), HS_WARN);
    ck_assert_uint_eq(n, 5);
    char want[256];
    snprintf(want, sizeof want, "+ a-new 0\n- b 0\n- b/x 0\nM c %u\n+ d 0\n", HS_DIFF_CONTENT);
    ck_assert_str_eq(out, want);
    o.b = pa;
    out[0] = '\0';
    ck_assert_int_eq(hs_diff(&o, &n, &e), HS_OK);
    ck_assert_uint_eq(n, 0);
    hs_err_clear(&e);
}
END_TEST

/* A snapshot's file replaced since its manifest was written (same size and
 * times, other content; or a fifo): the manifest's word is not taken over
 * the tree's, against a live tree or another snapshot. */
START_TEST(replaced_in_the_snapshot)
{
    TU_NEED(geteuid() == 0, "needs root to give files the records' owner (uid 1000)");
    struct hs_mentry a[] = {file_rec("f", 0, 1), file_rec("g", 0, 1), file_rec("h", 0, 1)};
    make_snapshot("2026-01-01T000000Z", a, NULL, 3);
    const char *const links[] = {"dest/2026-01-01T000000Z/f", "dest/2026-01-01T000000Z/g",
                                 "dest/2026-01-01T000000Z/h"};
    struct hs_mentry b[] = {file_rec("f", 0, 1), file_rec("g", 0, 1), file_rec("h", 0, 1)};
    make_snapshot("2026-01-02T000000Z", b, links, 3);
    /* the live tree holds what the snapshot had, with the same times */
    tu_write("live/f", "0123456789", 10);
    tu_write("live/g", "0123456789", 10);
    tu_write("live/h", "0123456789", 10);
    struct timespec t[2] = {{1700000000, 0}, {1700000000, 0}};
    const char *names[] = {"f", "g", "h"};
    for (int i = 0; i < 3; i++) {
        char p[64];
        snprintf(p, sizeof p, "live/%s", names[i]);
        ck_assert_int_eq(utimensat(tu_tmpfd, p, t, 0), 0);
        ck_assert_int_eq(chmod(tu_path(p), 0644), 0);
        ck_assert_int_eq(lchown(tu_path(p), 1000, 1000), 0);
    }
    /* f: other content under the same size, times, mode and owner; g: a fifo */
    /* (made beside it and renamed over it, as an editor does: a new inode) */
    tu_write("dest/2026-01-01T000000Z/f.new", "ABCDEFGHIJ", 10);
    ck_assert_int_eq(utimensat(tu_tmpfd, "dest/2026-01-01T000000Z/f.new", t, 0), 0);
    ck_assert_int_eq(chmod(tu_path("dest/2026-01-01T000000Z/f.new"), 0644), 0);
    ck_assert_int_eq(lchown(tu_path("dest/2026-01-01T000000Z/f.new"), 1000, 1000), 0);
    ck_assert_int_eq(
        renameat(tu_tmpfd, "dest/2026-01-01T000000Z/f.new", tu_tmpfd, "dest/2026-01-01T000000Z/f"),
        0);
    ck_assert_int_eq(unlink(tu_path("dest/2026-01-01T000000Z/g")), 0);
    ck_assert_int_eq(mkfifo(tu_path("dest/2026-01-01T000000Z/g"), 0644), 0);

    struct seen seen = {0};
    char pa[4200], pb[4200];
    snprintf(pa, sizeof pa, "%s/dest/2026-01-01T000000Z", tu_tmp);
    snprintf(pb, sizeof pb, "%s/live", tu_tmp);
    struct hs_diff_opts o = {
        .a = pa, .b = pb, .on_change = collect, .on_event = count_warning, .user = &seen};
    struct hs_err e = {0};
    uint64_t n;
    ck_assert_int_eq(hs_diff(&o, &n, &e), HS_WARN);
    char want[256];
    snprintf(want, sizeof want, "M f %u\nM g %u\n", HS_DIFF_CONTENT, HS_DIFF_TYPE);
    ck_assert_str_eq(seen.out, want);
    ck_assert_int_eq(seen.warnings, 2); /* f and g named */
    /* snapshot against snapshot: one inode by the records, two in the trees */
    seen = (struct seen){0};
    snprintf(pb, sizeof pb, "%s/dest/2026-01-02T000000Z", tu_tmp);
    ck_assert_int_eq(hs_diff(&o, &n, &e), HS_WARN);
    ck_assert_str_eq(seen.out, want);
    ck_assert_int_eq(seen.warnings, 2);
    hs_err_clear(&e);
}
END_TEST

Suite *diff_suite(void)
{
    Suite *s = suite_create("diff");
    TCase *tc = tu_tcase("diff");
    tcase_add_test(tc, record_differences);
    tcase_add_test(tc, two_manifests);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("root");
    tcase_add_test(tc, replaced_in_the_snapshot);
    suite_add_tcase(s, tc);
    return s;
}
