/* Content index: built from a manifest, looked up by hash and size, its
 * damage and staleness detected, rebuilt. */
#include "cindex.h"
#include "manifest.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define SNAP     "2026-01-01T000000Z"
#define ROOT_INO 4242u

/* Content number c of a file: hash and size derive from it, so files with
 * the same c have the same content. */
static void content(struct hs_mentry *m, unsigned c)
{
    XXH128_canonical_t h;
    XXH128_canonicalFromHash(&h, XXH3_128bits(&c, sizeof c));
    memcpy(m->hash, h.digest, 16);
    m->size = 1000 + c % 7; /* sizes repeat across contents */
    m->flags = HS_ME_HASH;
}

/* A manifest of n files f000000.. whose content numbers are i % distinct,
 * plus the root, a directory and a file without hash (none indexed). */
static void write_snapshot(unsigned n, unsigned distinct)
{
    char(*names)[32] = malloc((n + 3) * sizeof *names);
    struct hs_mentry *m = calloc(n + 3, sizeof *m);
    size_t k = 0;
    m[k++] = (struct hs_mentry){.path = "", .type = HS_FT_DIR, .sino = ROOT_INO};
    m[k++] = (struct hs_mentry){.path = "d", .path_len = 1, .type = HS_FT_DIR, .sino = 7};
    for (unsigned i = 0; i < n; i++, k++) {
        snprintf(names[i], sizeof names[i], "d/f%06u", i);
        m[k] = (struct hs_mentry){.path = names[i],
                                  .path_len = strlen(names[i]),
                                  .type = HS_FT_REG,
                                  .sino = 100000 + i,
                                  .nlink = 1};
        content(&m[k], i % distinct);
    }
    m[k++] = (struct hs_mentry){.path = "z", .path_len = 1, .type = HS_FT_REG, .size = 5};
    struct hs_manifest_writer *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_manifest_writer_open(&w, tu_tmpfd, SNAP ".hsm", &e), 0);
    for (size_t i = 0; i < k; i++)
        ck_assert_msg(hs_manifest_put(w, &m[i], &e) == 0, "put: %s", e.msg);
    ck_assert_int_eq(hs_manifest_writer_finish(w, false, &e), 0);
    hs_manifest_writer_free(w);
    free(names);
    free(m);
}

static struct hs_cindex *open_ok(void)
{
    struct hs_cindex *ci = NULL;
    struct hs_err e = {0};
    int k = hs_cindex_open_or_build(&ci, tu_tmpfd, SNAP, ROOT_INO, &e);
    ck_assert_msg(k == 0, "open: %s", e.msg ? e.msg : "?");
    return ci;
}

/* Every file is found under its content, with every other file of it. */
static void check_lookups(struct hs_cindex *ci, unsigned n, unsigned distinct)
{
    ck_assert_uint_eq(hs_cindex_count(ci), n);
    for (unsigned c = 0; c < distinct; c++) {
        struct hs_mentry m = {0};
        content(&m, c);
        ck_assert(hs_cindex_maybe_size(ci, m.size));
        size_t first, count = hs_cindex_find(ci, m.hash, m.size, &first);
        ck_assert_uint_eq(count, n / distinct + (c < n % distinct));
        for (size_t i = first; i < first + count; i++) {
            struct hs_centry ce;
            ck_assert_int_eq(hs_cindex_get(ci, i, &ce), 0);
            ck_assert_ptr_null(ce.path);
            ck_assert_int_eq(hs_cindex_read_path(ci, &ce), 0);
            unsigned f = (unsigned)(ce.sino - 100000);
            char want[32];
            snprintf(want, sizeof want, "d/f%06u", f);
            ck_assert_uint_eq(f % distinct, c);
            ck_assert_uint_eq(ce.path_len, strlen(want));
            ck_assert(memcmp(ce.path, want, ce.path_len) == 0);
            ck_assert_uint_eq(ce.size, m.size);
            ck_assert_uint_eq(ce.nlink, 1);
        }
        size_t first2;
        ck_assert_uint_eq(hs_cindex_find(ci, m.hash, m.size + 1, &first2), 0);
    }
}

START_TEST(built_and_found)
{
    write_snapshot(3000, 1000);
    struct hs_cindex *ci = open_ok();
    check_lookups(ci, 3000, 1000);
    ck_assert(!hs_cindex_maybe_size(ci, 999)); /* no file has that size... */
    ck_assert(!hs_cindex_maybe_size(ci, 5));   /* ...the unhashed one is left out */
    hs_cindex_close(ci);
}
END_TEST

