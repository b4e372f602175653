/* What differs between two records of the same path (hs_diff). */
#ifndef HS_DIFF_H
#define HS_DIFF_H
#include "internal.h"

#include "manifest.h"

/*
 * enum hs_diff_what bits for a and b. Same snapshot inode: nothing. Content
 * compares hashes where both sides have one; where one side was read from a
 * live tree (no hash), equal size and mtime count as equal content, as
 * rsync's quick check does. Directories differ only in type, mode and owner
 * (their size and mtime follow their entries, which are compared anyway).
 */
unsigned hs_diff_records(const struct hs_mentry *a, const struct hs_mentry *b, bool same_store);

#endif
