/* The pull protocol's bytes (wire.c) and the checked walk over a list
 * (listwalk.c): what a hostile server could send must be refused here. */
#include "bytes.h"
#include "exclude.h"
#include "listwalk.h"
#include "testutil.h"
#include "wire.h"
#include "xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* ---- values ----------------------------------------------------------- */

START_TEST(varint_round_trip)
{
    const uint64_t vals[] = {
        0,          1,          127,        128,       16383,          16384,
        UINT32_MAX, 1ull << 35, 1ull << 56, INT64_MAX, UINT64_MAX - 1, UINT64_MAX};
    struct hs_buf b = {0};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        ck_assert_int_eq(hs_put_varint(&b, vals[i]), 0);
    struct hs_dec d;
    hs_dec_init(&d, b.data, b.len);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        ck_assert_uint_eq(hs_get_varint(&d), vals[i]);
    ck_assert(!d.bad);
    ck_assert_ptr_eq(d.p, d.end);
    /* sizes: 7 bits a byte, at most 10 */
    hs_buf_truncate(&b, 0);
    hs_put_varint(&b, 127);
    ck_assert_uint_eq(b.len, 1);
    hs_buf_truncate(&b, 0);
    hs_put_varint(&b, UINT64_MAX);
    ck_assert_uint_eq(b.len, 10);
    hs_buf_free(&b);
}
END_TEST

static uint64_t dec1(const void *p, size_t n, bool *bad)
{
    struct hs_dec d;
    hs_dec_init(&d, p, n);
    uint64_t v = hs_get_varint(&d);
    *bad = d.bad;
    return v;
}

START_TEST(varint_malformed)
{
    bool bad;
    /* eleven continuation bytes: longer than any u64 */
    unsigned char longv[11];
    memset(longv, 0x80, sizeof longv);
    longv[10] = 0x01;
    ck_assert_uint_eq(dec1(longv, sizeof longv, &bad), 0);
    ck_assert(bad);
    /* the tenth byte may only hold bit 63 */
    unsigned char over[10];
    memset(over, 0xff, 9);
    over[9] = 0x02;
    dec1(over, sizeof over, &bad);
    ck_assert(bad);
    over[9] = 0x01;
    ck_assert_uint_eq(dec1(over, sizeof over, &bad), UINT64_MAX);
    ck_assert(!bad);
    /* cut: a continuation bit on the last byte, and nothing at all */
    unsigned char cut[2] = {0x80, 0x80};
    dec1(cut, sizeof cut, &bad);
    ck_assert(bad);
    dec1(cut, 0, &bad);
    ck_assert(bad);
    /* bad is sticky: nothing after it decodes */
    struct hs_dec d;
    unsigned char seq[3] = {0x80, 0x05, 0x06};
    hs_dec_init(&d, seq, 1);
    hs_get_varint(&d);
    d.end = seq + 3;
    ck_assert(d.bad);
    ck_assert_ptr_null(hs_get_raw(&d, 1));
    ck_assert(d.bad);
    /* u8 past the end */
    hs_dec_init(&d, seq, 0);
    ck_assert_uint_eq(hs_get_u8(&d), 0);
    ck_assert(d.bad);
}
END_TEST

START_TEST(bytes_bounds)
{
    struct hs_buf b = {0};
    hs_put_bytes(&b, "hello", 5);
    struct hs_dec d;
    size_t n = 99;
    const char *p;
    /* exactly at the bound, then over it */
    hs_dec_init(&d, b.data, b.len);
    p = hs_get_bytes(&d, 5, &n);
    ck_assert(!d.bad);
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(p, "hello", 5) == 0);
    ck_assert_ptr_eq(d.p, d.end);
    hs_dec_init(&d, b.data, b.len);
    ck_assert_ptr_null(hs_get_bytes(&d, 4, &n));
    ck_assert(d.bad);
    ck_assert_uint_eq(n, 0);
    /* a length past the input's end */
    hs_dec_init(&d, b.data, b.len - 1);
    ck_assert_ptr_null(hs_get_bytes(&d, 100, &n));
    ck_assert(d.bad);
    ck_assert_uint_eq(n, 0);
    /* a huge length: no overflow of the pointer arithmetic */
    hs_buf_truncate(&b, 0);
    hs_put_varint(&b, UINT64_MAX);
    hs_buf_append(&b, "x", 1);
    hs_dec_init(&d, b.data, b.len);
    ck_assert_ptr_null(hs_get_bytes(&d, SIZE_MAX, &n));
    ck_assert(d.bad);
    /* empty bytes are fine */
    hs_buf_truncate(&b, 0);
    hs_put_bytes(&b, "", 0);
    hs_dec_init(&d, b.data, b.len);
    ck_assert_ptr_nonnull(hs_get_bytes(&d, 0, &n));
    ck_assert(!d.bad);
    ck_assert_uint_eq(n, 0);
    /* raw bytes */
    hs_dec_init(&d, "abc", 3);
    ck_assert_ptr_nonnull(hs_get_raw(&d, 3));
    ck_assert_ptr_null(hs_get_raw(&d, 1));
    ck_assert(d.bad);
    hs_buf_free(&b);
}
END_TEST

/* ---- frames ----------------------------------------------------------- */

