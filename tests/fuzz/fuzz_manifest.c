/* libFuzzer target: the manifest reader, read in order and through the block
 * index. Damage must be reported (-EBADMSG), never crash or leak. */
#include "fuzz_util.h"
#include "manifest.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_write("m.hsm", data, size) < 0)
        return 0;
    struct hs_err e = {0};
    struct hs_manifest_reader *r;
    if (hs_manifest_reader_open(&r, fuzz_dir(), "m.hsm", &e) == 0) {
        const struct hs_mentry *m;
        size_t n = 0;
        while (hs_manifest_next(r, &m, &e) == 1 && n++ < 1000000)
            (void)m->path_len;
        hs_manifest_reader_free(r);
    }
    hs_err_clear(&e);
    struct hs_manifest_finder *f;
    if (hs_manifest_finder_open(&f, fuzz_dir(), "m.hsm", &e) == 0) {
        static const char *const paths[] = {"", "a", "a/b", "zzzz", "\xff"};
        const struct hs_mentry *m;
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
            hs_manifest_finder_get(f, paths[i], strlen(paths[i]), &m, &e);
        hs_manifest_finder_free(f);
    }
    hs_err_clear(&e);
    return 0;
}
