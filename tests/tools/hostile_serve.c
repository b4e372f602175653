/*
 * A hostile "hardsnap serve" for tests/integration/t83_remote_hostile.sh:
 * run as the remote program (hardsnap backup -e FAKE_RSH --hardsnap-path
 * "hostile_serve MODE" host:/any DEST runs "hostile_serve MODE serve" on
 * stdin/stdout), it speaks enough of the protocol (wire.h) to reach the
 * client's checks and then misbehaves as MODE says (see modes[] below).
 *
 * Environment: HS_HOSTILE_TARGET  a directory outside the store that the
 *                                 crafted paths and symlinks aim at
 *              HS_HOSTILE_LOG     appended "MODE sent BYTES blocks N" at the
 *                                 end (N: the block hashes the client sent)
 *              HS_HOSTILE_BIG     the delta-* modes: a file of at least
 *                                 4 MiB, listed as "big" (the file the
 *                                 client's previous snapshot holds an older
 *                                 version of), its content what an honest
 *                                 server sends
 */
#include "bytes.h"
#include "fsutil.h"
#include "wire.h"
#include "xattr.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static const char *const modes[] = {
    "honest",        /* a correct pull of "", f (5 bytes): the harness works */
    "version",       /* HELLO of protocol version 99 */
    "garbage",       /* not hardsnap at all */
    "bigframe",      /* a frame header claiming 4 GiB */
    "abs",           /* a list entry with an absolute path into the target */
    "dotdot",        /* a list entry ../../outside/pwned */
    "symlink",       /* l -> target, then l/pwned */
    "order",         /* b before a */
    "tworoots",      /* "" twice */
    "rootfile",      /* the root is a regular file */
    "bigtarget",     /* a symlink with a 1 MiB target */
    "manyxattrs",    /* a file with 100000 xattrs */
    "badid",         /* LIST_END's id is not the list's */
    "badcount",      /* LIST_END's count lies */
    "keep",          /* KEEP ops though the client has no base */
    "data-unwanted", /* members for indexes not asked for */
    "data-dotdot",   /* a member named ../../outside/pwned */
    "data-abs",      /* a member named TARGET/pwned */
    "data-big",      /* a member larger than its record */
    "data-endless",  /* a member that never ends (random data) */
    "cut-list",      /* the connection ends mid-list */
    "cut-data",      /* the connection ends mid-data */
    /* The changed blocks of a big file (BLOCKS, "INDEX.d"): the list is "",
     * big (HS_HOSTILE_BIG), f (5 bytes); the client must have sent BLOCKS
     * for big. */
    "delta-honest",   /* big's changed blocks, as hardsnap serve sends them */
    "delta-whole",    /* big whole, a plain member: the server may */
    "delta-unasked",  /* big right, then "2.d" for f: no BLOCKS were sent for it */
    "delta-gapstart", /* a gap (blocks left to the base) from inside a block */
    "delta-gapend",   /* a gap up to inside a block (a changed run cut short) */
    "delta-grown",    /* big grew: its new blocks left to the base, which lacks them */
    "delta-size",     /* big's blocks right, but the member's size is not the list's */
};

struct hostile {
    const char *mode;
    const char *target;
    struct hs_conn c;
    struct hs_buf msg;
    struct hs_err e;
    uint64_t inode;
    uint8_t *want; /* wanted indexes, a byte each, up to nwant */
    size_t nwant;
    /* the delta-* modes: big's content, and the base the client sent */
    unsigned char *big;
    size_t big_size;
    uint64_t base_index, base_size, base_bs;
    uint64_t *base_h;
    size_t base_n, base_have;
    uint64_t hashes; /* in all BLOCKS */
};

static bool is(const struct hostile *h, const char *m)
{
    return strcmp(h->mode, m) == 0;
}

static void die(struct hostile *h, const char *what)
{
    fprintf(stderr, "hostile_serve %s: %s%s%s\n", h->mode, what, h->e.msg ? ": " : "",
            h->e.msg ? h->e.msg : "");
    exit(2);
}

static void done(struct hostile *h)
{
    const char *log = getenv("HS_HOSTILE_LOG");
    FILE *f = log ? fopen(log, "a") : NULL;
    if (f) {
        fprintf(f, "%s sent %" PRIu64 " blocks %" PRIu64 "\n", h->mode, h->c.bytes_out, h->hashes);
        fclose(f);
    }
    exit(0);
}

