/*
 * One directory's listing as the kernel gives it (getdents64): each name
 * with its inode number and type, sorted, for lookups by name. It tells
 * whether an entry is still the inode something recorded without a stat
 * per entry: the directory is read once, every name after is a binary
 * search.
 */
#ifndef HS_DIRLIST_H
#define HS_DIRLIST_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct hs_dirlist_ent {
    size_t off;         /* of the name in names */
    uint64_t ino;       /* d_ino */
    unsigned char type; /* d_type: DT_REG, DT_DIR, ..., DT_UNKNOWN */
};

struct hs_dirlist {
    char *names; /* NUL-terminated, back to back */
    size_t names_len, names_cap;
    struct hs_dirlist_ent *ents; /* sorted by name (strcmp) */
    size_t n, cap;
};

/* Reads the directory fd (not read before: from its start) into l
 * (reused). 0 or -errno. A name missing from a listing is no error:
 * hs_dirlist_is asks the filesystem then. */
int hs_dirlist_read(struct hs_dirlist *l, int fd);
/* The entry called name, or NULL. */
const struct hs_dirlist_ent *hs_dirlist_find(const struct hs_dirlist *l, const char *name);
void hs_dirlist_free(struct hs_dirlist *l);

/* Whether dirfd/name, listed in l (read from dirfd), is still the inode ino
 * with the d_type dtype. A listing that disagrees is asked again with
 * fstatat: some filesystems list other inode numbers than stat gives
 * (overlayfs), and a mismatch is rare enough to afford the call. */
bool hs_dirlist_is(const struct hs_dirlist *l, int dirfd, const char *name, uint64_t ino,
                   unsigned char dtype);

/* Whether the file system of fd keeps ctime itself (local ones: the kernel
 * sets it and no one else can); over NFS, CIFS or FUSE a cached or made-up
 * ctime could vouch for a directory that changed. */
bool hs_ctime_honest(int fd);

/* Whether the directory dirfd is unchanged since seal (a manifest's mtime;
 * {0}: never): no entry can have been added, removed or renamed in it
 * since, each of which moves its ctime, which no user can set. Strictly
 * older: timestamps are coarse (a clock tick, whole seconds on small ext4
 * inodes). */
bool hs_dir_sealed(int dirfd, const struct timespec *seal);

/*
 * A directory of a snapshot as a check of its manifest's records sees it
 * (backup's previous snapshot, diff): sealed (hs_dir_sealed, trusted whole)
 * or listed on first need.
 */
struct hs_dirview {
    struct hs_dirlist l;
    bool loaded, sealed;
};

/* Starts v over for the directory fd (-1: none) of a snapshot whose
 * manifest was written at seal. */
void hs_dirview_reset(struct hs_dirview *v, int fd, const struct timespec *seal);
/* Whether fd/name (fd: the one v was reset for) is still the inode ino with
 * the d_type dtype; for DT_DIR the type alone (a snapshot's directories are
 * its own inodes). */
bool hs_dirview_is(struct hs_dirview *v, int fd, const char *name, uint64_t ino,
                   unsigned char dtype);

/* The d_type of an st_mode's type, and of a manifest type (enum hs_ftype). */
unsigned char hs_dtype_of(unsigned mode);
unsigned char hs_dtype_of_ftype(unsigned ftype);

#endif
