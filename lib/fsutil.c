#include "fsutil.h"
#include "buf.h"
#include "dirstack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int hs_open_dir(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

bool hs_stat_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int hs_open_dir_beneath(int rootfd, const char *relpath, size_t len)
{
    int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char name[NAME_MAX + 1];
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && relpath[j] != '/')
            j++;
        if (j - i > NAME_MAX) {
            close(fd);
            return -ENAMETOOLONG;
        }
        if (j > i) {
            memcpy(name, relpath + i, j - i);
            name[j - i] = '\0';
            int next = hs_open_dir(fd, name);
            int err = errno;
            close(fd);
            if (next < 0)
                return -err;
            fd = next;
        }
        i = j + 1;
    }
    return fd;
}

int hs_link_beneath(int rootfd, const char *relpath, size_t len, int dirfd, const char *name)
{
    if (len < PATH_MAX) {
        if (linkat(rootfd, relpath, dirfd, name, 0) == 0)
            return 0;
        if (errno != ENAMETOOLONG)
            return -errno;
    }
    /* Deeper than the kernel resolves in one go: open the parent by parts. */
    size_t slash = len;
    while (slash > 0 && relpath[slash - 1] != '/')
        slash--;
    int parent = slash ? hs_open_dir_beneath(rootfd, relpath, slash - 1) : dup(rootfd);
    if (parent < 0)
        return slash ? parent : -errno;
    int r = linkat(parent, relpath + slash, dirfd, name, 0) == 0 ? 0 : -errno;
    close(parent);
    return r;
}

int hs_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

ssize_t hs_read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

void hs_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- removal --------------------------------------------------------- */

/*
 * Removing a tree iteratively: a stack of open directories; in each, unlink
 * what is not a directory and descend into what is; a directory is removed
 * from its parent once it is empty. Never follows a symlink (O_NOFOLLOW) and
 * never leaves the filesystem of the top directory.
 */
struct rm_state {
    struct hs_dirstack dirs;
    struct hs_buf names; /* names of the directories on the stack, NUL-separated */
    dev_t dev;
    int first_err;
    struct hs_err *e;
};

static void rm_fail(struct rm_state *s, int err, const char *what, const char *name)
{
    if (!s->first_err) {
        s->first_err = -err;
        hs_err_path(s->e, err, what, name);
    }
}

/* Unlinks the non-directories of fd; returns the name of the first
 * subdirectory (malloc'ed) or NULL when none is left. */
static char *rm_scan(struct rm_state *s, int fd)
{
    char buf[32768];
    if (lseek(fd, 0, SEEK_SET) < 0)
        return NULL;
    for (;;) {
        ssize_t n = getdents64(fd, buf, sizeof buf);
        if (n <= 0) {
            if (n < 0)
                rm_fail(s, errno, "cannot read directory", NULL);
            return NULL;
        }
        for (ssize_t off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
                continue;
            if (d->d_type == DT_DIR || d->d_type == DT_UNKNOWN) {
                struct stat st;
                if (fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
                    if (st.st_dev != s->dev) {
                        rm_fail(s, EXDEV, "not removing a mount point", nm);
                        continue;
                    }
                    return strdup(nm);
                }
            }
            if (unlinkat(fd, nm, 0) < 0 && errno != ENOENT)
                rm_fail(s, errno, "cannot remove", nm);
        }
    }
}

int hs_remove_tree(int dirfd, const char *name, struct hs_err *e)
{
    struct rm_state s = {.e = e};
    struct stat st;
    int fd = hs_open_dir(dirfd, name);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(dirfd, name, 0) == 0 ? 0 : hs_err_path(e, errno, "cannot remove", name);
        return hs_err_path(e, errno, "cannot open", name);
    }
    if (fstat(fd, &st) < 0) {
        close(fd);
        return hs_err_path(e, errno, "cannot stat", name);
    }
    s.dev = st.st_dev;
    hs_dirstack_push(&s.dirs, fd, NULL);
    while (hs_dirstack_depth(&s.dirs) > 0) {
        int top = hs_dirstack_top(&s.dirs);
        char *sub = rm_scan(&s, top);
        if (sub) {
            int cfd = hs_open_dir(top, sub);
            if (cfd < 0 || hs_dirstack_push(&s.dirs, cfd, e) < 0) {
                rm_fail(&s, errno, "cannot open", sub);
                free(sub);
                break;
            }
            hs_buf_append(&s.names, sub, strlen(sub) + 1);
            free(sub);
            continue;
        }
        /* empty now (or failing): remove it from its parent */
        if (hs_dirstack_pop(&s.dirs, name, e) < 0) {
            if (!s.first_err)
                s.first_err = -ESTALE;
            break;
        }
        if (hs_dirstack_depth(&s.dirs) == 0)
            break;
        size_t end = s.names.len - 1, start = end;
        while (start > 0 && s.names.data[start - 1] != '\0')
            start--;
        if (unlinkat(hs_dirstack_top(&s.dirs), s.names.data + start, AT_REMOVEDIR) < 0) {
            rm_fail(&s, errno, "cannot remove", s.names.data + start);
            break; /* would loop on the same directory */
        }
        hs_buf_truncate(&s.names, start);
    }
    hs_dirstack_free(&s.dirs);
    hs_buf_free(&s.names);
    if (!s.first_err && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rm_fail(&s, errno, "cannot remove", name);
    return s.first_err;
}
