/*
 * hs_list's accounting: total bytes count each inode once per snapshot, and
 * unique bytes only inodes no other snapshot holds. The stores are laid out
 * by hand: snapshot directories and manifests whose records name made-up
 * inodes, so every case of sharing can be set up exactly.
 */
#include "hardsnap.h"
#include "manifest.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define S1 "2026-01-01T000000Z"
#define S2 "2026-01-02T000000Z"
#define S3 "2026-01-03T000000Z"
#define S4 "2026-01-04T000000Z"

struct rec {
    const char *path;
    uint8_t type;
    uint64_t sino, size, blocks;
};

static void make_store(void)
{
    tu_mkdir("dest/.hardsnap/manifests");
    tu_mkdir("dest/.hardsnap/partial");
}

/* Writes the manifest of snapshot name (its directory made first): a root
 * record naming the directory's inode, then recs (in walk order). */
static void write_manifest(const char *name, const struct rec *recs, size_t n)
{
    char rel[128], mname[64];
    snprintf(rel, sizeof rel, "dest/%s", name);
    tu_mkdir(rel);
    int mfd = open(tu_path("dest/.hardsnap/manifests"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(mfd, 0);
    snprintf(mname, sizeof mname, "%s.hsm", name);
    struct hs_manifest_writer *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_manifest_writer_open(&w, mfd, mname, &e), 0);
    struct hs_mentry root = {.path = "", .type = HS_FT_DIR, .mode = 0755, .nlink = 2};
    root.sino = tu_lstat(rel).st_ino;
    ck_assert_int_eq(hs_manifest_put(w, &root, &e), 0);
    for (size_t i = 0; i < n; i++) {
        struct hs_mentry m = {.path = recs[i].path,
                              .path_len = strlen(recs[i].path),
                              .type = recs[i].type,
                              .mode = 0644,
                              .nlink = 1,
                              .size = recs[i].size,
                              .sino = recs[i].sino,
                              .sblocks = recs[i].blocks};
        ck_assert_msg(hs_manifest_put(w, &m, &e) == 0, "put %s: %s", m.path, e.msg);
    }
    ck_assert_int_eq(hs_manifest_writer_finish(w, false, &e), 0);
    hs_manifest_writer_free(w);
    close(mfd);
}

/* link() and rename() of two tu_path()s (which share one static buffer). */
static void link_rel(const char *from, const char *to, bool move)
{
    char a[4096];
    snprintf(a, sizeof a, "%s", tu_path(from));
    int r = move ? rename(a, tu_path(to)) : link(a, tu_path(to));
    ck_assert_msg(r == 0, "%s %s %s: %s", move ? "rename" : "link", from, to, strerror(errno));
}

static uint64_t manifest_disk_bytes(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "dest/.hardsnap/manifests/%s.hsm", name);
    return (uint64_t)tu_lstat(rel).st_blocks * 512;
}

static void list_ok(struct hs_list *l)
{
    struct hs_err e = {0};
    enum hs_status st = hs_list(tu_path("dest"), l, &e);
    ck_assert_msg(st == HS_OK, "hs_list: %s", e.msg ? e.msg : "?");
    hs_err_clear(&e);
}

static void assert_entry(const struct hs_list_entry *s, const char *name, uint64_t files,
                         uint64_t total, uint64_t unique)
{
    ck_assert_str_eq(s->name, name);
    ck_assert_msg(s->files == files, "%s: %llu files, expected %llu", name,
                  (unsigned long long)s->files, (unsigned long long)files);
    ck_assert_msg(s->total_bytes == total, "%s: total %llu, expected %llu", name,
                  (unsigned long long)s->total_bytes, (unsigned long long)total);
    ck_assert_msg(s->unique_bytes == unique, "%s: unique %llu, expected %llu", name,
                  (unsigned long long)s->unique_bytes, (unsigned long long)unique);
}

/*
 * 1001 is in all three snapshots; 1002 in S1 and S2, 1006 in S1 and S3 (two
 * of three: unique to neither); 1002 has two names in S1 and 3001 two in S3
 * (counted once); 1003, 1004, 1005 only in S1, 2003 only in S2.
 */