static void pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void write_all(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

START_TEST(frames_send_recv)
{
    int sv[2];
    pair(sv);
    struct hs_conn a, b;
    hs_conn_init(&a, sv[0], sv[0], 5, "a");
    hs_conn_init(&b, sv[1], sv[1], 5, "b");
    struct hs_err e = {0};
    struct hs_buf big = {0}, got = {0};
    ck_assert_int_eq(hs_buf_reserve(&big, 100000), 0);
    for (size_t i = 0; i < 100000; i++)
        big.data[i] = (char)(i * 7);
    big.len = 100000;
    ck_assert_int_eq(hs_conn_send(&a, HS_MSG_HELLO, "hi", 2, &e), 0);
    ck_assert_int_eq(hs_conn_send(&a, HS_MSG_BYE, NULL, 0, &e), 0);
    ck_assert_int_eq(hs_conn_send(&a, HS_MSG_DATA, big.data, big.len, &e), 0);
    ck_assert_int_eq(hs_conn_flush(&a, &e), 0);
    uint8_t type;
    ck_assert_int_eq(hs_conn_recv(&b, &type, &got, &e), 1);
    ck_assert_int_eq(type, HS_MSG_HELLO);
    ck_assert_uint_eq(got.len, 2);
    ck_assert(memcmp(got.data, "hi", 2) == 0);
    ck_assert_int_eq(hs_conn_recv(&b, &type, &got, &e), 1);
    ck_assert_int_eq(type, HS_MSG_BYE);
    ck_assert_uint_eq(got.len, 0);
    ck_assert_int_eq(hs_conn_recv(&b, &type, &got, &e), 1);
    ck_assert_int_eq(type, HS_MSG_DATA);
    ck_assert_uint_eq(got.len, big.len);
    ck_assert(memcmp(got.data, big.data, big.len) == 0);
    ck_assert_uint_eq(a.bytes_out, 5 + 2 + 5 + 5 + 100000);
    ck_assert_uint_eq(b.bytes_in, a.bytes_out);
    /* a frame larger than the bound is not even queued */
    ck_assert_int_eq(hs_conn_send(&a, HS_MSG_DATA, big.data, HS_WIRE_MAX_FRAME + 1, &e), -EMSGSIZE);
    hs_err_clear(&e);
    /* clean EOF before a frame: 0 */
    close(sv[0]);
    ck_assert_int_eq(hs_conn_recv(&b, &type, &got, &e), 0);
    hs_conn_free(&a);
    hs_conn_free(&b);
    close(sv[1]);
    hs_buf_free(&big);
    hs_buf_free(&got);
    hs_err_clear(&e);
}
END_TEST

/* What hs_conn_recv says to a raw header (type, length) followed by n bytes
 * of payload and then the end of input. */
static int recv_raw(uint32_t len, size_t n, size_t header_bytes, struct hs_buf *got)
{
    int sv[2];
    pair(sv);
    unsigned char h[5] = {HS_MSG_LIST};
    hs_le32_store(h + 1, len);
    write_all(sv[0], h, header_bytes);
    char pad[64] = {0};
    ck_assert_uint_le(n, sizeof pad);
    if (n)
        write_all(sv[0], pad, n);
    close(sv[0]);
    struct hs_conn c;
    hs_conn_init(&c, sv[1], sv[1], 5, "peer");
    struct hs_err e = {0};
    uint8_t type;
    int r = hs_conn_recv(&c, &type, got, &e);
    if (r < 0)
        ck_assert_ptr_nonnull(e.msg);
    if (r < 0)
        ck_assert_msg(strstr(e.msg, "peer"), "the message names the peer: %s", e.msg);
    hs_err_clear(&e);
    hs_conn_free(&c);
    close(sv[1]);
    return r;
}

START_TEST(frames_refused)
{
    struct hs_buf got = {0};
    /* 4 GiB and one past the bound: refused before anything is allocated */
    ck_assert_int_eq(recv_raw(UINT32_MAX, 0, 5, &got), -EBADMSG);
    ck_assert_uint_lt(got.cap, 1u << 20);
    ck_assert_int_eq(recv_raw(HS_WIRE_MAX_FRAME + 1, 0, 5, &got), -EBADMSG);
    /* cut in the payload, cut in the header */
    ck_assert_int_eq(recv_raw(10, 5, 5, &got), -ECONNRESET);
    ck_assert_int_eq(recv_raw(10, 0, 3, &got), -ECONNRESET);
    ck_assert_int_eq(recv_raw(10, 0, 5, &got), -ECONNRESET);
    /* whole */
    ck_assert_int_eq(recv_raw(10, 10, 5, &got), 1);
    ck_assert_uint_eq(got.len, 10);
    ck_assert_int_eq(recv_raw(0, 0, 0, &got), 0);
    hs_buf_free(&got);
}
END_TEST

START_TEST(frames_timeout)
{
    int sv[2];
    pair(sv);
    struct hs_conn c;
    hs_conn_init(&c, sv[1], sv[1], 1, "slow");
    struct hs_err e = {0};
    struct hs_buf got = {0};
    uint8_t type;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* half a header, then nothing */
    write_all(sv[0], "L\1", 2);
    ck_assert_int_eq(hs_conn_recv(&c, &type, &got, &e), -ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(s >= 0.9 && s < 5, "timed out after %.2f s", s);
    ck_assert_msg(strstr(e.msg, "slow"), "%s", e.msg);
    hs_err_clear(&e);
    hs_conn_free(&c);
    hs_buf_free(&got);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* The list file and the remote shell's pipes are not sockets: frames are
 * written with write() there (this once spun forever on ENOTSOCK). */
START_TEST(frames_to_a_pipe)
{
    alarm(10);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    struct hs_conn a, b;
    hs_conn_init(&a, -1, p[1], 0, "pipe");
    hs_conn_init(&b, p[0], -1, 0, "pipe");
    struct hs_err e = {0};
    ck_assert_int_eq(hs_conn_send(&a, HS_MSG_WANT, "abc", 3, &e), 0);
    ck_assert_int_eq(hs_conn_flush(&a, &e), 0);
    ck_assert_int_eq(hs_conn_send(&a, HS_MSG_WANT_END, NULL, 0, &e), 0);
    ck_assert_int_eq(hs_conn_flush(&a, &e), 0);
    close(p[1]);
    struct hs_buf got = {0};
    uint8_t type;
    ck_assert_int_eq(hs_conn_recv(&b, &type, &got, &e), 1);
    ck_assert_int_eq(type, HS_MSG_WANT);
    ck_assert_int_eq(hs_conn_recv(&b, &type, &got, &e), 1);
    ck_assert_int_eq(type, HS_MSG_WANT_END);
    ck_assert_int_eq(hs_conn_recv(&b, &type, &got, &e), 0);
    hs_conn_free(&a);
    hs_conn_free(&b);
    hs_buf_free(&got);
    close(p[0]);
    alarm(0);
}
END_TEST

/* ---- records and lists ------------------------------------------------ */

struct recs {
    struct hs_rec r[16];
    size_t n;
    struct hs_buf xattrs;
};

static struct stat st_of(mode_t mode, ino_t ino)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = mode;
    st.st_uid = 1000;
    st.st_gid = 100;
    st.st_ino = ino;
    st.st_dev = 0x801;
    st.st_nlink = S_ISDIR(mode) ? 2 : 1;
    st.st_mtim.tv_sec = -5; /* before 1970: zigzag */
    st.st_mtim.tv_nsec = 999999999;
    st.st_ctim.tv_sec = 1767225600;
    st.st_ctim.tv_nsec = 1;
    return st;
}

static struct hs_rec entry(const char *path, mode_t mode, ino_t ino)
{
    struct hs_rec r = {.kind = HS_REC_ENTRY, .path = path, .path_len = strlen(path)};
    r.st = st_of(mode, ino);
    return r;
}

/* A list of every kind of record, in walk order. */
static void make_recs(struct recs *rs)
{
    memset(rs, 0, sizeof *rs);
    const char *names[] = {"user.b", "trusted.secret", "user.a"};
    const void *values[] = {"B", "\0\1\2", ""};
    size_t sizes[] = {1, 3, 0};
    struct hs_xattrs xa = {0};
    ck_assert_int_eq(hs_xattr_set(&xa, names, values, sizes, 3, true), 0);
    ck_assert_int_eq(hs_rec_xattrs_put(&rs->xattrs, &xa), 0);
    hs_xattrs_free(&xa);

    struct hs_rec *r = rs->r;
    size_t n = 0;
    r[n++] = entry("", S_IFDIR | 0755, 2);
    r[n] = entry("dev", S_IFCHR | 0600, 10);
    r[n++].st.st_rdev = makedev(1, 3);
    r[n] = entry("dir", S_IFDIR | 0700, 11);
    r[n].xattrs = rs->xattrs.data;
    r[n++].xattrs_len = rs->xattrs.len;
    r[n] = entry("dir/file", S_IFREG | 0644, 12);
    r[n].st.st_size = INT64_MAX;
    r[n].st.st_nlink = 3;
    r[n].has_hash = true;
    memset(r[n++].hash, 0xab, 16);
    r[n] = entry("dir/unreadable", S_IFREG | 0000, 13);
    r[n].st.st_size = 5;
    r[n++].data_err = EACCES;
    r[n] = entry("dir/unopened", S_IFDIR | 0000, 14);
    n++;
    r[n] = (struct hs_rec){.kind = HS_REC_ERROR, .path = "dir/unopened", .path_len = 12};
    r[n].st = st_of(S_IFDIR | 0000, 14);
    r[n].err = EACCES;
    r[n].unentered = true;
    r[n].what = "cannot open directory";
    r[n++].what_len = 21;
    r[n] = (struct hs_rec){.kind = HS_REC_ERROR, .path = "gone", .path_len = 4, .err = ENOENT};
    r[n].what = "cannot examine";
    r[n++].what_len = 14;
    r[n++] = entry("fifo", S_IFIFO | 0644, 15);
    r[n] = entry("link", S_IFLNK | 0777, 16);
    r[n].target = "../somewhere/else";
    r[n++].target_len = 17;
    r[n] = entry("sock", S_IFSOCK | 0755, 17);
    r[n].st.st_uid = UINT32_MAX - 1;
    n++;
    rs->n = n;
}

static bool rec_same(const struct hs_rec *a, const struct hs_rec *b, bool annotated)
{
    if (!hs_rec_equal(a, b))
        return false;
    if (!annotated)
        return !b->has_hash && !b->data_err;
    return a->has_hash == b->has_hash && (!a->has_hash || memcmp(a->hash, b->hash, 16) == 0) &&
           a->data_err == b->data_err;
}

/* A list file in a memfd: its conn for reading, from the start. */
static int list_fd(void)
{
    int fd = memfd_create("list", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Encodes rs->r: REC records, then KEEP 3 (counted: r[0..2] again would be
 * out of order, but the wire does not care) and DROP 2; one frame each. */
START_TEST(list_round_trip)
{
    struct recs rs;
    make_recs(&rs);
    int fd = list_fd();
    struct hs_conn w;
    hs_conn_init(&w, -1, fd, 0, "list");
    struct hs_lenc enc;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_lenc_init(&enc, &w), 0);
    for (size_t i = 0; i < rs.n; i++)
        ck_assert_int_eq(hs_lenc_rec(&enc, &rs.r[i], true, &e), 0);
    ck_assert_int_eq(hs_lenc_op(&enc, HS_LOP_KEEP, 3, &e), 0);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(hs_lenc_count(&enc, &rs.r[i]), 0);
    ck_assert_int_eq(hs_lenc_op(&enc, HS_LOP_DROP, 2, &e), 0);
    ck_assert_int_eq(hs_lenc_rec(&enc, &rs.r[1], false, &e), 0); /* not annotated */
    uint8_t id[16];
    ck_assert_int_eq(hs_lenc_finish(&enc, id, &e), 0);
    hs_lenc_free(&enc);
    hs_conn_free(&w);
    uint8_t fid[16];
    ck_assert_int_eq(hs_list_file_id(fd, fid), 0);
    ck_assert(memcmp(id, fid, 16) == 0);

    for (int pass = 0; pass < 2; pass++) {
        ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
        struct hs_conn c;
        hs_conn_init(&c, fd, -1, 0, "list");
        struct hs_ldec dec;
        ck_assert_int_eq(hs_ldec_init(&dec, &c), 0);
        uint8_t op;
        struct hs_rec r;
        uint64_t n;
        for (size_t i = 0; i < rs.n; i++) {
            ck_assert_int_eq(hs_ldec_next(&dec, &op, &r, &n, NULL, NULL, &e), 1);
            ck_assert_int_eq(op, HS_LOP_REC);
            ck_assert_msg(rec_same(&rs.r[i], &r, true), "record %zu (%s) differs", i, rs.r[i].path);
            /* pass 1: one record counted differs from the one sent */
            struct hs_rec counted = r;
            if (pass == 1 && i == 4)
                counted.st.st_mtim.tv_nsec++;
            ck_assert_int_eq(hs_ldec_count(&dec, &counted), 0);
        }
        ck_assert_int_eq(hs_ldec_next(&dec, &op, &r, &n, NULL, NULL, &e), 1);
        ck_assert_int_eq(op, HS_LOP_KEEP);
        ck_assert_uint_eq(n, 3);
        for (size_t i = 0; i < 3; i++)
            ck_assert_int_eq(hs_ldec_count(&dec, &rs.r[i]), 0);
        ck_assert_int_eq(hs_ldec_next(&dec, &op, &r, &n, NULL, NULL, &e), 1);
        ck_assert_int_eq(op, HS_LOP_DROP);
        ck_assert_uint_eq(n, 2);
        ck_assert_int_eq(hs_ldec_next(&dec, &op, &r, &n, NULL, NULL, &e), 1);
        ck_assert(rec_same(&rs.r[1], &r, false));
        ck_assert(!hs_ldec_id_ok(&dec)); /* not ended yet */
        ck_assert_int_eq(hs_ldec_count(&dec, &r), 0);
        ck_assert_int_eq(hs_ldec_next(&dec, &op, &r, &n, NULL, NULL, &e), 0);
        ck_assert_int_eq(hs_ldec_next(&dec, &op, &r, &n, NULL, NULL, &e), 0);
        ck_assert_uint_eq(dec.count, rs.n + 3 + 1);
        ck_assert(memcmp(dec.id, id, 16) == 0);
        ck_assert(hs_ldec_id_ok(&dec) == (pass == 0));
        /* one record more counted: not the list either */
        if (pass == 0) {
            ck_assert_int_eq(hs_ldec_count(&dec, &rs.r[0]), 0);
            ck_assert(!hs_ldec_id_ok(&dec));
        }
        hs_ldec_free(&dec);
        hs_conn_free(&c);
    }
    close(fd);
    hs_buf_free(&rs.xattrs);
    hs_err_clear(&e);
}
END_TEST

/* Many records: several frames, each prefix-compressed on its own. */
START_TEST(list_many_frames)
{
    int fd = list_fd();
    struct hs_conn w;
    hs_conn_init(&w, -1, fd, 0, "list");
    struct hs_lenc enc;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_lenc_init(&enc, &w), 0);
    char path[64];
    struct hs_rec r = entry("", S_IFDIR | 0755, 1);
    ck_assert_int_eq(hs_lenc_rec(&enc, &r, true, &e), 0);
    const size_t count = 20000;
    for (size_t i = 0; i < count; i++) {
        snprintf(path, sizeof path, "a-long-common-directory-name-%06zu", i);
        r = entry(path, S_IFREG | 0644, 100 + i);
        ck_assert_int_eq(hs_lenc_rec(&enc, &r, true, &e), 0);
    }
    uint8_t id[16];
    ck_assert_int_eq(hs_lenc_finish(&enc, id, &e), 0);
    hs_lenc_free(&enc);
    hs_conn_free(&w);
    ck_assert_int_gt(lseek(fd, 0, SEEK_END), (off_t)HS_WIRE_FRAME_FILL * 2);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    struct hs_conn c;
    hs_conn_init(&c, fd, -1, 0, "list");
    struct hs_ldec dec;
    ck_assert_int_eq(hs_ldec_init(&dec, &c), 0);
    uint8_t op;
    uint64_t n;
    size_t got = 0;
    int k;
    while ((k = hs_ldec_next(&dec, &op, &r, &n, NULL, NULL, &e)) == 1) {
        if (got > 0) {
            snprintf(path, sizeof path, "a-long-common-directory-name-%06zu", got - 1);
            ck_assert_uint_eq(r.path_len, strlen(path));
            ck_assert(memcmp(r.path, path, r.path_len) == 0);
            ck_assert_uint_eq(r.st.st_ino, 100 + got - 1);
        }
        hs_ldec_count(&dec, &r);
        got++;
    }
    ck_assert_int_eq(k, 0);
    ck_assert_uint_eq(got, count + 1);
    ck_assert(hs_ldec_id_ok(&dec));
    hs_ldec_free(&dec);
    hs_conn_free(&c);
    close(fd);
}
END_TEST

/* One LIST frame of these bytes (then LIST_END): what the decoder says to
 * its first operation. */
static int decode_frame(const void *p, size_t n, char *msg, size_t msglen)
{
    int sv[2];
    pair(sv);
    struct hs_conn w, c;
    hs_conn_init(&w, sv[0], sv[0], 5, "server");
    hs_conn_init(&c, sv[1], sv[1], 5, "server");
    struct hs_err e = {0};
    unsigned char end[24] = {0};
    ck_assert_int_eq(hs_conn_send(&w, HS_MSG_LIST, p, n, &e), 0);
    ck_assert_int_eq(hs_conn_send(&w, HS_MSG_LIST_END, end, sizeof end, &e), 0);
    ck_assert_int_eq(hs_conn_flush(&w, &e), 0);
    struct hs_ldec dec;
    ck_assert_int_eq(hs_ldec_init(&dec, &c), 0);
    uint8_t op;
    struct hs_rec r;
    uint64_t cnt;
    int k = hs_ldec_next(&dec, &op, &r, &cnt, NULL, NULL, &e);
    if (msg)
        snprintf(msg, msglen, "%s", e.msg ? e.msg : "");
    hs_err_clear(&e);
    hs_ldec_free(&dec);
    hs_conn_free(&w);
    hs_conn_free(&c);
    close(sv[0]);
    close(sv[1]);
    return k;
}

/* A REC operation's bytes for path and the body of r, annotation flags. */
static void rec_bytes(struct hs_buf *b, uint64_t shared, const char *path, size_t plen,
                      const struct hs_buf *body, uint8_t flags)
{
    hs_buf_putc(b, HS_LOP_REC);
    hs_put_varint(b, shared);
    hs_put_bytes(b, path, plen);
    hs_put_bytes(b, body->data, body->len);
    hs_buf_putc(b, (char)flags);
}

/* The body of a record as put_body writes it (wire.h's order). */
static void body_bytes(struct hs_buf *b, uint8_t kind, uint64_t mode, uint64_t nsec,
                       const char *target, size_t tlen)
{
    hs_buf_truncate(b, 0);
    hs_buf_putc(b, (char)kind);
    hs_put_varint(b, mode);
    for (int i = 0; i < 4; i++) /* uid gid size mtime */
        hs_put_varint(b, 0);
    hs_put_varint(b, nsec);
    hs_put_varint(b, 0);
    hs_put_varint(b, 0);
    for (int i = 0; i < 4; i++) /* dev ino nlink rdev */
        hs_put_varint(b, 1);
    hs_put_bytes(b, target, tlen);
    hs_put_bytes(b, "", 0);
}

START_TEST(list_malformed)
{
    struct hs_buf f = {0}, body = {0};
    char msg[256];
    /* a good one first: the bytes below are what the decoder reads */
    body_bytes(&body, HS_REC_ENTRY, S_IFREG | 0644, 0, "", 0);
    rec_bytes(&f, 0, "ok", 2, &body, 0);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), 1);

    const char *paths[] = {"/etc/passwd", "..", "a/../../x", "a//b", "./a", "a/", "a\0b"};
    const size_t plens[] = {11, 2, 9, 4, 3, 2, 3};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        hs_buf_truncate(&f, 0);
        rec_bytes(&f, 0, paths[i], plens[i], &body, 0);
        ck_assert_msg(decode_frame(f.data, f.len, msg, sizeof msg) == -EBADMSG, "path %zu accepted",
                      i);
        ck_assert_msg(strstr(msg, "server"), "%s", msg);
    }
    /* a 256-byte component */
    char longname[257];
    memset(longname, 'n', 256);
    hs_buf_truncate(&f, 0);
    rec_bytes(&f, 0, longname, 256, &body, 0);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), -EBADMSG);
    hs_buf_truncate(&f, 0);
    rec_bytes(&f, 0, longname, 255, &body, 0);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), 1);
    /* a shared prefix longer than the previous path (none in a new frame) */
    hs_buf_truncate(&f, 0);
    rec_bytes(&f, 1, "x", 1, &body, 0);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), -EBADMSG);
    /* a path longer than the bound */
    hs_buf_truncate(&f, 0);
    hs_buf_putc(&f, HS_LOP_REC);
    hs_put_varint(&f, 0);
    hs_put_varint(&f, HS_WIRE_MAX_PATH + 1);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), -EBADMSG);
    /* unknown flags, a hash cut short */
    hs_buf_truncate(&f, 0);
    rec_bytes(&f, 0, "ok", 2, &body, 4);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), -EBADMSG);
    hs_buf_truncate(&f, 0);
    rec_bytes(&f, 0, "ok", 2, &body, 1);
    hs_buf_append(&f, "short", 5);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), -EBADMSG);
    /* bodies: an unknown kind, an unknown file type, nanoseconds out of
     * range, a symlink without a target or with a NUL in it, a target over
     * the bound, trailing bytes */
    struct {
        uint8_t kind;
        uint64_t mode, nsec;
        const char *target;
        size_t tlen;
    } bodies[] = {
        {3, S_IFREG, 0, "", 0},
        {HS_REC_ENTRY, 0170000, 0, "", 0},
        {HS_REC_ENTRY, 0, 0, "", 0},
        {HS_REC_ENTRY, S_IFREG, 1000000000, "", 0},
        {HS_REC_ENTRY, (uint64_t)1 << 33 | S_IFREG, 0, "", 0},
        {HS_REC_ENTRY, S_IFLNK | 0777, 0, "", 0},
        {HS_REC_ENTRY, S_IFLNK | 0777, 0, "a\0b", 3},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        body_bytes(&body, bodies[i].kind, bodies[i].mode, bodies[i].nsec, bodies[i].target,
                   bodies[i].tlen);
        hs_buf_truncate(&f, 0);
        rec_bytes(&f, 0, "ok", 2, &body, 0);
        ck_assert_msg(decode_frame(f.data, f.len, NULL, 0) == -EBADMSG, "body %zu accepted", i);
    }
    char *target = malloc(HS_WIRE_MAX_TARGET + 1);
    memset(target, 't', HS_WIRE_MAX_TARGET + 1);
    body_bytes(&body, HS_REC_ENTRY, S_IFLNK | 0777, 0, target, HS_WIRE_MAX_TARGET + 1);
    hs_buf_truncate(&f, 0);
    rec_bytes(&f, 0, "ok", 2, &body, 0);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), -EBADMSG);
    body_bytes(&body, HS_REC_ENTRY, S_IFLNK | 0777, 0, target, HS_WIRE_MAX_TARGET);
    hs_buf_truncate(&f, 0);
    rec_bytes(&f, 0, "ok", 2, &body, 0);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), 1);
    free(target);
    body_bytes(&body, HS_REC_ENTRY, S_IFREG, 0, "", 0);
    hs_buf_putc(&body, 0);
    hs_buf_truncate(&f, 0);
    rec_bytes(&f, 0, "ok", 2, &body, 0);
    ck_assert_int_eq(decode_frame(f.data, f.len, NULL, 0), -EBADMSG);
    /* operations: unknown, KEEP 0, KEEP cut */
    ck_assert_int_eq(decode_frame("?", 1, NULL, 0), -EBADMSG);
    ck_assert_int_eq(decode_frame("K\0", 2, NULL, 0), -EBADMSG);
    ck_assert_int_eq(decode_frame("K\x80", 2, NULL, 0), -EBADMSG);
    ck_assert_int_eq(decode_frame("X\x05", 2, NULL, 0), 1);
    /* an empty frame is skipped: the list ends */
    ck_assert_int_eq(decode_frame("", 0, NULL, 0), 0);
    hs_buf_free(&f);
    hs_buf_free(&body);
}
END_TEST

