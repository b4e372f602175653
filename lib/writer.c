#include "writer.h"

#include "fsutil.h"
#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a swapped object is called: the shared tree is a restore's target. */
#define SWAPPED_SHARED  "replaced in the target while being restored, left alone"
#define SWAPPED_PRIVATE "replaced in the new snapshot while being made"

void hs_writer_init(struct hs_writer *w, const struct hs_writer_opts *o, struct hs_report *rep,
                    struct hs_err *e)
{
    *w = (struct hs_writer){.err = e, .rep = rep, .o = *o, .rootfd = -1, .held_fd = -1};
    w->root = geteuid() == 0;
    w->made_uid = geteuid();
}

static void drop_names(struct hs_writer *w, size_t from)
{
    for (size_t i = from; i < w->ends_cap && w->names; i++) {
        free(w->names[i]);
        w->names[i] = NULL;
    }
}

void hs_writer_free(struct hs_writer *w)
{
    if (w->held_fd >= 0)
        close(w->held_fd);
    w->held_fd = -1;
    hs_dirstack_free(&w->dirs);
    if (w->rootfd >= 0)
        close(w->rootfd);
    w->rootfd = -1;
    drop_names(w, 0);
    free(w->names);
    free(w->ends);
    w->names = NULL;
    w->ends = NULL;
    w->ends_cap = 0;
    hs_buf_free(&w->at);
    hs_buf_free(&w->shown);
}

const char *hs_writer_shown(struct hs_writer *w, const char *path)
{
    return w->o.shown ? hs_buf_join(&w->shown, w->o.shown, path) : path;
}

static int fail(struct hs_writer *w, int errnum, const char *what, const char *path)
{
    return hs_err_path(w->err, errnum, what, hs_writer_shown(w, path));
}

static int warn(struct hs_writer *w, int errnum, const char *what, const char *path)
{
    hs_report_warn(w->rep, errnum, what, hs_writer_shown(w, path), path);
    return HS_SKIPPED;
}

/* ---- the top ----------------------------------------------------------- */

int hs_writer_make_root(struct hs_writer *w, int parent, const char *name, const char *shown)
{
    w->made_uid = hs_made_uid(parent);
    if (mkdirat(parent, name, 0700) < 0)
        return hs_err_path(w->err, errno, "cannot create", shown);
    int fd;
    struct stat st;
    int k = hs_open_made(parent, name, S_IFDIR, w->made_uid, &fd, &st);
    if (hs_made_gone(k))
        return hs_err_path(w->err, k < 0 ? -k : 0, "replaced while being made", shown);
    if (k < 0)
        return hs_err_path(w->err, -k, "cannot open", shown);
    w->rootfd = fd;
    return 0;
}

int hs_writer_adopt_root(struct hs_writer *w, int fd)
{
    if (!w->o.looking && fd >= 0)
        w->made_uid = hs_made_uid(fd);
    w->rootfd = fd;
    return 0;
}

int hs_writer_enter_root(struct hs_writer *w)
{
    int fd = w->rootfd >= 0 ? dup(w->rootfd) : -1;
    if (w->rootfd >= 0 && fd < 0)
        return hs_err_setf(w->err, errno, "cannot open the tree's top");
    hs_writer_hold(w, fd);
    return hs_writer_enter(w);
}

int hs_writer_root(const struct hs_writer *w)
{
    return w->rootfd;
}

int hs_writer_top(const struct hs_writer *w)
{
    return hs_dirstack_top(&w->dirs);
}

size_t hs_writer_depth(const struct hs_writer *w)
{
    return hs_dirstack_depth(&w->dirs);
}

/* ---- metadata ------------------------------------------------------------ */

int hs_writer_meta(struct hs_writer *w, struct hs_xobj o, const struct stat *want,
                   const struct stat *now, const struct hs_xattrs *xa, const char *path)
{
    struct hs_meta_result res;
    o.inherits = w->o.inherits;
    int k = hs_meta_apply(o, want, now, xa, w->root, &res);
    if (res.owner_err && w->root)
        warn(w, -res.owner_err, "cannot set owner of", path);
    else if (res.owner_err)
        hs_report_notice_once(w->rep, HS_WRITER_NOTICE_OWNER,
                              "not running as root: file ownership is not kept");
    if (res.xattr_err)
        hs_report_xattrs(w->rep, res.xattr_err, HS_WRITER_NOTICE_XATTR,
                         w->o.xattrs_none ? w->o.xattrs_none
                                          : "extended attributes cannot be kept here: left out",
                         "cannot set extended attributes of", hs_writer_shown(w, path), path);
    return k < 0 ? fail(w, -k, res.what, path) : 0;
}

