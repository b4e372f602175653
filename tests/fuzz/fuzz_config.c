/* libFuzzer target: the config parser (inih and hardsnap's checks). */
#include "fuzz_util.h"
#include "hardsnap.h"

#include <fcntl.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_write("h.conf", data, size) < 0)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d/h.conf", fuzz_dir());
    struct hs_config c = {0};
    struct hs_err e = {0};
    hs_config_load(&c, path, &e);
    hs_config_free(&c);
    hs_err_clear(&e);
    return 0;
}
