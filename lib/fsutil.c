#include "fsutil.h"
#include "buf.h"
#include "dirstack.h"
#include "meta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

char *hs_path_dirname(const char *path, size_t len)
{
    size_t d = hs_path_dir_len(path, len);
    if (d == 0)
        return strdup(len && path[0] == '/' ? "/" : ".");
    return strndup(path, d);
}

int hs_open_dir(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int hs_open_dir_stat(int dirfd, const char *name, struct stat *st)
{
    int fd = hs_open_dir(dirfd, name);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int hs_open_file_read(int dirfd, const char *name)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    int fd = openat(dirfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM) /* O_NOATIME needs the owner or CAP_FOWNER */
        fd = openat(dirfd, name, flags);
    return fd;
}

bool hs_stat_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

bool hs_dir_within(int fd, const struct stat *outer)
{
    int cur = dup(fd);
    bool found = false;
    while (cur >= 0) {
        struct stat st, up;
        if (fstat(cur, &st) < 0)
            break;
        if (hs_stat_same_file(&st, outer)) {
            found = true;
            break;
        }
        int parent = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(cur);
        cur = parent;
        if (cur < 0 || fstat(cur, &up) < 0 || hs_stat_same_file(&up, &st))
            break; /* the root is its own parent */
    }
    if (cur >= 0)
        close(cur);
    return found;
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

/* Symlinks followed in one resolution at most, as the kernel's MAXSYMLINKS. */
#define TRUSTED_MAX_LINKS 40

struct resolve {
    struct hs_buf rest; /* what is left to resolve */
    size_t pos;
    struct hs_buf where; /* the directory reached, for messages */
    int fd;              /* O_PATH of it */
    int links;
    bool last_was_link; /* the path's last component is a symlink: a missing
                           target is an error, never made (as mkdir(2)) */
};

static int resolve_restart(struct resolve *rs, bool absolute)
{
    int fd = openat(AT_FDCWD, absolute ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (rs->fd >= 0)
        close(rs->fd);
    rs->fd = fd;
    hs_buf_truncate(&rs->where, 0);
    return hs_buf_puts(&rs->where, absolute ? "/" : "");
}

static void where_push(struct resolve *rs, const char *name, size_t n)
{
    if (rs->where.len && rs->where.data[rs->where.len - 1] != '/')
        hs_buf_putc(&rs->where, '/');
    hs_buf_append(&rs->where, name, n);
}

static bool ours(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* A symlink is trusted when it is root's (or ours) and sits in a directory
 * no one else can change: one of root's that a user renamed into her own
 * directory (a restore left it there) would lead anywhere too. */
static bool trusted_link(int dirfd, const struct stat *link)
{
    struct stat dir;
    return ours(link->st_uid) && fstat(dirfd, &dir) == 0 && ours(dir.st_uid) &&
           (!(dir.st_mode & 022) || (dir.st_mode & S_ISVTX));
}

/* The symlink cfd (O_PATH) at name: its text goes in front of what is left. */
static int follow(struct resolve *rs, int cfd, const struct stat *st, const char *name, size_t n,
                  size_t end, struct hs_err *e)
{
    if (!trusted_link(rs->fd, st)) {
        where_push(rs, name, n);
        hs_err_path_why(e, EPERM, "not following a symlink", rs->where.data ? rs->where.data : name,
                        "another user owns it or its directory (name the real path)");
        hs_err_kind(e, HS_USAGE);
        return -EPERM;
    }
    if (++rs->links > TRUSTED_MAX_LINKS)
        return -ELOOP;
    char target[PATH_MAX];
    ssize_t len = readlinkat(cfd, "", target, sizeof target);
    if (len < 0)
        return -errno;
    if ((size_t)len >= sizeof target)
        return -ENAMETOOLONG;
    struct hs_buf rest = {0};
    int r = hs_buf_append(&rest, target, (size_t)len);
    if (r == 0)
        r = hs_buf_putc(&rest, '/');
    if (r == 0)
        r = hs_buf_append(&rest, rs->rest.data + end, rs->rest.len - end);
    if (r < 0) {
        hs_buf_free(&rest);
        return r;
    }
    hs_buf_free(&rs->rest);
    rs->rest = rest;
    rs->pos = 0;
    return target[0] == '/' ? resolve_restart(rs, true) : 0;
}

/* One step: 1 done, 0 go on, <0 error (-ENOENT of the last component: the
 * caller's *parent and last are set). */
static int resolve_step(struct resolve *rs, int *parent, char *last, struct hs_err *e)
{
    const char *p = rs->rest.data;
    while (rs->pos < rs->rest.len && p[rs->pos] == '/')
        rs->pos++;
    if (rs->pos >= rs->rest.len)
        return 1;
    size_t at = rs->pos, end = at;
    while (end < rs->rest.len && p[end] != '/')
        end++;
    size_t n = end - at, after = end;
    while (after < rs->rest.len && p[after] == '/')
        after++;
    bool is_last = after >= rs->rest.len;
    rs->pos = end;
    if (n == 1 && p[at] == '.')
        return 0;
    if (n > NAME_MAX)
        return -ENAMETOOLONG;
    char name[NAME_MAX + 1];
    memcpy(name, p + at, n);
    name[n] = '\0';
    int cfd = openat(rs->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0) {
        int err = errno;
        if (err == ENOENT && is_last && !rs->last_was_link && strcmp(name, "..") != 0) {
            *parent = openat(rs->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (*parent < 0)
                return -errno;
            memcpy(last, name, n + 1);
        }
        return -err;
    }
    struct stat st;
    int r = fstat(cfd, &st) < 0 ? -errno : 0;
    if (r == 0 && S_ISLNK(st.st_mode)) {
        rs->last_was_link |= is_last;
        r = follow(rs, cfd, &st, name, n, end, e);
    } else if (r == 0 && !S_ISDIR(st.st_mode))
        r = -ENOTDIR;
    if (r < 0 || S_ISLNK(st.st_mode)) {
        close(cfd);
        return r;
    }
    close(rs->fd);
    rs->fd = cfd;
    where_push(rs, name, n);
    return 0;
}

int hs_open_dir_trusted(const char *path, int *parent, char *last, struct hs_err *e)
{
    struct resolve rs = {.fd = -1};
    *parent = -1;
    if (!*path)
        return -ENOENT; /* as open(2) */
    int r = hs_buf_puts(&rs.rest, path);
    if (r == 0)
        r = resolve_restart(&rs, path[0] == '/');
    while (r == 0)
        r = resolve_step(&rs, parent, last, e);
    int fd = r == 1 ? openat(rs.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : r;
    if (r == 1 && fd < 0)
        fd = -errno;
    if (rs.fd >= 0)
        close(rs.fd);
    hs_buf_free(&rs.rest);
    hs_buf_free(&rs.where);
    return fd;
}

bool hs_link_fallback(int err)
{
    return err == EMLINK || err == EXDEV || err == EPERM || err == ENOENT;
}

int hs_pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        p += k, off += k, n -= (size_t)k;
    }
    return 0;
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

ssize_t hs_pread_full(int fd, void *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* ---- removal --------------------------------------------------------- */

/*
 * Removing a tree iteratively: one pass over each directory unlinks what is
 * not a directory and collects the names of the subdirectories, which are
 * then removed one after the other, depth first, with the fds held by an
 * hs_dirstack (any depth). Never follows a symlink (O_NOFOLLOW), never
 * enters a mount point or another filesystem, and makes our own read-only
 * directories writable first, since a snapshot keeps its source's modes.
 *
 * A bind mount of the same filesystem has the same st_dev: a mount point is
 * what the kernel says is the root of a mount (STATX_ATTR_MOUNT_ROOT) or on
 * another mount (STATX_MNT_ID), asked of the fd that was opened, so that no
 * rename after the listing can slip one in; only where the kernel tells
 * neither (before Linux 5.8) is another st_dev all there is to go by.
 */
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x2000
#endif
/* glibc takes struct statx from <linux/stat.h>; stx_mnt_id is there from 5.8 */
#if defined(_LINUX_STAT_H) && defined(__has_include)
#if __has_include(<linux/version.h>)
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 8, 0)
#define HS_HAVE_MNT_ID 1
#endif
#endif
#endif

struct rm_id {
    dev_t dev;
    uint64_t mnt;
    bool has_mnt, mount_root;
    mode_t mode;
};

struct rm_frame {
    struct hs_buf subdirs; /* NUL-separated names still to remove */
    size_t pos;
    char *name; /* of this directory in its parent */
};

struct rm_state {
    struct hs_dirstack fds;
    struct rm_frame *frames;
    size_t cap;
    struct rm_id top; /* the removal's mount and device (its parent's, at first) */
    bool root;
    int first_err;
    struct hs_err *e;
    const char *where; /* shown before the path in messages, or NULL */
};

/* What the removal needs of dirfd/name ("": dirfd itself); -1/errno.
 * Cached attributes do (AT_STATX_DONT_SYNC): the mount and the device are
 * the kernel's to tell, so a network filesystem mounted in a tree is not
 * asked. */
static int rm_id_of(int dirfd, const char *name, struct rm_id *id)
{
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (*name ? 0 : AT_EMPTY_PATH);
    struct statx sx;
    *id = (struct rm_id){0};
    if (statx(dirfd, name, flags | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_MODE | STATX_MNT_ID,
              &sx) == 0) {
        id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
        id->mode = sx.stx_mode;
        id->mount_root = (sx.stx_attributes_mask & sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
#ifdef HS_HAVE_MNT_ID
        id->has_mnt = (sx.stx_mask & STATX_MNT_ID) != 0;
        id->mnt = sx.stx_mnt_id;
#endif
        return 0;
    }
    if (errno != ENOSYS && errno != EPERM) /* EPERM: a sandbox that refuses statx */
        return -1;
    struct stat st;
    if (fstatat(dirfd, name, &st, flags) < 0)
        return -1;
    id->dev = st.st_dev;
    id->mode = st.st_mode;
    return 0;
}

/* 0 if id is on the removal's mount and filesystem. EBUSY: a mount point
 * (the root of a mount, on another mount, or, where the kernel tells
 * neither, on another device). EXDEV: another filesystem on the same mount
 * (a btrfs subvolume), left alone as rm --one-file-system does. */
static int rm_outside(const struct rm_state *s, const struct rm_id *id)
{
    bool known = s->top.has_mnt && id->has_mnt;
    if (id->mount_root || (known && id->mnt != s->top.mnt))
        return EBUSY;
    if (id->dev != s->top.dev)
        return known ? EXDEV : EBUSY;
    return 0;
}

static const char *rm_refusal(int why)
{
    return why == EBUSY ? "not removing a mount point" : "not removing another filesystem";
}

/* The message names the entry from the top of the removal down (built only
 * here: the removal itself never needs the path); leaf NULL names the
 * directory on top of the stack. */
static void rm_fail(struct rm_state *s, int err, const char *what, const char *leaf)
{
    if (s->first_err)
        return;
    s->first_err = -err;
    struct hs_buf path = {0};
    size_t depth = hs_dirstack_depth(&s->fds);
    int r = s->where ? hs_buf_append(&path, s->where, strlen(s->where)) : 0;
    for (size_t i = 0; r == 0 && i < depth + (leaf != NULL); i++) {
        const char *name = i < depth ? s->frames[i].name : leaf;
        if (i > 0 || s->where)
            r = hs_buf_append(&path, "/", 1);
        if (r == 0)
            r = hs_buf_append(&path, name, strlen(name));
    }
    if (r == 0)
        r = hs_buf_append(&path, "", 1);
    hs_err_path(s->e, err, what, r == 0 ? path.data : leaf ? leaf : "(a directory)");
    hs_buf_free(&path);
}

/* The mode of what the O_PATH fd is, never of a name (one can be swapped
 * for a symlink to anything). */
static int rm_chmod(int pfd, mode_t mode)
{
    return hs_meta_chmod((struct hs_xobj){.fd = pfd, .opath = true}, mode);
}

/* Opens the directory name in parent to remove it, or says why not (in the
 * message) and returns -1: never through a symlink, never onto a mount or
 * another filesystem, checked on an O_PATH fd of what the name led to,
 * which is also where our own inaccessible directory is opened up. Gone
 * already is no error. */
static int rm_open(struct rm_state *s, int parent, const char *name, struct rm_id *id)
{
    const char *what = "cannot open";
    int fd = -1, err = 0;
    int pfd = openat(parent, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0 || rm_id_of(pfd, "", id) < 0)
        err = errno;
    else if ((err = rm_outside(s, id)) != 0)
        what = rm_refusal(err);
    if (!err) {
        mode_t open_mode = (id->mode & 07777) | S_IRWXU;
        if (!s->root && open_mode != (id->mode & 07777))
            rm_chmod(pfd, open_mode);
        fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno == EACCES && s->root && rm_chmod(pfd, open_mode) == 0)
            fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            err = errno;
    }
    if (pfd >= 0)
        close(pfd);
    if (err && err != ENOENT)
        rm_fail(s, err, what, name);
    return fd;
}

/* Unlinks the non-directory name; a file can be a mount point too (a file
 * bind-mounted onto it: EBUSY), and is then named as one. */
static void rm_unlink(struct rm_state *s, int dirfd, const char *name)
{
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return;
    int err = errno, why = 0;
    struct rm_id id;
    if (err == EBUSY && rm_id_of(dirfd, name, &id) == 0 && (why = rm_outside(s, &id)) != 0)
        rm_fail(s, EBUSY, rm_refusal(why), name);
    else
        rm_fail(s, err, "cannot remove", name);
}

/* Unlinks the non-directories of fd and lists its subdirectories in f. */
static void rm_scan(struct rm_state *s, int fd, struct rm_frame *f)
{
    char buf[32768];
    for (;;) {
        ssize_t n = getdents64(fd, buf, sizeof buf);
        if (n <= 0) {
            if (n < 0)
                rm_fail(s, errno, "cannot read directory", NULL);
            return;
        }
        for (ssize_t off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
                continue;
            struct stat st;
            bool dir = d->d_type == DT_DIR ||
                       (d->d_type == DT_UNKNOWN && fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                        S_ISDIR(st.st_mode));
            if (dir) {
                if (hs_buf_append(&f->subdirs, nm, strlen(nm) + 1) < 0)
                    rm_fail(s, ENOMEM, "cannot remove", nm);
            } else {
                rm_unlink(s, fd, nm);
            }
        }
    }
}

static int rm_push(struct rm_state *s, int fd, const char *name)
{
    size_t depth = hs_dirstack_depth(&s->fds);
    if (depth == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct rm_frame *p = realloc(s->frames, cap * sizeof *p);
        if (!p) {
            close(fd);
            return -ENOMEM;
        }
        s->frames = p;
        s->cap = cap;
    }
    struct rm_frame *f = &s->frames[depth];
    *f = (struct rm_frame){.name = strdup(name)};
    if (!f->name) {
        close(fd);
        return -ENOMEM;
    }
    if (hs_dirstack_push(&s->fds, fd, NULL) < 0) {
        free(f->name);
        return -ENOMEM;
    }
    rm_scan(s, fd, f);
    return 0;
}

/* Done with the top directory: close it and remove it from its parent. */
static int rm_pop(struct rm_state *s)
{
    size_t depth = hs_dirstack_depth(&s->fds);
    struct rm_frame *f = &s->frames[depth - 1];
    /* a failed reopen of the parent ends the removal; the first error stays
     * the one reported */
    struct hs_err scratch = {0};
    int r = hs_dirstack_pop(&s->fds, f->name, &scratch);
    if (r < 0 && !s->first_err && s->e) {
        s->first_err = r;
        hs_err_move(s->e, &scratch);
    }
    hs_err_clear(&scratch);
    if (r == 0 && depth > 1 && unlinkat(hs_dirstack_top(&s->fds), f->name, AT_REMOVEDIR) < 0 &&
        errno != ENOENT)
        rm_fail(s, errno, "cannot remove", f->name);
    hs_buf_free(&f->subdirs);
    free(f->name);
    return r;
}

int hs_remove_tree(int dirfd, const char *name, struct hs_err *e)
{
    return hs_remove_tree_in(dirfd, name, NULL, e);
}

/* Removes what the directory on top of the stack holds, depth first. */
static int rm_walk(struct rm_state *s)
{
    int r = 0;
    while (r == 0 && hs_dirstack_depth(&s->fds) > 0) {
        struct rm_frame *f = &s->frames[hs_dirstack_depth(&s->fds) - 1];
        if (f->pos >= f->subdirs.len) {
            r = rm_pop(s);
            continue;
        }
        const char *sub = f->subdirs.data + f->pos;
        f->pos += strlen(sub) + 1;
        struct rm_id id;
        int cfd = rm_open(s, hs_dirstack_top(&s->fds), sub, &id);
        if (cfd >= 0)
            r = rm_push(s, cfd, sub);
    }
    while (hs_dirstack_depth(&s->fds) > 0) {
        struct rm_frame *f = &s->frames[hs_dirstack_depth(&s->fds) - 1];
        hs_dirstack_pop(&s->fds, f->name, NULL);
        hs_buf_free(&f->subdirs);
        free(f->name);
    }
    return r;
}

int hs_remove_tree_in(int dirfd, const char *name, const char *where, struct hs_err *e)
{
    struct rm_state s = {.e = e, .root = geteuid() == 0, .where = where};
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT)
            rm_fail(&s, errno, "cannot remove", name);
        return s.first_err;
    }
    /* name itself may be a mount point: the removal stays on dirfd's mount */
    if (rm_id_of(dirfd, "", &s.top) < 0) {
        rm_fail(&s, errno, "cannot remove", name);
        return s.first_err;
    }
    if (!S_ISDIR(st.st_mode)) {
        rm_unlink(&s, dirfd, name);
        return s.first_err;
    }
    struct rm_id id;
    int fd = rm_open(&s, dirfd, name, &id);
    if (fd < 0)
        return s.first_err;
    s.top = id;
    int r = rm_push(&s, fd, name);
    if (r == 0)
        r = rm_walk(&s);
    if (r < 0 && !s.first_err)
        s.first_err = r;
    hs_dirstack_free(&s.fds);
    free(s.frames);
    if (!s.first_err && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rm_fail(&s, errno, "cannot remove", name);
    return s.first_err;
}

bool hs_is_mount_point(int dirfd, const char *name)
{
    struct rm_state s = {0};
    struct rm_id id;
    return rm_id_of(dirfd, "", &s.top) == 0 && rm_id_of(dirfd, name, &id) == 0 &&
           rm_outside(&s, &id) == EBUSY;
}

static bool unsafe_dir(const struct stat *st)
{
    return st->st_uid != 0 || ((st->st_mode & 022) && !(st->st_mode & S_ISVTX));
}

/* A parent is safe when only root can rename what is in it: owned by root
 * and writable by no one else, or sticky (/tmp: others cannot rename what
 * root owns there). */
void hs_parent_unsafe(const char *path, char *bad)
{
    bad[0] = '\0';
    char *real = realpath(path, NULL);
    if (!real)
        return;
    for (char *slash = strrchr(real, '/'); slash; slash = strrchr(real, '/')) {
        slash[slash == real] = '\0'; /* "/x" -> "/" */
        struct stat st;
        if (stat(real, &st) == 0 && unsafe_dir(&st)) {
            snprintf(bad, PATH_MAX, "%s", real);
            break;
        }
        if (slash == real)
            break;
    }
    free(real);
}

/* Where path is itself a symlink: whether it, or the directory holding it
 * (or one above), another user could change (the file it leads to is
 * checked apart). The reason into why. */
static bool unsafe_link(const char *path, char *why, size_t n)
{
    struct stat ls, ds;
    if (lstat(path, &ls) < 0 || !S_ISLNK(ls.st_mode))
        return false;
    if (ls.st_uid != 0) {
        snprintf(why, n, "a symlink owned by uid %u", (unsigned)ls.st_uid);
        return true;
    }
    char *dir = hs_path_dirname(path, strlen(path)), bad[PATH_MAX] = "";
    char *real = dir ? realpath(dir, NULL) : NULL;
    if (real && stat(real, &ds) == 0 && unsafe_dir(&ds))
        snprintf(bad, sizeof bad, "%s", real);
    else if (real)
        hs_parent_unsafe(real, bad);
    free(real);
    free(dir);
    if (bad[0])
        snprintf(why, n, "a symlink in %s, which another user can write", bad);
    return bad[0] != '\0';
}

int hs_open_steering_file(const char *path, const char *what, struct hs_err *e)
{
    /* O_NONBLOCK: a fifo nobody writes to gives end of file, not a hang */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        hs_err_usage(e, err, what, path);
        return -err;
    }
    struct stat st;
    char why[PATH_MAX + 128] = "", bad[PATH_MAX] = "";
    if (fstat(fd, &st) < 0)
        snprintf(why, sizeof why, "%s", strerror(errno));
    else if (geteuid() == 0 && st.st_uid != 0)
        snprintf(why, sizeof why, "owned by uid %u, not root", (unsigned)st.st_uid);
    else if (geteuid() == 0 && S_ISREG(st.st_mode) && (st.st_mode & 022))
        snprintf(why, sizeof why, "writable by others (mode %04o)", (unsigned)(st.st_mode & 07777));
    else if (geteuid() == 0 && S_ISREG(st.st_mode) && (hs_parent_unsafe(path, bad), bad[0]))
        snprintf(why, sizeof why, "in %s, which another user can write", bad);
    else if (geteuid() == 0 && S_ISREG(st.st_mode))
        unsafe_link(path, why, sizeof why);
    if (why[0]) {
        close(fd);
        strncat(why, " (refused: another user could have written it)",
                sizeof why - strlen(why) - 1);
        hs_err_path_why(e, EPERM, what, path, why);
        hs_err_kind(e, HS_USAGE);
        return -EPERM;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

double hs_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
