#include "dirlist.h"
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

static int add(struct hs_dirlist *l, const char *name, uint64_t ino, unsigned char type)
{
    size_t len = strlen(name) + 1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct hs_dirlist_ent *p = realloc(l->ents, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        l->ents = p;
        l->cap = cap;
    }
    if (l->names_len + len > l->names_cap) {
        size_t cap = l->names_cap ? l->names_cap * 2 : 1024;
        while (cap < l->names_len + len)
            cap *= 2;
        char *p = realloc(l->names, cap);
        if (!p)
            return -ENOMEM;
        l->names = p;
        l->names_cap = cap;
    }
    memcpy(l->names + l->names_len, name, len);
    l->ents[l->n++] = (struct hs_dirlist_ent){.off = l->names_len, .ino = ino, .type = type};
    l->names_len += len;
    return 0;
}

static int cmp_ents(const void *a, const void *b, void *names)
{
    const struct hs_dirlist_ent *ea = a, *eb = b;
    return strcmp((const char *)names + ea->off, (const char *)names + eb->off);
}

int hs_dirlist_read(struct hs_dirlist *l, int fd)
{
    l->n = l->names_len = 0;
    char buf[32768];
    for (ssize_t got = sizeof buf; (size_t)got > sizeof buf - 1024;) {
        /* a short read means the end on every filesystem seen; if one
         * proves otherwise, the names not listed are asked with fstatat */
        got = getdents64(fd, buf, sizeof buf);
        if (got < 0)
            return -errno;
        for (ssize_t at = 0; at < got;) {
            const struct dirent64 *d = (const struct dirent64 *)(buf + at);
            at += d->d_reclen;
            const char *nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
                continue;
            int r = add(l, nm, d->d_ino, d->d_type);
            if (r < 0)
                return r;
        }
    }
    if (l->n > 1)
        qsort_r(l->ents, l->n, sizeof *l->ents, cmp_ents, l->names);
    return 0;
}

const struct hs_dirlist_ent *hs_dirlist_find(const struct hs_dirlist *l, const char *name)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, l->names + l->ents[mid].off);
        if (c == 0)
            return &l->ents[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

void hs_dirlist_free(struct hs_dirlist *l)
{
    free(l->names);
    free(l->ents);
    *l = (struct hs_dirlist){0};
}

unsigned char hs_dtype_of(unsigned mode)
{
    return (unsigned char)IFTODT(mode & S_IFMT);
}

unsigned char hs_dtype_of_ftype(unsigned ftype)
{
    static const unsigned char dt[] = {
        [HS_FT_REG] = DT_REG, [HS_FT_DIR] = DT_DIR, [HS_FT_LNK] = DT_LNK,   [HS_FT_FIFO] = DT_FIFO,
        [HS_FT_CHR] = DT_CHR, [HS_FT_BLK] = DT_BLK, [HS_FT_SOCK] = DT_SOCK,
    };
    return ftype < sizeof dt ? dt[ftype] : DT_UNKNOWN;
}

bool hs_dirlist_is(const struct hs_dirlist *l, int dirfd, const char *name, uint64_t ino,
                   unsigned char dtype)
{
    const struct hs_dirlist_ent *e = hs_dirlist_find(l, name);
    if (e && e->ino == ino && e->type == dtype)
        return true;
    if (e && e->type != DT_UNKNOWN && e->type != dtype)
        return false;
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == ino &&
           hs_dtype_of(st.st_mode) == dtype;
}

bool hs_ctime_honest(int fd)
{
    struct statfs sf;
    return fstatfs(fd, &sf) == 0 &&
           (sf.f_type == EXT4_SUPER_MAGIC || sf.f_type == XFS_SUPER_MAGIC ||
            sf.f_type == BTRFS_SUPER_MAGIC || sf.f_type == TMPFS_MAGIC);
}

bool hs_dir_sealed(int dirfd, const struct timespec *seal)
{
    struct stat st;
    return seal->tv_sec && fstat(dirfd, &st) == 0 &&
           (st.st_ctim.tv_sec < seal->tv_sec ||
            (st.st_ctim.tv_sec == seal->tv_sec && st.st_ctim.tv_nsec < seal->tv_nsec));
}

void hs_dirview_reset(struct hs_dirview *v, int fd, const struct timespec *seal)
{
    v->loaded = false;
    v->sealed = fd >= 0 && hs_dir_sealed(fd, seal);
}

bool hs_dirview_is(struct hs_dirview *v, int fd, const char *name, uint64_t ino,
                   unsigned char dtype)
{
    if (v->sealed)
        return true;
    if (!v->loaded) {
        v->loaded = true;
        if (hs_dirlist_read(&v->l, fd) < 0)
            v->l.n = 0; /* then each name is asked with fstatat */
    }
    if (dtype != DT_DIR)
        return hs_dirlist_is(&v->l, fd, name, ino, dtype);
    const struct hs_dirlist_ent *e = hs_dirlist_find(&v->l, name);
    if (e && e->type != DT_UNKNOWN)
        return e->type == DT_DIR;
    struct stat st;
    return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}
