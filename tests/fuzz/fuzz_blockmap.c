/* libFuzzer target: the block map reader (lib/blockmap.h). The input is read
 * twice: as it is (its checksums mostly wrong, so the checksum checks are
 * what is reached) and with each record's checksum and the end's made to
 * match it, as fuzz_cindex does, so the fuzzer reaches the checks of the
 * records' fields: lengths, block counts, order. Each time every record is
 * read with hs_blockmap_next, then sought on a second reader in the order
 * seen (with a probe for an absent path before each), and carried into a new
 * block map with hs_blockmap_put_copy, which must read back the same. A
 * record returned must be self-consistent (abort() otherwise); damage must be
 * an error, never a crash, a leak or a read out of bounds.
 *
 * Seeds (tests/fuzz/corpus/blockmap) are written by the real writer:
 * HS_BLOCKMAP_SEEDS=tests/fuzz/corpus/blockmap build/tests/hs_unit blockmap */
#include "blockmap.h"
#include "bytes.h"
#include "fuzz_util.h"
#include "manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* At most this many records are followed per input (each is copied). */
#define MAX_SEEN 4096

struct seen {
    char *path;
    size_t len;
    uint8_t hash[16];
    uint64_t size;
    uint32_t block_size;
    size_t n;
    uint64_t *h;
};

/* What the reader promises of every record it returns. */
static void check_record(const struct hs_bmentry *m)
{
    const struct hs_blocks *b = &m->blocks;
    if (!m->path || m->path_len == 0 || m->path_len > HS_BLOCKMAP_MAX_PATH)
        abort();
    if (b->block_size < 4096 || b->block_size % 4096 || b->block_size > HS_BLOCK_MAX)
        abort();
    uint64_t want = b->size / b->block_size + (b->size % b->block_size != 0);
    if (b->n != want || b->n > HS_BLOCKMAP_MAX_BLOCKS || (b->n && !b->h))
        abort();
    /* every byte is touched, so ASan sees a path or hash array cut short */
    unsigned x = 0;
    for (size_t i = 0; i < m->path_len; i++)
        x += (unsigned char)m->path[i];
    for (size_t i = 0; i < b->n; i++)
        x += (unsigned)b->h[i];
    for (int i = 0; i < 16; i++)
        x += m->hash[i];
    volatile unsigned sink = x;
    (void)sink;
}

static bool same(const struct hs_bmentry *m, const struct seen *s)
{
    const struct hs_blocks *b = &m->blocks;
    return m->path_len == s->len && memcmp(m->path, s->path, s->len) == 0 &&
           memcmp(m->hash, s->hash, 16) == 0 && b->size == s->size &&
           b->block_size == s->block_size && b->n == s->n &&
           (s->n == 0 || memcmp(b->h, s->h, s->n * sizeof *s->h) == 0);
}

static void keep(struct seen *s, const struct hs_bmentry *m)
{
    s->len = m->path_len;
    s->path = malloc(s->len);
    s->n = m->blocks.n;
    s->h = malloc(s->n ? s->n * sizeof *s->h : 1);
    if (!s->path || !s->h)
        abort();
    memcpy(s->path, m->path, s->len);
    memcpy(s->hash, m->hash, 16);
    s->size = m->blocks.size;
    s->block_size = m->blocks.block_size;
    if (s->n)
        memcpy(s->h, m->blocks.h, s->n * sizeof *s->h);
}

/* The records of the copy made by put_copy: seen[0..n), then the end. */
static void check_copy(const char *name, const struct seen *seen, size_t n)
{
    struct hs_blockmap_reader *rd;
    struct hs_err e = {0};
    if (hs_blockmap_reader_open(&rd, fuzz_dir(), name, &e) != 0)
        abort();
    const struct hs_bmentry *m;
    for (size_t i = 0; i < n; i++)
        if (hs_blockmap_next(rd, &m, &e) != 1 || !same(m, &seen[i]))
            abort();
    if (hs_blockmap_next(rd, &m, &e) != 0)
        abort();
    hs_blockmap_reader_free(rd);
}

