/* Small fd-relative filesystem helpers shared by the modules. */
#ifndef HS_FSUTIL_H
#define HS_FSUTIL_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The directory part of a relative path of len bytes, as a length: "a/b/c"
 * gives 2 ("a/b"), "c" gives 0 (the root it is relative to). */
static inline size_t hs_path_dir_len(const char *p, size_t len)
{
    const char *slash = memrchr(p, '/', len);
    return slash ? (size_t)(slash - p) : 0;
}

/* Its last component: "a/b/c" gives "c", "c" itself; it runs to p + len. */
static inline const char *hs_path_base(const char *p, size_t len)
{
    const char *slash = memrchr(p, '/', len);
    return slash ? slash + 1 : p;
}

/* The directory holding the last component of the first len bytes of path,
 * to open or to name: "a/b" gives "a", "/a" gives "/", "a" gives "."; a
 * fresh string, NULL when out of memory. */
char *hs_path_dirname(const char *path, size_t len);

/* openat(dirfd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC): -1/errno. */
int hs_open_dir(int dirfd, const char *name);

/* hs_open_dir, and the fstat of what it opened into st: the fd or -errno. */
int hs_open_dir_stat(int dirfd, const char *name, struct stat *st);

/* Opens the file dirfd/name to read its data: never through a symlink,
 * never waiting (a fifo swapped in since it was seen opens, and is then no
 * regular file to the caller's fstat), and with O_NOATIME where the owner
 * allows, so reading a tree leaves its atimes alone. -1 with errno. */
int hs_open_file_read(int dirfd, const char *name);

/* Opens the directory relpath below rootfd one component at a time with
 * O_NOFOLLOW, for paths of any length. Returns the fd or -errno. */
int hs_open_dir_beneath(int rootfd, const char *relpath, size_t len);

/*
 * Opens the directory path names (O_RDONLY), resolving it one component at a
 * time and following a symlink on the way only if it is root's or ours: one
 * that another user planted (in a directory of hers on the way) would lead
 * a command run as root wherever she likes. Returns the fd; -ENOENT when
 * only the last component is missing, with *parent (an fd of the directory
 * that would hold it, to close) and last (NAME_MAX + 1 bytes) set; -EPERM
 * (kind HS_USAGE in e, naming the symlink) for another user's symlink; other
 * -errno (e untouched).
 */
int hs_open_dir_trusted(const char *path, int *parent, char *last, struct hs_err *e);

/* Whether a failed linkat() should become a copy: too many links, another
 * filesystem, no hard links at all, or the name to link is gone (deleted by
 * hand from a snapshot). */
bool hs_link_fallback(int err);

/* Writes all n bytes or returns -errno. */
int hs_write_all(int fd, const void *buf, size_t n);

/* Writes all n bytes at offset off or returns -errno. */
int hs_pwrite_all(int fd, const void *buf, size_t n, off_t off);

/* Reads up to n bytes, retrying short reads; returns bytes read or -errno. */
ssize_t hs_read_full(int fd, void *buf, size_t n);
/* The same at offset off (the file position unchanged). */
ssize_t hs_pread_full(int fd, void *buf, size_t n, off_t off);

/* Removes dirfd/name and everything below it without following symlinks,
 * entering a mount point (a bind mount of the same filesystem included) or
 * leaving the filesystem; iterative, fd-relative. What it leaves alone is an
 * error naming the path ("not removing a mount point: PATH", -EBUSY). Goes
 * on after errors and returns the first. */
int hs_remove_tree(int dirfd, const char *name, struct hs_err *e);

/* The same, with messages naming paths as WHERE/name/... */
int hs_remove_tree_in(int dirfd, const char *name, const char *where, struct hs_err *e);

/* Whether dirfd/name is a mount point (of a directory or of a file). */
bool hs_is_mount_point(int dirfd, const char *name);

/* Whether the directory or file path has a parent another user could
 * rename it in (owned by someone but root, or writable by group or others
 * without the sticky bit): the first such parent into bad (PATH_MAX bytes),
 * or "" for none. */
void hs_parent_unsafe(const char *path, char *bad);

/*
 * Opens a file that steers a run (a config file, an exclude list) for
 * reading, never waiting on a fifo. Run as root, it refuses, as cron, sudo
 * and logrotate do, a file another user could have written: owned by
 * someone but root, writable by group or others, or in a directory another
 * user can write (not sticky). Returns the fd, or <0 with e ("what: path",
 * kind HS_USAGE).
 */
int hs_open_steering_file(const char *path, const char *what, struct hs_err *e);

bool hs_stat_same_file(const struct stat *a, const struct stat *b);

/* Whether the directory fd is outer or below it (climbing by "..", up to /). */
bool hs_dir_within(int fd, const struct stat *outer);

/* Seconds on the monotonic clock: for durations and pacing, never a date. */
double hs_monotonic_seconds(void);

#endif