static int on_warn(void *user, uint8_t type, struct hs_dec *d)
{
    (void)d;
    if (type != HS_MSG_WARN)
        return -ENOMSG;
    ++*(int *)user;
    return 0;
}

/* Frames other than the list's: WARN through the handler, anything else
 * an error; a short LIST_END; the end of input before LIST_END. */
START_TEST(list_other_frames)
{
    struct hs_err e = {0};
    struct hs_buf body = {0}, f = {0};
    body_bytes(&body, HS_REC_ENTRY, S_IFDIR | 0755, 0, "", 0);
    rec_bytes(&f, 0, "", 0, &body, 0);
    for (int t = 0; t < 4; t++) {
        int sv[2];
        pair(sv);
        struct hs_conn w, c;
        hs_conn_init(&w, sv[0], sv[0], 5, "server");
        hs_conn_init(&c, sv[1], sv[1], 5, "server");
        unsigned char end[25] = {0};
        ck_assert_int_eq(hs_conn_send(&w, HS_MSG_WARN, "w", 1, &e), 0);
        ck_assert_int_eq(hs_conn_send(&w, HS_MSG_LIST, f.data, f.len, &e), 0);
        if (t == 1)
            ck_assert_int_eq(hs_conn_send(&w, HS_MSG_DATA, "d", 1, &e), 0);
        if (t == 2)
            ck_assert_int_eq(hs_conn_send(&w, HS_MSG_LIST_END, end, 23, &e), 0);
        if (t == 3)
            ck_assert_int_eq(hs_conn_send(&w, HS_MSG_LIST_END, end, 25, &e), 0);
        ck_assert_int_eq(hs_conn_flush(&w, &e), 0);
        close(sv[0]);
        struct hs_ldec dec;
        ck_assert_int_eq(hs_ldec_init(&dec, &c), 0);
        uint8_t op;
        struct hs_rec r;
        uint64_t n;
        int warned = 0;
        ck_assert_int_eq(hs_ldec_next(&dec, &op, &r, &n, on_warn, &warned, &e), 1);
        ck_assert_int_eq(warned, 1);
        int k = hs_ldec_next(&dec, &op, &r, &n, on_warn, &warned, &e);
        ck_assert_int_eq(k, t == 0 ? -ECONNRESET : -EBADMSG);
        ck_assert_ptr_nonnull(e.msg);
        ck_assert_msg(strstr(e.msg, "server"), "%s", e.msg);
        hs_err_clear(&e);
        hs_ldec_free(&dec);
        hs_conn_free(&w);
        hs_conn_free(&c);
        close(sv[1]);
    }
    hs_buf_free(&body);
    hs_buf_free(&f);
}
END_TEST

