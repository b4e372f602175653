/* Delta copy: only changed blocks written, content and hashes right, the
 * clone refused where the filesystem cannot, and on btrfs and xfs loop
 * mounts the case: 20 scattered 64 KiB writes in 128 MiB cost
 * < 16 MiB. */
#include "blockhash.h"
#include "copy.h"
#include "delta.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

#define BS 16384u

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rand_r(&seed) >> 7);
    return p;
}

static void whole_hash(const void *data, size_t len, uint8_t out[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
    memcpy(out, c.digest, 16);
}

/* The block hashes of data into b (reset first). */
static struct hs_blocks blocks_of(struct hs_blockhash *b, const unsigned char *data, size_t n)
{
    hs_blockhash_reset(b, n);
    hs_blockhash_update(b, data, n);
    ck_assert_int_eq(hs_blockhash_finish(b, NULL), 0);
    return hs_blockhash_blocks(b);
}

struct outcome {
    int r;
    uint64_t written;
    struct hs_delta_stats stats;
};

/* dst := prev (a plain copy), then hs_delta_apply of src = next; checks the
 * content and all hashes. */
static struct outcome apply(const unsigned char *prev, size_t plen, const unsigned char *next,
                            size_t nlen)
{
    struct hs_blockhash pb, out;
    ck_assert_int_eq(hs_blockhash_init(&pb, BS, false), 0);
    ck_assert_int_eq(hs_blockhash_init(&out, BS, false), 0);
    struct hs_blocks prev_blocks = blocks_of(&pb, prev, plen);
    tu_write("dst", prev, plen);
    tu_write("src", next, nlen);
    struct hs_copier c;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_copier_init(&c, HS_COPY_AUTO), 0);
    int s = open(tu_path("src"), O_RDONLY);
    int d = open(tu_path("dst"), O_RDWR);
    struct stat st;
    ck_assert_int_eq(fstat(s, &st), 0);
    struct outcome o = {0};
    uint8_t got[16], want[16];
    o.r = hs_delta_apply(&c, s, d, &st, &prev_blocks, &out, got, &o.written, &o.stats, "src", &e);
    ck_assert_msg(o.r == 0, "%s", e.msg ? e.msg : "?");
    close(s);
    close(d);
    ck_assert_file_eq("dst", next, nlen);
    whole_hash(next, nlen, want);
    ck_assert(memcmp(got, want, 16) == 0);
    struct hs_blocks ob = hs_blockhash_blocks(&out);
    struct hs_blockhash check;
    ck_assert_int_eq(hs_blockhash_init(&check, BS, false), 0);
    struct hs_blocks cb = blocks_of(&check, next, nlen);
    ck_assert_uint_eq(ob.n, cb.n);
    ck_assert_uint_eq(ob.size, nlen);
    ck_assert(cb.n == 0 || memcmp(ob.h, cb.h, cb.n * 8) == 0);
    hs_blockhash_free(&check);
    hs_blockhash_free(&pb);
    hs_blockhash_free(&out);
    hs_copier_free(&c);
    return o;
}

START_TEST(only_changed_blocks_written)
{
    const size_t plen = 40 * BS + 1000;
    const size_t nlen = 42 * BS + 500; /* grows: prev's partial block and two more */
    unsigned char *prev = pattern(plen, 1);
    unsigned char *next = pattern(nlen, 2);
    memcpy(next, prev, plen);
    next[3 * BS + 77] ^= 1;                   /* one byte of block 3 */
    memset(next + 10 * BS + 5, 0xab, 2 * BS); /* blocks 10, 11, 12 */
    memset(next + 20 * BS, 0, BS);            /* block 20 becomes zeros */
    struct outcome o = apply(prev, plen, next, nlen);
    uint64_t punched = o.stats.blocks_punched;
    ck_assert_uint_le(punched, 1);
    ck_assert_uint_eq(o.stats.blocks, 43);
    ck_assert_uint_eq(o.stats.blocks_written, 4 + 3 + 1 - punched);
    ck_assert_uint_eq(o.written, 4 * BS + (nlen - 40 * BS) + (1 - punched) * BS);
    free(prev);
    free(next);
}
END_TEST

