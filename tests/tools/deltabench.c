/*
 * deltabench: one measured copy for tests/bench_delta.sh.
 *   deltabench MODE BLOCK_KIB SRC PREV DST
 * MODE delta: DST becomes a delta copy of SRC on PREV (hs_copy_delta, PREV's
 * block hashes made first, untimed); plain: a plain copy (hs_copy_data,
 * HS_COPY_AUTO, as the backup does). The copy is timed up to its fsync and
 * close and the filesystem's sync (the space shows after a commit), and the
 * space is statvfs's used blocks before and after. Prints one line:
 *   mode block_kib seconds written_bytes new_space_bytes prev_extents
 * and checks the copy's hash against a separate read of SRC.
 */
#include "blockhash.h"
#include "copy.h"
#include "delta.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static unsigned long long used(int fd)
{
    struct statvfs v;
    syncfs(fd);
    if (fstatvfs(fd, &v) < 0) {
        perror("statvfs");
        exit(1);
    }
    return (unsigned long long)(v.f_blocks - v.f_bfree) * v.f_frsize;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, const struct hs_err *e)
{
    fprintf(stderr, "deltabench: %s: %s\n", what, e->msg ? e->msg : "?");
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: deltabench delta|plain BLOCK_KIB SRC PREV DST\n");
        return 2;
    }
    bool delta = strcmp(argv[1], "delta") == 0;
    uint32_t bs = (uint32_t)strtoul(argv[2], NULL, 10) * 1024;
    struct hs_err e = {0};
    struct hs_copier c;
    struct hs_blockhash prevb, outb;
    if (hs_copier_init(&c, HS_COPY_AUTO) < 0 || hs_blockhash_init(&prevb, bs, false) < 0 ||
        hs_blockhash_init(&outb, bs, false) < 0)
        return fprintf(stderr, "deltabench: init\n"), 1;
    int src = open(argv[3], O_RDONLY), prev = open(argv[4], O_RDONLY);
    int dst = open(argv[5], O_RDWR | O_CREAT | O_EXCL, 0600);
    if (src < 0 || prev < 0 || dst < 0)
        return perror("deltabench: open"), 1;
    struct stat st, pst;
    fstat(src, &st);
    fstat(prev, &pst);
    uint8_t hash[16], want[16];
    c.blocks = &prevb;
    if (hs_hash_fd(&c, prev, &pst, hash, argv[4], &e) < 0)
        die("hash prev", &e);
    c.blocks = NULL;
    if (hs_hash_fd(&c, src, &st, want, argv[3], &e) < 0)
        die("hash src", &e);
    uint64_t extents = 0;
    hs_delta_extents(prev, &extents);
    struct hs_blocks pb = hs_blockhash_blocks(&prevb);
    unsigned long long u0 = used(dst);
    double t0 = now();
    uint64_t written = 0;
    int r;
    if (delta)
        r = hs_copy_delta(&c, src, prev, dst, &st, &pb, &outb, hash, &written, NULL, argv[3], &e);
    else
        r = hs_copy_data(&c, src, dst, &st, hash, &written, argv[3], &e);
    if (r < 0)
        die("copy", &e);
    if (r == HS_DELTA_PLAIN)
        return fprintf(stderr, "deltabench: cannot clone here\n"), 1;
    /* the space after the close: xfs trims its speculative preallocation
     * past the end of a file when the file is closed */
    fsync(dst);
    close(dst);
    unsigned long long u1 = used(prev);
    double t1 = now();
    if (memcmp(hash, want, 16) != 0)
        return fprintf(stderr, "deltabench: the copy's hash differs\n"), 1;
    printf("%s %u %.3f %llu %lld %llu\n", argv[1], bs / 1024, t1 - t0, (unsigned long long)written,
           (long long)u1 - (long long)u0, (unsigned long long)extents);
    close(src), close(prev);
    hs_blockhash_free(&prevb);
    hs_blockhash_free(&outb);
    hs_copier_free(&c);
    return 0;
}
