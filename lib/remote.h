/*
 * A remote source: a tree on another host, pulled through `RSH HOST hardsnap
 * serve` (the protocol is in wire.h) and walked by the backup engine as a
 * tree like any other (tree.h).
 *
 * Opening it does the talking: the list arrives as a delta against the
 * list this store kept from the last pull and is rebuilt into a file, the
 * files the store does not hold (not in the previous snapshot by content,
 * not in the spool) are asked for at once, and their data is spooled under
 * .hardsnap/remote/spool/ by content hash. The engine then walks the rebuilt
 * list; content comes from the spool, from the store, or (rarely: the engine
 * wanted a file the list did not show changed) from the server on demand.
 * What was spooled before a connection dropped is not asked for again.
 *
 * Streaming (hs_remote_opts.stream): opening returns as soon as the root's
 * record is here, and the engine walks the list while the server is still
 * walking its tree, so a pull with little to fetch costs about what the
 * slower of the two walks costs, not their sum. The first file whose data
 * the engine needs makes the rest of the list come first (the server never
 * waits on the engine's copying), then the data phase; the walk reads on in
 * the list file.
 *
 * The server is not trusted: the list must be in walk order, each entry in
 * a directory the list named before, each path relative and plain (wire.h
 * checks the records), every size and count bounded; a bad list fails the
 * source, and nothing is written outside the new snapshot and the store's
 * own .hardsnap/remote.
 */
#ifndef HS_REMOTE_H
#define HS_REMOTE_H
#include "internal.h"

#include "tree.h"

#include <stdbool.h>
#include <stdint.h>

struct hs_exclude;

struct hs_remote_opts {
    const struct hs_source *src; /* host, path, rsh, hardsnap_path */
    unsigned timeout;
    bool one_fs, dry_run;
    bool checksum; /* every file hashed on the host (a full list) */
    /* The engine walks the list as it arrives, instead of after the whole
     * pull: a failure then comes in the middle of the walk, when the
     * source can no longer be carried forward. For a run's only source
     * (whose failure fails the run anyway). */
    bool stream;
    const struct hs_exclude *global, *own;
    const char *prefix;  /* "NAME/" of the source in the snapshot, or "" */
    int hsfd;            /* the store's .hardsnap (-1: a dry run without a store) */
    unsigned index;      /* the source's place in the run: st_dev is made unique with it */
    bool store_has_data; /* a previous snapshot to find content in: ask for hashes */
    const char *prev;    /* its name: the base list is used only if it is of that one */
    /* The store's file with this content, opened for reading, or -1. */
    int (*local_content)(void *user, const uint8_t hash[16], uint64_t size);
    /* The previous snapshot's file at a snapshot path, opened for reading,
     * or -1: a changed big file's base, of which only the changed blocks
     * are asked for (remote_blocks.h). */
    int (*prev_file)(void *user, const char *path, size_t len);
    int manifestsfd; /* its block map is there (-1: the bases are read) */
    void *user;
    /* A problem the server met (a directory that moved during its walk). */
    void (*warn)(void *user, int errnum, const char *what, const char *path);
    /* Set when opening failed because of the remote end (unreachable,
     * refused, dropped, a bad list), not of this store. */
    bool *remote_failed;
    /* Counters: bytes over the connection, files sent. */
    uint64_t *bytes_in, *bytes_out, *files_fetched;
    /* changed big files rebuilt from their blocks: count, size, bytes written */
    uint64_t *delta_files, *delta_bytes, *delta_written;
};

/* Connects, rebuilds the list, fetches what is wanted (streaming: only up
 * to the root's record): a tree positioned at its start, and root_st the
 * served root's stat. */
int hs_remote_open(struct hs_tree **t, const struct hs_remote_opts *o, struct stat *root_st,
                   struct hs_err *e);

/* After the snapshot holding this pull is published: the rebuilt list
 * becomes the base the next pull is a delta against (for as long as that
 * snapshot is the newest). */
void hs_remote_published(int hsfd, const struct hs_source *src, const char *snapshot);
/* A source carried forward from prev into snapshot: its base still holds. */
void hs_remote_carried(int hsfd, const struct hs_source *src, const char *prev,
                       const char *snapshot);
/* After a run whose every remote source arrived: nothing to resume. */
void hs_remote_spool_clear(int hsfd);

/* "[USER@]HOST:PATH" of a remote source, for messages (malloc'd). */
char *hs_remote_name(const struct hs_source *src);

#endif
