/*
 * Exclude patterns, as rsync users know them: a pattern with a '/' is
 * anchored at the source root, one without matches any path component;
 * '*' and '?' stop at '/', '**' crosses directories, "[...]" is a class,
 * a trailing '/' matches directories only.
 */
#ifndef HS_EXCLUDE_H
#define HS_EXCLUDE_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>

struct hs_exclude;

struct hs_exclude *hs_exclude_new(void);
void hs_exclude_free(struct hs_exclude *excl);

/* Adds one pattern. -EINVAL with a message naming it if it is malformed. */
int hs_exclude_add(struct hs_exclude *excl, const char *pattern, struct hs_err *e);

/* Adds the patterns of a file, one a line; blank lines and '#' lines skipped. */
int hs_exclude_add_file(struct hs_exclude *excl, const char *file, struct hs_err *e);

/* Whether relpath (relative to the source root, no leading '/') is excluded. */
bool hs_exclude_match(const struct hs_exclude *excl, const char *relpath, size_t len, bool is_dir);

size_t hs_exclude_count(const struct hs_exclude *excl);

/* Whether the walk's path (prefix_len bytes of "NAME/" first, for a source
 * under its NAME) is excluded by the source's own patterns (own, anchored at
 * its root) or the global ones: those are tried at the source's root and,
 * under a NAME, also at the snapshot root. Either may be NULL. */
bool hs_exclude_source(const struct hs_exclude *global, const struct hs_exclude *own,
                       const char *path, size_t len, size_t prefix_len, bool is_dir);

/* The compiled patterns as bytes, for the far end of a pull, and back (a
 * client's bytes: checked, bounded). 0 or -errno (-EBADMSG). */
struct hs_buf;
int hs_exclude_encode(const struct hs_exclude *excl, struct hs_buf *b);
int hs_exclude_decode(struct hs_exclude **excl, const void *p, size_t n);

/* The matcher itself: '*', '?', '[...]', '**'. Exposed for tests. */
bool hs_glob_match(const char *pat, size_t plen, const char *str, size_t slen);

#endif
