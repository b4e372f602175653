#include "wire.h"
#include "bytes.h"
#include "err.h"
#include "exclude.h"
#include "xattr.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xxhash.h>

#define RBUF_SIZE (256u << 10)
#define WBUF_SIZE (256u << 10)

/* ---- frames ----------------------------------------------------------- */

void hs_conn_init(struct hs_conn *c, int in, int out, unsigned timeout_s, const char *peer)
{
    memset(c, 0, sizeof *c);
    c->in = in;
    c->out = out;
    c->timeout_ms = timeout_s ? (int)(timeout_s > 2000000 ? 2000000000 : timeout_s * 1000) : -1;
    c->peer = peer;
}

static int wait_for(struct hs_conn *c, int fd, short what, struct hs_err *e)
{
    if (c->timeout_ms < 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = what};
    for (;;) {
        int n = poll(&p, 1, c->timeout_ms);
        if (n > 0)
            return 0;
        if (n == 0)
            return hs_err_setf(e, ETIMEDOUT, "%s: no data for %d s", c->peer, c->timeout_ms / 1000);
        if (errno != EINTR)
            return hs_err_setf(e, errno, "%s", c->peer);
    }
}

int hs_conn_flush(struct hs_conn *c, struct hs_err *e)
{
    size_t off = 0;
    while (off < c->wbuf.len) {
        int r = wait_for(c, c->out, POLLOUT, e);
        if (r < 0)
            return r;
        /* a socket (the remote shell's) must not raise SIGPIPE in a library */
        const char *p = c->wbuf.data + off;
        size_t left = c->wbuf.len - off;
        ssize_t n = -1;
        if (!c->not_socket) {
            n = send(c->out, p, left, MSG_NOSIGNAL);
            c->not_socket = n < 0 && errno == ENOTSOCK;
        }
        if (c->not_socket)
            n = write(c->out, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return hs_err_setf(e, errno == EPIPE ? ECONNRESET : errno, "%s: connection lost",
                               c->peer);
        off += (size_t)n;
        c->bytes_out += (uint64_t)n;
    }
    hs_buf_truncate(&c->wbuf, 0);
    return 0;
}

int hs_conn_send(struct hs_conn *c, uint8_t type, const void *p, size_t n, struct hs_err *e)
{
    if (n > HS_WIRE_MAX_FRAME)
        return hs_err_setf(e, EMSGSIZE, "%s: frame too large", c->peer);
    unsigned char h[5] = {type};
    hs_le32_store(h + 1, (uint32_t)n);
    if (hs_buf_append(&c->wbuf, h, sizeof h) < 0 || hs_buf_append(&c->wbuf, p, n) < 0)
        return hs_err_setf(e, ENOMEM, "%s", c->peer);
    return c->wbuf.len >= WBUF_SIZE ? hs_conn_flush(c, e) : 0;
}

/* Fills the read buffer: 1, 0 at end of input, <0. */
static int fill(struct hs_conn *c, struct hs_err *e)
{
    if (!c->rbuf && !(c->rbuf = malloc(RBUF_SIZE)))
        return hs_err_setf(e, ENOMEM, "%s", c->peer);
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
    for (;;) {
        int r = wait_for(c, c->in, POLLIN, e);
        if (r < 0)
            return r;
        ssize_t n = read(c->in, c->rbuf + c->rlen, RBUF_SIZE - c->rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return hs_err_setf(e, errno, "%s: connection lost", c->peer);
        c->rlen += (size_t)n;
        c->bytes_in += (uint64_t)n;
        return n > 0;
    }
}

/* n bytes into dst (NULL: into payload's end). 1, 0 at end before any, <0. */
static int read_exact(struct hs_conn *c, void *dst, size_t n, struct hs_err *e)
{
    size_t got = 0;
    while (got < n) {
        if (c->rpos == c->rlen) {
            int r = fill(c, e);
            if (r < 0)
                return r;
            if (r == 0)
                return got == 0
                           ? 0
                           : hs_err_setf(e, ECONNRESET, "%s: connection cut mid-frame", c->peer);
        }
        size_t k = c->rlen - c->rpos < n - got ? c->rlen - c->rpos : n - got;
        memcpy((char *)dst + got, c->rbuf + c->rpos, k);
        c->rpos += k;
        got += k;
        if (c->rpos == c->rlen)
            c->rpos = c->rlen = 0;
    }
    return 1;
}

int hs_conn_recv(struct hs_conn *c, uint8_t *type, struct hs_buf *payload, struct hs_err *e)
{
    if (c->out >= 0 && c->wbuf.len) {
        int r = hs_conn_flush(c, e);
        if (r < 0)
            return r;
    }
    unsigned char h[5];
    int r = read_exact(c, h, sizeof h, e);
    if (r <= 0)
        return r;
    uint32_t n = hs_le32_load(h + 1);
    if (n > HS_WIRE_MAX_FRAME)
        return hs_err_setf(e, EBADMSG, "%s: frame of %u bytes (at most %u)", c->peer, n,
                           HS_WIRE_MAX_FRAME);
    hs_buf_truncate(payload, 0);
    if (hs_buf_reserve(payload, n) < 0)
        return hs_err_setf(e, ENOMEM, "%s", c->peer);
    if (n && (r = read_exact(c, payload->data, n, e)) <= 0)
        return r < 0 ? r : hs_err_setf(e, ECONNRESET, "%s: connection cut mid-frame", c->peer);
    payload->len = n;
    *type = h[0];
    return 1;
}

void hs_conn_free(struct hs_conn *c)
{
    hs_buf_free(&c->wbuf);
    free(c->rbuf);
    c->rbuf = NULL;
}

/* ---- values ----------------------------------------------------------- */

int hs_put_varint(struct hs_buf *b, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    return hs_buf_append(b, t, n);
}

int hs_put_bytes(struct hs_buf *b, const void *p, size_t n)
{
    return hs_put_varint(b, n) < 0 || hs_buf_append(b, p, n) < 0 ? -ENOMEM : 0;
}

uint64_t hs_get_varint(struct hs_dec *d)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (d->p >= d->end)
            break;
        unsigned char c = *d->p++;
        if (shift == 63 && c > 1)
            break;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    d->bad = true;
    return 0;
}

uint8_t hs_get_u8(struct hs_dec *d)
{
    if (d->p >= d->end) {
        d->bad = true;
        return 0;
    }
    return *d->p++;
}

const void *hs_get_raw(struct hs_dec *d, size_t n)
{
    if (d->bad || (size_t)(d->end - d->p) < n) {
        d->bad = true;
        return NULL;
    }
    const void *p = d->p;
    d->p += n;
    return p;
}

const void *hs_get_bytes(struct hs_dec *d, size_t max, size_t *n)
{
    uint64_t len = hs_get_varint(d);
    *n = 0;
    if (len > max) {
        d->bad = true;
        return NULL;
    }
    const void *p = hs_get_raw(d, (size_t)len);
    if (p)
        *n = (size_t)len;
    return p;
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- xattrs in records ------------------------------------------------ */

int hs_rec_xattrs_put(struct hs_buf *b, const struct hs_xattrs *xa)
{
    const char *name = xa->names.data;
    const unsigned char *val = (const unsigned char *)xa->values.data;
    int r = hs_put_varint(b, xa->count);
    for (size_t i = 0; r == 0 && i < xa->count; i++) {
        size_t nl = strlen(name);
        uint32_t vl = hs_le32_load(val);
        r = hs_put_bytes(b, name, nl) < 0 || hs_put_bytes(b, val + 4, vl) < 0 ? -ENOMEM : 0;
        name += nl + 1;
        val += 4 + vl;
    }
    return r;
}

#define MAX_XATTR_NAME  255
#define MAX_XATTR_VALUE 65536
#define MAX_XATTRS      4096

int hs_rec_xattrs_get(const void *p, size_t n, struct hs_xattrs *xa, bool all)
{
    struct hs_dec d;
    hs_dec_init(&d, p, n);
    xa->count = 0;
    if (!n)
        return 0;
    uint64_t count = hs_get_varint(&d);
    if (d.bad || count > MAX_XATTRS)
        return -EBADMSG;
    const char **names = calloc(count ? count : 1, sizeof *names);
    const void **values = calloc(count ? count : 1, sizeof *values);
    size_t *sizes = calloc(count ? count : 1, sizeof *sizes);
    char *nbuf = malloc(count * (MAX_XATTR_NAME + 1) + 1);
    int r = names && values && sizes && nbuf ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < count; i++) {
        size_t nl;
        const char *nm = hs_get_bytes(&d, MAX_XATTR_NAME, &nl);
        values[i] = hs_get_bytes(&d, MAX_XATTR_VALUE, &sizes[i]);
        if (d.bad || !nl || memchr(nm, 0, nl)) {
            r = -EBADMSG;
            break;
        }
        char *dst = nbuf + i * (MAX_XATTR_NAME + 1);
        memcpy(dst, nm, nl);
        dst[nl] = '\0';
        names[i] = dst;
    }
    if (r == 0 && d.p != d.end)
        r = -EBADMSG;
    if (r == 0)
        r = hs_xattr_set(xa, names, values, sizes, (size_t)count, all);
    free(names);
    free(values);
    free(sizes);
    free(nbuf);
    return r;
}

/* ---- records ---------------------------------------------------------- */

/* The record's identity after its path: every field, canonical. */
static int put_body(struct hs_buf *b, const struct hs_rec *r)
{
    const struct stat *st = &r->st;
    int k = 0;
    k |= hs_buf_putc(b, (char)r->kind);
    k |= hs_put_varint(b, st->st_mode);
    k |= hs_put_varint(b, st->st_uid);
    k |= hs_put_varint(b, st->st_gid);
    k |= hs_put_varint(b, (uint64_t)st->st_size);
    k |= hs_put_varint(b, zigzag(st->st_mtim.tv_sec));
    k |= hs_put_varint(b, (uint64_t)st->st_mtim.tv_nsec);
    k |= hs_put_varint(b, zigzag(st->st_ctim.tv_sec));
    k |= hs_put_varint(b, (uint64_t)st->st_ctim.tv_nsec);
    k |= hs_put_varint(b, st->st_dev);
    k |= hs_put_varint(b, st->st_ino);
    k |= hs_put_varint(b, st->st_nlink);
    k |= hs_put_varint(b, st->st_rdev);
    k |= hs_put_bytes(b, r->target, r->target_len);
    k |= hs_put_bytes(b, r->xattrs, r->xattrs_len);
    if (r->kind == HS_REC_ERROR) {
        k |= hs_put_varint(b, (uint64_t)r->err);
        k |= hs_put_varint(b, r->unentered);
        k |= hs_put_bytes(b, r->what, r->what_len);
    }
    return k ? -ENOMEM : 0;
}

static bool get_body(struct hs_dec *d, struct hs_rec *r)
{
    struct stat *st = &r->st;
    memset(st, 0, sizeof *st);
    r->kind = hs_get_u8(d);
    uint64_t mode = hs_get_varint(d);
    st->st_mode = (mode_t)mode;
    st->st_uid = (uid_t)hs_get_varint(d);
    st->st_gid = (gid_t)hs_get_varint(d);
    uint64_t size = hs_get_varint(d);
    st->st_size = (off_t)size;
    st->st_mtim.tv_sec = (time_t)unzigzag(hs_get_varint(d));
    uint64_t mns = hs_get_varint(d);
    st->st_ctim.tv_sec = (time_t)unzigzag(hs_get_varint(d));
    uint64_t cns = hs_get_varint(d);
    st->st_mtim.tv_nsec = (long)mns;
    st->st_ctim.tv_nsec = (long)cns;
    st->st_dev = (dev_t)hs_get_varint(d);
    st->st_ino = (ino_t)hs_get_varint(d);
    st->st_nlink = (nlink_t)hs_get_varint(d);
    st->st_rdev = (dev_t)hs_get_varint(d);
    r->target = hs_get_bytes(d, HS_WIRE_MAX_TARGET, &r->target_len);
    r->xattrs = hs_get_bytes(d, HS_WIRE_MAX_XATTRS, &r->xattrs_len);
    r->err = 0;
    r->unentered = false;
    r->what = NULL;
    r->what_len = 0;
    if (r->kind == HS_REC_ERROR) {
        uint64_t err = hs_get_varint(d);
        r->err = err > 4095 ? EIO : (int)err;
        r->unentered = hs_get_varint(d) != 0;
        r->what = hs_get_bytes(d, HS_WIRE_MAX_WHAT, &r->what_len);
    }
    bool ok = !d->bad && (r->kind == HS_REC_ENTRY || r->kind == HS_REC_ERROR) &&
              mode <= 0xffffffffu && size <= INT64_MAX && mns < 1000000000 && cns < 1000000000;
    if (ok && r->kind == HS_REC_ENTRY)
        ok = S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || S_ISLNK(st->st_mode) ||
             S_ISFIFO(st->st_mode) || S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ||
             S_ISSOCK(st->st_mode);
    if (ok && r->kind == HS_REC_ENTRY && S_ISLNK(st->st_mode))
        ok = r->target_len > 0 && !memchr(r->target, 0, r->target_len);
    return ok;
}

/* A path the list may hold: relative, its components neither empty, "."
 * nor "..", no NUL. */
bool hs_wire_path_ok(const char *p, size_t n)
{
    if (n == 0)
        return true;
    if (memchr(p, 0, n))
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        size_t len = i - start;
        if (len == 0 || len > 255 || (len == 1 && p[start] == '.') ||
            (len == 2 && p[start] == '.' && p[start + 1] == '.'))
            return false;
        start = i + 1;
    }
    return true;
}