START_TEST(xattrs_in_records)
{
    const char *names[] = {"user.z", "user.a", "security.selinux"};
    const void *values[] = {"zz", "", "ctx\0"};
    size_t sizes[] = {2, 0, 4};
    struct hs_xattrs xa = {0}, back = {0};
    struct hs_buf b = {0};
    ck_assert_int_eq(hs_xattr_set(&xa, names, values, sizes, 3, true), 0);
    ck_assert_int_eq(hs_rec_xattrs_put(&b, &xa), 0);
    ck_assert_int_eq(hs_rec_xattrs_get(b.data, b.len, &back, true), 0);
    ck_assert_uint_eq(back.count, 3);
    ck_assert_uint_eq(back.names.len, xa.names.len);
    ck_assert(memcmp(back.names.data, xa.names.data, xa.names.len) == 0);
    ck_assert_uint_eq(back.values.len, xa.values.len);
    ck_assert(memcmp(back.values.data, xa.values.data, xa.values.len) == 0);
    /* unprivileged: user.* only */
    ck_assert_int_eq(hs_rec_xattrs_get(b.data, b.len, &back, false), 0);
    ck_assert_uint_eq(back.count, 2);
    /* none */
    ck_assert_int_eq(hs_rec_xattrs_get(NULL, 0, &back, true), 0);
    ck_assert_uint_eq(back.count, 0);
    /* cut, trailing bytes */
    ck_assert_int_eq(hs_rec_xattrs_get(b.data, b.len - 1, &back, true), -EBADMSG);
    hs_buf_putc(&b, 0);
    ck_assert_int_eq(hs_rec_xattrs_get(b.data, b.len, &back, true), -EBADMSG);
    /* an empty name, a NUL in a name, a name over 255 bytes */
    const char *bad_names[] = {"", "user.a\0b", NULL};
    size_t bad_lens[] = {0, 8, 256};
    char longname[256];
    memset(longname, 'x', sizeof longname);
    bad_names[2] = longname;
    for (size_t i = 0; i < 3; i++) {
        hs_buf_truncate(&b, 0);
        hs_put_varint(&b, 1);
        hs_put_bytes(&b, bad_names[i], bad_lens[i]);
        hs_put_bytes(&b, "v", 1);
        ck_assert_msg(hs_rec_xattrs_get(b.data, b.len, &back, true) == -EBADMSG, "name %zu", i);
    }
    /* 100000 of them claimed, and (as a hostile server can) sent: refused,
     * without memory for them all */
    hs_buf_truncate(&b, 0);
    hs_put_varint(&b, 100000);
    ck_assert_int_eq(hs_rec_xattrs_get(b.data, b.len, &back, true), -EBADMSG);
    for (int i = 0; i < 100000; i++) {
        char nm[32];
        int l = snprintf(nm, sizeof nm, "u%x", (unsigned)i);
        hs_put_bytes(&b, nm, (size_t)l);
        hs_put_bytes(&b, "", 0);
    }
    ck_assert_uint_le(b.len, HS_WIRE_MAX_XATTRS);
    ck_assert_int_eq(hs_rec_xattrs_get(b.data, b.len, &back, true), -EBADMSG);
    /* a value over 64 KiB */
    hs_buf_truncate(&b, 0);
    hs_put_varint(&b, 1);
    hs_put_bytes(&b, "user.big", 8);
    char *big = calloc(1, 65537);
    hs_put_bytes(&b, big, 65537);
    free(big);
    ck_assert_int_eq(hs_rec_xattrs_get(b.data, b.len, &back, true), -EBADMSG);
    hs_xattrs_free(&xa);
    hs_xattrs_free(&back);
    hs_buf_free(&b);
}
END_TEST