/* Waits for the client to leave (it must end the connection, not us). */
static void drain(struct hostile *h)
{
    char buf[4096];
    hs_conn_flush(&h->c, &h->e);
    while (read(0, buf, sizeof buf) > 0)
        ;
    done(h);
}

static void send_or_die(struct hostile *h, uint8_t type, const void *p, size_t n)
{
    if (hs_conn_send(&h->c, type, p, n, &h->e) < 0)
        done(h); /* the client left: what it had to say it said */
}

static void recv_or_die(struct hostile *h, uint8_t *type)
{
    if (hs_conn_recv(&h->c, type, &h->msg, &h->e) <= 0)
        done(h);
}

/* ---- the list ----------------------------------------------------------- */

static void add(struct hostile *h, struct hs_lenc *l, const char *path, mode_t mode, off_t size,
                const char *target, size_t tlen, const struct hs_buf *xattrs)
{
    struct hs_rec r = {.kind = HS_REC_ENTRY, .path = path, .path_len = strlen(path)};
    r.st.st_mode = mode;
    r.st.st_size = size;
    r.st.st_ino = ++h->inode;
    r.st.st_dev = 1;
    r.st.st_nlink = 1;
    r.st.st_uid = getuid();
    r.st.st_gid = getgid();
    r.st.st_mtim.tv_sec = 1767225600;
    r.target = target;
    r.target_len = tlen;
    if (xattrs) {
        r.xattrs = xattrs->data;
        r.xattrs_len = xattrs->len;
    }
    if (hs_lenc_rec(l, &r, true, &h->e) < 0)
        die(h, "encoding the list");
}

/* The list of the mode, whole (LIST frames and LIST_END), in fd. */
static void make_list(struct hostile *h, int fd)
{
    struct hs_conn fc;
    hs_conn_init(&fc, -1, fd, 0, "list");
    struct hs_lenc l;
    if (hs_lenc_init(&l, &fc) < 0)
        die(h, "memory");
    char path[4200];
    const mode_t dir = S_IFDIR | 0755, reg = S_IFREG | 0644, lnk = S_IFLNK | 0777;
    if (is(h, "rootfile")) {
        add(h, &l, "", reg, 5, NULL, 0, NULL);
    } else {
        add(h, &l, "", dir, 0, NULL, 0, NULL);
    }
    if (is(h, "abs")) {
        snprintf(path, sizeof path, "%s/pwned", h->target);
        add(h, &l, path, reg, 5, NULL, 0, NULL);
    } else if (is(h, "dotdot")) {
        add(h, &l, "../../outside/pwned", reg, 5, NULL, 0, NULL);
    } else if (is(h, "symlink")) {
        add(h, &l, "l", lnk, 0, h->target, strlen(h->target), NULL);
        add(h, &l, "l/pwned", reg, 5, NULL, 0, NULL);
    } else if (is(h, "order")) {
        add(h, &l, "b", reg, 5, NULL, 0, NULL);
        add(h, &l, "a", reg, 5, NULL, 0, NULL);
    } else if (is(h, "tworoots")) {
        add(h, &l, "a", reg, 5, NULL, 0, NULL);
        add(h, &l, "", dir, 0, NULL, 0, NULL);
    } else if (is(h, "bigtarget")) {
        size_t n = 1u << 20;
        char *t = malloc(n);
        if (!t)
            die(h, "memory");
        for (size_t i = 0; i < n; i++)
            t[i] = i % 2 ? '/' : 'a';
        add(h, &l, "l", lnk, 0, t, n, NULL);
        free(t);
    } else if (is(h, "manyxattrs")) {
        struct hs_buf x = {0};
        hs_put_varint(&x, 100000);
        for (unsigned i = 0; i < 100000; i++) {
            char nm[32];
            int k = snprintf(nm, sizeof nm, "u.%x", i);
            hs_put_bytes(&x, nm, (size_t)k);
            hs_put_bytes(&x, "", 0);
        }
        add(h, &l, "xattrs", reg, 5, NULL, 0, &x); /* new: the engine reads them */
        hs_buf_free(&x);
    } else if (is(h, "keep")) {
        if (hs_lenc_op(&l, HS_LOP_KEEP, 5, &h->e) < 0)
            die(h, "encoding the list");
        add(h, &l, "z", reg, 5, NULL, 0, NULL);
    } else if (is(h, "cut-list")) {
        for (int i = 0; i < 20000; i++) {
            snprintf(path, sizeof path, "file-with-a-long-name-%06d", i);
            add(h, &l, path, reg, 5, NULL, 0, NULL);
        }
    } else if (strncmp(h->mode, "delta-", 6) == 0) {
        add(h, &l, "big", reg, (off_t)h->big_size, NULL, 0, NULL);
        add(h, &l, "f", reg, 5, NULL, 0, NULL);
    } else {
        add(h, &l, "f", reg, 5, NULL, 0, NULL);
        if (is(h, "cut-data"))
            add(h, &l, "g", reg, 4 << 20, NULL, 0, NULL);
    }
    uint8_t id[16];
    if (hs_lenc_finish(&l, id, &h->e) < 0)
        die(h, "encoding the list");
    hs_lenc_free(&l);
    hs_conn_free(&fc);
}