static int id_update(void *state, const struct hs_rec *r, struct hs_buf *scratch)
{
    hs_buf_truncate(scratch, 0);
    if (hs_put_bytes(scratch, r->path, r->path_len) < 0 || put_body(scratch, r) < 0)
        return -ENOMEM;
    XXH3_128bits_update(state, scratch->data, scratch->len);
    return 0;
}

static void id_digest(void *state, uint8_t id[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(state));
    memcpy(id, c.digest, 16);
}

int hs_lenc_init(struct hs_lenc *l, struct hs_conn *c)
{
    memset(l, 0, sizeof *l);
    l->c = c;
    l->id = XXH3_createState();
    if (!l->id)
        return -ENOMEM;
    XXH3_128bits_reset(l->id);
    return 0;
}

static int lenc_flush(struct hs_lenc *l, struct hs_err *e)
{
    if (!l->frame.len)
        return 0;
    int r = hs_conn_send(l->c, HS_MSG_LIST, l->frame.data, l->frame.len, e);
    hs_buf_truncate(&l->frame, 0);
    hs_buf_truncate(&l->prev, 0);
    return r;
}

int hs_lenc_cut(struct hs_lenc *l, struct hs_err *e)
{
    return lenc_flush(l, e);
}

static int lenc_room(struct hs_lenc *l, struct hs_err *e)
{
    return l->frame.len >= HS_WIRE_FRAME_FILL ? lenc_flush(l, e) : 0;
}

