#include "xattr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <xxhash.h>

/* An O_PATH fd's object by its /proc/self/fd link: the *xattr() calls that
 * follow it land on the object itself (a symlink too), the l* ones would act
 * on the link. (dirfd, name): the name below the directory's link, the l*
 * calls then leaving a final symlink alone. */
static void proc_path(char *out, size_t n, struct hs_xobj o)
{
    if (o.fd >= 0)
        snprintf(out, n, "/proc/self/fd/%d", o.fd);
    else
        snprintf(out, n, "/proc/self/fd/%d/%s", o.dirfd, o.name);
}

ssize_t hs_xattr_list(struct hs_xobj o, char *buf, size_t size)
{
    if (o.fd >= 0 && !o.opath)
        return flistxattr(o.fd, buf, size);
    char p[320];
    proc_path(p, sizeof p, o);
    return o.fd >= 0 ? listxattr(p, buf, size) : llistxattr(p, buf, size);
}

static ssize_t do_get(struct hs_xobj o, const char *name, void *buf, size_t size)
{
    if (o.fd >= 0 && !o.opath)
        return fgetxattr(o.fd, name, buf, size);
    char p[320];
    proc_path(p, sizeof p, o);
    return o.fd >= 0 ? getxattr(p, name, buf, size) : lgetxattr(p, name, buf, size);
}

/* By fd only: see xattr.h. */
static int do_set(struct hs_xobj o, const char *name, const void *val, size_t size)
{
    if (!o.opath)
        return fsetxattr(o.fd, name, val, size, 0);
    char p[320];
    proc_path(p, sizeof p, o);
    return setxattr(p, name, val, size, 0);
}

static int do_remove(struct hs_xobj o, const char *name)
{
    if (!o.opath)
        return fremovexattr(o.fd, name);
    char p[320];
    proc_path(p, sizeof p, o);
    return removexattr(p, name);
}

/* The list of names, grown until it fits (attributes may be added meanwhile). */
static ssize_t read_names(struct hs_xobj o, struct hs_buf *raw)
{
    for (int tries = 0; tries < 8; tries++) {
        ssize_t n = hs_xattr_list(o, raw->data, raw->cap ? raw->cap - 1 : 0);
        if (n >= 0 && (raw->cap || n == 0))
            return n;
        if (n < 0 && errno != ERANGE)
            return -errno;
        ssize_t need = hs_xattr_list(o, NULL, 0);
        if (need < 0)
            return -errno;
        if (hs_buf_reserve(raw, (size_t)need + 256) < 0)
            return -ENOMEM;
    }
    return -ERANGE;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_value(struct hs_xattrs *xa, struct hs_xobj o, const char *name)
{
    ssize_t n = do_get(o, name, NULL, 0);
    if (n < 0)
        return errno == ENODATA ? 0 : -errno;
    size_t at = xa->values.len;
    if (hs_buf_reserve(&xa->values, 4 + (size_t)n) < 0)
        return -ENOMEM;
    ssize_t got = do_get(o, name, xa->values.data + at + 4, (size_t)n);
    if (got < 0)
        return errno == ENODATA ? 0 : -errno;
    uint32_t len = (uint32_t)got;
    memcpy(xa->values.data + at, &len, 4);
    xa->values.len = at + 4 + (size_t)got;
    xa->values.data[xa->values.len] = '\0';
    if (hs_buf_append(&xa->names, name, strlen(name) + 1) < 0)
        return -ENOMEM;
    xa->count++;
    return 0;
}

static bool allowed_without_root(const char *name)
{
    return strncmp(name, "user.", 5) == 0 || strncmp(name, "system.posix_acl_", 17) == 0;
}

int hs_xattr_read(struct hs_xattrs *xa, struct hs_xobj o, bool all)
{
    hs_buf_truncate(&xa->names, 0);
    hs_buf_truncate(&xa->values, 0);
    xa->count = 0;
    char small[256];
    ssize_t n = hs_xattr_list(o, small, sizeof small);
    if (n == 0 || (n < 0 && (errno == ENOTSUP || errno == ENODATA)))
        return 0; /* the common case: one syscall, nothing to do */
    struct hs_buf raw = {0};
    if (n > 0) {
        if (hs_buf_append(&raw, small, (size_t)n) < 0)
            return -ENOMEM;
    } else if (errno != ERANGE) {
        return -errno;
    } else if ((n = read_names(o, &raw)) < 0) {
        hs_buf_free(&raw);
        return (int)n;
    }
    size_t count = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(raw.data + i) + 1)
        count++;
    char **names = calloc(count ? count : 1, sizeof *names);
    int r = names ? 0 : -ENOMEM;
    count = 0;
    for (ssize_t i = 0; r == 0 && i < n; i += (ssize_t)strlen(raw.data + i) + 1)
        if (all || allowed_without_root(raw.data + i))
            names[count++] = raw.data + i;
    if (r == 0)
        qsort(names, count, sizeof *names, cmp_str);
    for (size_t i = 0; r == 0 && i < count; i++)
        r = read_value(xa, o, names[i]);
    free(names);
    hs_buf_free(&raw);
    return r;
}

