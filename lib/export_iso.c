/* The ISO 9660 writer's workaround: see export_iso.h (and delete both
 * together). */
#include "export_iso.h"

#include "bytes.h"
#include "fsutil.h"
#include "hash.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The level Rock Ridge moves directories from, and the deepest directory
 * whose move is not moved again. */
#define ISO_MOVED_LEVEL 8
#define ISO_DEEPEST     13

struct hs_iso_name {
    struct hs_iso_name *next;
    uint64_t hash;
    char name[];
};

/* 1 if name was added, 0 if it was there already, -ENOMEM. */
static int name_add(struct hs_iso_guard *s, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = hs_hash_bytes(name, len);
    if (s->count >= s->nbuckets) {
        size_t nb = s->nbuckets ? s->nbuckets * 2 : 64;
        struct hs_iso_name **b = calloc(nb, sizeof *b);
        if (!b)
            return -ENOMEM;
        for (size_t i = 0; i < s->nbuckets; i++) {
            for (struct hs_iso_name *n = s->buckets[i], *next; n; n = next) {
                next = n->next;
                n->next = b[n->hash & (nb - 1)];
                b[n->hash & (nb - 1)] = n;
            }
        }
        free(s->buckets);
        s->buckets = b;
        s->nbuckets = nb;
    }
    struct hs_iso_name **head = &s->buckets[h & (s->nbuckets - 1)];
    for (struct hs_iso_name *n = *head; n; n = n->next)
        if (n->hash == h && !strcmp(n->name, name))
            return 0;
    struct hs_iso_name *n = malloc(sizeof *n + len + 1);
    if (!n)
        return -ENOMEM;
    n->hash = h;
    memcpy(n->name, name, len + 1);
    n->next = *head;
    *head = n;
    s->count++;
    return 1;
}

