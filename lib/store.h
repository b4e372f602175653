/*
 * The snapshot store: DEST/ with complete snapshots under their UTC names,
 * `latest`, and DEST/.hardsnap/ for the tool's own data:
 *
 *   .hardsnap/lock                 flock()ed by every writer
 *   .hardsnap/partial/NAME/        a snapshot being built
 *   .hardsnap/partial/NAME.hsm     its manifest being written
 *   .hardsnap/manifests/NAME.hsm   manifests of complete snapshots
 *   .hardsnap/trash/               snapshots being deleted (prune), and
 *                                  unfinished trees recovery drops (partial.INODE)
 *
 * A snapshot is built under partial/, made durable, and renamed into DEST in
 * one step; `latest` is replaced by renaming a new symlink over it.
 */
#ifndef HS_STORE_H
#define HS_STORE_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define HS_STORE_DIR       ".hardsnap"
#define HS_MANIFEST_SUFFIX ".hsm"

struct hs_store {
    int destfd;      /* DEST */
    int hsfd;        /* DEST/.hardsnap */
    int partialfd;   /* DEST/.hardsnap/partial */
    int manifestsfd; /* DEST/.hardsnap/manifests */
    int lockfd;
    char *dest; /* as given, for messages */
};

enum hs_store_flags {
    HS_STORE_CREATE = 1u << 0, /* create DEST (parent must exist) and .hardsnap */
    HS_STORE_LOCK = 1u << 1,   /* take the lock; -EWOULDBLOCK (kind HS_LOCKED) if held */
};

/* A writer (CREATE or LOCK) refuses a DEST inside a snapshot or a .hardsnap
 * (a store copied into a snapshot is a copy, not a store), and CREATE a DEST
 * that is neither a store nor empty (HS_USAGE). */
int hs_store_open(struct hs_store *s, const char *dest, unsigned flags, struct hs_err *e);

/* Whether the directory fd lies inside a snapshot of a store, or inside a
 * store's .hardsnap (checked through ".." up to the root): whatever is
 * written there changes a snapshot. */
bool hs_store_in_snapshot(int fd);
void hs_store_close(struct hs_store *s);

/* Formats t (UTC) as a snapshot name into out[HS_SNAPSHOT_NAME_LEN + 1]. */
void hs_snapshot_name_format(time_t t, char *out);
/* Parses a snapshot name; -EINVAL if it is not one. */
int hs_snapshot_name_parse(const char *name, time_t *t);

/* Names of the complete snapshots in DEST, oldest first (malloc'ed array of
 * malloc'ed strings). */
int hs_store_list(const struct hs_store *s, char ***names, size_t *n, struct hs_err *e);
void hs_store_list_free(char **names, size_t n);

/* The manifest file name of a snapshot, e.g. "NAME.hsm", into out[64]. */
void hs_store_manifest_name(const char *name, char *out);

/* Moves partial/NAME to DEST/NAME and partial/NAME.hsm to manifests/, after
 * making both durable, and points latest at NAME if it is the newest. Never
 * replaces an existing DEST/NAME (-EEXIST). Once the snapshot is in place
 * the result is 0: what fails after that (syncing DEST, updating latest)
 * leaves its message in warn. */
int hs_store_publish(struct hs_store *s, const char *name, struct hs_err *e, struct hs_err *warn);

/* Points latest at the newest complete snapshot (or removes it if none). */
int hs_store_update_latest(struct hs_store *s, struct hs_err *e);

/* Deletes a snapshot: renamed out of sight into .hardsnap/trash/ in one
 * step and synced, then its manifest and the tree are removed. A kill in
 * between leaves the tree in the trash, which hs_store_empty_trash() empties
 * (the manifest of each name there first). Neither enters a mount point: a
 * tree with one in it stays in the trash, and each later emptying leaves the
 * mount alone again and names it (-EBUSY), until it is unmounted. A snapshot
 * that is itself a mount point stays in DEST. */
int hs_store_delete(struct hs_store *s, const char *name, struct hs_err *e);
int hs_store_empty_trash(struct hs_store *s, struct hs_err *e);

/* Finishes or clears what an interrupted run left (the trash included): publishes a partial tree
 * whose manifest is complete, drops manifests of snapshots that are gone, and
 * returns in resume (caller frees) the name of an unfinished partial tree
 * worth reusing, or NULL. Others are removed, through the trash. A trash
 * that cannot be emptied, or a tree that cannot be removed (a mount point in
 * it), is left in warn (if not NULL), not an error. */
int hs_store_recover(struct hs_store *s, char **resume, struct hs_err *e, struct hs_err *warn);

#endif