START_TEST(path_ok)
{
    ck_assert(hs_wire_path_ok("", 0));
    ck_assert(hs_wire_path_ok("a", 1));
    ck_assert(hs_wire_path_ok("a/b/c", 5));
    ck_assert(hs_wire_path_ok("...", 3));
    ck_assert(hs_wire_path_ok(".a/..b/c..", 10));
    ck_assert(!hs_wire_path_ok("/a", 2));
    ck_assert(!hs_wire_path_ok("/", 1));
    ck_assert(!hs_wire_path_ok("..", 2));
    ck_assert(!hs_wire_path_ok("a/..", 4));
    ck_assert(!hs_wire_path_ok("../a", 4));
    ck_assert(!hs_wire_path_ok("a/../b", 6));
    ck_assert(!hs_wire_path_ok(".", 1));
    ck_assert(!hs_wire_path_ok("a/./b", 5));
    ck_assert(!hs_wire_path_ok("a//b", 4));
    ck_assert(!hs_wire_path_ok("a/", 2));
    ck_assert(!hs_wire_path_ok("a\0b", 3));
    ck_assert(!hs_wire_path_ok("a/b\0", 4));
    char p[300];
    memset(p, 'c', sizeof p);
    ck_assert(hs_wire_path_ok(p, 255));
    ck_assert(!hs_wire_path_ok(p, 256));
    p[0] = 'a';
    p[1] = '/';
    ck_assert(hs_wire_path_ok(p, 257));
    ck_assert(!hs_wire_path_ok(p, 258));
}
END_TEST

