/*
 * An inomap from (dev, ino) to a pointer: entries are allocated one by one,
 * so a struct hs_link never changes address while it is in the table, however
 * the map grows, shrinks or shifts its slots on a deletion.
 */
#include "linktab.h"

#include "inomap.h"
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct hs_linktab {
    struct hs_inomap map; /* (dev, ino) -> struct hs_link * */
};

static void lt_link_free(struct hs_link *l)
{
    free(l->path);
    free(l->data);
    free(l);
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
    if (t && hs_inomap_init(&t->map, sizeof(struct hs_link *)) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

void hs_linktab_free(struct hs_linktab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i <= t->map.mask; i++) {
        struct hs_link **l = hs_inomap_slot(&t->map, i);
        if (l)
            lt_link_free(*l);
    }
    hs_inomap_free(&t->map);
    free(t);
}

struct hs_link *hs_linktab_find(struct hs_linktab *t, uint64_t dev, uint64_t ino)
{
    struct hs_link **l = hs_inomap_find(&t->map, dev, ino);
    return l ? *l : NULL;
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
    int r = nlink > 1 && (ino || dev != HS_INOMAP_NO_DEV) ? 0 : -EINVAL;
    if (r == 0)
        r = lt_link_new(dev, ino, nlink, path, path_len, data, &l);
    if (r < 0) {
        free(data);
        return r;
    }
    bool fresh;
    struct hs_link **slot = hs_inomap_get(&t->map, dev, ino, &fresh);
    if (!slot) {
        lt_link_free(l);
        return -ENOMEM;
    }
    if (!fresh)
        lt_link_free(*slot); /* the file changed between two of its names: the new copy leads */
    *slot = l;
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
    struct hs_link **slot = hs_inomap_find(&t->map, l->dev, l->ino);
    assert(slot && *slot == l && l->remaining > 0);
    if (!slot || *slot != l)
        return;
    if (--l->remaining > 0)
        return;
    hs_inomap_remove(&t->map, l->dev, l->ino);
    lt_link_free(l);
}

size_t hs_linktab_count(const struct hs_linktab *t)
{
    return t->map.n;
}