START_TEST(shrunk_and_unchanged)
{
    const size_t plen = 30 * BS;
    unsigned char *prev = pattern(plen, 3);
    unsigned char *next = malloc(plen);
    memcpy(next, prev, plen);
    /* the same content: nothing written */
    struct outcome o = apply(prev, plen, next, plen);
    ck_assert_uint_eq(o.written, 0);
    ck_assert_uint_eq(o.stats.blocks_written, 0);
    /* cut inside block 15, block 2 changed: block 2 and the partial last */
    next[2 * BS] ^= 0xff;
    o = apply(prev, plen, next, 15 * BS + 123);
    ck_assert_uint_eq(o.written, BS + 123);
    ck_assert_uint_eq(tu_lstat("dst").st_size, 15 * BS + 123);
    /* empty */
    o = apply(prev, plen, next, 0);
    ck_assert_uint_eq(o.written, 0);
    free(prev);
    free(next);
}
END_TEST

/* Where the temp dir cannot clone (ext4, tmpfs), HS_DELTA_PLAIN with dst
 * empty; where it can, a right copy. A prev whose size is not the block
 * hashes' is never used. */
START_TEST(clone_or_plain)
{
    const size_t len = 8 * BS + 5;
    unsigned char *prev = pattern(len, 4), *next = pattern(len, 5);
    memcpy(next, prev, 4 * BS);
    tu_write("prev", prev, len);
    tu_write("src", next, len);
    struct hs_blockhash pb, out;
    ck_assert_int_eq(hs_blockhash_init(&pb, BS, false), 0);
    ck_assert_int_eq(hs_blockhash_init(&out, BS, false), 0);
    struct hs_blocks blocks = blocks_of(&pb, prev, len);
    struct hs_copier c;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_copier_init(&c, HS_COPY_AUTO), 0);
    int s = open(tu_path("src"), O_RDONLY), p = open(tu_path("prev"), O_RDONLY);
    int d = open(tu_path("dst"), O_RDWR | O_CREAT | O_EXCL, 0600);
    struct stat st;
    ck_assert_int_eq(fstat(s, &st), 0);
    uint8_t hash[16];
    uint64_t w = 99;
    struct hs_blocks stale = blocks;
    stale.size--;
    ck_assert_int_eq(hs_copy_delta(&c, s, p, d, &st, &stale, &out, hash, &w, NULL, "src", &e),
                     HS_DELTA_PLAIN);
    ck_assert_int_eq(tu_lstat("dst").st_size, 0);
    int r = hs_copy_delta(&c, s, p, d, &st, &blocks, &out, hash, &w, NULL, "src", &e);
    if (r == HS_DELTA_PLAIN) {
        ck_assert_int_eq(tu_lstat("dst").st_size, 0);
        ck_assert_uint_eq(w, 0);
    } else {
        ck_assert_int_eq(r, 0);
        ck_assert_file_eq("dst", next, len);
        ck_assert_uint_eq(w, 4 * BS + 5);
    }
    /* block sizes must agree */
    struct hs_blockhash other;
    ck_assert_int_eq(hs_blockhash_init(&other, 2 * BS, false), 0);
    ck_assert_int_eq(hs_delta_apply(&c, s, d, &st, &blocks, &other, hash, &w, NULL, "src", &e),
                     -EINVAL);
    hs_err_clear(&e);
    close(s), close(p), close(d);
    hs_blockhash_free(&other);
    hs_blockhash_free(&pb);
    hs_blockhash_free(&out);
    hs_copier_free(&c);
    free(prev);
    free(next);
}
END_TEST

START_TEST(worth_rule)
{
    ck_assert(!hs_delta_worth(HS_DELTA_MIN_SIZE - 1, 0));
    ck_assert(hs_delta_worth(HS_DELTA_MIN_SIZE, 0));
    ck_assert(hs_delta_worth(HS_DELTA_MIN_SIZE, 1));
    const uint64_t g = 1ull << 30;
    ck_assert(hs_delta_worth(g, g / HS_DELTA_FRAG_EXTENT));
    ck_assert(!hs_delta_worth(g, g / HS_DELTA_FRAG_EXTENT + 1));
    /* extents are counted where the filesystem can (here a fresh file has
     * at most a few; tmpfs may not answer) */
    tu_write("f", "data", 4);
    int fd = open(tu_path("f"), O_RDONLY);
    uint64_t n = 99;
    int r = hs_delta_extents(fd, &n);
    close(fd);
    ck_assert(r == -EOPNOTSUPP || (r == 0 && n <= 2));
}
END_TEST