static void make_three(void)
{
    make_store();
    const struct rec s1[] = {
        {"a", HS_FT_REG, 1001, 100, 8},    {"b", HS_FT_REG, 1002, 5000, 16},
        {"b2", HS_FT_REG, 1002, 5000, 16}, {"c", HS_FT_REG, 1003, 10, 8},
        {"d", HS_FT_DIR, 0, 4096, 0},      {"d/e", HS_FT_REG, 1004, 7, 8},
        {"l", HS_FT_LNK, 1005, 3, 0},      {"x", HS_FT_REG, 1006, 50, 8},
    };
    const struct rec s2[] = {
        {"a", HS_FT_REG, 1001, 100, 8},
        {"b", HS_FT_REG, 1002, 5000, 16},
        {"c", HS_FT_REG, 2003, 20, 8},
    };
    const struct rec s3[] = {
        {"a", HS_FT_REG, 1001, 100, 8},
        {"h1", HS_FT_REG, 3001, 4000, 8},
        {"h2", HS_FT_REG, 3001, 4000, 8},
        {"x", HS_FT_REG, 1006, 50, 8},
    };
    write_manifest(S1, s1, sizeof s1 / sizeof s1[0]);
    write_manifest(S2, s2, sizeof s2 / sizeof s2[0]);
    write_manifest(S3, s3, sizeof s3 / sizeof s3[0]);
}

START_TEST(shared_and_unique)
{
    make_three();
    tu_mkdir("dest/not-a-snapshot");
    tu_mkdir("dest/2026-01-09T000000Z.tmp");
    struct hs_list l;
    list_ok(&l);
    ck_assert_uint_eq(l.n, 3);
    /* 1003 + 1004 (+ the symlink 1005, no blocks): 16 blocks */
    assert_entry(&l.snapshots[0], S1, 6, 100 + 5000 + 10 + 7 + 50, 16 * 512);
    assert_entry(&l.snapshots[1], S2, 3, 100 + 5000 + 20, 8 * 512);
    /* h1 and h2 are one inode: its size and blocks count once */
    assert_entry(&l.snapshots[2], S3, 4, 100 + 50 + 4000, 8 * 512);
    for (size_t i = 0; i < l.n; i++)
        ck_assert(l.snapshots[i].from_manifest);
    uint64_t inodes = (8 + 16 + 8 + 8 + 0 + 8 + 8 + 8) * 512;
    ck_assert_uint_eq(l.used_bytes, inodes + manifest_disk_bytes(S1) + manifest_disk_bytes(S2) +
                                        manifest_disk_bytes(S3));
    hs_list_free(&l);
}
END_TEST

