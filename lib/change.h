/*
 * Change detection: is a source entry the same as the previous snapshot's?
 *
 * Regular files: equal size, mtime (ns), mode, uid and gid, and the same
 * ctime and inode as recorded, mean unchanged (LINK). The same visible
 * metadata with another ctime or inode (mtime restored by a tool, file
 * replaced by rename) means the content must be compared (VERIFY: hash the
 * source, link on equal hash). Anything else is a change (COPY). A linked
 * inode is shared with the old snapshot, so any metadata difference must be a
 * copy: linking would rewrite history.
 */
#ifndef HS_CHANGE_H
#define HS_CHANGE_H
#include "internal.h"

#include "manifest.h"
#include <stdbool.h>
#include <sys/stat.h>

enum hs_verdict {
    HS_VERDICT_COPY,   /* write a new inode */
    HS_VERDICT_LINK,   /* link the previous snapshot's inode */
    HS_VERDICT_VERIFY, /* link only if the content hash is equal */
};

/* Visible metadata equal: type, size, mtime ns, mode, uid, gid (and rdev). */
bool hs_change_meta_equal(const struct stat *src, const struct hs_mentry *prev);

/* A regular file against its manifest record. */
enum hs_verdict hs_change_regular(const struct stat *src, const struct hs_mentry *prev,
                                  bool checksum);

/* A symlink (target) or special file against its record: LINK or COPY. */
enum hs_verdict hs_change_other(const struct stat *src, const char *target, size_t target_len,
                                const struct hs_mentry *prev);

/* Without a manifest: a regular file against the previous snapshot's file.
 * Metadata equal -> VERIFY when checksum, else LINK; otherwise COPY. */
enum hs_verdict hs_change_against_file(const struct stat *src, const struct stat *prev,
                                       bool checksum);

#endif