/* ---- what was made is ours ---------------------------------------------- */

/* What we made as name was not what hs_open_made() found there (k): in the
 * store someone is changing our tree (it is taken out, never followed); in
 * a shared tree a user swapped it, and what is there is hers. */
static int swapped(struct hs_writer *w, int k, const char *name, const char *path)
{
    if (w->o.shared)
        return warn(w, k < 0 ? -k : 0, SWAPPED_SHARED, path);
    unlinkat(hs_writer_top(w), name, 0);
    return warn(w, k < 0 ? -k : 0, SWAPPED_PRIVATE ", left out", path);
}

/* ---- directories in walk order --------------------------------------------- */

void hs_writer_hold(struct hs_writer *w, int fd)
{
    if (w->held_fd >= 0)
        close(w->held_fd);
    w->held_fd = fd;
}

int hs_writer_mkdir(struct hs_writer *w, const char *name, const char *path)
{
    int top = hs_writer_top(w);
    if (mkdirat(top, name, 0700) < 0)
        return fail(w, errno, "cannot create directory", path);
    int fd;
    int k = hs_open_made(top, name, S_IFDIR, w->made_uid, &fd, &w->held_st);
    if (hs_made_gone(k)) {
        if (w->o.shared)
            return warn(w, k < 0 ? -k : 0, SWAPPED_SHARED, path);
        /* the store's tree is changed under us: stop rather than guess */
        return fail(w, k < 0 ? -k : 0, SWAPPED_PRIVATE, path);
    }
    if (k < 0)
        return fail(w, -k, "cannot open", path);
    hs_writer_hold(w, fd);
    return HS_DONE;
}

int hs_writer_enter(struct hs_writer *w)
{
    int fd = w->held_fd;
    w->held_fd = -1;
    return hs_dirstack_push(&w->dirs, fd, w->err);
}

static int finish_dir(struct hs_writer *w, int fd, const struct stat *want,
                      const struct hs_xattrs *xa, const char *path)
{
    if (fd < 0 || !want)
        return 0;
    struct stat now;
    if (fstat(fd, &now) < 0)
        return fail(w, errno, "cannot examine", path);
    return hs_writer_meta(w, (struct hs_xobj){.fd = fd, .dirfd = -1}, want, &now, xa, path);
}

int hs_writer_finish_held(struct hs_writer *w, const struct stat *want, const struct hs_xattrs *xa,
                          const char *path)
{
    int k = finish_dir(w, w->held_fd, want, xa, path);
    hs_writer_hold(w, -1);
    return k;
}

int hs_writer_leave(struct hs_writer *w, const struct stat *want, const struct hs_xattrs *xa,
                    const char *path)
{
    int k = finish_dir(w, hs_writer_top(w), want, xa, path);
    int k1 = hs_dirstack_pop(&w->dirs, path, w->err);
    return k < 0 ? k : k1 > 0 ? fail(w, ESTALE, "moved while being written", path) : k1;
}

/* ---- directories by path ----------------------------------------------------- */

int hs_writer_open_dir(struct hs_writer *w, const char *name, bool *made, struct stat *st)
{
    int top = hs_writer_top(w);
    *made = mkdirat(top, name, 0700) == 0;
    if (!*made && errno != EEXIST)
        return -errno;
    int fd;
    int k = hs_open_made(top, name, S_IFDIR, w->made_uid, &fd, st);
    if (*made && hs_made_gone(k)) {
        if (!w->o.shared) /* the store's tree keeps nothing it did not make */
            unlinkat(top, name, 0);
        return -ESTALE;
    }
    if (k == HS_MADE_SWAPPED)
        return -ENOTDIR; /* not made: an earlier entry's file */
    return k < 0 ? k : fd;
}

static int grow_branch(struct hs_writer *w, size_t depth)
{
    if (depth < w->ends_cap)
        return 0;
    size_t cap = w->ends_cap ? w->ends_cap * 2 : 64;
    size_t *ends = realloc(w->ends, cap * sizeof *ends);
    if (ends)
        w->ends = ends;
    char **names = realloc(w->names, cap * sizeof *names);
    if (names) {
        memset(names + w->ends_cap, 0, (cap - w->ends_cap) * sizeof *names);
        w->names = names;
    }
    if (!ends || !names)
        return -ENOMEM;
    w->ends_cap = cap;
    return 0;
}

