/*
 * A map from inode (dev, ino) to a small fixed-size value: open addressing,
 * linear probing, kept at most half full. For tables that hold every inode
 * of a store (list, verify), where a node per entry would cost more than the
 * entry, and under the hard-link table. Every key but (UINT64_MAX, 0) is
 * one: a zeroed slot stands for that one, and no file has inode number 0.
 */
#ifndef HS_INOMAP_H
#define HS_INOMAP_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_INOMAP_NO_DEV UINT64_MAX /* with ino 0: the key that is none */

struct hs_inomap {
    unsigned char *slots; /* (u64 ino, u64 ~dev, value) each */
    size_t slot_size, value_size;
    size_t mask;    /* capacity - 1, a power of two */
    unsigned shift; /* 64 - log2(capacity) */
    size_t n;
};

int hs_inomap_init(struct hs_inomap *m, size_t value_size);
void hs_inomap_free(struct hs_inomap *m);

/* The value of (dev, ino), zeroed and *fresh if new; NULL when out of memory
 * (or for the key that is none). Valid until the next hs_inomap_get or
 * hs_inomap_remove. */
void *hs_inomap_get(struct hs_inomap *m, uint64_t dev, uint64_t ino, bool *fresh);
/* The value of (dev, ino), or NULL. */
void *hs_inomap_find(const struct hs_inomap *m, uint64_t dev, uint64_t ino);
/* Drops (dev, ino) if present; a table left mostly empty gives slots back. */
void hs_inomap_remove(struct hs_inomap *m, uint64_t dev, uint64_t ino);
/* Hints the CPU to fetch the slot of (dev, ino): lookups in a table larger
 * than the caches are misses, and prefetching makes them overlap. */
void hs_inomap_prefetch(const struct hs_inomap *m, uint64_t dev, uint64_t ino);
/* Slot i (0 <= i <= mask): its value, or NULL when empty. */
void *hs_inomap_slot(const struct hs_inomap *m, size_t i);

#endif