/* Sends the list file's frames, LIST_END altered as the mode says. */
static void send_list(struct hostile *h)
{
    int fd = memfd_create("hostile-list", MFD_CLOEXEC);
    if (fd < 0)
        die(h, "memfd");
    make_list(h, fd);
    off_t total = lseek(fd, 0, SEEK_END);
    lseek(fd, 0, SEEK_SET);
    struct hs_conn fc;
    hs_conn_init(&fc, fd, -1, 0, "list");
    struct hs_buf f = {0};
    uint8_t type;
    off_t at = 0;
    while (hs_conn_recv(&fc, &type, &f, &h->e) == 1) {
        at += 5 + (off_t)f.len;
        if (type == HS_MSG_LIST_END && f.len == 24) {
            if (is(h, "badid"))
                f.data[8] ^= 1;
            if (is(h, "badcount"))
                hs_le64_store((unsigned char *)f.data, hs_le64_load((unsigned char *)f.data) + 1);
        }
        send_or_die(h, type, f.data, f.len);
        if (is(h, "cut-list") && at > total / 2) {
            /* half a frame more, then the end of the connection */
            unsigned char hdr[5] = {HS_MSG_LIST};
            hs_le32_store(hdr + 1, 1000);
            hs_conn_flush(&h->c, &h->e);
            if (write(1, hdr, sizeof hdr) < 0 || write(1, "R\0", 2) < 0)
                done(h);
            done(h);
        }
    }
    hs_conn_flush(&h->c, &h->e);
    hs_buf_free(&f);
    hs_conn_free(&fc);
    close(fd);
}

/* BLOCKS: the hashes of the client's base of big (index 1) into h->base_*;
 * only what the tests need checked (hardsnap serve checks it all). */
static void read_blocks(struct hostile *h)
{
    struct hs_dec d;
    hs_dec_init(&d, h->msg.data, h->msg.len);
    uint64_t index = hs_get_varint(&d), size = hs_get_varint(&d), bs = hs_get_varint(&d),
             first = hs_get_varint(&d);
    size_t k = (size_t)(d.end - d.p) / 8;
    if (d.bad || index != 1 || bs < 4096 || bs > (1u << 20) || bs % 4096 || !size ||
        size > ((uint64_t)1 << 40))
        die(h, "bad BLOCKS");
    if (first == 0) {
        free(h->base_h);
        h->base_index = index;
        h->base_size = size;
        h->base_bs = bs;
        h->base_n = (size_t)(size / bs + (size % bs != 0));
        h->base_have = 0;
        if (!(h->base_h = calloc(h->base_n, 8)))
            die(h, "memory");
    }
    if (!h->base_h || first != h->base_have || k > h->base_n - h->base_have)
        die(h, "bad BLOCKS");
    for (size_t i = 0; i < k; i++)
        h->base_h[h->base_have++] = hs_le64_load((const unsigned char *)d.p + 8 * i);
    h->hashes += k;
}

/* WANT... BLOCKS... WANT_END: the indexes into h->want, the base of big. */
static void read_wants(struct hostile *h)
{
    for (;;) {
        uint8_t type;
        recv_or_die(h, &type);
        if (type == HS_MSG_WANT_END)
            return;
        if (type == HS_MSG_BLOCKS) {
            read_blocks(h);
            continue;
        }
        if (type != HS_MSG_WANT)
            die(h, "not a WANT");
        struct hs_dec d;
        hs_dec_init(&d, h->msg.data, h->msg.len);
        uint64_t at = 0;
        while (d.p < d.end && !d.bad) {
            uint64_t gap = hs_get_varint(&d), run = hs_get_varint(&d);
            at += gap;
            for (uint64_t i = 0; i < run && at + i < 1000; i++) {
                if (at + i >= h->nwant) {
                    h->want = realloc(h->want, at + i + 1);
                    memset(h->want + h->nwant, 0, at + i + 1 - h->nwant);
                    h->nwant = at + i + 1;
                }
                h->want[at + i] = 1;
            }
            at += run;
        }
    }
}

