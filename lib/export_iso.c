/* The ISO 9660 writer's workaround: see export_iso.h (and delete both
 * together). */
#include "export_iso.h"

#include "fsutil.h"
#include "hash.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The level Rock Ridge moves directories from, and the deepest directory
 * whose move is not moved again. */
#define ISO_MOVED_LEVEL 8
#define ISO_DEEPEST     13

struct hs_iso_name {
    struct hs_iso_name *next;
    uint64_t hash;
    char name[];
};

/* 1 if name was added, 0 if it was there already, -ENOMEM. */
static int name_add(struct hs_iso_guard *s, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = hs_hash_bytes(name, len);
    if (s->count >= s->nbuckets) {
        size_t nb = s->nbuckets ? s->nbuckets * 2 : 64;
        struct hs_iso_name **b = calloc(nb, sizeof *b);
        if (!b)
            return -ENOMEM;
        for (size_t i = 0; i < s->nbuckets; i++) {
            for (struct hs_iso_name *n = s->buckets[i], *next; n; n = next) {
                next = n->next;
                n->next = b[n->hash & (nb - 1)];
                b[n->hash & (nb - 1)] = n;
            }
        }
        free(s->buckets);
        s->buckets = b;
        s->nbuckets = nb;
    }
    struct hs_iso_name **head = &s->buckets[h & (s->nbuckets - 1)];
    for (struct hs_iso_name *n = *head; n; n = n->next)
        if (n->hash == h && !strcmp(n->name, name))
            return 0;
    struct hs_iso_name *n = malloc(sizeof *n + len + 1);
    if (!n)
        return -ENOMEM;
    n->hash = h;
    memcpy(n->name, name, len + 1);
    n->next = *head;
    *head = n;
    s->count++;
    return 1;
}

void hs_iso_guard_free(struct hs_iso_guard *g)
{
    for (size_t i = 0; i < g->nbuckets; i++) {
        for (struct hs_iso_name *n = g->buckets[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    }
    free(g->buckets);
    *g = (struct hs_iso_guard){0};
}

static int refuse(struct hs_err *err, const char *why, const char *path)
{
    char *esc = hs_escape(path, strlen(path));
    hs_err_setf(err, 0,
                "cannot write ISO 9660: %s: %s (libarchive's ISO writer fails on such "
                "trees, issue #1517; export as .tar or .zip)",
                why, esc ? esc : "?");
    free(esc);
    err->code = ENOTSUP;
    hs_err_kind(err, HS_USAGE); /* nothing written yet: another format will do */
    return -ENOTSUP;
}

int hs_iso_guard_dir(struct hs_iso_guard *g, const char *path, struct hs_err *err)
{
    size_t levels = 1;
    for (const char *p = path; *p; p++)
        levels += *p == '/';
    const char *base = hs_path_base(path, strlen(path));
    bool in_rr_moved = levels == 2 && !strncmp(path, "rr_moved/", 9);
    if (levels > ISO_DEEPEST)
        return refuse(err, "a directory more than 13 levels deep", path);
    if (levels != ISO_MOVED_LEVEL && !in_rr_moved)
        return 0;
    int k = name_add(g, base);
    if (k < 0)
        return hs_err_setf(err, ENOMEM, "export");
    if (k == 0)
        return refuse(err, "two directories of the same name at the 8th level or in rr_moved",
                      path);
    return 0;
}
