#include "inomap.h"

#include "hash.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 4096 slots: a table that holds a few hundred keys (the claims of a backup)
 * stays sparse, so a lookup of a key that is not there ends at once. */
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

/* A slot holds (ino, ~dev): calloc's zeroes are then the key that is none,
 * and (0, 0) is a key like any other. */
static bool empty(const uint64_t *k)
{
    return (k[0] | k[1]) == 0;
}

static size_t home(const struct hs_inomap *m, uint64_t dev, uint64_t ino)
{
    return hs_hash_top(hs_hash_key(dev, ino), 64 - m->shift);
}

static size_t probe(const struct hs_inomap *m, uint64_t dev, uint64_t ino)
{
    size_t i = home(m, dev, ino);
    for (uint64_t *k = key_at(m, i); !empty(k) && (k[0] != ino || k[1] != ~dev); k = key_at(m, i))
        i = (i + 1) & m->mask;
    return i;
}

static int resize(struct hs_inomap *m, unsigned bits)
{
    struct hs_inomap other;
    if (init_bits(&other, m->value_size, bits) < 0)
        return -ENOMEM;
    for (size_t i = 0; i <= m->mask; i++) {
        uint64_t *k = key_at(m, i);
        if (!empty(k))
            memcpy(key_at(&other, probe(&other, ~k[1], k[0])), k, m->slot_size);
    }
    other.n = m->n;
    free(m->slots);
    *m = other;
    return 0;
}

void *hs_inomap_get(struct hs_inomap *m, uint64_t dev, uint64_t ino, bool *fresh)
{
    if (ino == 0 && dev == HS_INOMAP_NO_DEV)
        return NULL;
    size_t i = probe(m, dev, ino);
    uint64_t *k = key_at(m, i);
    *fresh = empty(k);
    if (*fresh) {
        if ((m->n + 1) * 2 > m->mask + 1) {
            if (resize(m, 64 - m->shift + 1) < 0)
                return NULL;
            k = key_at(m, probe(m, dev, ino));
        }
        k[0] = ino;
        k[1] = ~dev;
        m->n++;
    }
    return k + 2;
}

void *hs_inomap_find(const struct hs_inomap *m, uint64_t dev, uint64_t ino)
{
    uint64_t *k = key_at(m, probe(m, dev, ino));
    return empty(k) ? NULL : k + 2;
}

/* Backward-shift deletion: later members of the probe run move into the
 * hole, so no tombstones are needed and lookups never stop early. */
void hs_inomap_remove(struct hs_inomap *m, uint64_t dev, uint64_t ino)
{
    size_t hole = probe(m, dev, ino);
    if (empty(key_at(m, hole)))
        return;
    for (size_t i = (hole + 1) & m->mask;; i = (i + 1) & m->mask) {
        uint64_t *k = key_at(m, i);
        if (empty(k))
            break;
        size_t h = home(m, ~k[1], k[0]);
        /* k may fill the hole only if its home is not in (hole, i] */
        if (((i - h) & m->mask) >= ((i - hole) & m->mask)) {
            memcpy(key_at(m, hole), k, m->slot_size);
            hole = i;
        }
    }
    memset(key_at(m, hole), 0, m->slot_size);
    m->n--;
    /* memory follows what is left; failing to shrink is harmless */
    if (64 - m->shift > MIN_BITS && m->n * 8 < m->mask + 1)
        (void)resize(m, 64 - m->shift - 1);
}

void hs_inomap_prefetch(const struct hs_inomap *m, uint64_t dev, uint64_t ino)
{
    __builtin_prefetch(key_at(m, home(m, dev, ino)));
}

void *hs_inomap_slot(const struct hs_inomap *m, size_t i)
{
    uint64_t *k = key_at(m, i);
    return empty(k) ? NULL : k + 2;
}