/* ---- the data ------------------------------------------------------------ */

struct pax {
    struct hostile *h;
    struct archive *a;
    struct archive_entry *ent;
};

static la_ssize_t pax_write(struct archive *a, void *user, const void *buf, size_t n)
{
    struct pax *p = user;
    (void)a;
    for (size_t off = 0; off < n;) {
        size_t k = n - off > HS_WIRE_FRAME_FILL ? HS_WIRE_FRAME_FILL : n - off;
        send_or_die(p->h, HS_MSG_DATA, (const char *)buf + off, k);
        off += k;
    }
    return (la_ssize_t)n;
}

static void pax_open(struct pax *p, struct hostile *h)
{
    p->h = h;
    p->a = archive_write_new();
    p->ent = archive_entry_new();
    if (!p->a || !p->ent || archive_write_set_format_pax_restricted(p->a) != ARCHIVE_OK ||
        archive_write_add_filter_zstd(p->a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(p->a, 0) != ARCHIVE_OK ||
        archive_write_open(p->a, p, NULL, pax_write, NULL) != ARCHIVE_OK)
        die(h, "libarchive");
}

static void pax_close(struct pax *p)
{
    archive_write_close(p->a);
    archive_write_free(p->a);
    archive_entry_free(p->ent);
    send_or_die(p->h, HS_MSG_DATA_END, NULL, 0);
    hs_conn_flush(&p->h->c, &p->h->e);
}

static void member_head(struct pax *p, const char *name, int64_t size)
{
    archive_entry_clear(p->ent);
    archive_entry_set_pathname(p->ent, name);
    archive_entry_set_filetype(p->ent, AE_IFREG);
    archive_entry_set_perm(p->ent, 0644);
    archive_entry_set_size(p->ent, size);
    if (archive_write_header(p->a, p->ent) != ARCHIVE_OK)
        die(p->h, "archive header");
}

static void member(struct pax *p, const char *name, const char *data, size_t n)
{
    member_head(p, name, (int64_t)n);
    if (n && archive_write_data(p->a, data, n) != (la_ssize_t)n)
        die(p->h, "archive data");
    archive_write_finish_entry(p->a);
}

/* A member of size bytes, random (zstd cannot shrink them: the wire carries
 * them all), of which at most cap are sent: then we stall, so that a client
 * that never stops cannot fill the disk, and its --timeout ends it. */
static void random_member(struct pax *p, const char *name, int64_t size, uint64_t cap)
{
    member_head(p, name, size);
    static uint64_t buf[1 << 14];
    uint64_t x = 88172645463325252ull;
    for (uint64_t sent = 0; sent < cap; sent += sizeof buf) {
        for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = x;
        }
        if (archive_write_data(p->a, buf, sizeof buf) != (la_ssize_t)sizeof buf)
            done(p->h);
    }
    if ((uint64_t)size > cap)
        drain(p->h);
    archive_write_finish_entry(p->a);
}

/* The runs of big's blocks that differ from the base the client sent, as
 * hardsnap serve finds them (a block is the base's only if whole in both and
 * of the base's hash): at most max (offset, length) pairs into seg, their
 * count returned. */
static size_t changed_runs(struct hostile *h, int64_t (*seg)[2], size_t max)
{
    const uint64_t bs = h->base_bs, size = h->big_size;
    size_t n = 0;
    for (uint64_t at = 0; at < size; at += bs) {
        uint64_t i = at / bs, len = size - at < bs ? size - at : bs;
        if (len == bs && i < h->base_n && at + bs <= h->base_size &&
            XXH3_64bits(h->big + at, bs) == h->base_h[i])
            continue;
        if (n && (uint64_t)(seg[n - 1][0] + seg[n - 1][1]) == at) {
            seg[n - 1][1] += (int64_t)len;
            continue;
        }
        if (n == max)
            die(h, "too many changed runs");
        seg[n][0] = (int64_t)at;
        seg[n][1] = (int64_t)len;
        n++;
    }
    return n;
}