/* Levels of the branch below the top (level 0 is the tree's top). */
static size_t branch_len(const struct hs_writer *w)
{
    size_t d = hs_dirstack_depth(&w->dirs);
    return d ? d - 1 : 0;
}

static int branch_pop_to(struct hs_writer *w, size_t keep)
{
    int k = 0;
    while (branch_len(w) > keep) {
        int k1 = hs_dirstack_pop(&w->dirs, w->at.data ? w->at.data : "", w->err);
        if (k1 != 0 && k == 0)
            k = k1 < 0 ? k1 : -ESTALE;
    }
    drop_names(w, keep);
    hs_buf_truncate(&w->at, keep ? w->ends[keep - 1] : 0);
    return k;
}

/* One component more: made if missing (made() is told), opened, pushed. */
static int branch_push(struct hs_writer *w, const char *comp, size_t n, hs_writer_made_fn made_fn,
                       void *user)
{
    size_t depth = branch_len(w);
    if (grow_branch(w, depth) < 0)
        return -ENOMEM;
    char *name = strndup(comp, n);
    if (!name || (w->at.len && hs_buf_putc(&w->at, '/') < 0) ||
        hs_buf_append(&w->at, comp, n) < 0) {
        free(name);
        return -ENOMEM;
    }
    bool made;
    struct stat st;
    int fd = hs_writer_open_dir(w, name, &made, &st);
    if (fd >= 0 && made && made_fn && made_fn(user, w->at.data, w->at.len, &st) < 0) {
        close(fd);
        fd = -ENOMEM;
    }
    if (fd < 0) {
        free(name);
        hs_buf_truncate(&w->at, depth ? w->ends[depth - 1] : 0);
        return fd;
    }
    w->names[depth] = name;
    w->ends[depth] = w->at.len;
    /* named: a level the stack closed is found again from its parent */
    int k = hs_dirstack_push_named(&w->dirs, fd, name, w->err);
    return k < 0 ? -ENOMEM : 0;
}

int hs_writer_goto(struct hs_writer *w, const char *dir, size_t len, hs_writer_made_fn made,
                   void *user)
{
    size_t keep = 0, at = 0, depth = branch_len(w);
    /* the components this path shares with the branch stay open */
    while (keep < depth) {
        size_t start = keep ? w->ends[keep - 1] + 1 : 0, end = w->ends[keep];
        if (at >= len || end - start > len - at ||
            memcmp(w->at.data + start, dir + at, end - start) ||
            (at + end - start < len && dir[at + end - start] != '/'))
            break;
        at += end - start + 1;
        keep++;
    }
    int k = branch_pop_to(w, keep);
    if (k < 0)
        return k;
    while (at < len) {
        const char *comp = dir + at;
        const char *slash = memchr(comp, '/', len - at);
        size_t n = slash ? (size_t)(slash - comp) : len - at;
        k = branch_push(w, comp, n, made, user);
        if (k < 0)
            return k;
        at += n + 1;
    }
    return hs_writer_top(w);
}

/* ---- everything else ----------------------------------------------------------- */

int hs_writer_can_make(struct hs_writer *w, mode_t mode, const char *path)
{
    if ((S_ISCHR(mode) || S_ISBLK(mode)) && !w->root)
        return warn(w, EPERM, "device node skipped (needs root)", path);
    return HS_DONE;
}