/* ---- hello and request ------------------------------------------------ */

START_TEST(hello)
{
    struct hs_buf b = {0};
    char why[512];
    ck_assert_int_eq(hs_wire_hello(&b), 0);
    ck_assert_int_eq(hs_wire_hello_check(b.data, b.len, "web1", why, sizeof why), 0);
    /* another protocol version: both named, and both programs' versions */
    unsigned char v[4];
    hs_le32_store(v, 99);
    struct hs_buf o = {0};
    hs_buf_append(&o, "HSNP", 4);
    hs_buf_append(&o, v, 4);
    hs_put_bytes(&o, "9.9.9\n\x1b[2J", 10);
    ck_assert_int_eq(hs_wire_hello_check(o.data, o.len, "web1", why, sizeof why), -EPROTO);
    char mine[32];
    snprintf(mine, sizeof mine, "version %d", HS_PROTO_VERSION);
    ck_assert_msg(strstr(why, mine) && strstr(why, "version 99") && strstr(why, "web1") &&
                      strstr(why, HS_VERSION) && strstr(why, "9.9.9"),
                  "%s", why);
    ck_assert_msg(!strchr(why, '\x1b') && !strchr(why, '\n'), "control bytes: %s", why);
    /* not a hello at all */
    ck_assert_int_eq(hs_wire_hello_check("SSH-2.0-OpenSSH", 15, "web1", why, sizeof why), -EPROTO);
    ck_assert_msg(strstr(why, "web1") && strstr(why, "hello"), "%s", why);
    ck_assert_int_eq(hs_wire_hello_check("HSNP", 4, "web1", why, sizeof why), -EPROTO);
    ck_assert_int_eq(hs_wire_hello_check("", 0, "web1", why, sizeof why), -EPROTO);
    /* a version string over its bound */
    hs_buf_truncate(&o, 0);
    hs_buf_append(&o, "HSNP", 4);
    hs_buf_append(&o, v, 4);
    hs_put_varint(&o, 1000);
    ck_assert_int_eq(hs_wire_hello_check(o.data, o.len, "web1", why, sizeof why), -EPROTO);
    hs_buf_free(&b);
    hs_buf_free(&o);
}
END_TEST

