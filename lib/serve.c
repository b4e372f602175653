/*
 * hardsnap serve: the far end of a pull (the protocol is in wire.h).
 *
 * It walks the requested tree with the same walker as a local backup and
 * sends the list as a delta against the list it sent last time (the base),
 * which it keeps in its cache directory ($XDG_CACHE_HOME or ~/.cache,
 * hardsnap/serve/KEY.base), never in the tree it serves. A new list is kept
 * as KEY.new and becomes the base only when the client names it in a later
 * request: the client does so once its snapshot of that list is published,
 * so an unpublished pull never advances the base. Without a usable cache
 * it sends the whole list.
 *
 * What the client asks for is read from the protocol, not from argv, so
 * `command="hardsnap serve --allow /srv"` in authorized_keys confines it:
 * the requested path is resolved and must lie in an allowed tree, and it is
 * then opened component by component from that tree's fd with O_NOFOLLOW,
 * so a symlink swapped in after the check is refused, not followed.
 */
#include "blockhash.h"
#include "bytes.h"
#include "copy.h"
#include "err.h"
#include "exclude.h"
#include "fsutil.h"
#include "manifest.h"
#include "walk.h"
#include "wire.h"
#include "xattr.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* The block hashes of the client's version of a wanted file. */
struct base_blocks {
    uint64_t index, size;
    uint32_t bs;
    uint64_t *h;
    size_t n, have;
};

struct server {
    const struct hs_serve_opts *o;
    struct hs_err *err;
    struct hs_conn c;
    struct hs_buf msg;
    struct hs_req req;
    int rootfd;
    struct stat root_st;
    int cachefd; /* -1: no cache */
    char key[33];
    int listfd;    /* the new list, for the data phase */
    bool in_cache; /* listfd is an O_TMPFILE in the cache */
    struct hs_xattrs xa;
    struct hs_copier copier;
    struct hs_buf target, xbuf, path;
    /* the delta: runs of base records kept or dropped, not yet sent */
    uint64_t keep, drop;
    uint64_t walked; /* items, to look at the clock now and then */
    double sent_at;  /* when the list was last pushed out */
    /* the data phase's open directory */
    struct hs_buf dirpath;
    int dirfd;
    uint64_t count;
    unsigned char *want;
    /* the client's bases of changed big files (BLOCKS), in index order */
    struct base_blocks *bases;
    size_t n_bases, cap_bases, base_at;
    uint64_t base_hashes;
    bool told; /* the client was sent the error: it says it */
};

/* ---- messages --------------------------------------------------------- */

static int send_error(struct server *s, int errnum, const char *msg)
{
    s->told = true;
    struct hs_buf b = {0};
    unsigned char n[4] = {(unsigned char)errnum, (unsigned char)(errnum >> 8), 0, 0};
    struct hs_err e = {0};
    if (hs_buf_append(&b, n, 4) == 0 && hs_buf_puts(&b, msg) == 0 &&
        hs_conn_send(&s->c, HS_MSG_ERROR, b.data, b.len, &e) == 0)
        hs_conn_flush(&s->c, &e);
    hs_err_clear(&e);
    hs_buf_free(&b);
    return -1;
}

static int send_warn(struct server *s, int errnum, const char *path, const char *what)
{
    struct hs_buf b = {0};
    int r = hs_put_varint(&b, (uint64_t)errnum) | hs_put_bytes(&b, path, strlen(path)) |
            hs_put_bytes(&b, what, strlen(what));
    r = r ? hs_err_setf(s->err, ENOMEM, "serve")
          : hs_conn_send(&s->c, HS_MSG_WARN, b.data, b.len, s->err);
    hs_buf_free(&b);
    return r;
}

/* ---- the request ------------------------------------------------------ */

static int hello(struct server *s)
{
    struct hs_buf h = {0};
    int r = hs_wire_hello(&h);
    if (r == 0)
        r = hs_conn_send(&s->c, HS_MSG_HELLO, h.data, h.len, s->err);
    hs_buf_free(&h);
    if (r == 0)
        r = hs_conn_flush(&s->c, s->err);
    uint8_t type = 0;
    if (r == 0 && (r = hs_conn_recv(&s->c, &type, &s->msg, s->err)) == 0)
        r = hs_err_setf(s->err, ECONNRESET, "the client left before saying hello");
    if (r < 0)
        return r;
    char why[256];
    if (type != HS_MSG_HELLO ||
        hs_wire_hello_check(s->msg.data, s->msg.len, "the client", why, sizeof why) < 0) {
        if (type != HS_MSG_HELLO)
            snprintf(why, sizeof why, "not a hardsnap client");
        send_error(s, EPROTO, why);
        return hs_err_setf(s->err, EPROTO, "%s", why);
    }
    return 0;
}

static int read_request(struct server *s)
{
    uint8_t type = 0;
    int r = hs_conn_recv(&s->c, &type, &s->msg, s->err);
    if (r == 0)
        r = hs_err_setf(s->err, ECONNRESET, "the client left before its request");
    if (r < 0)
        return r;
    if (type != HS_MSG_REQUEST || hs_req_decode(&s->req, s->msg.data, s->msg.len) < 0) {
        send_error(s, EPROTO, "bad request");
        return hs_err_setf(s->err, EPROTO, "bad request");
    }
    return 0;
}

/* ---- the served tree -------------------------------------------------- */

/* Opens the resolved absolute path real, component by component from the
 * allowed tree at allowed (its length alen), refusing symlinks. */