int hs_lenc_count(struct hs_lenc *l, const struct hs_rec *r)
{
    l->count++;
    return id_update(l->id, r, &l->body);
}

int hs_lenc_rec(struct hs_lenc *l, const struct hs_rec *r, bool annotate, struct hs_err *e)
{
    int k = lenc_room(l, e);
    if (k < 0)
        return k;
    if (hs_lenc_count(l, r) < 0)
        return hs_err_setf(e, ENOMEM, "list");
    size_t shared = 0;
    while (shared < l->prev.len && shared < r->path_len && l->prev.data[shared] == r->path[shared])
        shared++;
    hs_buf_truncate(&l->body, 0);
    k = hs_buf_putc(&l->frame, HS_LOP_REC) | hs_put_varint(&l->frame, shared) |
        hs_put_bytes(&l->frame, r->path + shared, r->path_len - shared) | put_body(&l->body, r) |
        hs_put_bytes(&l->frame, l->body.data, l->body.len);
    uint8_t flags = annotate ? (uint8_t)((r->has_hash ? 1 : 0) | (r->data_err ? 2 : 0)) : 0;
    k |= hs_buf_putc(&l->frame, (char)flags);
    if (flags & 1)
        k |= hs_buf_append(&l->frame, r->hash, 16);
    if (flags & 2)
        k |= hs_put_varint(&l->frame, (uint64_t)r->data_err);
    hs_buf_truncate(&l->prev, 0);
    k |= hs_buf_append(&l->prev, r->path, r->path_len);
    if (k)
        return hs_err_setf(e, ENOMEM, "list");
    if (l->frame.len > HS_WIRE_MAX_FRAME)
        return hs_err_setf(e, EMSGSIZE, "list record too large");
    return 0;
}