/* Larger than one sorting pass: the passes join into one sorted index. */
/* The index by source inode (a replica's): found by (inode, content), so
 * an inode number given to other content finds nothing; files share a
 * key exactly when both match; a separate file (.hsr) beside the other. */
START_TEST(by_inode)
{
    /* a snapshot whose files' source inodes are 500 + i % 50 */
    struct hs_mentry *m = calloc(302, sizeof *m);
    char(*names)[32] = malloc(300 * sizeof *names);
    m[0] = (struct hs_mentry){.path = "", .type = HS_FT_DIR, .sino = ROOT_INO};
    m[1] = (struct hs_mentry){.path = "d", .path_len = 1, .type = HS_FT_DIR, .sino = 7};
    for (unsigned i = 0; i < 300; i++) {
        snprintf(names[i], sizeof names[i], "d/f%06u", i);
        m[i + 2] = (struct hs_mentry){.path = names[i],
                                      .path_len = strlen(names[i]),
                                      .type = HS_FT_REG,
                                      .ino = 500 + i % 50,
                                      .sino = 100000 + i,
                                      .nlink = 1};
        content(&m[i + 2], i % 100); /* inode 500 + k holds contents k and k + 50 */
    }
    struct hs_manifest_writer *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_manifest_writer_open(&w, tu_tmpfd, SNAP ".hsm", &e), 0);
    for (size_t i = 0; i < 302; i++)
        ck_assert_msg(hs_manifest_put(w, &m[i], &e) == 0, "put: %s", e.msg);
    ck_assert_int_eq(hs_manifest_writer_finish(w, false, &e), 0);
    hs_manifest_writer_free(w);
    struct hs_cindex *ci = NULL;
    ck_assert_int_eq(hs_cindex_open_or_build_by_inode(&ci, tu_tmpfd, SNAP, ROOT_INO, &e), 0);
    ck_assert_uint_eq(hs_cindex_count(ci), 300);
    for (unsigned k = 0; k < 100; k++) {
        struct hs_mentry c = {0};
        content(&c, k);
        uint8_t key[16];
        hs_cindex_inode_key(500 + k % 50, c.hash, key);
        size_t first, n = hs_cindex_find(ci, key, c.size, &first);
        ck_assert_uint_eq(n, 3); /* files k, k + 100, k + 200 */
        for (size_t i = first; i < first + n; i++) {
            struct hs_centry ce;
            ck_assert_int_eq(hs_cindex_get(ci, i, &ce), 0);
            ck_assert_uint_eq((ce.sino - 100000) % 100, k);
        }
        /* the same inode with the other content it held: not these files */
        struct hs_mentry other = {0};
        content(&other, (k + 50) % 100);
        hs_cindex_inode_key(500 + k % 50, other.hash, key);
        n = hs_cindex_find(ci, key, c.size, &first);
        for (size_t i = first; i < first + n; i++) {
            struct hs_centry ce;
            ck_assert_int_eq(hs_cindex_get(ci, i, &ce), 0);
            ck_assert_uint_ne((ce.sino - 100000) % 100, k);
        }
        /* the content under another inode: nothing */
        hs_cindex_inode_key(499, c.hash, key);
        ck_assert_uint_eq(hs_cindex_find(ci, key, c.size, &first), 0);
    }
    hs_cindex_close(ci);
    char name[80];
    hs_cindex_inode_name(SNAP, name);
    struct stat st;
    ck_assert_int_eq(fstatat(tu_tmpfd, name, &st, 0), 0);
    ck_assert(strstr(name, HS_INODE_INDEX_SUFFIX) != NULL);
    free(names);
    free(m);
}
END_TEST

START_TEST(built_in_passes)
{
    write_snapshot(200000, 150001);
    struct hs_cindex *ci = open_ok();
    check_lookups(ci, 200000, 150001);
    hs_cindex_close(ci);
}
END_TEST

