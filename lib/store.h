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
#include <sys/stat.h>
#include <time.h>

#define HS_STORE_DIR       ".hardsnap"
#define HS_MANIFEST_SUFFIX ".hsm"
/* .hardsnap/stale/NAME: a source carried forward since "since=SNAPSHOT" */
#define HS_STALE_DIR "stale"

struct hs_store {
    int destfd;      /* DEST */
    int hsfd;        /* DEST/.hardsnap */
    int partialfd;   /* DEST/.hardsnap/partial */
    int manifestsfd; /* DEST/.hardsnap/manifests */
    int lockfd;
    char *dest;         /* as given, for messages */
    struct hs_err warn; /* what opening it for writing fixed or found unsafe */
};

enum hs_store_flags {
    HS_STORE_CREATE = 1u << 0, /* create DEST (parent must exist) and .hardsnap */
    HS_STORE_LOCK = 1u << 1,   /* take the lock; -EWOULDBLOCK (kind HS_LOCKED) if held */
    HS_STORE_ADOPT = 1u << 2,  /* with CREATE: DEST may hold anything (import --from) */
};

/* A writer (CREATE or LOCK) refuses a DEST inside a snapshot or a .hardsnap
 * (a store copied into a snapshot is a copy, not a store), and CREATE a DEST
 * that is neither a store nor empty (HS_USAGE). A new DEST is made 0700; as
 * root, a writer closes a DEST other users can enter (made 0700) and finds
 * a parent directory other users could replace it through: both said in
 * s->warn, for the caller to report. */
int hs_store_open(struct hs_store *s, const char *dest, unsigned flags, struct hs_err *e);

/* Whether the directory holds a snapshot of rsnapshot (INTERVAL.N) or an
 * rsync-time-backup marker: what import --from migrates (migrate.c). */
bool hs_migrate_candidate(int dirfd);

/* Whether st (DEST's) lets users other than its owner in. */
bool hs_store_dest_open(const struct stat *st);

/* Whether the directory fd lies inside a snapshot of a store, or inside a
 * store's .hardsnap (checked through ".." up to the root): whatever is
 * written there changes a snapshot. */
bool hs_store_in_snapshot(int fd);
void hs_store_close(struct hs_store *s);

/* hs_snapshot_name_format and hs_snapshot_name_parse: hardsnap.h */

/* How far a snapshot's name may be ahead of the clock before it counts as
 * named in the future: a clock that ran ahead and was set back, not the
 * drift of a few seconds. */
#define HS_FUTURE_SLACK (10 * 60)

/* Whether the snapshot name is later than the clock (the real one:
 * HARDSNAP_NOW may be set to the past on purpose) by more than the slack. */
bool hs_snapshot_in_future(const char *name);

/* HARDSNAP_NOW's value, checked: a snapshot name, not in the future (the
 * past is how old backups are imported). 0, or HS_USAGE in e. */
int hs_check_now(const char *now, struct hs_err *e);

/* The newest of the sorted names (n > 0) not named in the future: a store's
 * latest, and a backup's base. When every one is, the newest. */
size_t hs_snapshot_newest_current(char *const *names, size_t n);

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

/* Points latest at the newest complete snapshot not named in the future
 * (or removes it if there is none). */
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

/* Removes the unfinished tree (or file) partial/name, through the trash
 * (see hs_store_recover); what cannot go is left in warn (if not NULL). */
void hs_store_drop_partial(struct hs_store *s, const char *name, struct hs_err *warn);

/* "what: DEST/sub: why" (or ": strerror" when why is NULL) in e, for a
 * file of the store; returns -errnum. */
int hs_store_err_at(struct hs_err *e, int errnum, const char *dest, const char *sub,
                    const char *what, const char *why);

/* Whether a failure's errno means the store's filesystem is full (space,
 * inodes or quota). */
bool hs_store_full_errno(int err);

/* Space ran short: the trees of unfinished runs (partial/) give it back,
 * the one kept for resuming too, so the next run finds the room that run
 * had (a resume tree is worth a re-read, never a failed night). */
void hs_store_give_way(struct hs_store *s);

/* Finishes or clears what an interrupted run left (the trash included): publishes a partial tree
 * whose manifest is complete, drops manifests of snapshots that are gone, and
 * returns in resume (caller frees) the name of an unfinished partial tree
 * worth reusing, or NULL. Others are removed, through the trash. A trash
 * that cannot be emptied, or a tree that cannot be removed (a mount point in
 * it), is left in warn (if not NULL), not an error. */
int hs_store_recover(struct hs_store *s, char **resume, struct hs_err *e, struct hs_err *warn);

#endif
