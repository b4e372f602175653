/*
 * The backup engine's private state, shared by backup.c (the run: setup,
 * the walk, directories, publication) and backup_entry.c (what happens to
 * each file, symlink or special file: link, copy, or join a group).
 */
#ifndef HS_ENGINE_H
#define HS_ENGINE_H
#include "internal.h"

#include "blockhash.h"
#include "blockmap.h"
#include "buf.h"
#include "copy.h"
#include "delta.h"
#include "dirlist.h"
#include "dirstack.h"
#include "exclude.h"
#include "flusher.h"
#include "inomap.h"
#include "linktab.h"
#include "manifest.h"
#include "report.h"
#include "store.h"
#include "tree.h"
#include "walk.h"
#include "writer.h"
#include "xattr.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

/* The source file that linked a multi-name snapshot inode (claims). */
struct claim {
    uint64_t dev, ino;
};

struct source_ctx {
    const struct hs_source *src;
    struct hs_tree *tree; /* while it is walked */
    struct hs_exclude *exclude;
    size_t prefix_len; /* bytes of "NAME/" before source-relative paths */
    dev_t dev;         /* of the source root, for -x */
    bool failed;       /* a remote source that could not be pulled: carried forward */
    bool skipped;      /* its before hook said not now (75): carried forward, not a failure */
    char *hook_path;   /* what its before hook said to back up in place of its path */
    struct hs_backup_stats stats; /* its own counts */
};

struct engine {
    const struct hs_backup_opts *o;
    struct hs_backup_stats *st;
    struct hs_err *err;
    bool dry_run, checksum, one_fs, root;

    struct hs_store store;
    bool have_store;
    char name[HS_SNAPSHOT_NAME_LEN + 1];
    char prev_name[HS_SNAPSHOT_NAME_LEN + 1];
    char *resume;
    struct hs_writer wr; /* the new snapshot's tree */
    long link_max;       /* names an inode may have on DEST's filesystem */
    struct hs_dirstack prevdirs, resumedirs;
    struct hs_dirview *prevviews; /* the previous snapshot's directories on the branch */
    size_t prevviews_cap;
    struct hs_manifest_reader *mr; /* previous manifest; NULL: compare files */
    bool have_prev;
    uint64_t prev_root_ino;      /* of the previous snapshot, if its manifest is trusted */
    struct timespec prev_sealed; /* its manifest's mtime: a directory of it changed no
                                    later has the entries the manifest names */
    struct hs_cindex *cindex;    /* its content index, opened on first need */
    int cindex_state;            /* 0 not tried, 1 open, -1 not available */
    int prevrootfd;              /* the previous snapshot, for content links (-1) */
    struct hs_inomap dedup;      /* --dedup: this run's copies by hash (dedup_val) */
    bool no_reflink;             /* FICLONE failed once: the store cannot share extents */
    /* why the current file, found unchanged, could not be linked (for
     * another reason than a link limit): 0 it could, > 0 linkat's errno,
     * LINK_MISSED_*; and the first such file's path and reason */
    int link_missed;
    char *first_unlinked;
    int first_unlinked_why;
    /* the current file's hash, when a check already read it */
    bool src_hashed;
    uint8_t src_hash[16];
    uint64_t src_xattr_hash;
    struct hs_buf dedup_paths;
    struct hs_manifest_writer *mw;
    /* block maps (backup_blocks.c): the previous snapshot's, read in step,
     * and this run's; the current file's record in the previous one and
     * the inode its manifest record names */
    struct hs_blockmap_reader *br;
    struct hs_blockmap_writer *bw;
    const struct hs_bmentry *prev_bm;
    uint64_t prev_sino;
    struct hs_blockhash bh;
    bool bh_ready;
    struct hs_linktab *links;   /* source hard-link groups */
    struct hs_inomap claims;    /* multi-name snapshot inodes linked this run */
    struct hs_exclude *exclude; /* global patterns */
    struct hs_copier copier;
    struct hs_flusher flusher;
    struct hs_xattrs xa;
    struct hs_buf target;
    struct stat dest_st;
    bool have_dest_st;

    size_t n_failed;     /* remote sources that could not be pulled */
    char *failed_msg;    /* the first one's error */
    struct hs_buf stale; /* their names, comma-separated */
    struct source_ctx *cur;
    struct source_ctx *sources; /* all of them, in walk order */
    size_t n_sources;
    struct hs_mentry rec;
    struct hs_report rep;
};

enum {
    LINK_MISSED_NO_DIR = -1,   /* its directory in the previous snapshot cannot be opened */
    LINK_MISSED_REPLACED = -2, /* the previous snapshot's file is not the one recorded */
};

enum {
    NOTICE_DEST_INSIDE = 1u << 1,
    NOTICE_MANIFEST = 1u << 3,
    NOTICE_CINDEX = 1u << 4,
    NOTICE_OLDER = 1u << 5,
    NOTICE_BLOCKMAP = 1u << 6,
    NOTICE_REPLICA_WALK = 1u << 7,
};

/* The top directory fd of each tree on the current branch (-1: absent). */
static inline int new_top(const struct engine *g)
{
    return hs_writer_top(&g->wr);
}

static inline int prev_top(const struct engine *g)
{
    return hs_dirstack_top(&g->prevdirs);
}

static inline int resume_top(const struct engine *g)
{
    return hs_dirstack_top(&g->resumedirs);
}

/* Whether the previous snapshot's entry name (in the directory on top of
 * the branch) is still the inode sino of the manifest type ftype. */
bool hs_eng_prev_is(struct engine *g, const char *name, uint64_t sino, unsigned ftype);

