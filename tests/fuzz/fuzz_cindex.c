/* libFuzzer target: the content index reader. The footer checksum is made
 * to match the input, so the fuzzer reaches the records' checks, not just
 * the checksum: bounds, order, paths, lookups. */
#include "cindex.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 40)
        return 0;
    uint8_t *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    uint64_t sum = XXH3_64bits(buf, size - 8);
    for (int i = 0; i < 8; i++)
        buf[size - 8 + (size_t)i] = (uint8_t)(sum >> (8 * i));
    int w = fuzz_write("S" HS_CINDEX_SUFFIX, buf, size);
    free(buf);
    if (w < 0)
        return 0;
    struct hs_err e = {0};
    struct hs_cindex *ci;
    if (hs_cindex_open(&ci, fuzz_dir(), "S", le64(data + 24), &e) == 0) {
        uint8_t hash[16] = {0};
        memcpy(hash, data + (size > 56 ? 40 : 0), 16);
        size_t first, n = hs_cindex_find(ci, hash, le64(data + 32), &first);
        for (size_t i = first; i < first + n && i < first + 16; i++) {
            struct hs_centry c;
            if (hs_cindex_get(ci, i, &c) == 0)
                hs_cindex_read_path(ci, &c);
        }
        hs_cindex_maybe_size(ci, le64(data + 8));
        hs_cindex_close(ci);
    }
    hs_err_clear(&e);
    return 0;
}
