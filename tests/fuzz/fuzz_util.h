/* Shared by the fuzz targets: the input as a file the library can open. */
#ifndef HS_FUZZ_UTIL_H
#define HS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A private directory (made once per process) and an fd on it. */
int fuzz_dir(void);
/* Writes data to name in fuzz_dir(), replacing it. 0 or -1. */
int fuzz_write(const char *name, const uint8_t *data, size_t size);

#endif
