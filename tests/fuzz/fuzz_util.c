#include "fuzz_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int fuzz_dir(void)
{
    static int fd = -1; /* the fuzzer process's own scratch directory */
    if (fd < 0) {
        char tmpl[] = "/tmp/hs-fuzz-XXXXXX";
        if (!mkdtemp(tmpl))
            abort();
        fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            abort();
    }
    return fd;
}

int fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    int fd = openat(fuzz_dir(), name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    return done == size ? 0 : -1;
}