int hs_lenc_op(struct hs_lenc *l, uint8_t op, uint64_t n, struct hs_err *e)
{
    int k = lenc_room(l, e);
    if (k < 0)
        return k;
    if (hs_buf_putc(&l->frame, (char)op) < 0 || hs_put_varint(&l->frame, n) < 0)
        return hs_err_setf(e, ENOMEM, "list");
    return 0;
}

int hs_lenc_finish(struct hs_lenc *l, uint8_t id[16], struct hs_err *e)
{
    int k = lenc_flush(l, e);
    if (k < 0)
        return k;
    unsigned char end[24];
    hs_le64_store(end, l->count);
    id_digest(l->id, id);
    memcpy(end + 8, id, 16);
    k = hs_conn_send(l->c, HS_MSG_LIST_END, end, sizeof end, e);
    return k < 0 ? k : hs_conn_flush(l->c, e);
}

void hs_lenc_free(struct hs_lenc *l)
{
    hs_buf_free(&l->frame);
    hs_buf_free(&l->prev);
    hs_buf_free(&l->body);
    if (l->id)
        XXH3_freeState(l->id);
    l->id = NULL;
}

int hs_ldec_init(struct hs_ldec *l, struct hs_conn *c)
{
    memset(l, 0, sizeof *l);
    l->c = c;
    l->idstate = XXH3_createState();
    if (!l->idstate)
        return -ENOMEM;
    XXH3_128bits_reset(l->idstate);
    return 0;
}