START_TEST(damage_and_staleness_detected)
{
    write_snapshot(500, 100);
    struct hs_err e = {0};
    struct hs_cindex *ci = NULL;
    ck_assert_int_eq(hs_cindex_open(&ci, tu_tmpfd, SNAP, ROOT_INO, &e), -ENOENT);
    ck_assert_int_eq(hs_cindex_build(tu_tmpfd, SNAP, &e), 0);
    ck_assert_int_eq(hs_cindex_open(&ci, tu_tmpfd, SNAP, ROOT_INO, &e), 0);
    hs_cindex_close(ci);
    /* made for another snapshot directory of the same name */
    ck_assert_int_eq(hs_cindex_open(&ci, tu_tmpfd, SNAP, ROOT_INO + 1, &e), -EBADMSG);
    hs_err_clear(&e);
    /* one byte changed in a record */
    int fd = openat(tu_tmpfd, SNAP ".hsi", O_RDWR);
    ck_assert_int_ge(fd, 0);
    unsigned char b;
    ck_assert_int_eq(pread(fd, &b, 1, 100), 1);
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, 100), 1);
    close(fd);
    ck_assert_int_eq(hs_cindex_open(&ci, tu_tmpfd, SNAP, ROOT_INO, &e), -EBADMSG);
    ck_assert_ptr_nonnull(strstr(e.msg, "damaged"));
    hs_err_clear(&e);
    /* rebuilt on open_or_build */
    ci = open_ok();
    check_lookups(ci, 500, 100);
    hs_cindex_close(ci);
    /* a record whose path runs past the end by wrapping around, under a
     * footer recomputed to match: refused, not followed */
    fd = openat(tu_tmpfd, SNAP ".hsi", O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    unsigned char *buf = malloc((size_t)st.st_size);
    ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    uint64_t roff = 0, off = 0xfffffffff0000000ull;
    uint32_t len = 0x10000000u;
    for (int i = 7; i >= 0; i--)
        roff = roff << 8 | buf[16 + i];
    for (int i = 0; i < 8; i++)
        buf[roff + 40 + (size_t)i] = (unsigned char)(off >> (8 * i));
    for (int i = 0; i < 4; i++)
        buf[roff + 48 + (size_t)i] = (unsigned char)(len >> (8 * i));
    uint64_t sum = XXH3_64bits(buf, (size_t)st.st_size - 8);
    for (int i = 0; i < 8; i++)
        buf[st.st_size - 8 + i] = (unsigned char)(sum >> (8 * i));
    ck_assert_int_eq(pwrite(fd, buf, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    free(buf);
    ck_assert_int_eq(hs_cindex_open(&ci, tu_tmpfd, SNAP, ROOT_INO, &e), -EBADMSG);
    hs_err_clear(&e);
    /* truncated */
    ck_assert_int_eq(truncate(tu_path(SNAP ".hsi"), 40), 0);
    ck_assert_int_eq(hs_cindex_open(&ci, tu_tmpfd, SNAP, ROOT_INO, &e), -EBADMSG);
    hs_err_clear(&e);
    /* no manifest: nothing to build from */
    ck_assert_int_eq(unlinkat(tu_tmpfd, SNAP ".hsm", 0), 0);
    ck_assert_int_lt(hs_cindex_open_or_build(&ci, tu_tmpfd, SNAP, ROOT_INO, &e), 0);
    hs_err_clear(&e);
}
END_TEST

/* A fifo under the index's name or its temp name is damage: never waited
 * on, replaced by the rebuild. Check's timeout catches a hang. */
START_TEST(fifos_are_damage)
{
    write_snapshot(50, 10);
    struct hs_err e = {0};
    struct hs_cindex *ci = NULL;
    ck_assert_int_eq(mkfifoat(tu_tmpfd, SNAP ".hsi", 0600), 0);
    ck_assert_int_eq(mkfifoat(tu_tmpfd, SNAP ".hsi.tmp", 0600), 0);
    ck_assert_int_eq(hs_cindex_open(&ci, tu_tmpfd, SNAP, ROOT_INO, &e), -EBADMSG);
    ck_assert_str_eq(e.msg, "content index is damaged: " SNAP ".hsi: not a regular file");
    hs_err_clear(&e);
    ci = open_ok();
    check_lookups(ci, 50, 10);
    hs_cindex_close(ci);
    struct stat st = tu_lstat(SNAP ".hsi");
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(faccessat(tu_tmpfd, SNAP ".hsi.tmp", F_OK, AT_SYMLINK_NOFOLLOW), -1);
}
END_TEST

Suite *cindex_suite(void)
{
    Suite *s = suite_create("cindex");
    TCase *tc = tu_tcase("cindex");
    tcase_add_test(tc, built_and_found);
    tcase_add_test(tc, built_in_passes);
    tcase_add_test(tc, by_inode);
    tcase_add_test(tc, damage_and_staleness_detected);
    tcase_add_test(tc, fifos_are_damage);
    suite_add_tcase(s, tc);
    return s;
}
