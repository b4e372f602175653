/*
 * A source of entries in no particular order, from which import builds a
 * snapshot: an archive's members, one after the other, each with its data.
 *
 * backup does not go through this: its source is a tree walked in sorted
 * order, and that order is what lets it read the previous manifest in step
 * and keep memory flat (see design.md). A source here may repeat a path,
 * name a directory after its contents, or name a hard link's other path at
 * any time, so the builder (import.c) must look paths up instead.
 */
#ifndef HS_SOURCE_H
#define HS_SOURCE_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct hs_src_entry {
    const char *path;     /* as the source spells it: not checked, not cleaned */
    struct stat st;       /* type, permissions, owner, size, mtime, ctime, rdev */
    bool has_ctime;       /* st_ctim is the source's */
    const char *symlink;  /* a symlink's target */
    const char *hardlink; /* another path of the source naming the same file, or NULL */
    /* extended attributes, in no order (valid until the next entry) */
    size_t n_xattrs;
    const char *const *xattr_names;
    const void *const *xattr_values;
    const size_t *xattr_sizes;
};

struct hs_entry_source {
    void *self;
    /* For messages: the source as the user named it. */
    const char *name;
    /* The next entry: 1 and *ent (valid until the next call), 0 at a
     * complete end, <0 when the source is damaged or unreadable. */
    int (*next)(void *self, struct hs_src_entry *ent, struct hs_err *e);
    /* The current entry's data, a piece at a time: 1 and (buf, len, at
     * offset; offsets grow, gaps are holes), 0 after the last piece, <0. */
    int (*data)(void *self, const void **buf, size_t *len, uint64_t *offset, struct hs_err *e);
    void (*close)(void *self);
};

/* An archive file ("-": stdin) in any format and compression libarchive
 * reads. -ENOENT and the like name the file (HS_USAGE), damage is HS_FAILED. */
int hs_archive_source_open(struct hs_entry_source *s, const char *path, struct hs_err *e);

#endif