START_TEST(shared_by_all_is_nobodys)
{
    make_store();
    const struct rec same[] = {{"f", HS_FT_REG, 77, 1000, 8}, {"g", HS_FT_REG, 78, 1, 8}};
    write_manifest(S1, same, 2);
    write_manifest(S2, same, 2);
    write_manifest(S3, same, 2);
    struct hs_list l;
    list_ok(&l);
    ck_assert_uint_eq(l.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_entry(&l.snapshots[i], l.snapshots[i].name, 2, 1001, 0);
    hs_list_free(&l);
}
END_TEST

START_TEST(only_snapshot_owns_all)
{
    make_store();
    const struct rec one[] = {{"f", HS_FT_REG, 77, 1000, 8}, {"g", HS_FT_FIFO, 78, 0, 0}};
    write_manifest(S1, one, 2);
    struct hs_list l;
    list_ok(&l);
    ck_assert_uint_eq(l.n, 1);
    assert_entry(&l.snapshots[0], S1, 1, 1000, 8 * 512);
    ck_assert_uint_eq(l.used_bytes, 8 * 512 + manifest_disk_bytes(S1));
    hs_list_free(&l);
}
END_TEST

/* A snapshot without a manifest is walked: real inodes, real blocks. */
static uint64_t disk(const char *rel)
{
    return (uint64_t)tu_lstat(rel).st_blocks * 512;
}

START_TEST(walked_without_manifest)
{
    make_three();
    char big[20000];
    memset(big, 'x', sizeof big);
    tu_write("dest/" S4 "/one", big, 1234);
    tu_write("dest/" S4 "/sub/two", big, sizeof big);
    link_rel("dest/" S4 "/sub/two", "dest/" S4 "/sub/two-again", false);
    ck_assert_int_eq(symlink("one", tu_path("dest/" S4 "/sym")), 0);
    struct hs_list l;
    list_ok(&l);
    ck_assert_uint_eq(l.n, 4);
    const struct hs_list_entry *s = &l.snapshots[3];
    ck_assert(!s->from_manifest);
    /* its directories are its own too */
    uint64_t unique = disk("dest/" S4 "/one") + disk("dest/" S4 "/sub/two") +
                      disk("dest/" S4 "/sym") + disk("dest/" S4) + disk("dest/" S4 "/sub");
    assert_entry(s, S4, 3, 1234 + sizeof big, unique);
    /* the others did not change */
    assert_entry(&l.snapshots[0], S1, 6, 5167, 16 * 512);
    hs_list_free(&l);
}
END_TEST

/* A manifest of another directory (root inode differs) or a damaged one is
 * not trusted: the snapshot is walked instead, even when the damage shows
 * only after many records were read. */
START_TEST(untrusted_manifest_walked)
{
    make_store();
    const struct rec fake[] = {{"f", HS_FT_REG, 77, 999999, 8}};
    write_manifest(S1, fake, 1);
    enum { MANY = 6000 };
    struct rec *many = calloc(MANY, sizeof *many);
    char(*paths)[64] = calloc(MANY, sizeof *paths);
    ck_assert(many && paths);
    for (size_t i = 0; i < MANY; i++) {
        snprintf(paths[i], sizeof paths[i], "f/%06zu-a-rather-long-name-to-fill-blocks", i);
        many[i] = (struct rec){paths[i], HS_FT_REG, 100 + i, 1, 8};
    }
    write_manifest(S2, many, MANY);
    free(many);
    free(paths);
    tu_write("dest/" S1 "/f", "abc", 3);
    tu_write("dest/" S2 "/f", "abcd", 4);
    /* S1: root record names another directory */
    link_rel("dest/" S1, "dest/old", true);
    tu_mkdir("dest/" S1);
    link_rel("dest/old/f", "dest/" S1 "/f", true);
    /* S2: a flipped byte in a middle block */
    const char *m2 = "dest/.hardsnap/manifests/" S2 ".hsm";
    off_t size = tu_lstat(m2).st_size;
    ck_assert_int_gt(size, 3 * HS_MANIFEST_BLOCK);
    int fd = open(tu_path(m2), O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "\xff", 1, size / 2), 1);
    close(fd);
    struct hs_list l;
    list_ok(&l);
    ck_assert_uint_eq(l.n, 2);
    ck_assert(!l.snapshots[0].from_manifest);
    ck_assert(!l.snapshots[1].from_manifest);
    assert_entry(&l.snapshots[0], S1, 1, 3, disk("dest/" S1 "/f") + disk("dest/" S1));
    assert_entry(&l.snapshots[1], S2, 1, 4, disk("dest/" S2 "/f") + disk("dest/" S2));
    hs_list_free(&l);
}
END_TEST

START_TEST(not_a_store)
{
    struct hs_list l;
    struct hs_err e = {0};
    tu_mkdir("plain");
    ck_assert_int_eq(hs_list(tu_path("plain"), &l, &e), HS_USAGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "not a hardsnap store"));
    hs_err_clear(&e);
    ck_assert_int_eq(hs_list(tu_path("nowhere"), &l, &e), HS_USAGE);
    hs_err_clear(&e);
    make_store();
    list_ok(&l);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_uint_eq(l.used_bytes, 0);
    hs_list_free(&l);
}
END_TEST

Suite *list_suite(void)
{
    Suite *s = suite_create("list");
    TCase *tc = tu_tcase("list");
    tcase_add_test(tc, shared_and_unique);
    tcase_add_test(tc, shared_by_all_is_nobodys);
    tcase_add_test(tc, only_snapshot_owns_all);
    tcase_add_test(tc, walked_without_manifest);
    tcase_add_test(tc, untrusted_manifest_walked);
    tcase_add_test(tc, not_a_store);
    suite_add_tcase(s, tc);
    return s;
}