struct xattr_item {
    const char *name;
    const void *value;
    size_t size;
};

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const struct xattr_item *)a)->name, ((const struct xattr_item *)b)->name);
}

static int append_item(struct hs_xattrs *xa, const struct xattr_item *it)
{
    uint32_t len = (uint32_t)it->size;
    if (it->size > UINT32_MAX || hs_buf_append(&xa->values, &len, 4) < 0 ||
        hs_buf_append(&xa->values, it->value, it->size) < 0 ||
        hs_buf_append(&xa->names, it->name, strlen(it->name) + 1) < 0)
        return -ENOMEM;
    xa->count++;
    return 0;
}

int hs_xattr_set(struct hs_xattrs *xa, const char *const *names, const void *const *values,
                 const size_t *sizes, size_t n, bool all)
{
    hs_buf_truncate(&xa->names, 0);
    hs_buf_truncate(&xa->values, 0);
    xa->count = 0;
    if (n == 0)
        return 0;
    struct xattr_item *items = malloc(n * sizeof *items);
    if (!items)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (all || allowed_without_root(names[i]))
            items[k++] = (struct xattr_item){names[i], values[i], sizes[i]};
    qsort(items, k, sizeof *items, cmp_item);
    int r = 0;
    for (size_t i = 0; r == 0 && i < k; i++)
        if (i == 0 || strcmp(items[i].name, items[i - 1].name) != 0)
            r = append_item(xa, &items[i]);
    free(items);
    return r;
}

uint64_t hs_xattr_hash(const struct hs_xattrs *xa)
{
    if (xa->count == 0)
        return 0;
    uint64_t h = XXH3_64bits_withSeed(xa->names.data, xa->names.len, xa->count);
    h = XXH3_64bits_withSeed(xa->values.data, xa->values.len, h);
    return h ? h : 1;
}

int hs_xattr_apply(const struct hs_xattrs *xa, struct hs_xobj o, bool root)
{
    if (o.fd < 0)
        return -EBADF;
    int first = 0;
    const char *name = xa->names.data;
    const char *val = xa->values.data;
    for (size_t i = 0; i < xa->count; i++) {
        uint32_t len;
        memcpy(&len, val, 4);
        if (root || allowed_without_root(name)) {
            if (do_set(o, name, val + 4, len) < 0 && !first)
                first = -errno;
        }
        name += strlen(name) + 1;
        val += 4 + len;
    }
    return first;
}

static bool has_name(const struct hs_xattrs *xa, const char *want)
{
    const char *name = xa ? xa->names.data : NULL;
    for (size_t i = 0; xa && i < xa->count; i++, name += strlen(name) + 1)
        if (!strcmp(name, want))
            return true;
    return false;
}

int hs_xattr_drop_inherited_acls(const struct hs_xattrs *xa, struct hs_xobj o, bool dir)
{
    static const char *const acls[] = {"system.posix_acl_access", "system.posix_acl_default"};
    if (o.fd < 0)
        return -EBADF;
    for (size_t i = 0; i < (dir ? 2u : 1u); i++) {
        /* asked first: a removal is a journalled change even when there is
         * nothing to remove, and almost always there is nothing */
        if (has_name(xa, acls[i]) || (do_get(o, acls[i], NULL, 0) < 0 && errno == ENODATA) ||
            do_remove(o, acls[i]) == 0)
            continue;
        if (errno != ENODATA && errno != ENOTSUP && errno != EOPNOTSUPP)
            return -errno;
    }
    return 0;
}

bool hs_xattr_has_default_acl(int dirfd)
{
    return fgetxattr(dirfd, "system.posix_acl_default", NULL, 0) >= 0;
}

void hs_xattrs_free(struct hs_xattrs *xa)
{
    hs_buf_free(&xa->names);
    hs_buf_free(&xa->values);
    xa->count = 0;
}
