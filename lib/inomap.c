#include "inomap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_BITS 12

static int init_bits(struct hs_inomap *m, size_t value_size, unsigned bits)
{
    /* 8-byte aligned values */
    m->value_size = value_size;
    m->slot_size = 16 + ((value_size + 7) & ~(size_t)7);
    m->slots = calloc((size_t)1 << bits, m->slot_size);
    m->mask = ((size_t)1 << bits) - 1;
    m->shift = 64 - bits;
    m->n = 0;
    return m->slots ? 0 : -ENOMEM;
}

int hs_inomap_init(struct hs_inomap *m, size_t value_size)
{
    return init_bits(m, value_size, MIN_BITS);
}

void hs_inomap_free(struct hs_inomap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->n = 0;
}

static uint64_t *key_at(const struct hs_inomap *m, size_t i)
{
    return (uint64_t *)(void *)(m->slots + i * m->slot_size);
}

/* Fibonacci hashing: the top bits of the product spread runs of inode
 * numbers evenly over the table. */
static size_t home(const struct hs_inomap *m, uint64_t dev, uint64_t ino)
{
    return (size_t)(((ino ^ (dev << 32 | dev >> 32)) * 0x9E3779B97F4A7C15ull) >> m->shift);
}

static size_t probe(const struct hs_inomap *m, uint64_t dev, uint64_t ino)
{
    size_t i = home(m, dev, ino);
    for (uint64_t *k = key_at(m, i); k[0] && (k[0] != ino || k[1] != dev); k = key_at(m, i))
        i = (i + 1) & m->mask;
    return i;
}

static int grow(struct hs_inomap *m)
{
    struct hs_inomap bigger;
    if (init_bits(&bigger, m->value_size, 64 - m->shift + 1) < 0)
        return -ENOMEM;
    for (size_t i = 0; i <= m->mask; i++) {
        uint64_t *k = key_at(m, i);
        if (k[0])
            memcpy(key_at(&bigger, probe(&bigger, k[1], k[0])), k, m->slot_size);
    }
    bigger.n = m->n;
    free(m->slots);
    *m = bigger;
    return 0;
}

void *hs_inomap_get(struct hs_inomap *m, uint64_t dev, uint64_t ino, bool *fresh)
{
    size_t i = probe(m, dev, ino);
    uint64_t *k = key_at(m, i);
    *fresh = k[0] == 0;
    if (*fresh) {
        if ((m->n + 1) * 2 > m->mask + 1) {
            if (grow(m) < 0)
                return NULL;
            k = key_at(m, probe(m, dev, ino));
        }
        k[0] = ino;
        k[1] = dev;
        m->n++;
    }
    return k + 2;
}

void *hs_inomap_find(const struct hs_inomap *m, uint64_t dev, uint64_t ino)
{
    uint64_t *k = key_at(m, probe(m, dev, ino));
    return k[0] ? k + 2 : NULL;
}

void hs_inomap_prefetch(const struct hs_inomap *m, uint64_t dev, uint64_t ino)
{
    __builtin_prefetch(key_at(m, home(m, dev, ino)));
}

void *hs_inomap_slot(const struct hs_inomap *m, size_t i)
{
    uint64_t *k = key_at(m, i);
    return k[0] ? k + 2 : NULL;
}
