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

/* The matcher itself: '*', '?', '[...]', '**'. Exposed for tests. */
bool hs_glob_match(const char *pat, size_t plen, const char *str, size_t slen);

#endif