static void read_map(const char *name)
{
    struct hs_err e = {0};
    struct hs_blockmap_reader *rd;
    if (hs_blockmap_reader_open(&rd, fuzz_dir(), name, &e) != 0) {
        hs_err_clear(&e);
        return;
    }
    struct seen *seen = calloc(MAX_SEEN, sizeof *seen);
    if (!seen)
        abort();
    const struct hs_bmentry *m;
    size_t n = 0;
    int last;
    while ((last = hs_blockmap_next(rd, &m, &e)) == 1 && n < MAX_SEEN) {
        check_record(m);
        if (n > 0 && hs_path_cmp(seen[n - 1].path, seen[n - 1].len, m->path, m->path_len) >= 0)
            abort(); /* out of walk order */
        keep(&seen[n++], m);
    }
    hs_err_clear(&e);
    hs_blockmap_reader_free(rd);
    if (last == 1 || last == -ENOMEM)
        last = 2; /* stopped early, or a damaged length was too much: no end */
    else if (last != 0 && last != -EBADMSG)
        abort(); /* the file is there and readable: damage is all it can be */

    /* the same records, sought in step; a shorter path (a prefix, so
     * earlier in walk order, and not the next record) is absent */
    if (hs_blockmap_reader_open(&rd, fuzz_dir(), name, &e) != 0)
        abort();
    struct hs_blockmap_writer *w = NULL;
    unlinkat(fuzz_dir(), "copy.hsb", 0); /* see put_input */
    if (hs_blockmap_writer_open(&w, fuzz_dir(), "copy.hsb", &e) != 0)
        abort();
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        struct seen *s = &seen[i];
        if (s->len > 1 && hs_blockmap_seek(rd, s->path, s->len - 1, &m, &e) != 0)
            abort();
        if (hs_blockmap_seek(rd, s->path, s->len, &m, &e) != 1 || !same(m, s))
            abort();
        if (hs_blockmap_put_copy(w, rd, &e) != 0)
            abort();
        if (s->len > longest)
            longest = s->len;
    }
    if (last != 2) {
        /* past every path: the end or the damage hs_blockmap_next met */
        char *past = malloc(longest + 1);
        if (!past)
            abort();
        memset(past, 0xff, longest + 1);
        if (hs_blockmap_seek(rd, past, longest + 1, &m, &e) != last)
            abort();
        free(past);
    }
    hs_err_clear(&e);
    hs_blockmap_reader_free(rd);
    if (hs_blockmap_writer_finish(w, false, &e) != 0)
        abort();
    hs_blockmap_writer_free(w);
    check_copy("copy.hsb", seen, n);
    for (size_t i = 0; i < n; i++) {
        free(seen[i].path);
        free(seen[i].h);
    }
    free(seen);
}

/* Makes each whole record's checksum (seeded with its sequence number) and
 * the end's checksum (of the record checksums, seeded with the end's count,
 * which stays as the input has it) match. */
static void fix_sums(uint8_t *d, size_t size)
{
    XXH3_state_t *sums = XXH3_createState();
    if (!sums)
        abort();
    XXH3_64bits_reset(sums);
    size_t pos = 16;
    uint64_t count = 0;
    while (pos <= size && size - pos >= 4) {
        uint64_t len = hs_le32_load(d + pos);
        pos += 4;
        if (len == 0) {
            if (size - pos >= 16) {
                uint8_t sum[8];
                hs_le64_store(sum, XXH3_64bits_digest(sums));
                uint64_t n = hs_le64_load(d + pos);
                hs_le64_store(d + pos + 8, XXH3_64bits_withSeed(sum, 8, n));
            }
            break;
        }
        if (size - pos < len + 8)
            break;
        hs_le64_store(d + pos + len, XXH3_64bits_withSeed(d + pos, len, count++));
        XXH3_64bits_update(sums, d + pos + len, 8);
        pos += len + 8;
    }
    XXH3_freeState(sums);
}

/* A new file each time: ext4 writes back a file truncated to 0 on its close
 * (auto_da_alloc), which made each run wait for the disk (100 runs/s). */
static int put_input(const uint8_t *data, size_t size)
{
    unlinkat(fuzz_dir(), "m.hsb", 0);
    return fuzz_write("m.hsb", data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (put_input(data, size) < 0)
        return 0;
    read_map("m.hsb");
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    fix_sums(fixed, size);
    int r = put_input(fixed, size);
    free(fixed);
    if (r == 0)
        read_map("m.hsb");
    return 0;
}