static int open_beneath(const char *allowed, const char *real)
{
    int fd = open(allowed, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const char *p = real + strlen(allowed);
    while (fd >= 0 && *p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0)
            break;
        char name[NAME_MAX + 1];
        if (n > NAME_MAX || (n == 2 && p[0] == '.' && p[1] == '.')) {
            close(fd);
            errno = EACCES;
            return -1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int err = errno;
        close(fd);
        errno = err;
        fd = next;
        p += n;
    }
    return fd;
}

static bool within(const char *real, const char *allowed)
{
    size_t n = strlen(allowed);
    return strncmp(real, allowed, n) == 0 &&
           (real[n] == '\0' || real[n] == '/' || (n == 1 && allowed[0] == '/'));
}

static int open_root(struct server *s)
{
    const char *want = s->req.path.data;
    char msg[512];
    char *real = realpath(want, NULL);
    if (!real) {
        snprintf(msg, sizeof msg, "cannot use source: %s: %s", want, strerror(errno));
        send_error(s, errno, msg);
        return hs_err_path(s->err, errno, "cannot use source", want);
    }
    int fd = -1, err = EACCES;
    if (!s->o->n_allow) {
        fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        err = errno;
    }
    for (size_t i = 0; i < s->o->n_allow && fd < 0; i++) {
        char *a = realpath(s->o->allow[i], NULL);
        if (a && within(real, a)) {
            fd = open_beneath(a, real);
            err = errno;
        }
        free(a);
    }
    free(real);
    if (fd < 0 || fstat(fd, &s->root_st) < 0) {
        if (err == EACCES && s->o->n_allow)
            snprintf(msg, sizeof msg, "not allowed: %s (serve --allow names the trees it sends)",
                     want);
        else
            snprintf(msg, sizeof msg, "cannot use source: %s: %s", want, strerror(err));
        send_error(s, err, msg);
        if (fd >= 0)
            close(fd);
        return hs_err_setf(s->err, err, "%s", msg);
    }
    s->rootfd = fd;
    return 0;
}

/* ---- the cache -------------------------------------------------------- */

static int mkdir_in(int parent, const char *name)
{
    if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
        return -1;
    return openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* $XDG_CACHE_HOME/hardsnap/serve or ~/.cache/hardsnap/serve; -1 if none. */
static int open_cache(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int fd = -1;
    if (xdg && xdg[0] == '/') {
        mkdir(xdg, 0700);
        fd = open(xdg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else if (home && home[0] == '/') {
        int h = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fd = h >= 0 ? mkdir_in(h, ".cache") : -1;
        if (h >= 0)
            close(h);
    }
    const char *parts[] = {"hardsnap", "serve"};
    for (size_t i = 0; i < 2 && fd >= 0; i++) {
        int next = mkdir_in(fd, parts[i]);
        close(fd);
        fd = next;
    }
    return fd;
}

/* The list file name of this key with suffix into out. */
static void list_name(const struct server *s, const char *suffix, char out[64])
{
    snprintf(out, 64, "%s.%s", s->key, suffix);
}

/* Opens the cached list whose id the client named: KEY.new (then made the
 * base: the client published it) or KEY.base. -1 if neither. */
static int open_base(struct server *s)
{
    if (s->cachefd < 0 || !s->req.has_base || (s->req.flags & HS_REQ_CHECKSUM))
        return -1;
    const char *which[] = {"new", "base"};
    for (size_t i = 0; i < 2; i++) {
        char name[64];
        list_name(s, which[i], name);
        int fd = openat(s->cachefd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        uint8_t id[16];
        if (fd >= 0 && hs_list_file_id(fd, id) == 0 && memcmp(id, s->req.base_id, 16) == 0) {
            if (i == 0) {
                char base[64];
                list_name(s, "base", base);
                renameat(s->cachefd, name, s->cachefd, base);
            }
            return fd;
        }
        if (fd >= 0)
            close(fd);
    }
    return -1;
}

/* The new list's file: anonymous in the cache (named KEY.new once it is
 * complete, so a killed serve leaves nothing), else in TMPDIR. */
static int open_list_file(struct server *s)
{
    if (s->cachefd >= 0) {
        int fd = openat(s->cachefd, ".", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
        if (fd >= 0) {
            s->in_cache = true;
            return fd;
        }
    }
    const char *tmp = getenv("TMPDIR");
    int fd = open(tmp && *tmp ? tmp : "/tmp", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
    return fd >= 0 ? fd : hs_err_setf(s->err, errno, "cannot make a temporary file");
}

/* The complete new list becomes KEY.new: linked under a temporary name
 * (through /proc, which needs no privilege) and renamed over the old one. */
static void name_list_file(struct server *s)
{
    char proc[64], tmp[80], name[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", s->listfd);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", s->key, (long)getpid());
    list_name(s, "new", name);
    unlinkat(s->cachefd, tmp, 0);
    if (linkat(AT_FDCWD, proc, s->cachefd, tmp, AT_SYMLINK_FOLLOW) == 0 &&
        renameat(s->cachefd, tmp, s->cachefd, name) < 0)
        unlinkat(s->cachefd, tmp, 0);
}

/* ---- the walk and the delta ------------------------------------------- */

struct delta {
    struct server *s;
    struct hs_lenc wire, file;
    struct hs_conn fconn;
    struct hs_conn bconn; /* the base */
    struct hs_ldec base;
    bool have_base, base_left;
    struct hs_rec b; /* the base's current record */
    uint64_t b_run;  /* records of a KEEP left (a base file has none) */
};

static int flush_runs(struct delta *d, struct hs_err *e)
{
    int r = 0;
    if (d->s->drop)
        r = hs_lenc_op(&d->wire, HS_LOP_DROP, d->s->drop, e);
    if (r == 0 && d->s->keep)
        r = hs_lenc_op(&d->wire, HS_LOP_KEEP, d->s->keep, e);
    d->s->drop = d->s->keep = 0;
    return r;
}

/* One base record more in a run of dropped (or kept) ones: a run of the
 * other kind is sent first, so the operations keep the list's order. */
static int run_add(struct delta *d, bool keep, struct hs_err *e)
{
    if ((keep ? d->s->drop : d->s->keep) && flush_runs(d, e) < 0)
        return -1;
    if (keep)
        d->s->keep++;
    else
        d->s->drop++;
    return 0;
}

/* The base's next record into d->b (d->base_left false at its end). */
static int base_next(struct delta *d, struct hs_err *e)
{
    if (!d->have_base || !d->base_left)
        return 0;
    uint8_t op = 0;
    uint64_t n = 0;
    int r = hs_ldec_next(&d->base, &op, &d->b, &n, NULL, NULL, e);
    if (r == 1 && op != HS_LOP_REC)
        r = hs_err_setf(e, EBADMSG, "the cached list is damaged");
    if (r < 0) {
        /* the client's id check will fail: a full list next time */
        d->base_left = false;
        hs_err_clear(e);
        return 0;
    }
    d->base_left = r == 1;
    return 0;
}

static int order(const struct hs_rec *a, const struct hs_rec *b)
{
    int c = hs_path_cmp(a->path, a->path_len, b->path, b->path_len);
    return c ? c : (int)a->kind - (int)b->kind;
}

/* Sends what the record changed against the base, and writes it to the new
 * list. fill, when the base has no equal record, reads what a stat does not
 * say (target, xattrs, hash). */
static int put_rec(struct delta *d, struct hs_rec *w,
                   int (*fill)(struct server *, struct hs_rec *, void *), void *arg,
                   struct hs_err *e)
{
    int c = 1;
    while (d->base_left && (c = order(&d->b, w)) < 0) {
        if (run_add(d, false, e) < 0)
            return -1;
        base_next(d, e);
    }
    if (d->base_left && c == 0) {
        /* equal stat, same inode and ctime: what the stat does not say is
         * the base's (a changed target or xattr changes the ctime) */
        struct hs_rec cand = d->b;
        cand.has_hash = false;
        struct hs_rec wst = *w;
        wst.target = d->b.target;
        wst.target_len = d->b.target_len;
        wst.xattrs = d->b.xattrs;
        wst.xattrs_len = d->b.xattrs_len;
        if (hs_rec_equal(&wst, &cand)) {
            if (run_add(d, true, e) < 0)
                return -1;
            int r = hs_lenc_count(&d->wire, &cand) | hs_lenc_rec(&d->file, &cand, false, e);
            base_next(d, e);
            return r ? -1 : 0;
        }
        if (run_add(d, false, e) < 0)
            return -1;
        base_next(d, e);
    }
    if (fill && fill(d->s, w, arg) < 0)
        return -1;
    if (flush_runs(d, e) < 0 || hs_lenc_rec(&d->wire, w, true, e) < 0 ||
        hs_lenc_rec(&d->file, w, false, e) < 0)
        return -1;
    return 0;
}

static const char *rel_of(const struct hs_walk_item *it)
{
    return it->path;
}

/* The target, xattrs and (when asked) hash of a walk ENTRY. */
static int fill_entry(struct server *s, struct hs_rec *w, void *arg)
{
    const struct hs_walk_item *it = arg;
    const struct stat *st = &it->st;
    if (S_ISLNK(st->st_mode)) {
        hs_buf_truncate(&s->target, 0);
        if (hs_buf_reserve(&s->target, HS_WIRE_MAX_TARGET) < 0)
            return hs_err_setf(s->err, ENOMEM, "serve");
        ssize_t n = readlinkat(it->fd, it->name, s->target.data, HS_WIRE_MAX_TARGET);
        if (n <= 0 || n >= HS_WIRE_MAX_TARGET) {
            /* a record says why, in place of the symlink */
            w->kind = HS_REC_ERROR;
            w->err = n < 0 ? errno : ENAMETOOLONG;
            w->what = "cannot read symlink";
            w->what_len = strlen(w->what);
            return 0;
        }
        s->target.len = (size_t)n;
        w->target = s->target.data;
        w->target_len = (size_t)n;
    }
    hs_buf_truncate(&s->xbuf, 0);
    struct hs_xobj o = {.fd = -1, .dirfd = it->fd, .name = it->name};
    if (it->depth == 0 && it->ev == HS_WALK_ENTER)
        o = (struct hs_xobj){.fd = it->fd};
    if (!S_ISLNK(st->st_mode) && hs_xattr_read(&s->xa, o, true) == 0 && s->xa.count) {
        if (hs_rec_xattrs_put(&s->xbuf, &s->xa) < 0)
            return hs_err_setf(s->err, ENOMEM, "serve");
        if (s->xbuf.len <= HS_WIRE_MAX_XATTRS) {
            w->xattrs = s->xbuf.data;
            w->xattrs_len = s->xbuf.len;
        }
    }
    if (S_ISREG(st->st_mode) && (s->req.flags & (HS_REQ_HASHES | HS_REQ_CHECKSUM)) &&
        st->st_size > 0) {
        int fd = hs_open_file_read(it->fd, it->name);
        struct stat now;
        struct hs_err e = {0};
        if (fd < 0) {
            w->data_err = errno;
        } else if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino ||
                   hs_hash_fd(&s->copier, fd, &now, w->hash, it->path, &e) < 0) {
            w->data_err = e.code ? e.code : ESTALE;
        } else {
            w->has_hash = true;
        }
        hs_err_clear(&e);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

static void rec_of_item(struct hs_rec *w, const struct hs_walk_item *it)
{
    memset(w, 0, sizeof *w);
    w->kind = HS_REC_ENTRY;
    w->path = rel_of(it);
    w->path_len = it->path_len;
    w->st = it->st;
}

/* As the client's engine decides (hs_exclude_source), on the path the
 * entry has in the snapshot: "NAME/" before it for a source under its name. */
static bool excluded(struct server *s, const struct hs_walk_item *it, bool is_dir)
{
    if (!s->req.global && !s->req.own)
        return false;
    hs_buf_truncate(&s->path, 0);
    if (hs_buf_append(&s->path, s->req.prefix.data, s->req.prefix.len) < 0 ||
        hs_buf_append(&s->path, it->path, it->path_len) < 0)
        return false;
    return hs_exclude_source(s->req.global, s->req.own, s->path.data, s->path.len,
                             s->req.prefix.len, is_dir);
}

static int walk_item(struct server *s, struct delta *d, struct hs_walk *wk,
                     const struct hs_walk_item *it)
{
    struct hs_rec w;
    switch (it->ev) {
    case HS_WALK_ENTER:
        if (it->depth != 0)
            return 0;
        rec_of_item(&w, it);
        return put_rec(d, &w, fill_entry, (void *)it, s->err);
    case HS_WALK_ENTRY: {
        bool is_dir = S_ISDIR(it->st.st_mode);
        if (excluded(s, it, is_dir)) {
            if (is_dir)
                hs_walk_skip(wk);
            return 0;
        }
        if (is_dir && (s->req.flags & HS_REQ_ONE_FS) && it->st.st_dev != s->root_st.st_dev)
            hs_walk_skip(wk);
        rec_of_item(&w, it);
        return put_rec(d, &w, fill_entry, (void *)it, s->err);
    }
    case HS_WALK_ERROR:
        if (!it->unentered && S_ISDIR(it->st.st_mode) && it->err == 0)
            return 0;
        if (it->err && !it->unentered && it->st.st_mode == 0) {
            rec_of_item(&w, it);
            w.kind = HS_REC_ERROR;
            w.err = it->err;
            w.what = it->what;
            w.what_len = strlen(it->what);
            return put_rec(d, &w, NULL, NULL, s->err);
        }
        if (it->unentered) {
            rec_of_item(&w, it);
            w.kind = HS_REC_ERROR;
            w.err = it->err;
            w.what = it->what;
            w.what_len = strlen(it->what);
            w.unentered = true;
            return put_rec(d, &w, NULL, NULL, s->err);
        }
        /* a directory that moved while the walk was below it: said, and
         * not a record (it would come after its own contents) */
        return send_warn(s, it->err, it->path, it->what);
    case HS_WALK_FATAL:
        send_error(s, it->err, it->what);
        return hs_err_path(s->err, it->err, it->what, s->req.path.data);
    default:
        return 0;
    }
}

/* The client builds the snapshot while the list arrives: what the walk has
 * decided (a run of kept records too) goes out every PUSH_SECONDS, not only
 * when a frame is full or something changed. */
#define PUSH_SECONDS 0.05

static int push_list(struct server *s, struct delta *d)
{
    if (++s->walked % 256 != 0)
        return 0;
    double t = hs_monotonic_seconds();
    if (t - s->sent_at < PUSH_SECONDS)
        return 0;
    s->sent_at = t;
    int r = flush_runs(d, s->err);
    if (r == 0)
        r = hs_lenc_cut(&d->wire, s->err);
    return r == 0 ? hs_conn_flush(&s->c, s->err) : r;
}

static int send_list(struct server *s)
{
    struct delta d = {.s = s};
    int r = 0;
    int basefd = open_base(s);
    s->listfd = open_list_file(s);
    if (s->listfd < 0) {
        if (basefd >= 0)
            close(basefd);
        return s->listfd;
    }
    hs_conn_init(&d.fconn, -1, s->listfd, 0, "list file");
    if (hs_lenc_init(&d.wire, &s->c) < 0 || hs_lenc_init(&d.file, &d.fconn) < 0)
        r = hs_err_setf(s->err, ENOMEM, "serve");
    if (r == 0 && basefd >= 0) {
        hs_conn_init(&d.bconn, basefd, -1, 0, "cached list");
        if (hs_ldec_init(&d.base, &d.bconn) == 0) {
            d.have_base = d.base_left = true;
            base_next(&d, s->err);
        }
    }
    struct hs_walk *wk = NULL;
    if (r == 0) {
        int fd = dup(s->rootfd);
        r = fd < 0 ? hs_err_setf(s->err, errno, "serve")
                   : hs_walk_open(&wk, fd, &s->root_st, "", s->err);
    }
    struct hs_walk_item it;
    s->sent_at = hs_monotonic_seconds();
    while (r == 0 && (r = hs_walk_next(wk, &it, s->err)) == 0 && it.ev != HS_WALK_END) {
        r = walk_item(s, &d, wk, &it);
        if (r == 0)
            r = push_list(s, &d);
    }
    hs_walk_free(wk);
    while (r == 0 && d.base_left) {
        r = run_add(&d, false, s->err);
        base_next(&d, s->err);
    }
    uint8_t id[16];
    if (r == 0)
        r = flush_runs(&d, s->err);
    if (r == 0)
        r = hs_lenc_finish(&d.file, id, s->err);
    if (r == 0)
        r = hs_lenc_finish(&d.wire, id, s->err);
    s->count = d.wire.count;
    if (r == 0 && s->in_cache)
        name_list_file(s);
    hs_lenc_free(&d.wire);
    hs_lenc_free(&d.file);
    hs_conn_free(&d.fconn);
    if (d.have_base)
        hs_ldec_free(&d.base);
    if (basefd >= 0) {
        hs_conn_free(&d.bconn);
        close(basefd);
    }
    return r < 0 ? r : 0;
}

/* ---- the data --------------------------------------------------------- */

static bool wants(const struct server *s, uint64_t index)
{
    return index < s->count && (s->want[index / 8] & (1u << (index % 8)));
}

static struct base_blocks *new_base(struct server *s)
{
    if (s->n_bases == s->cap_bases) {
        size_t cap = s->cap_bases ? 2 * s->cap_bases : 16;
        struct base_blocks *nb = realloc(s->bases, cap * sizeof *nb);
        if (!nb)
            return NULL;
        s->bases = nb;
        s->cap_bases = cap;
    }
    struct base_blocks *b = &s->bases[s->n_bases];
    *b = (struct base_blocks){0};
    return b;
}

/* BLOCKS: a wanted file's base, in one or more messages; bounded in all by
 * HS_WIRE_MAX_BASE_HASHES. */
static int read_blocks(struct server *s)
{
    struct hs_dec d;
    hs_dec_init(&d, s->msg.data, s->msg.len);
    uint64_t index = hs_get_varint(&d), size = hs_get_varint(&d), bs = hs_get_varint(&d),
             first = hs_get_varint(&d);
    size_t k = (size_t)(d.end - d.p) / 8;
    struct base_blocks *last = s->n_bases ? &s->bases[s->n_bases - 1] : NULL;
    if (d.bad || (size_t)(d.end - d.p) % 8 || !wants(s, index) || bs < 4096 || bs > HS_BLOCK_MAX ||
        bs % 4096 || size == 0 || size > INT64_MAX)
        return hs_err_setf(s->err, EPROTO, "bad block list from the client");
    if (first == 0) {
        uint64_t n = size / bs + (size % bs != 0);
        if ((last && (last->have != last->n || index <= last->index)) ||
            n + HS_WIRE_BASE_COST > HS_WIRE_MAX_BASE_HASHES - s->base_hashes)
            return hs_err_setf(s->err, EPROTO, "bad block list from the client");
        if (!(last = new_base(s)) || !(last->h = malloc((size_t)n * 8)))
            return hs_err_setf(s->err, ENOMEM, "serve");
        *last = (struct base_blocks){index, size, (uint32_t)bs, last->h, (size_t)n, 0};
        s->n_bases++;
        s->base_hashes += n + HS_WIRE_BASE_COST;
    } else if (!last || last->index != index || last->size != size || last->bs != bs ||
               first != last->have) {
        return hs_err_setf(s->err, EPROTO, "bad block list from the client");
    }
    if (k > last->n - last->have)
        return hs_err_setf(s->err, EPROTO, "bad block list from the client");
    for (size_t i = 0; i < k; i++)
        last->h[last->have++] = hs_le64_load((const unsigned char *)d.p + 8 * i);
    return 0;
}

static int read_wants(struct server *s)
{
    size_t bytes = (size_t)(s->count / 8 + 1);
    if (!(s->want = calloc(bytes, 1)))
        return hs_err_setf(s->err, ENOMEM, "serve");
    uint64_t at = 0;
    for (;;) {
        uint8_t type = 0;
        int r = hs_conn_recv(&s->c, &type, &s->msg, s->err);
        if (r == 0)
            return hs_err_setf(s->err, ECONNRESET, "the client left");
        if (r < 0)
            return r;
        if (type == HS_MSG_WANT_END)
            return s->n_bases && s->bases[s->n_bases - 1].have != s->bases[s->n_bases - 1].n
                       ? hs_err_setf(s->err, EPROTO, "bad block list from the client")
                       : 0;
        if (type == HS_MSG_BYE)
            return 1;
        if (type == HS_MSG_BLOCKS) {
            if ((r = read_blocks(s)) < 0)
                return r;
            continue;
        }
        if (type != HS_MSG_WANT || s->n_bases)
            return hs_err_setf(s->err, EPROTO, "unexpected message from the client");
        struct hs_dec d;
        hs_dec_init(&d, s->msg.data, s->msg.len);
        while (d.p < d.end) {
            uint64_t gap = hs_get_varint(&d), run = hs_get_varint(&d);
            if (d.bad || gap > s->count - at || run > s->count - at - gap)
                return hs_err_setf(s->err, EPROTO, "bad want list from the client");
            at += gap;
            for (uint64_t i = 0; i < run; i++, at++)
                s->want[at / 8] |= (unsigned char)(1u << (at % 8));
        }
    }
}

/* Opens the regular file at path (relative to the root), by components, no
 * symlink followed; the directory reached is kept for the next file. */
static int open_in_tree(struct server *s, const char *path, size_t len)
{
    size_t dlen = hs_path_dir_len(path, len);
    if (s->dirfd < 0 || s->dirpath.len != dlen || memcmp(s->dirpath.data, path, dlen) != 0) {
        if (s->dirfd >= 0 && s->dirfd != s->rootfd)
            close(s->dirfd);
        s->dirfd = -1;
        int fd = dlen ? hs_open_dir_beneath(s->rootfd, path, dlen) : s->rootfd;
        if (fd < 0)
            return fd;
        s->dirfd = fd;
        hs_buf_truncate(&s->dirpath, 0);
        if (hs_buf_append(&s->dirpath, path, dlen) < 0)
            return -ENOMEM;
    }
    const char *base = hs_path_base(path, len);
    char name[NAME_MAX + 1];
    size_t bl = len - (size_t)(base - path);
    if (bl > NAME_MAX || bl == 0)
        return -ENAMETOOLONG;
    memcpy(name, base, bl);
    name[bl] = '\0';
    int fd = hs_open_file_read(s->dirfd, name);
    return fd < 0 ? -errno : fd;
}

struct pax_out {
    struct server *s;
    struct archive *a;
    struct archive_entry *ent;
    unsigned char *buf;
};

static la_ssize_t pax_write(struct archive *a, void *user, const void *buf, size_t n)
{
    struct pax_out *p = user;
    const char *b = buf;
    size_t left = n;
    while (left) {
        size_t k = left > HS_WIRE_FRAME_FILL ? HS_WIRE_FRAME_FILL : left;
        if (hs_conn_send(&p->s->c, HS_MSG_DATA, b, k, p->s->err) < 0) {
            archive_set_error(a, EIO, "connection lost");
            return -1;
        }
        b += k;
        left -= k;
    }
    return (la_ssize_t)n;
}

static int pax_open(struct pax_out *p, struct server *s)
{
    p->s = s;
    p->a = archive_write_new();
    p->ent = archive_entry_new();
    p->buf = malloc(1u << 20);
    if (!p->a || !p->ent || !p->buf ||
        archive_write_set_format_pax_restricted(p->a) != ARCHIVE_OK ||
        archive_write_add_filter_zstd(p->a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(p->a, 0) != ARCHIVE_OK ||
        archive_write_open(p->a, p, NULL, pax_write, NULL) != ARCHIVE_OK)
        return hs_err_setf(s->err, EIO, "cannot start the data stream: %s",
                           p->a ? archive_error_string(p->a) : "out of memory");
    return 0;
}

static int pax_close(struct pax_out *p)
{
    int r = 0;
    if (p->a && archive_write_close(p->a) != ARCHIVE_OK)
        r = hs_err_setf(p->s->err, EIO, "data stream: %s", archive_error_string(p->a));
    if (p->a)
        archive_write_free(p->a);
    archive_entry_free(p->ent);
    free(p->buf);
    if (r == 0)
        r = hs_conn_send(&p->s->c, HS_MSG_DATA_END, NULL, 0, p->s->err);
    return r < 0 ? r : hs_conn_flush(&p->s->c, p->s->err);
}

/* The data of fd from off to end into the member (holes as zeros: the
 * pax writer drops what its sparse map calls a hole). A file that shrank
 * meanwhile is padded with zeros, and the client's hash of what arrived
 * decides what it is. */
static int send_range(struct pax_out *p, int fd, off_t off, off_t end)
{
    while (off < end) {
        size_t want = (size_t)(end - off < (1 << 20) ? end - off : (1 << 20));
        ssize_t n = pread(fd, p->buf, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            memset(p->buf, 0, want);
            n = (ssize_t)want;
        }
        if (archive_write_data(p->a, p->buf, (size_t)n) != n)
            return hs_err_setf(p->s->err, EIO, "data stream: %s", archive_error_string(p->a));
        off += n;
    }
    return 0;
}

static int send_zeros(struct pax_out *p, off_t n)
{
    memset(p->buf, 0, 1u << 20);
    while (n > 0) {
        size_t k = (size_t)(n < (1 << 20) ? n : (1 << 20));
        if (archive_write_data(p->a, p->buf, k) != (la_ssize_t)k)
            return hs_err_setf(p->s->err, EIO, "data stream: %s", archive_error_string(p->a));
        n -= (off_t)k;
    }
    return 0;
}

#define MAX_SEGMENTS 4096

/* The data segments of a file with holes into the entry's sparse map (its
 * holes then cost nothing on the wire and stay holes there): false when
 * there are too many to bother. */
static bool map_holes(struct pax_out *p, int fd, const struct stat *st)
{
    off_t at = 0;
    size_t n = 0;
    while (at < st->st_size) {
        off_t data = lseek(fd, at, SEEK_DATA);
        if (data < 0 || data >= st->st_size)
            break; /* ENXIO: a hole to the end */
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || hole > st->st_size)
            hole = st->st_size;
        if (++n > MAX_SEGMENTS) {
            archive_entry_sparse_clear(p->ent);
            return false;
        }
        archive_entry_sparse_add_entry(p->ent, data, hole - data);
        at = hole;
    }
    if (n == 0) /* all hole: one empty segment at the end keeps the size */
        archive_entry_sparse_add_entry(p->ent, st->st_size, 0);
    return true;
}

static int send_sparse(struct pax_out *p, int fd, const struct stat *st)
{
    off_t at = 0;
    int r = 0;
    /* A map of one segment, the whole file (every block of a delta
     * changed, a compressed file with no holes), is dropped by libarchive
     * (the member is plain) when counted, here by the reset itself, which
     * leaves its cursor on the freed segment: never read it then. */
    if (archive_entry_sparse_reset(p->ent) == 0)
        return send_range(p, fd, 0, st->st_size);
    la_int64_t off, len;
    while (r == 0 && archive_entry_sparse_next(p->ent, &off, &len) == ARCHIVE_OK) {
        if (off > at)
            r = send_zeros(p, off - at);
        if (r == 0)
            r = send_range(p, fd, off, off + len);
        at = off + len;
    }
    if (r == 0 && at < st->st_size)
        r = send_zeros(p, st->st_size - at);
    return r;
}

/* One file as the member named index. A file that cannot be read now is
 * left out: the client names it. */
/* An empty member named "INDEX-ERRNO": the file could not be sent, and why. */
static int send_failure(struct pax_out *p, uint64_t index, int errnum)
{
    char name[48];
    snprintf(name, sizeof name, "%" PRIu64 "-%d", index,
             errnum > 0 && errnum < 4096 ? errnum : EIO);
    archive_entry_clear(p->ent);
    archive_entry_set_pathname(p->ent, name);
    archive_entry_set_filetype(p->ent, AE_IFREG);
    archive_entry_set_perm(p->ent, 0600);
    archive_entry_set_size(p->ent, 0);
    return archive_write_header(p->a, p->ent) == ARCHIVE_OK &&
                   archive_write_finish_entry(p->a) == ARCHIVE_OK
               ? 0
               : hs_err_setf(p->s->err, EIO, "data stream: %s", archive_error_string(p->a));
}

/* The listed file, opened and checked to be the one listed, its size the
 * list's: 0 and *fd, or 0 and *fd -1 when its failure was sent instead. */
static int open_listed(struct pax_out *p, uint64_t index, const struct hs_rec *w, struct stat *st,
                       int *fd)
{
    *fd = open_in_tree(p->s, w->path, w->path_len);
    if (*fd < 0) {
        int err = *fd == -ELOOP ? ESTALE : -*fd;
        *fd = -1;
        return send_failure(p, index, err);
    }
    if (fstat(*fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_ino != w->st.st_ino ||
        st->st_dev != w->st.st_dev) {
        close(*fd);
        *fd = -1;
        return send_failure(p, index, ESTALE);
    }
    /* exactly the size the list said: the client takes no other (a file
     * that changed since is cut or padded, and its next pull sees it) */
    st->st_size = w->st.st_size;
    return 0;
}

static void member_head(struct pax_out *p, const char *name, const struct stat *st)
{
    archive_entry_clear(p->ent);
    archive_entry_set_pathname(p->ent, name);
    archive_entry_set_filetype(p->ent, AE_IFREG);
    archive_entry_set_perm(p->ent, st->st_mode & 07777);
    archive_entry_set_size(p->ent, st->st_size);
    archive_entry_set_mtime(p->ent, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

/* The member whose head is in p->ent, its data from fd (only the segments
 * of its sparse map if sparse); fd is closed. */
static int member_body(struct pax_out *p, int fd, const struct stat *st, bool sparse)
{
    int r = archive_write_header(p->a, p->ent) == ARCHIVE_OK
                ? 0
                : hs_err_setf(p->s->err, EIO, "data stream: %s", archive_error_string(p->a));
    if (r == 0)
        r = sparse ? send_sparse(p, fd, st) : send_range(p, fd, 0, st->st_size);
    close(fd);
    if (r == 0 && archive_write_finish_entry(p->a) != ARCHIVE_OK)
        r = hs_err_setf(p->s->err, EIO, "data stream: %s", archive_error_string(p->a));
    return r;
}

/* The member "INDEX" of the listed file open at fd (closed). */
static int send_whole(struct pax_out *p, uint64_t index, int fd, const struct stat *st)
{
    char name[32];
    snprintf(name, sizeof name, "%" PRIu64, index);
    member_head(p, name, st);
    bool sparse = (off_t)st->st_blocks * 512 < st->st_size && map_holes(p, fd, st);
    return member_body(p, fd, st, sparse);
}

static int send_file(struct pax_out *p, uint64_t index, const struct hs_rec *w)
{
    struct stat st;
    int fd;
    int r = open_listed(p, index, w, &st, &fd);
    return r < 0 || fd < 0 ? r : send_whole(p, index, fd, &st);
}

/* The blocks of fd (of the listed size) that differ from the client's base
 * into the entry's sparse map, runs of them as one segment: false when
 * there are too many (the file is then sent whole). A block is the base's
 * only if it is whole in both and its hash is the base's: the partial last
 * block is always sent. */
static bool map_changed(struct pax_out *p, int fd, const struct stat *st,
                        const struct base_blocks *bb)
{
    const uint64_t size = (uint64_t)st->st_size, bs = bb->bs;
    const size_t chunk = (1u << 20) / bs * bs;
    uint64_t seg_off = 0, seg_len = 0;
    size_t segs = 0;
    for (uint64_t at = 0; at < size; at += chunk) {
        size_t want = size - at < chunk ? (size_t)(size - at) : chunk;
        ssize_t n = hs_pread_full(fd, p->buf, want, (off_t)at);
        if (n < (ssize_t)want) /* shrank or unreadable: zeros, as send_range sends */
            memset(p->buf + (n > 0 ? n : 0), 0, want - (size_t)(n > 0 ? n : 0));
        for (uint64_t o = 0; o < want; o += bs) {
            uint64_t i = (at + o) / bs, len = want - o < bs ? want - o : bs;
            if (len == bs && i < bb->n && (i + 1) * bs <= bb->size &&
                XXH3_64bits(p->buf + o, bs) == bb->h[i])
                continue;
            if (seg_len && seg_off + seg_len == at + o) {
                seg_len += len;
                continue;
            }
            if (seg_len)
                archive_entry_sparse_add_entry(p->ent, (la_int64_t)seg_off, (la_int64_t)seg_len);
            if (++segs > HS_WIRE_MAX_SEGMENTS) {
                archive_entry_sparse_clear(p->ent);
                return false;
            }
            seg_off = at + o;
            seg_len = len;
        }
    }
    if (seg_len)
        archive_entry_sparse_add_entry(p->ent, (la_int64_t)seg_off, (la_int64_t)seg_len);
    else if (segs == 0) /* nothing changed: one empty segment at the end keeps the size */
        archive_entry_sparse_add_entry(p->ent, (la_int64_t)size, 0);
    return true;
}

/* A wanted file the client holds a base of: the member "INDEX.d" of the
 * blocks that differ, or (too many runs of them) the whole file. */
static int send_delta(struct pax_out *p, uint64_t index, const struct hs_rec *w,
                      const struct base_blocks *bb)
{
    struct stat st;
    int fd;
    int r = open_listed(p, index, w, &st, &fd);
    if (r < 0 || fd < 0)
        return r;
    char name[40];
    snprintf(name, sizeof name, "%" PRIu64 ".d", index);
    member_head(p, name, &st);
    if (map_changed(p, fd, &st, bb))
        return member_body(p, fd, &st, true);
    return send_whole(p, index, fd, &st); /* the same fd: not opened twice */
}

/* The base the client sent for index, if any (asked in rising order). */
static const struct base_blocks *base_of(struct server *s, uint64_t index)
{
    while (s->base_at < s->n_bases && s->bases[s->base_at].index < index)
        s->base_at++;
    return s->base_at < s->n_bases && s->bases[s->base_at].index == index ? &s->bases[s->base_at]
                                                                          : NULL;
}

static int send_wanted(struct server *s)
{
    if (lseek(s->listfd, 0, SEEK_SET) < 0)
        return hs_err_setf(s->err, errno, "list file");
    struct hs_conn fc;
    hs_conn_init(&fc, s->listfd, -1, 0, "list file");
    struct hs_ldec l;
    struct pax_out p = {0};
    int r = hs_ldec_init(&l, &fc) < 0 ? hs_err_setf(s->err, ENOMEM, "serve") : pax_open(&p, s);
    uint64_t index = 0;
    uint8_t op = 0;
    struct hs_rec w;
    uint64_t n = 0;
    while (r == 0) {
        int k = hs_ldec_next(&l, &op, &w, &n, NULL, NULL, s->err);
        if (k <= 0) {
            r = k;
            break;
        }
        const struct base_blocks *bb;
        if (wants(s, index) && S_ISREG(w.st.st_mode) && w.kind == HS_REC_ENTRY)
            r = (bb = base_of(s, index)) ? send_delta(&p, index, &w, bb) : send_file(&p, index, &w);
        index++;
    }
    int k = pax_close(&p);
    hs_ldec_free(&l);
    hs_conn_free(&fc);
    return r < 0 ? r : k;
}

/* FETCH: one file the client found it needs while building. */
static int fetch(struct server *s)
{
    struct hs_dec d;
    hs_dec_init(&d, s->msg.data, s->msg.len);
    struct hs_rec w = {0};
    uint64_t index = hs_get_varint(&d);
    w.st.st_dev = (dev_t)hs_get_varint(&d);
    w.st.st_ino = (ino_t)hs_get_varint(&d);
    uint64_t size = hs_get_varint(&d);
    w.st.st_size = (off_t)(size > INT64_MAX ? 0 : size);
    w.path = hs_get_bytes(&d, HS_WIRE_MAX_PATH, &w.path_len);
    if (d.bad || d.p != d.end || !hs_wire_path_ok(w.path, w.path_len) || !w.path_len)
        return hs_err_setf(s->err, EPROTO, "bad fetch request from the client");
    struct pax_out p = {0};
    int r = pax_open(&p, s);
    if (r == 0)
        r = send_file(&p, index, &w);
    int k = pax_close(&p);
    return r < 0 ? r : k;
}

static int serve_rest(struct server *s)
{
    for (;;) {
        uint8_t type = 0;
        int r = hs_conn_recv(&s->c, &type, &s->msg, s->err);
        if (r <= 0)
            return r;
        if (type == HS_MSG_BYE)
            return 0;
        if (type != HS_MSG_FETCH)
            return hs_err_setf(s->err, EPROTO, "unexpected message from the client");
        if ((r = fetch(s)) < 0)
            return r;
    }
}

enum hs_status hs_serve(const struct hs_serve_opts *o, struct hs_err *err)
{
    struct server s = {.o = o, .err = err, .rootfd = -1, .cachefd = -1, .listfd = -1, .dirfd = -1};
    hs_err_clear(err);
    hs_conn_init(&s.c, o->in_fd, o->out_fd, o->timeout, "client");
    int r = hs_copier_init(&s.copier, HS_COPY_AUTO) < 0 ? hs_err_setf(err, ENOMEM, "serve") : 0;
    if (r == 0)
        r = hello(&s);
    if (r == 0)
        r = read_request(&s);
    if (r == 0)
        r = open_root(&s);
    if (r == 0) {
        s.cachefd = open_cache();
        hs_wire_hex(s.req.key, 16, s.key);
        r = send_list(&s);
    }
    if (r == 0 && (r = read_wants(&s)) == 0)
        r = send_wanted(&s);
    if (r == 0)
        r = serve_rest(&s);
    else if (r == 1)
        r = 0;
    if (s.dirfd >= 0 && s.dirfd != s.rootfd)
        close(s.dirfd);
    if (s.rootfd >= 0)
        close(s.rootfd);
    if (s.cachefd >= 0)
        close(s.cachefd);
    if (s.listfd >= 0)
        close(s.listfd);
    free(s.want);
    for (size_t i = 0; i < s.n_bases; i++)
        free(s.bases[i].h);
    free(s.bases);
    hs_req_free(&s.req);
    hs_conn_free(&s.c);
    hs_buf_free(&s.msg);
    hs_buf_free(&s.target);
    hs_buf_free(&s.xbuf);
    hs_buf_free(&s.path);
    hs_buf_free(&s.dirpath);
    hs_xattrs_free(&s.xa);
    hs_copier_free(&s.copier);
    if (r < 0 && s.told) {
        /* said once, by the client, not twice through the remote shell */
        enum hs_status kind = err->kind ? err->kind : HS_FAILED;
        hs_err_clear(err);
        return kind;
    }
    return r < 0 ? (err->kind ? err->kind : HS_FAILED) : HS_OK;
}
