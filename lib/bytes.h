/*
 * Little-endian integers in byte buffers: the on-disk formats (manifest,
 * content index) and Linux's ACL xattr values are little-endian whatever
 * the host, and a buffer's bytes need not be aligned. Byte by byte, which
 * compilers turn into one load or store where the host allows.
 */
#ifndef HS_BYTES_H
#define HS_BYTES_H
#include "internal.h"

#include <stdint.h>

static inline uint16_t hs_le16_load(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t hs_le32_load(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t hs_le64_load(const unsigned char *p)
{
    return (uint64_t)hs_le32_load(p) | (uint64_t)hs_le32_load(p + 4) << 32;
}

static inline void hs_le32_store(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void hs_le64_store(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

#endif