void hs_iso_guard_free(struct hs_iso_guard *g)
{
    for (size_t i = 0; i < g->nbuckets; i++) {
        for (struct hs_iso_name *n = g->buckets[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    }
    free(g->buckets);
    *g = (struct hs_iso_guard){0};
}

static int refuse(struct hs_err *err, const char *why, const char *path)
{
    char *esc = hs_escape(path, strlen(path));
    hs_err_setf(err, 0,
                "cannot write ISO 9660: %s: %s (libarchive's ISO writer fails on such "
                "trees, issue #1517; export as .tar or .zip)",
                why, esc ? esc : "?");
    free(esc);
    err->code = ENOTSUP;
    hs_err_kind(err, HS_USAGE); /* nothing written yet: another format will do */
    return -ENOTSUP;
}

int hs_iso_guard_dir(struct hs_iso_guard *g, const char *path, struct hs_err *err)
{
    size_t levels = 1;
    for (const char *p = path; *p; p++)
        levels += *p == '/';
    const char *base = hs_path_base(path, strlen(path));
    bool in_rr_moved = levels == 2 && !strncmp(path, "rr_moved/", 9);
    if (levels > ISO_DEEPEST)
        return refuse(err, "a directory more than 13 levels deep", path);
    if (levels != ISO_MOVED_LEVEL && !in_rr_moved)
        return 0;
    int k = name_add(g, base);
    if (k < 0)
        return hs_err_setf(err, ENOMEM, "export");
    if (k == 0)
        return refuse(err, "two directories of the same name at the 8th level or in rr_moved",
                      path);
    return 0;
}

/* ---- the image's root directory (export_iso.h) ------------------------------------- */

#define ISO_SECTOR   2048
#define ISO_VD_FIRST 16 /* the first volume descriptor's sector */
#define ISO_VD_MAX   64 /* volume descriptors looked at, at most */
#define ISO_ROOT_REC 156
#define SUSP_CE_MAX  8 /* continuation areas followed from one record */
#define DR_FLAG_DIR  0x02
#define TF_LONG_FORM 0x80

struct iso_patch {
    int fd;
    const struct stat *st;
    uint32_t block; /* logical block size */
    uint64_t size;  /* of the image */
    uint32_t links; /* the root's: 2 + its subdirectories (rr_moved too) */
    unsigned char date[7];
};

/* Reads (or with write, writes) n bytes of the image at off, all of them:
 * 0, -EINVAL past the image's end, or -errno. */
static int image_io(struct iso_patch *ip, void *buf, size_t n, uint64_t off, bool write)
{
    if (off > ip->size || n > ip->size - off)
        return -EINVAL;
    for (size_t done = 0; done < n;) {
        char *p = (char *)buf + done;
        off_t at = (off_t)(off + done);
        ssize_t k = write ? pwrite(ip->fd, p, n - done, at) : pread(ip->fd, p, n - done, at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : write ? -EIO : -EINVAL;
        done += (size_t)k;
    }
    return 0;
}

static int get_bytes(struct iso_patch *ip, void *buf, size_t n, uint64_t off)
{
    return image_io(ip, buf, n, off, false);
}

static int put_bytes(struct iso_patch *ip, const void *buf, size_t n, uint64_t off)
{
    return image_io(ip, (void *)buf, n, off, true);
}

/* ISO 9660 "both-byte order": little-endian, then big-endian. */
static void both32(unsigned char *p, uint32_t v)
{
    hs_le32_store(p, v);
    for (int i = 0; i < 4; i++)
        p[4 + i] = (unsigned char)(v >> (24 - 8 * i));
}

/* A 7-byte date (ECMA-119 9.1.5), UTC; false past what it can hold. */
static bool date7(unsigned char d[7], time_t t)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year < 0 || tm.tm_year > 255)
        return false;
    d[0] = (unsigned char)tm.tm_year;
    d[1] = (unsigned char)(tm.tm_mon + 1);
    d[2] = (unsigned char)tm.tm_mday;
    d[3] = (unsigned char)tm.tm_hour;
    d[4] = (unsigned char)tm.tm_min;
    d[5] = (unsigned char)tm.tm_sec;
    d[6] = 0; /* offset from GMT */
    return true;
}

/* A 17-byte date (ECMA-119 8.4.26.1), UTC. */
static bool date17(unsigned char d[17], const struct timespec *ts)
{
    struct tm tm;
    char s[64]; /* room for any int, as the compiler cannot know the ranges */
    if (!gmtime_r(&ts->tv_sec, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1)
        return false;
    snprintf(s, sizeof s, "%04d%02d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts->tv_nsec / 10000000));
    memcpy(d, s, 16);
    d[16] = 0;
    return true;
}

/* One Rock Ridge TF timestamp, short or long form (left as it was if the
 * form cannot hold the time). */
static void tf_time(unsigned char *p, bool long_form, const struct timespec *ts)
{
    unsigned char d[17];
    if (long_form ? date17(d, ts) : date7(d, ts->tv_sec))
        memcpy(p, d, long_form ? 17 : 7);
}

/* Patches the SUSP entries in su[0, len) (PX, TF), following CE into
 * continuation areas (written back here); *dirty when su changed. */
static int patch_susp(struct iso_patch *ip, unsigned char *su, size_t len, int depth, bool *dirty)
{
    const struct stat *st = ip->st;
    for (size_t i = 0; i + 4 <= len;) {
        size_t n = su[i + 2];
        if (n < 4 || n > len - i)
            break; /* padding, or the end */
        unsigned char *e = su + i;
        if (!memcmp(e, "ST", 2))
            break;
        if (!memcmp(e, "PX", 2) && n >= 36) {
            both32(e + 4, (uint32_t)st->st_mode);
            both32(e + 12, ip->links);
            both32(e + 20, (uint32_t)st->st_uid);
            both32(e + 28, (uint32_t)st->st_gid);
            *dirty = true;
        } else if (!memcmp(e, "TF", 2) && n >= 5) {
            unsigned flags = e[4];
            size_t w = flags & TF_LONG_FORM ? 17 : 7, at = 5;
            /* creation, modify, access, attributes, in this order */
            const struct timespec *ts[4] = {NULL, &st->st_mtim, &st->st_atim, &st->st_ctim};
            for (unsigned bit = 0; bit < 7 && at + w <= n; bit++) {
                if (!(flags & (1u << bit)))
                    continue;
                if (bit < 4 && ts[bit])
                    tf_time(e + at, flags & TF_LONG_FORM, ts[bit]);
                at += w;
            }
            *dirty = true;
        } else if (!memcmp(e, "CE", 2) && n >= 28 && depth < SUSP_CE_MAX) {
            uint64_t off = (uint64_t)hs_le32_load(e + 4) * ip->block + hs_le32_load(e + 12);
            uint32_t clen = hs_le32_load(e + 20);
            if (clen > ip->block)
                return -EINVAL;
            unsigned char area[ISO_SECTOR * 2];
            bool changed = false;
            int k = get_bytes(ip, area, clen, off);
            if (k == 0)
                k = patch_susp(ip, area, clen, depth + 1, &changed);
            if (k == 0 && changed)
                k = put_bytes(ip, area, clen, off);
            if (k < 0)
                return k;
        }
        i += n;
    }
    return 0;
}

/* Patches the directory record at off (of length rec[0], read into rec):
 * its date, and with rr its Rock Ridge entries. */
static int patch_record(struct iso_patch *ip, unsigned char *rec, uint64_t off, bool rr)
{
    size_t len = rec[0], name_len = rec[32];
    if (len < 34 || 33 + name_len > len)
        return -EINVAL;
    memcpy(rec + 18, ip->date, 7);
    bool dirty = true;
    size_t su = 33 + name_len + (name_len % 2 == 0); /* a pad byte after an even name */
    if (rr && su < len) {
        int k = patch_susp(ip, rec + su, len - su, 0, &dirty);
        if (k < 0)
            return k;
    }
    return put_bytes(ip, rec, len, off);
}

/* The ".." record of a directory in the root (at extent, size). */
static int patch_dotdot(struct iso_patch *ip, uint32_t extent, uint32_t size, bool rr)
{
    unsigned char sec[ISO_SECTOR];
    uint64_t base = (uint64_t)extent * ISO_SECTOR;
    if (size < 68)
        return -EINVAL;
    int k = get_bytes(ip, sec, sizeof sec, base);
    if (k < 0)
        return k;
    size_t first = sec[0]; /* ".", then ".." (name 0x01) */
    if (first < 34 || first + 34 > ISO_SECTOR || sec[first] < 34 ||
        sec[first] > ISO_SECTOR - first || sec[first + 32] != 1 || sec[first + 33] != 1)
        return -EINVAL;
    return patch_record(ip, sec + first, base + first, rr);
}

/* The records of the root directory (at extent, size): its "." and "..",
 * the first two, and each subdirectory's "..". With count, nothing is
 * patched: ip->links is counted. */
static int patch_root(struct iso_patch *ip, uint32_t extent, uint32_t size, bool rr, bool count)
{
    unsigned char sec[ISO_SECTOR];
    if (ip->block != ISO_SECTOR)
        return -EINVAL;
    unsigned nth = 0;
    for (uint32_t at = 0; at < size; at += ISO_SECTOR) {
        uint64_t base = ((uint64_t)extent * ISO_SECTOR) + at;
        int k = get_bytes(ip, sec, sizeof sec, base);
        if (k < 0)
            return k;
        /* records do not cross sectors: a zero length ends this one */
        for (size_t i = 0; i < ISO_SECTOR && sec[i] != 0; nth++) {
            unsigned char *r = sec + i;
            size_t len = r[0];
            if (len < 34 || len > ISO_SECTOR - i)
                return -EINVAL;
            if (count)
                ip->links += nth >= 2 && (r[25] & DR_FLAG_DIR);
            else if (nth < 2)
                k = patch_record(ip, r, base + i, rr);
            else if (r[25] & DR_FLAG_DIR)
                k = patch_dotdot(ip, hs_le32_load(r + 2), hs_le32_load(r + 10), rr);
            if (k < 0)
                return k;
            i += len;
        }
    }
    return nth >= 2 ? 0 : -EINVAL;
}

int hs_iso_patch_root(int fd, const struct stat *st, struct hs_err *err)
{
    struct iso_patch ip = {.fd = fd, .st = st, .block = ISO_SECTOR};
    struct stat fst;
    if (fstat(fd, &fst) < 0)
        return hs_err_setf(err, errno, "cannot read the ISO image");
    ip.size = (uint64_t)fst.st_size;
    if (!date7(ip.date, st->st_mtim.tv_sec))
        return 0; /* a time no directory record can hold: the writer's stays */
    int k = 0, roots = 0;
    for (uint32_t n = ISO_VD_FIRST; k == 0 && n < ISO_VD_FIRST + ISO_VD_MAX; n++) {
        unsigned char vd[ISO_SECTOR];
        uint64_t off = (uint64_t)n * ISO_SECTOR;
        k = get_bytes(&ip, vd, sizeof vd, off);
        if (k < 0 || memcmp(vd + 1, "CD001", 5) != 0) {
            k = -EINVAL;
            break;
        }
        if (vd[0] == 255)
            break; /* the set terminator */
        if (vd[0] != 1 && vd[0] != 2)
            continue; /* boot record, partition */
        /* the primary has Rock Ridge; libarchive's supplementary is Joliet */
        bool rr = vd[0] == 1;
        unsigned char *root = vd + ISO_ROOT_REC;
        if (root[0] != 34 || !(root[25] & DR_FLAG_DIR)) {
            k = -EINVAL;
            break;
        }
        ip.block = (uint32_t)vd[128] | (uint32_t)vd[129] << 8;
        uint32_t extent = hs_le32_load(root + 2), size = hs_le32_load(root + 10);
        ip.links = 2;
        k = patch_root(&ip, extent, size, rr, true);
        if (k == 0)
            k = patch_record(&ip, root, off + ISO_ROOT_REC, false);
        if (k == 0)
            k = patch_root(&ip, extent, size, rr, false);
        roots++;
    }
    if (k == 0 && roots == 0)
        k = -EINVAL;
    if (k == -EINVAL) {
        hs_err_setf(err, 0,
                    "the ISO image is not laid out as expected: its root directory's mode, "
                    "owner and times are the writer's");
        err->code = EINVAL;
        return -EINVAL;
    }
    if (k < 0)
        return hs_err_setf(err, -k, "cannot write the ISO image's root directory");
    return 0;
}