/* The acceptance case on a btrfs or xfs loop mount. Everything is
 * done and measured first, asserted after the unmount, so a failure leaves
 * no mount. */
struct fs_case {
    const char *fail; /* the step that failed, NULL if all ran */
    int r;
    bool content_ok, hash_ok, prev_same, prev_ino_same;
    uint64_t written, new_space, prev_extents;
};

static unsigned long long used_bytes(int fd)
{
    struct statvfs v;
    syncfs(fd);
    if (fstatvfs(fd, &v) < 0)
        return 0;
    return (unsigned long long)(v.f_blocks - v.f_bfree) * v.f_frsize;
}

static bool file_eq(const char *path, const unsigned char *data, size_t len)
{
    int fd = open(path, O_RDONLY);
    unsigned char *buf = malloc(1 << 20);
    bool same = fd >= 0;
    size_t off = 0;
    while (same && off < len) {
        ssize_t n = pread(fd, buf, 1 << 20, (off_t)off);
        same = n > 0 && memcmp(buf, data + off, (size_t)n) == 0;
        off += n > 0 ? (size_t)n : 0;
    }
    if (same) /* nothing past the end */
        same = pread(fd, buf, 1, (off_t)len) == 0;
    free(buf);
    if (fd >= 0)
        close(fd);
    return same;
}