static int bad_list(struct hs_ldec *l, struct hs_err *e, const char *why)
{
    return hs_err_setf(e, EBADMSG, "%s: damaged list (%s)", l->c->peer, why);
}

static int ldec_rec(struct hs_ldec *l, struct hs_rec *r, struct hs_err *e)
{
    struct hs_dec *d = &l->d;
    uint64_t shared = hs_get_varint(d);
    size_t n;
    const char *suffix = hs_get_bytes(d, HS_WIRE_MAX_PATH, &n);
    if (d->bad || shared > l->path.len || shared + n > HS_WIRE_MAX_PATH)
        return bad_list(l, e, "path");
    hs_buf_truncate(&l->path, (size_t)shared);
    if (hs_buf_append(&l->path, suffix, n) < 0)
        return hs_err_setf(e, ENOMEM, "list");
    memset(r, 0, sizeof *r);
    r->path = l->path.data;
    r->path_len = l->path.len;
    size_t bl;
    const void *body = hs_get_bytes(d, HS_WIRE_MAX_FRAME, &bl);
    struct hs_dec bd;
    hs_dec_init(&bd, body, bl);
    if (d->bad || !get_body(&bd, r) || bd.p != bd.end || !hs_wire_path_ok(r->path, r->path_len))
        return bad_list(l, e, "record");
    uint8_t flags = hs_get_u8(d);
    if (flags & 1) {
        const void *h = hs_get_raw(d, 16);
        if (h)
            memcpy(r->hash, h, 16);
        r->has_hash = true;
    }
    if (flags & 2) {
        uint64_t err = hs_get_varint(d);
        r->data_err = err == 0 || err > 4095 ? EIO : (int)err;
    }
    if (d->bad || flags > 3)
        return bad_list(l, e, "annotation");
    return 0;
}

int hs_ldec_next(struct hs_ldec *l, uint8_t *op, struct hs_rec *r, uint64_t *n,
                 int (*handle)(void *user, uint8_t type, struct hs_dec *d), void *user,
                 struct hs_err *e)
{
    if (l->ended)
        return 0;
    while (!l->in_frame || l->d.p == l->d.end) {
        uint8_t type = 0;
        int k = hs_conn_recv(l->c, &type, &l->payload, e);
        if (k < 0)
            return k;
        if (k == 0)
            return hs_err_setf(e, ECONNRESET, "%s: connection closed before the list ended",
                               l->c->peer);
        if (type == HS_MSG_LIST) {
            hs_dec_init(&l->d, l->payload.data, l->payload.len);
            hs_buf_truncate(&l->path, 0);
            l->in_frame = true;
            continue;
        }
        if (type == HS_MSG_LIST_END) {
            struct hs_dec d;
            hs_dec_init(&d, l->payload.data, l->payload.len);
            const unsigned char *end = hs_get_raw(&d, 24);
            if (!end || d.p != d.end)
                return bad_list(l, e, "end");
            l->count = hs_le64_load(end);
            memcpy(l->id, end + 8, 16);
            l->ended = true;
            return 0;
        }
        struct hs_dec d;
        hs_dec_init(&d, l->payload.data, l->payload.len);
        if (!handle || (k = handle(user, type, &d)) == -ENOMSG)
            return hs_err_setf(e, EBADMSG, "%s: unexpected message '%c' in the list", l->c->peer,
                               type >= 32 && type < 127 ? type : '?');
        if (k < 0)
            return k;
        l->in_frame = false;
    }
    *op = hs_get_u8(&l->d);
    if (*op == HS_LOP_REC)
        return ldec_rec(l, r, e) < 0 ? -EBADMSG : 1;
    if (*op == HS_LOP_KEEP || *op == HS_LOP_DROP) {
        *n = hs_get_varint(&l->d);
        return l->d.bad || *n == 0 ? bad_list(l, e, "operation") : 1;
    }
    return bad_list(l, e, "operation");
}

