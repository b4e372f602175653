/*
 * A workaround, not a feature: export refuses the directory trees that
 * libarchive's ISO 9660 writer crashes on (libarchive 3.6 here, and every
 * release up to this writing), before anything is written.
 *
 * ISO 9660 allows 8 directory levels; Rock Ridge moves deeper directories
 * to /rr_moved, where the writer keys them by name alone and crashes at
 * close (a NULL parent) when two of them share a name or /rr_moved already
 * holds that name (libarchive issue #1517, #2936), and when a moved tree
 * must be moved again, i.e. directories 14 levels deep (#3235).
 *
 * When to delete it (this file, export_iso.c, and the one call and the
 * member in export.c): once the oldest libarchive hardsnap builds against
 * writes those trees. libarchive's master has fixed the same-name case
 * since May 2026 (PR #2978, test in #2972; commit 35befb8c makes a failed
 * move an error, not a crash), but no release had it and #3235 was still
 * open. Check with t40_export_deep, which builds all three kinds of tree:
 * without the check its deep.iso, same.iso and rr.iso must then be written
 * (or refused by the writer itself), never crash.
 */
#ifndef HS_EXPORT_ISO_H
#define HS_EXPORT_ISO_H
#include "internal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* The names of the directories Rock Ridge will relocate (a set). */
struct hs_iso_guard {
    struct hs_iso_name **buckets;
    size_t nbuckets, count;
};

/* Checks the snapshot directory path (a member name, relative to the
 * archive's root), met in walk order: 0, or -ENOTSUP with err saying why
 * the tree cannot be an ISO image (marked HS_USAGE: nothing is written yet,
 * another format will do), or -ENOMEM. */
int hs_iso_guard_dir(struct hs_iso_guard *g, const char *path, struct hs_err *err);

void hs_iso_guard_free(struct hs_iso_guard *g);

/*
 * The image's root directory. libarchive's ISO writer (3.6.2) makes the
 * root itself, a "virtual" directory made when the format is set: mode
 * 0555, owner 0, the time of the export; it takes nothing from an entry for
 * "." (it ignores one). So the root's mode, owner and mtime would be lost
 * to a mount, xorriso, bsdtar.
 *
 * hs_iso_patch_root rewrites them in the image written to fd (read-write,
 * the writer closed): the Rock Ridge PX (mode, uid, gid; and the
 * link count, 2 + the root's subdirectories, where the writer says 2) and
 * TF (modify, access, attribute-change times) entries of every record that describes
 * the root (its "." and "..", the ".." of each directory in it, following
 * SUSP continuation areas), and the ISO 9660 recording date of those and
 * of the volume descriptors' root records, Joliet's too (no Rock Ridge
 * there). Sizes and places do not change. Returns 0; -EINVAL with err set
 * when fd is not an image laid out so (the image is then left as it was, or
 * part patched: still a valid image, a reader may see the writer's root);
 * -errno on I/O errors.
 *
 * When to delete it (and its call in export.c): once the oldest libarchive
 * hardsnap builds against takes the root's metadata from an entry named "."
 * (then export it as tar's "./"); t41_export_iso checks the root.
 */
int hs_iso_patch_root(int fd, const struct stat *st, struct hs_err *err);

#endif