static void run_fs_case(const char mnt[4096], struct fs_case *bc)
{
    const size_t size = 128u << 20;
    const uint32_t bs = HS_DELTA_BLOCK;
    unsigned char *prev = pattern(size, 11), *next = malloc(size);
    char prev_path[4200], dst_path[4200];
    snprintf(prev_path, sizeof prev_path, "%s/prev", mnt);
    snprintf(dst_path, sizeof dst_path, "%s/dst", mnt);
    memcpy(next, prev, size);
    unsigned seed = 12;
    for (int i = 0; i < 20; i++) { /* 4 KiB aligned, so most cross a block boundary */
        size_t off = (size_t)(rand_r(&seed) % (int)((size - 65536) / 4096)) * 4096;
        for (size_t k = 0; k < 65536; k++)
            next[off + k] = (unsigned char)(rand_r(&seed) >> 5);
    }
    tu_write("src", next, size);
    struct hs_blockhash pb, out;
    struct hs_copier c;
    struct hs_err e = {0};
    int p = -1, s = -1, d = -1;
    bc->fail = "setup";
    if (hs_blockhash_init(&pb, bs, false) < 0 || hs_blockhash_init(&out, bs, false) < 0 ||
        hs_copier_init(&c, HS_COPY_AUTO) < 0)
        goto out;
    p = open(prev_path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (p < 0 || write(p, prev, size) != (ssize_t)size || fsync(p) < 0)
        goto out;
    struct stat pst, st, pst2;
    uint8_t prev_hash[16], hash[16], want[16], again[16];
    fstat(p, &pst);
    c.blocks = &pb;
    if (hs_hash_fd(&c, p, &pst, prev_hash, "prev", &e) < 0)
        goto out;
    c.blocks = NULL;
    struct hs_blocks prev_blocks = hs_blockhash_blocks(&pb);
    s = open(tu_path("src"), O_RDONLY);
    d = open(dst_path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (s < 0 || d < 0)
        goto out;
    fstat(s, &st);
    unsigned long long u0 = used_bytes(d);
    bc->fail = "delta copy";
    bc->r =
        hs_copy_delta(&c, s, p, d, &st, &prev_blocks, &out, hash, &bc->written, NULL, "src", &e);
    if (bc->r != 0)
        goto out;
    fsync(d);
    close(d);
    d = -1;
    bc->new_space = used_bytes(p) - u0;
    whole_hash(next, size, want);
    bc->hash_ok = memcmp(hash, want, 16) == 0;
    bc->content_ok = file_eq(dst_path, next, size);
    /* prev: the same inode, the same content */
    struct stat now;
    bc->prev_ino_same = stat(prev_path, &now) == 0 && now.st_ino == pst.st_ino;
    fstat(p, &pst2);
    bc->prev_same = hs_hash_fd(&c, p, &pst2, again, "prev", &e) == 0 &&
                    memcmp(again, prev_hash, 16) == 0 && file_eq(prev_path, prev, size);
    hs_delta_extents(p, &bc->prev_extents);
    bc->fail = NULL;
out:
    if (bc->fail && e.msg)
        fprintf(stderr, "loop mount case: %s: %s\n", bc->fail, e.msg);
    hs_err_clear(&e);
    if (p >= 0)
        close(p);
    if (s >= 0)
        close(s);
    if (d >= 0)
        close(d);
    hs_blockhash_free(&pb);
    hs_blockhash_free(&out);
    hs_copier_free(&c);
    free(prev);
    free(next);
}

/* Makes a 1 GiB filesystem of the type in a sparse image, mounts it, runs
 * the case, unmounts, then asserts. Returns early (a skip) where mounting
 * is not possible. */
static void twenty_writes_on(const char *fs, const char *mkfs)
{
    char cmd[3 * 4096 + 256], img[4096], mnt[4096];
    snprintf(cmd, sizeof cmd, "command -v mkfs.%s >/dev/null 2>&1", fs);
    if (geteuid() != 0) {
        tu_skip("mounting a loop device needs root");
        return;
    }
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "mkfs.%s is missing (tests/deps.sh)", fs);
        tu_skip(cmd);
        return;
    }
    snprintf(img, sizeof img, "%s", tu_path("fs.img"));
    snprintf(mnt, sizeof mnt, "%s", tu_path("mnt"));
    tu_mkdir("mnt");
    snprintf(cmd, sizeof cmd, "truncate -s 1G '%s' && %s '%s' >/dev/null 2>&1", img, mkfs, img);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "mount -o loop '%s' '%s' 2>/dev/null", img, mnt);
    if (system(cmd) != 0) {
        tu_skip("cannot mount a loop device here (container?)");
        return;
    }
    struct fs_case bc = {0};
    run_fs_case(mnt, &bc);
    snprintf(cmd, sizeof cmd, "umount '%s' || umount -l '%s'", mnt, mnt);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(!bc.fail, "%s: failed at: %s (r %d)", fs, bc.fail ? bc.fail : "", bc.r);
    ck_assert(bc.content_ok);
    ck_assert(bc.hash_ok);
    ck_assert(bc.prev_same);
    ck_assert(bc.prev_ino_same);
    /* 20 writes of 64 KiB touch at most 40 blocks */
    ck_assert_uint_le(bc.written, 40ull * HS_DELTA_BLOCK);
    ck_assert_msg(bc.new_space < 16ull << 20, "%s: new space %llu bytes (written %llu)", fs,
                  (unsigned long long)bc.new_space, (unsigned long long)bc.written);
    fprintf(stderr, "%s: written %llu, new space %llu, prev extents %llu\n", fs,
            (unsigned long long)bc.written, (unsigned long long)bc.new_space,
            (unsigned long long)bc.prev_extents);
}

START_TEST(btrfs_twenty_writes)
{
    twenty_writes_on("btrfs", "mkfs.btrfs -q");
}
END_TEST

START_TEST(xfs_twenty_writes)
{
    twenty_writes_on("xfs", "mkfs.xfs -q -m reflink=1");
}
END_TEST

Suite *delta_suite(void)
{
    Suite *s = suite_create("delta");
    TCase *tc = tu_tcase("delta");
    tcase_add_test(tc, only_changed_blocks_written);
    tcase_add_test(tc, shrunk_and_unchanged);
    tcase_add_test(tc, clone_or_plain);
    tcase_add_test(tc, worth_rule);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("btrfs");
    tcase_add_test(tc, btrfs_twenty_writes);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("xfs");
    tcase_add_test(tc, xfs_twenty_writes);
    suite_add_tcase(s, tc);
    return s;
}