START_TEST(request_round_trip)
{
    struct hs_err e = {0};
    struct hs_req q = {0}, back = {0};
    q.flags = HS_REQ_ONE_FS | HS_REQ_HASHES;
    hs_buf_puts(&q.path, "/srv/data");
    hs_buf_puts(&q.prefix, "web1/");
    q.global = hs_exclude_new();
    q.own = hs_exclude_new();
    ck_assert_int_eq(hs_exclude_add(q.global, "*.o", &e), 0);
    ck_assert_int_eq(hs_exclude_add(q.own, "/cache/", &e), 0);
    q.has_base = true;
    memset(q.key, 1, 16);
    memset(q.base_id, 2, 16);
    struct hs_buf b = {0};
    ck_assert_int_eq(hs_req_encode(&q, &b), 0);
    ck_assert_int_eq(hs_req_decode(&back, b.data, b.len), 0);
    ck_assert_uint_eq(back.flags, q.flags);
    ck_assert_str_eq(back.path.data, "/srv/data");
    ck_assert_str_eq(back.prefix.data, "web1/");
    ck_assert(back.has_base);
    ck_assert(memcmp(back.key, q.key, 16) == 0);
    ck_assert(memcmp(back.base_id, q.base_id, 16) == 0);
    ck_assert(hs_exclude_match(back.global, "x/y.o", 5, false));
    ck_assert(!hs_exclude_match(back.global, "x/y.c", 5, false));
    ck_assert(hs_exclude_match(back.own, "cache", 5, true));
    ck_assert(!hs_exclude_match(back.own, "cache", 5, false));
    hs_req_free(&back);
    /* every cut is refused, and so is a byte more */
    for (size_t n = 0; n < b.len; n++) {
        struct hs_req t = {0};
        ck_assert_msg(hs_req_decode(&t, b.data, n) < 0, "cut at %zu accepted", n);
        hs_req_free(&t);
    }
    hs_buf_putc(&b, 0);
    ck_assert_int_lt(hs_req_decode(&back, b.data, b.len), 0);
    hs_req_free(&back);
    hs_req_free(&q);

    /* malformed fields, one at a time */
    struct {
        uint32_t flags;
        const char *path;
        size_t plen;
        const char *prefix;
        bool base;
    } bad[] = {
        {1u << 5, "/srv", 4, "", false}, {0, "", 0, "", false},         {0, "/s\0rv", 5, "", false},
        {0, "/srv", 4, "web1", false},   {0, "/srv", 4, "../", false},  {0, "/srv", 4, "/", false},
        {0, "/srv", 4, "a/b/", false},   {0, "/srv", 4, "a\0/", false},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_req t = {0};
        t.flags = bad[i].flags;
        hs_buf_append(&t.path, bad[i].path, bad[i].plen);
        hs_buf_append(&t.prefix, bad[i].prefix, strlen(bad[i].prefix) + (i == 7 ? 2 : 0));
        hs_buf_truncate(&b, 0);
        ck_assert_int_eq(hs_req_encode(&t, &b), 0);
        hs_req_free(&t);
        struct hs_req u = {0};
        int r = hs_req_decode(&u, b.data, b.len);
        hs_req_free(&u);
        /* "a/b/" is a valid path; a prefix is one name only on the client,
         * but the server only needs it to be a safe relative path */
        if (i == 6)
            ck_assert_int_eq(r, 0);
        else
            ck_assert_msg(r == -EBADMSG, "request %zu accepted", i);
    }
    /* has_base other than 0 or 1 */
    struct hs_req t = {0};
    hs_buf_puts(&t.path, "/srv");
    hs_buf_truncate(&b, 0);
    ck_assert_int_eq(hs_req_encode(&t, &b), 0);
    hs_req_free(&t);
    b.data[b.len - 33] = 2;
    ck_assert_int_eq(hs_req_decode(&t, b.data, b.len), -EBADMSG);
    hs_req_free(&t);
    hs_buf_free(&b);
    hs_err_clear(&e);
}
END_TEST

/* ---- the list walk ---------------------------------------------------- */

struct feed {
    const struct hs_rec *r;
    size_t n, at;
};

static int feed_read(void *user, struct hs_rec_copy *into, struct hs_err *e)
{
    (void)e;
    struct feed *f = user;
    if (f->at == f->n)
        return 0;
    return hs_rec_copy_set(into, &f->r[f->at++]) < 0 ? -ENOMEM : 1;
}

/* Walks the records: the events as "E:path" words (ENTRY N, ENTER >, LEAVE
 * <, ERROR !), then "." at the end or "X" and the error. */
static void walk_of(const struct hs_rec *r, size_t n, const char *prefix, struct hs_buf *out,
                    struct hs_err *e, const char *skip)
{
    struct feed f = {r, n, 0};
    struct hs_listwalk w = {.read = feed_read,
                            .user = &f,
                            .prefix = prefix,
                            .name = "web1:/srv",
                            .err = e,
                            .dev_mask = 1ull << 56};
    hs_buf_truncate(out, 0);
    for (int guard = 0; guard < 1000; guard++) {
        struct hs_walk_item it;
        int k = hs_listwalk_next(&w, &it);
        if (k < 0) {
            hs_buf_puts(out, "X");
            break;
        }
        static const char ev[] = {'.', 'N', '>', '<', '!', 'F'};
        hs_buf_putc(out, ev[it.ev]);
        if (it.ev == HS_WALK_END)
            break;
        hs_buf_putc(out, ':');
        hs_buf_append(out, it.path, it.path_len);
        if (it.ev == HS_WALK_ERROR && it.unentered)
            hs_buf_putc(out, '*');
        if (it.ev != HS_WALK_ERROR || it.st.st_mode)
            ck_assert_uint_eq(it.st.st_dev, 0x801 ^ (1ull << 56));
        hs_buf_putc(out, ' ');
        if (skip && it.ev == HS_WALK_ENTRY && strcmp(it.path, skip) == 0)
            hs_listwalk_skip(&w);
    }
    hs_listwalk_free(&w);
}