/* big as the sparse member name of size bytes whose data segments are seg
 * (its content: big's, zeros past its end); the rest is left to the base. */
static void sparse_member(struct pax *p, const char *name, int64_t size, int64_t (*seg)[2],
                          size_t n)
{
    struct hostile *h = p->h;
    archive_entry_clear(p->ent);
    archive_entry_set_pathname(p->ent, name);
    archive_entry_set_filetype(p->ent, AE_IFREG);
    archive_entry_set_perm(p->ent, 0644);
    archive_entry_set_size(p->ent, size);
    for (size_t i = 0; i < n; i++)
        archive_entry_sparse_add_entry(p->ent, seg[i][0], seg[i][1]);
    if (n == 0 || seg[n - 1][0] + seg[n - 1][1] < size)
        archive_entry_sparse_add_entry(p->ent, size, 0);
    if (archive_write_header(p->a, p->ent) != ARCHIVE_OK)
        die(h, "archive header");
    /* the whole content, holes too: the pax writer drops what its map calls
     * a hole (as hardsnap serve's send_sparse) */
    static const unsigned char zeros[65536];
    for (int64_t at = 0; at < size;) {
        const void *d = (uint64_t)at < h->big_size ? (const void *)(h->big + at) : zeros;
        int64_t k = (uint64_t)at < h->big_size ? (int64_t)h->big_size - at : size - at;
        if (k > (int64_t)sizeof zeros)
            k = (int64_t)sizeof zeros;
        if (at + k > size)
            k = size - at;
        if (archive_write_data(p->a, d, (size_t)k) != (la_ssize_t)k)
            done(h);
        at += k;
    }
    archive_write_finish_entry(p->a);
}

static void send_delta(struct hostile *h, struct pax *p)
{
    if (h->base_index != 1 || !h->base_h || h->base_have != h->base_n)
        die(h, "the client sent no BLOCKS for big");
    int64_t(*seg)[2] = calloc(4096, sizeof *seg);
    if (!seg)
        die(h, "memory");
    size_t n = changed_runs(h, seg, 4096 - 1);
    const int64_t bs = (int64_t)h->base_bs, size = (int64_t)h->big_size;
    if (n == 0)
        die(h, "big is the base: nothing to attack with");
    int64_t size_claimed = size;
    if (is(h, "delta-gapstart")) {
        /* 4 KiB of block 0 sent (its content is right): the rest of block 0
         * would be the base's, from an offset inside a block */
        if (seg[0][0] < 2 * bs)
            die(h, "block 0 or 1 changed: no room for the gap");
        memmove(seg + 1, seg, n * sizeof *seg);
        seg[0][0] = 0;
        seg[0][1] = 4096;
        n++;
    } else if (is(h, "delta-gapend")) {
        /* the first changed run starts 4 KiB late: those 4 KiB would be
         * the base's (wrong content), up to an offset inside a block */
        if (seg[0][1] <= 4096)
            die(h, "the first changed run is too short");
        seg[0][0] += 4096;
        seg[0][1] -= 4096;
    } else if (is(h, "delta-grown")) {
        /* the runs clipped to the base's size: what big grew by is left to
         * the base, which ends before it (whole blocks: the gap's own
         * bounds are fine) */
        int64_t end = (int64_t)h->base_size / bs * bs;
        if (end >= size)
            die(h, "big did not grow past the base");
        while (n && seg[n - 1][0] >= end)
            n--;
        if (n && seg[n - 1][0] + seg[n - 1][1] > end)
            seg[n - 1][1] = end - seg[n - 1][0];
    } else if (is(h, "delta-size")) {
        size_claimed = size + bs; /* the runs all fit: only the size lies */
    }
    sparse_member(p, "1.d", size_claimed, seg, n);
    free(seg);
}