int hs_ldec_count(struct hs_ldec *l, const struct hs_rec *r)
{
    l->seen++;
    struct hs_buf scratch = {0};
    int k = id_update(l->idstate, r, &scratch);
    hs_buf_free(&scratch);
    return k;
}

bool hs_ldec_id_ok(struct hs_ldec *l)
{
    uint8_t id[16];
    id_digest(l->idstate, id);
    return l->ended && l->seen == l->count && memcmp(id, l->id, 16) == 0;
}

void hs_ldec_free(struct hs_ldec *l)
{
    hs_buf_free(&l->payload);
    hs_buf_free(&l->path);
    if (l->idstate)
        XXH3_freeState(l->idstate);
    l->idstate = NULL;
}

bool hs_rec_equal(const struct hs_rec *a, const struct hs_rec *b)
{
    const struct stat *x = &a->st, *y = &b->st;
    return a->kind == b->kind && a->path_len == b->path_len &&
           memcmp(a->path, b->path, a->path_len) == 0 && x->st_mode == y->st_mode &&
           x->st_uid == y->st_uid && x->st_gid == y->st_gid && x->st_size == y->st_size &&
           x->st_mtim.tv_sec == y->st_mtim.tv_sec && x->st_mtim.tv_nsec == y->st_mtim.tv_nsec &&
           x->st_ctim.tv_sec == y->st_ctim.tv_sec && x->st_ctim.tv_nsec == y->st_ctim.tv_nsec &&
           x->st_dev == y->st_dev && x->st_ino == y->st_ino && x->st_nlink == y->st_nlink &&
           x->st_rdev == y->st_rdev && a->target_len == b->target_len &&
           (!a->target_len || memcmp(a->target, b->target, a->target_len) == 0) &&
           a->xattrs_len == b->xattrs_len &&
           (!a->xattrs_len || memcmp(a->xattrs, b->xattrs, a->xattrs_len) == 0) &&
           a->err == b->err && a->unentered == b->unentered && a->what_len == b->what_len &&
           (!a->what_len || memcmp(a->what, b->what, a->what_len) == 0);
}

int hs_rec_copy_set(struct hs_rec_copy *c, const struct hs_rec *r)
{
    hs_buf_truncate(&c->path, 0);
    hs_buf_truncate(&c->target, 0);
    hs_buf_truncate(&c->xattrs, 0);
    hs_buf_truncate(&c->what, 0);
    if (hs_buf_append(&c->path, r->path, r->path_len) < 0 ||
        hs_buf_append(&c->target, r->target, r->target_len) < 0 ||
        hs_buf_append(&c->xattrs, r->xattrs, r->xattrs_len) < 0 ||
        hs_buf_append(&c->what, r->what, r->what_len) < 0 || hs_buf_reserve(&c->path, 1) < 0 ||
        hs_buf_reserve(&c->target, 1) < 0 || hs_buf_reserve(&c->xattrs, 1) < 0 ||
        hs_buf_reserve(&c->what, 1) < 0)
        return -ENOMEM;
    c->r = *r;
    c->r.path = c->path.data;
    c->r.target = c->target.data;
    c->r.xattrs = c->xattrs.data;
    c->r.what = c->what.data;
    return 0;
}

void hs_rec_copy_free(struct hs_rec_copy *c)
{
    hs_buf_free(&c->path);
    hs_buf_free(&c->target);
    hs_buf_free(&c->xattrs);
    hs_buf_free(&c->what);
}

int hs_list_file_id(int fd, uint8_t id[16])
{
    struct stat st;
    unsigned char end[29];
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof end ||
        pread(fd, end, sizeof end, st.st_size - (off_t)sizeof end) != (ssize_t)sizeof end ||
        end[0] != HS_MSG_LIST_END || hs_le32_load(end + 1) != 24)
        return -EBADMSG;
    memcpy(id, end + 13, 16);
    return 0;
}

void hs_wire_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- hello and request ------------------------------------------------ */

#define HELLO_MAGIC "HSNP"

