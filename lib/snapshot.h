/*
 * Reading snapshots: where a path given on the command line points
 * (DEST/NAME, DEST/latest, either followed by a path inside the snapshot),
 * and its entries in walk order, from the manifest when it has a trustworthy
 * one, else by walking the tree (also used for live directories).
 */
#ifndef HS_SNAPSHOT_H
#define HS_SNAPSHOT_H
#include "internal.h"

#include "buf.h"
#include "manifest.h"
#include "store.h"
#include <stdbool.h>

struct hs_snapref {
    char *dest;                          /* the store's directory, as given */
    char name[HS_SNAPSHOT_NAME_LEN + 1]; /* the snapshot ("latest" resolved); "" = not one */
    char *sub;                           /* path inside the snapshot, "" = all of it */
    char *dir;                           /* the directory to read: DEST/NAME/sub or as given */
};

/* Where arg points: the leftmost component that is a snapshot name or
 * "latest" in a directory holding .hardsnap/ makes it a snapshot; the rest
 * is the path inside it. -EINVAL (kind HS_USAGE) if arg is in no store and
 * !allow_plain; with allow_plain, any directory is accepted as it is. */
int hs_snapref_resolve(struct hs_snapref *ref, const char *arg, bool allow_plain, struct hs_err *e);
void hs_snapref_free(struct hs_snapref *ref);

/* Opens the snapshot directory ref->dest/ref->name (not the sub path). */
int hs_snapref_open_root(const struct hs_snapref *ref, struct hs_err *e);

/* The manifest of ref's snapshot, checked against the snapshot directory's
 * inode (a manifest never describes a tree made since by other means):
 * 1 and *r opened after the root record (copied to root if not NULL), 0
 * when there is none that can be trusted. */
int hs_snapref_manifest(const struct hs_snapref *ref, struct hs_manifest_reader **r,
                        struct hs_mentry_copy *root, struct hs_err *e);

/* A snapshot, or one path in it, opened to be read whole (restore, export). */
struct hs_snapsrc {
    struct hs_snapref ref;
    int root;             /* the snapshot's root directory */
    int parent;           /* the directory holding PATH; -1: the whole snapshot */
    char *leaf;           /* PATH's last component; NULL: the whole snapshot */
    struct stat leaf_st;  /* PATH, or the snapshot root */
    struct stat store_st; /* DEST */
    char *disp;           /* where the walk's paths are, for messages */
    size_t mprefix_len;   /* bytes of ref.sub before the leaf: the manifest's paths */
    bool whole;
    struct hs_manifest_reader *mr; /* its trusted manifest, while loaded */
    struct hs_buf mpath;           /* a path looked up in it */
};

/* Opens arg (SNAPSHOT[/PATH]); a path not in the snapshot is HS_USAGE.
 * hs_snapsrc_close even on failure. */
int hs_snapsrc_open(struct hs_snapsrc *src, const char *arg, struct hs_err *e);
void hs_snapsrc_close(struct hs_snapsrc *src);

/* What writing into the directory fd would harm: "the store" (src's),
 * "a snapshot of a store" (any), or NULL when neither. */
const char *hs_snapsrc_forbidden(const struct hs_snapsrc *src, int fd);

/* Loads (if it has one to trust) or drops the snapshot's manifest. */
void hs_snapsrc_load_manifest(struct hs_snapsrc *src);
void hs_snapsrc_drop_manifest(struct hs_snapsrc *src);

/* How many names the snapshot inode of path (relative to the walk, its stat
 * st) can have in what is read: the source's count from the manifest when
 * loaded, which other snapshots sharing the inode do not inflate, else
 * st_nlink (an upper bound). */
uint64_t hs_snapsrc_names(struct hs_snapsrc *src, const char *path, size_t len,
                          const struct stat *st);

struct hs_walk;
/* A walk of the snapshot, or of PATH (a directory), named "" or PATH's last
 * component at depth 0. */
int hs_snapsrc_walk(const struct hs_snapsrc *src, struct hs_walk **w, struct hs_err *e);

struct hs_snapiter;

typedef void (*hs_snapiter_warn_fn)(const char *msg, void *user);

/* Iterates the entries under ref (root first, as path ""; paths relative to
 * ref->dir), in walk order. walk forces reading the tree. Unreadable parts
 * of a tree are reported through warn and skipped. */
int hs_snapiter_open(struct hs_snapiter **it, const struct hs_snapref *ref, bool walk,
                     hs_snapiter_warn_fn warn, void *user, struct hs_err *e);
/* 1 and *m (valid until the next call), 0 at the end, <0 on failure. */
int hs_snapiter_next(struct hs_snapiter *it, const struct hs_mentry **m, struct hs_err *e);
/* Whether entries come from a manifest (with content hashes). */
bool hs_snapiter_from_manifest(const struct hs_snapiter *it);
/* Whether the current entry was taken from the tree because the tree no
 * longer holds what its manifest record says (a warning said so); a regular
 * file's content is then hashed from the tree. */
bool hs_snapiter_reread(const struct hs_snapiter *it);
/* The content hash of the current entry of a walked tree (a regular file):
 * 0 or -errno. */
int hs_snapiter_hash_current(struct hs_snapiter *it, uint8_t hash[16]);
/* From now on, the extended attributes (ACLs included) of each non-directory
 * read from the tree are hashed into its record (HS_ME_XATTR), as a backup
 * records them: all of them as root, else those a user can set. */
void hs_snapiter_want_xattrs(struct hs_snapiter *it);
/* Whether the current record's xattr hash says what the entry holds: a
 * manifest's record of a non-directory, or one read from the tree with
 * hs_snapiter_want_xattrs whose attributes could be read. */
bool hs_snapiter_xattrs_known(const struct hs_snapiter *it);
void hs_snapiter_free(struct hs_snapiter *it);

#endif