START_TEST(listwalk_order)
{
    struct hs_rec r[16];
    size_t n = 0;
    r[n++] = entry("", S_IFDIR | 0755, 2);
    r[n++] = entry("a", S_IFREG | 0644, 3);
    r[n++] = entry("d", S_IFDIR | 0755, 4);
    r[n++] = entry("d/x", S_IFREG | 0644, 5);
    r[n++] = entry("d/y", S_IFDIR | 0755, 6);
    r[n++] = entry("d/y/z", S_IFREG | 0644, 7);
    r[n++] = entry("e", S_IFDIR | 0755, 8);
    r[n] = (struct hs_rec){.kind = HS_REC_ERROR, .path = "e", .path_len = 1, .err = EACCES};
    r[n].st = st_of(S_IFDIR | 0755, 8);
    r[n++].unentered = true;
    r[n++] = entry("f", S_IFLNK | 0777, 9);
    r[n++] = (struct hs_rec){.kind = HS_REC_ERROR, .path = "g", .path_len = 1, .err = EIO};
    struct hs_buf out = {0};
    struct hs_err e = {0};
    walk_of(r, n, "", &out, &e, NULL);
    ck_assert_str_eq(out.data, ">: N:a N:d >:d N:d/x N:d/y >:d/y N:d/y/z <:d/y <:d N:e !:e* N:f "
                               "!:g <: .");
    walk_of(r, n, "web1/", &out, &e, NULL);
    ck_assert_str_eq(out.data, ">:web1 N:web1/a N:web1/d >:web1/d N:web1/d/x N:web1/d/y "
                               ">:web1/d/y N:web1/d/y/z <:web1/d/y <:web1/d N:web1/e !:web1/e* "
                               "N:web1/f !:web1/g <:web1 .");
    /* a skipped directory: its records are not returned */
    walk_of(r, n, "", &out, &e, "d");
    ck_assert_str_eq(out.data, ">: N:a N:d N:e !:e* N:f !:g <: .");
    walk_of(r, n, "", &out, &e, "e");
    ck_assert_str_eq(out.data,
                     ">: N:a N:d >:d N:d/x N:d/y >:d/y N:d/y/z <:d/y <:d N:e N:f !:g <: .");
    hs_buf_free(&out);
    hs_err_clear(&e);
}
END_TEST

/* The error of a bad list: its walk ends in X, the message names the list
 * and why. */
static void refused(const struct hs_rec *r, size_t n, const char *why)
{
    struct hs_buf out = {0};
    struct hs_err e = {0};
    walk_of(r, n, "", &out, &e, NULL);
    ck_assert_msg(out.len && out.data[out.len - 1] == 'X', "walked: %s", out.data);
    ck_assert_ptr_nonnull(e.msg);
    ck_assert_msg(strstr(e.msg, "web1:/srv") && strstr(e.msg, why), "%s", e.msg);
    ck_assert_int_eq(e.code, EBADMSG);
    hs_err_clear(&e);
    hs_buf_free(&out);
}

START_TEST(listwalk_refused)
{
    struct hs_rec r[8];
    /* out of order, and a record twice */
    r[0] = entry("", S_IFDIR | 0755, 2);
    r[1] = entry("b", S_IFREG | 0644, 3);
    r[2] = entry("a", S_IFREG | 0644, 4);
    refused(r, 3, "out of order");
    r[2] = entry("b", S_IFREG | 0644, 4);
    refused(r, 3, "out of order");
    /* two roots */
    r[1] = entry("", S_IFDIR | 0755, 3);
    refused(r, 2, "out of order");
    /* below a symlink, a file, a fifo; below a directory not listed */
    const mode_t parents[] = {S_IFLNK | 0777, S_IFREG | 0644, S_IFIFO | 0644};
    for (size_t i = 0; i < 3; i++) {
        r[1] = entry("l", parents[i], 3);
        r[1].target = "/etc";
        r[1].target_len = 4;
        r[2] = entry("l/x", S_IFREG | 0644, 4);
        refused(r, 3, "did not name");
    }
    r[1] = entry("a/b", S_IFREG | 0644, 3);
    refused(r, 2, "did not name");
    /* below an ERROR record (not a directory the list named) */
    r[1] = (struct hs_rec){.kind = HS_REC_ERROR, .path = "d", .path_len = 1, .err = EIO};
    r[2] = entry("d/x", S_IFREG | 0644, 4);
    refused(r, 3, "did not name");
    /* the root: not a directory, not "", an ERROR, missing */
    r[0] = entry("", S_IFREG | 0644, 2);
    refused(r, 1, "does not start with a directory");
    r[0] = entry("x", S_IFDIR | 0755, 2);
    refused(r, 1, "does not start with a directory");
    r[0] = (struct hs_rec){.kind = HS_REC_ERROR, .path = "", .path_len = 0, .err = EIO};
    r[0].st = st_of(S_IFDIR | 0755, 2);
    refused(r, 1, "does not start with a directory");
    refused(r, 0, "empty");
}
END_TEST

Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tu_tcase_plain("values");
    tcase_add_test(tc, varint_round_trip);
    tcase_add_test(tc, varint_malformed);
    tcase_add_test(tc, bytes_bounds);
    tcase_add_test(tc, path_ok);
    tcase_add_test(tc, xattrs_in_records);
    tcase_add_test(tc, hello);
    tcase_add_test(tc, request_round_trip);
    suite_add_tcase(s, tc);
    tc = tu_tcase_plain("frames");
    tcase_add_test(tc, frames_send_recv);
    tcase_add_test(tc, frames_refused);
    tcase_add_test(tc, frames_timeout);
    tcase_add_test(tc, frames_to_a_pipe);
    suite_add_tcase(s, tc);
    tc = tu_tcase_plain("lists");
    tcase_add_test(tc, list_round_trip);
    tcase_add_test(tc, list_many_frames);
    tcase_add_test(tc, list_malformed);
    tcase_add_test(tc, list_other_frames);
    tcase_add_test(tc, listwalk_order);
    tcase_add_test(tc, listwalk_refused);
    suite_add_tcase(s, tc);
    return s;
}