int hs_wire_hello(struct hs_buf *b)
{
    unsigned char v[4];
    hs_le32_store(v, HS_PROTO_VERSION);
    return hs_buf_append(b, HELLO_MAGIC, 4) | hs_buf_append(b, v, 4) |
                   hs_put_bytes(b, HS_VERSION, strlen(HS_VERSION))
               ? -ENOMEM
               : 0;
}

int hs_wire_hello_check(const void *p, size_t n, const char *who, char *why, size_t len)
{
    struct hs_dec d;
    hs_dec_init(&d, p, n);
    const char *magic = hs_get_raw(&d, 4);
    const unsigned char *v = hs_get_raw(&d, 4);
    size_t vl = 0;
    const char *ver = hs_get_bytes(&d, 64, &vl);
    if (!magic || memcmp(magic, HELLO_MAGIC, 4) != 0 || !v || d.bad) {
        snprintf(why, len, "%s is not a hardsnap of this kind (no hardsnap hello)", who);
        return -EPROTO;
    }
    uint32_t version = hs_le32_load(v);
    if (version == HS_PROTO_VERSION)
        return 0;
    char other[65];
    size_t k = 0;
    for (size_t i = 0; i < vl; i++)
        if (ver[i] > 32 && ver[i] < 127)
            other[k++] = ver[i];
    other[k] = '\0';
    snprintf(why, len,
             "protocol version mismatch: this hardsnap (%s) speaks version %d, %s (hardsnap %s) "
             "speaks version %u: install the same hardsnap on both ends",
             HS_VERSION, HS_PROTO_VERSION, who, k ? other : "?", version);
    return -EPROTO;
}

int hs_req_encode(const struct hs_req *q, struct hs_buf *b)
{
    struct hs_buf g = {0}, o = {0};
    int r = hs_exclude_encode(q->global, &g) | hs_exclude_encode(q->own, &o);
    r |= hs_put_varint(b, q->flags) | hs_put_bytes(b, q->path.data, q->path.len) |
         hs_put_bytes(b, q->prefix.data, q->prefix.len) | hs_put_bytes(b, g.data, g.len) |
         hs_put_bytes(b, o.data, o.len) | hs_buf_putc(b, q->has_base) |
         hs_buf_append(b, q->key, 16) | hs_buf_append(b, q->base_id, 16);
    hs_buf_free(&g);
    hs_buf_free(&o);
    return r ? -ENOMEM : 0;
}

int hs_req_decode(struct hs_req *q, const void *p, size_t n)
{
    struct hs_dec d;
    hs_dec_init(&d, p, n);
    uint64_t flags = hs_get_varint(&d);
    size_t pl, xl, gl, ol;
    const char *path = hs_get_bytes(&d, HS_WIRE_MAX_PATH, &pl);
    const char *prefix = hs_get_bytes(&d, 256, &xl);
    const void *g = hs_get_bytes(&d, HS_WIRE_MAX_FRAME, &gl);
    const void *o = hs_get_bytes(&d, HS_WIRE_MAX_FRAME, &ol);
    uint8_t has_base = hs_get_u8(&d);
    const void *key = hs_get_raw(&d, 16);
    const void *id = hs_get_raw(&d, 16);
    if (d.bad || d.p != d.end || flags > (HS_REQ_ONE_FS | HS_REQ_HASHES | HS_REQ_CHECKSUM) || !pl ||
        memchr(path, 0, pl) || memchr(prefix, 0, xl) || has_base > 1 ||
        (xl && (xl < 2 || prefix[xl - 1] != '/' || !hs_wire_path_ok(prefix, xl - 1))))
        return -EBADMSG;
    q->flags = (uint32_t)flags;
    q->has_base = has_base;
    memcpy(q->key, key, 16);
    memcpy(q->base_id, id, 16);
    if (hs_buf_append(&q->path, path, pl) < 0 || hs_buf_append(&q->prefix, prefix, xl) < 0 ||
        hs_buf_reserve(&q->prefix, 1) < 0)
        return -ENOMEM;
    int r = hs_exclude_decode(&q->global, g, gl);
    return r < 0 ? r : hs_exclude_decode(&q->own, o, ol);
}

void hs_req_free(struct hs_req *q)
{
    hs_buf_free(&q->path);
    hs_buf_free(&q->prefix);
    hs_exclude_free(q->global);
    hs_exclude_free(q->own);
    q->global = q->own = NULL;
}
