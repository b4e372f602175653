/*
 * Open addressing with linear probing over an array of pointers. Entries are
 * allocated one by one so that growing, shrinking or the backward shift of a
 * deletion only moves pointers: a struct hs_link never changes address while
 * it is in the table.
 */
#include "linktab.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Small enough that an idle table costs little, large enough to skip the
 * first few doublings of every backup that meets a hard link. */
#define LT_MIN_CAP 16

struct hs_linktab {
    struct hs_link **slots;
    size_t cap; /* a power of two, so the mask replaces a division */
    size_t count;
};

/* Device numbers and inode numbers are both small and sequential-ish, so a
 * plain combination would cluster; the murmur3 finalizer spreads every input
 * bit over the whole word before masking. */
static uint64_t lt_hash(uint64_t dev, uint64_t ino)
{
    uint64_t h = dev * 0x9e3779b97f4a7c15ULL ^ ino;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static size_t lt_home(const struct hs_linktab *t, uint64_t dev, uint64_t ino)
{
    return (size_t)lt_hash(dev, ino) & (t->cap - 1);
}

/* The slot holding (dev, ino), or the empty slot where it would go. */
static size_t lt_probe(const struct hs_linktab *t, uint64_t dev, uint64_t ino)
{
    size_t mask = t->cap - 1;
    size_t i = lt_home(t, dev, ino);
    while (t->slots[i] && (t->slots[i]->dev != dev || t->slots[i]->ino != ino))
        i = (i + 1) & mask;
    return i;
}

static void lt_link_free(struct hs_link *l)
{
    free(l->path);
    free(l->data);
    free(l);
}

static int lt_resize(struct hs_linktab *t, size_t cap)
{
    struct hs_link **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    struct hs_link **old = t->slots;
    size_t old_cap = t->cap;
    t->slots = slots;
    t->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i])
            t->slots[lt_probe(t, old[i]->dev, old[i]->ino)] = old[i];
    }
    free(old);
    return 0;
}

/* Keeps the load factor at or below 0.7 once one more entry is in. */
static int lt_reserve_one(struct hs_linktab *t)
{
    if ((t->count + 1) * 10 <= t->cap * 7)
        return 0;
    if (t->cap > SIZE_MAX / 2 / sizeof *t->slots)
        return -ENOMEM;
    return lt_resize(t, t->cap * 2);
}

/* Memory should follow the pending groups, so a table that emptied after a
 * burst of links gives most of its slots back. Failure is harmless: the
 * bigger table still works. */
static void lt_maybe_shrink(struct hs_linktab *t)
{
    if (t->cap > LT_MIN_CAP && t->count * 8 < t->cap)
        (void)lt_resize(t, t->cap / 2);
}

/* Backward-shift deletion: pull later members of the probe run into the hole
 * so no tombstones are needed and lookups never stop early. */
static void lt_remove_slot(struct hs_linktab *t, size_t hole)
{
    size_t mask = t->cap - 1;
    size_t i = hole;
    for (;;) {
        i = (i + 1) & mask;
        struct hs_link *l = t->slots[i];
        if (!l)
            break;
        size_t home = lt_home(t, l->dev, l->ino);
        /* l may fill the hole only if its home is not in (hole, i]. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            t->slots[hole] = l;
            hole = i;
        }
    }
    t->slots[hole] = NULL;
    t->count--;
}

/* A private NUL-terminated copy; an embedded NUL could not be used as a path. */
static int lt_path_dup(const char *path, size_t len, char **out)
{
    if (len == SIZE_MAX || (len && memchr(path, '\0', len)))
        return -EINVAL;
    char *p = malloc(len + 1);
    if (!p)
        return -ENOMEM;
    if (len)
        memcpy(p, path, len);
    p[len] = '\0';
    *out = p;
    return 0;
}

struct hs_linktab *hs_linktab_new(void)
{
    struct hs_linktab *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->slots = calloc(LT_MIN_CAP, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->cap = LT_MIN_CAP;
    return t;
}

void hs_linktab_free(struct hs_linktab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i])
            lt_link_free(t->slots[i]);
    }
    free(t->slots);
    free(t);
}

struct hs_link *hs_linktab_find(struct hs_linktab *t, uint64_t dev, uint64_t ino)
{
    return t->slots[lt_probe(t, dev, ino)];
}

static int lt_link_new(uint64_t dev, uint64_t ino, uint64_t nlink, const char *path,
                       size_t path_len, void *data, struct hs_link **out)
{
    struct hs_link *l = malloc(sizeof *l);
    if (!l)
        return -ENOMEM;
    int r = lt_path_dup(path, path_len, &l->path);
    if (r < 0) {
        free(l);
        return r;
    }
    l->dev = dev;
    l->ino = ino;
    l->remaining = nlink - 1;
    l->path_len = path_len;
    l->data = data;
    *out = l;
    return 0;
}

int hs_linktab_add(struct hs_linktab *t, uint64_t dev, uint64_t ino, uint64_t nlink,
                   const char *path, size_t path_len, void *data, struct hs_link **out)
{
    struct hs_link *l;
    int r = nlink > 1 ? 0 : -EINVAL;
    if (r == 0)
        r = lt_link_new(dev, ino, nlink, path, path_len, data, &l);
    if (r < 0) {
        free(data);
        return r;
    }
    size_t i = lt_probe(t, dev, ino);
    if (t->slots[i]) {
        /* The file changed between two of its names: the new copy leads. */
        lt_link_free(t->slots[i]);
    } else {
        r = lt_reserve_one(t);
        if (r < 0) {
            lt_link_free(l);
            return r;
        }
        i = lt_probe(t, dev, ino);
        t->count++;
    }
    t->slots[i] = l;
    if (out)
        *out = l;
    return 0;
}

int hs_linktab_set_path(struct hs_link *l, const char *path, size_t path_len)
{
    char *p;
    int r = lt_path_dup(path, path_len, &p);
    if (r < 0)
        return r;
    free(l->path);
    l->path = p;
    l->path_len = path_len;
    return 0;
}

void hs_linktab_release(struct hs_linktab *t, struct hs_link *l)
{
    size_t i = lt_probe(t, l->dev, l->ino);
    assert(t->slots[i] == l && l->remaining > 0);
    if (t->slots[i] != l)
        return;
    if (--l->remaining > 0)
        return;
    lt_remove_slot(t, i);
    lt_link_free(l);
    lt_maybe_shrink(t);
}

size_t hs_linktab_count(const struct hs_linktab *t)
{
    return t->count;
}