static void send_data(struct hostile *h)
{
    struct pax p;
    pax_open(&p, h);
    char path[4200];
    if (is(h, "data-unwanted")) {
        member(&p, "0", "root!", 5);
        member(&p, "1", "hello", 5);
        member(&p, "99", "extra", 5);
    } else if (is(h, "data-dotdot")) {
        member(&p, "../../outside/pwned", "pwned", 5);
    } else if (is(h, "data-abs")) {
        snprintf(path, sizeof path, "%s/pwned", h->target);
        member(&p, path, "pwned", 5);
    } else if (is(h, "data-big")) {
        random_member(&p, "1", 16 << 20, 16 << 20);
    } else if (is(h, "data-endless")) {
        random_member(&p, "1", (int64_t)1 << 40, 256ull << 20);
    } else if (is(h, "cut-data")) {
        member(&p, "1", "hello", 5);
        member_head(&p, "2", 4 << 20);
        char *half = calloc(1, 2u << 20);
        if (!half)
            die(h, "memory");
        for (size_t i = 0; i < 2u << 20; i++)
            half[i] = (char)(i * 2654435761u >> 13);
        archive_write_data(p.a, half, 2u << 20);
        free(half);
        hs_conn_flush(&h->c, &h->e);
        done(h); /* no end of the member, no DATA_END */
    } else if (is(h, "delta-whole")) {
        if (!h->base_h)
            die(h, "the client sent no BLOCKS for big");
        member(&p, "1", (const char *)h->big, h->big_size);
        member(&p, "2", "hello", 5);
    } else if (strncmp(h->mode, "delta-", 6) == 0) {
        send_delta(h, &p);
        member(&p, is(h, "delta-unasked") ? "2.d" : "2", "hello", 5);
    } else {
        for (size_t i = 0; i < h->nwant; i++)
            if (h->want[i]) {
                char name[32];
                snprintf(name, sizeof name, "%zu", i);
                member(&p, name, "hello", 5);
            }
    }
    pax_close(&p);
}

/* FETCH: an empty answer; BYE or the end: done. */
static void serve_rest(struct hostile *h)
{
    for (;;) {
        uint8_t type;
        recv_or_die(h, &type);
        if (type == HS_MSG_BYE)
            done(h);
        if (type != HS_MSG_FETCH)
            die(h, "not a FETCH");
        struct pax p;
        pax_open(&p, h);
        pax_close(&p);
    }
}

/* HS_HOSTILE_BIG into h->big. */
static void load_big(struct hostile *h)
{
    const char *path = getenv("HS_HOSTILE_BIG");
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (4 << 20))
        die(h, "HS_HOSTILE_BIG is not a file of 4 MiB or more");
    h->big_size = (size_t)st.st_size;
    if (!(h->big = malloc(h->big_size)) ||
        hs_read_full(fd, h->big, h->big_size) != (ssize_t)h->big_size)
        die(h, "cannot read HS_HOSTILE_BIG");
    close(fd);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct hostile h = {.mode = argc > 1 ? argv[1] : ""};
    bool known = false;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        known |= is(&h, modes[i]);
    if (!known || argc != 3 || strcmp(argv[2], "serve") != 0) {
        fprintf(stderr, "usage: hostile_serve MODE serve\nmodes:");
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            fprintf(stderr, " %s", modes[i]);
        fprintf(stderr, "\n");
        return 2;
    }
    h.target = getenv("HS_HOSTILE_TARGET");
    if (!h.target)
        h.target = "/tmp/hs-hostile-target";
    hs_conn_init(&h.c, 0, 1, 0, "client");
    if (strncmp(h.mode, "delta-", 6) == 0)
        load_big(&h);

    if (is(&h, "garbage")) {
        static const char g[] = "SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\n";
        if (write(1, g, sizeof g - 1) < 0)
            done(&h);
        drain(&h);
    }
    if (is(&h, "bigframe")) {
        unsigned char hdr[8] = {HS_MSG_HELLO, 0xff, 0xff, 0xff, 0xff, 'H', 'S', 'N'};
        if (write(1, hdr, sizeof hdr) < 0)
            done(&h);
        drain(&h);
    }
    struct hs_buf hello = {0};
    if (is(&h, "version")) {
        unsigned char v[4];
        hs_le32_store(v, 99);
        hs_buf_append(&hello, "HSNP", 4);
        hs_buf_append(&hello, v, 4);
        hs_put_bytes(&hello, "9.9.9", 5);
    } else {
        hs_wire_hello(&hello);
    }
    send_or_die(&h, HS_MSG_HELLO, hello.data, hello.len);
    hs_buf_free(&hello);
    hs_conn_flush(&h.c, &h.e);
    if (is(&h, "version"))
        drain(&h);
    uint8_t type;
    recv_or_die(&h, &type);
    if (type != HS_MSG_HELLO)
        die(&h, "no HELLO from the client");
    recv_or_die(&h, &type);
    if (type != HS_MSG_REQUEST)
        die(&h, "no REQUEST from the client");
    send_list(&h);
    read_wants(&h);
    send_data(&h);
    serve_rest(&h);
    return 0;
}