/* Whether the source file is itself the store's inode sino (a user linked
 * her file to its snapshot copy): linking it would let her writes change
 * every snapshot. Said in a warning when so. */
bool hs_eng_source_is_store_inode(struct engine *g, const struct hs_walk_item *it, uint64_t sino);

/* A per-entry problem (about path): reported and counted, the run goes on.
 * Returns 0. Events go through g->rep (report.h). */
int hs_eng_warn(struct engine *g, int errnum, const char *what, const char *path);
/* A problem with the new snapshot itself: the run fails. Returns -errnum. */
int hs_eng_fail_new(struct engine *g, int errnum, const char *what, const char *path);

/* The new manifest's record of the current entry: started from a stat,
 * completed by whoever links or copies, written in walk order. */
void hs_eng_rec_start(struct engine *g, const char *path, size_t len, const struct stat *st);
int hs_eng_rec_put(struct engine *g);

/* Metadata of new objects: xattrs read into g->xa (from the source), then
 * owner, xattrs, mode, times set by the writer (hs_writer_meta). */
void hs_eng_source_xattrs(struct engine *g, const struct hs_walk_item *it, int fd);
int hs_eng_apply_meta(struct engine *g, struct hs_xobj o, const struct stat *st,
                      const struct stat *now, const char *path);

/* backup_entry.c: one non-directory of the walk. HS_DONE or <0 (fatal). */
int hs_eng_nondir(struct engine *g, const struct hs_walk_item *it);

/* Shared by backup_entry.c and backup_content.c. */
/* The source's regular file it, opened through its tree (see hs_tree_ops):
 * an fd, or <0 after a warning saying why. */
int hs_eng_open_source(struct engine *g, const struct hs_walk_item *it, struct stat *st);
/* The source file it hashed (content, stat, xattrs as hs_eng_hash_file). */
int hs_eng_hash_source(struct engine *g, const struct hs_walk_item *it, uint8_t hash[16],
                       struct stat *st, uint64_t *xh);
int hs_eng_hash_file(struct engine *g, int dirfd, const char *name, const char *path,
                     uint8_t hash[16], struct stat *st, uint64_t *xh);
bool hs_eng_changed_while_read(const struct stat *a, const struct stat *b);
/* HS_DONE: ours to link; HS_NO_LINK: another source file has it; <0. */
int hs_eng_claim_inode(struct engine *g, uint64_t sino, const struct stat *src);
/* Whether another source file of this run has claimed snapshot inode sino
 * (never with --dedup): known from memory, before any file is looked at. */
bool hs_eng_claimed_by_other(const struct engine *g, const struct hs_walk_item *it, uint64_t sino);
void hs_eng_rec_linked(struct engine *g, const struct stat *inode, const uint8_t hash[16],
                       uint64_t xh);

/* backup_content.c: a regular file with no match at its path, linked to the
 * same content elsewhere in the previous snapshot (not tried_ino, the inode
 * its path had): HS_DONE linked, HS_NO_LINK not, <0. */
int hs_eng_link_by_content(struct engine *g, const struct hs_walk_item *it, uint64_t tried_ino);
/* Whether this file's content is looked up after copying it (rather than
 * hashed first): the source is read once either way. */
bool hs_eng_content_copy_first(const struct engine *g, bool same_size_before);
/* The lookup after a copy: the copy replaced by a link. HS_DONE linked,
 * HS_NO_LINK not, <0. */
int hs_eng_content_after_copy(struct engine *g, const struct hs_walk_item *it,
                              const struct stat *st, uint64_t tried_ino);
/* --dedup: after a copy, an earlier copy of this run with the same content
 * and metadata takes its place (one inode). HS_DONE or <0. */
int hs_eng_dedup_copy(struct engine *g, const struct hs_walk_item *it);
void hs_eng_content_free(struct engine *g);
/* A file of the previous snapshot with this content, opened for reading,
 * or -1: where a remote source's changed file may come from instead of the
 * wire. */
int hs_eng_open_content(struct engine *g, const uint8_t hash[16], uint64_t size);
/* The previous snapshot's regular file at a snapshot path, opened for
 * reading (no symlink followed), or -1: a remote file's base. */
int hs_eng_prev_file(struct engine *g, const char *path, size_t len);

/* backup_blocks.c: the block maps. Opened once the previous manifest is
 * (0 or -ENOMEM); finished before publication; freed with the engine. */
int hs_eng_blocks_open(struct engine *g);
int hs_eng_blocks_finish(struct engine *g);
void hs_eng_blocks_free(struct engine *g);
/* The previous snapshot's block map record of it, if m (its manifest
 * record there) has one that describes m's content: into g->prev_bm. */
void hs_eng_blocks_lookup(struct engine *g, const struct hs_walk_item *it,
                          const struct hs_mentry *m);
/* It was linked unchanged: its record carried over. */
void hs_eng_blocks_carry(struct engine *g);
/* The hasher a copy of a file of this size fills for its record, or NULL. */
struct hs_blockhash *hs_eng_blocks_want(struct engine *g, const struct stat *st);
/* It was copied (g->rec.hash set): its record, from the hasher. */
void hs_eng_blocks_put(struct engine *g, const struct hs_walk_item *it);
/* Copies sfd into the empty dfd as a clone of the previous version with
 * only the changed blocks written: 0, HS_DELTA_PLAIN (dfd untouched: copy
 * it) or <0 as hs_copy_delta. */
int hs_eng_delta_copy(struct engine *g, const struct hs_walk_item *it, int sfd, int dfd,
                      const struct stat *st, uint64_t *written);

#endif