int hs_writer_file(struct hs_writer *w, const char *name, const char *path)
{
    int fd =
        openat(hs_writer_top(w), name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    return fd >= 0 ? fd : fail(w, errno, "cannot create", path);
}

int hs_writer_special(struct hs_writer *w, const char *name, const struct stat *want,
                      const char *target, const char *path, int *fd, struct stat *made)
{
    int top = hs_writer_top(w);
    mode_t type = want->st_mode & S_IFMT;
    *fd = -1;
    int k = hs_writer_can_make(w, type, path);
    if (k != HS_DONE)
        return k;
    /* private until its owner and mode are set, through an fd of it */
    if (S_ISLNK(type))
        k = symlinkat(target, top, name);
    else if (S_ISFIFO(type) || S_ISSOCK(type) || S_ISCHR(type) || S_ISBLK(type))
        k = mknodat(top, name, type | 0600, want->st_rdev);
    else
        return warn(w, EINVAL, "entry of an unknown type", path);
    if (k < 0)
        return fail(w, errno, "cannot create", path);
    k = hs_open_made(top, name, type, w->made_uid, fd, made);
    if (hs_made_gone(k))
        return swapped(w, k, name, path);
    if (k < 0) {
        unlinkat(top, name, 0);
        return fail(w, -k, "cannot open the new", path);
    }
    return HS_DONE;
}

int hs_writer_link(struct hs_writer *w, int dirfd, const char *from, const char *name,
                   const char *path)
{
    if (linkat(dirfd, from, hs_writer_top(w), name, 0) == 0)
        return HS_DONE;
    w->link_err = errno;
    return hs_link_fallback(errno) ? HS_NO_LINK : fail(w, errno, "cannot link", path);
}

/* linkat to the tree's relpath (NUL-terminated at len). The kernel may
 * resolve it in one go only in the store's tree, where nothing is anyone
 * else's; in a shared one, and deeper than PATH_MAX, the parent is reached
 * one component at a time, following nothing. 0 or -errno. */
static int link_beneath(const struct hs_writer *w, const char *relpath, size_t len, int dirfd,
                        const char *name)
{
    if (!w->o.shared && len < PATH_MAX) {
        if (linkat(w->rootfd, relpath, dirfd, name, 0) == 0)
            return 0;
        if (errno != ENAMETOOLONG)
            return -errno;
    }
    int parent = hs_open_dir_beneath(w->rootfd, relpath, hs_path_dir_len(relpath, len));
    if (parent < 0)
        return parent;
    int r = linkat(parent, hs_path_base(relpath, len), dirfd, name, 0) == 0 ? 0 : -errno;
    close(parent);
    return r;
}

int hs_writer_link_path(struct hs_writer *w, const char *relpath, size_t len, const char *name,
                        const struct stat *expect, const char *path)
{
    int top = hs_writer_top(w);
    int k = link_beneath(w, relpath, len, top, name);
    w->link_err = -k;
    /* a first name no longer reachable (moved, or a symlink now on its
     * way) is one more reason to copy */
    if (k < 0)
        return hs_link_fallback(-k) || k == -ELOOP || k == -ENOTDIR
                   ? HS_NO_LINK
                   : fail(w, -k, "cannot link", path);
    if (!expect)
        return HS_DONE;
    struct stat made;
    if (fstatat(top, name, &made, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(w, errno, "cannot examine", path);
    if (made.st_dev == expect->st_dev && made.st_ino == expect->st_ino)
        return HS_DONE;
    /* the first name was replaced by something else meanwhile */
    unlinkat(top, name, 0);
    return HS_NO_LINK;
}

void hs_writer_link_lost(struct hs_writer *w, const char *path)
{
    int errnum = w->link_err;
    bool none_here = errnum == EPERM || errnum == EXDEV;
    if (!none_here)
        warn(w, errnum, "hard link not kept, copied instead", path);
    else if (!w->said_no_links) /* a filesystem without hard links: once, not per name */
        warn(w, errnum, "hard links cannot be made here; they are kept as copies, from", path);
    w->said_no_links |= none_here;
}

const char *hs_writer_tmp_name(struct hs_writer *w, char *buf, size_t n)
{
    struct stat st;
    do
        snprintf(buf, n, ".hardsnap-new.%ld.%u", (long)getpid(), w->tmp_seq++);
    while (fstatat(hs_writer_top(w), buf, &st, AT_SYMLINK_NOFOLLOW) == 0);
    return buf;
}

int hs_writer_install(struct hs_writer *w, const char *tmp, const char *name, const char *path)
{
    int top = hs_writer_top(w);
    if (renameat(top, tmp, top, name) == 0)
        return HS_DONE;
    int err = errno;
    unlinkat(top, tmp, 0);
    if (err == EISDIR || err == ENOTEMPTY || err == EEXIST)
        return warn(w, 0, "a directory is not replaced by a file", path);
    return fail(w, err, "cannot replace", path);
}

void hs_writer_unmake(struct hs_writer *w, const char *name)
{
    unlinkat(hs_writer_top(w), name, 0);
}
