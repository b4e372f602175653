#include "change.h"

#include <string.h>

static bool same_time(const struct timespec *t, int64_t sec, uint32_t nsec)
{
    return t->tv_sec == sec && (uint32_t)t->tv_nsec == nsec;
}

bool hs_change_meta_equal(const struct stat *src, const struct hs_mentry *prev)
{
    struct hs_mentry now = {0};
    hs_mentry_from_stat(&now, src);
    return now.type == prev->type && now.size == prev->size && now.mode == prev->mode &&
           now.uid == prev->uid && now.gid == prev->gid && now.rdev == prev->rdev &&
           same_time(&src->st_mtim, prev->mtime_sec, prev->mtime_nsec);
}

enum hs_verdict hs_change_regular(const struct stat *src, const struct hs_mentry *prev,
                                  bool checksum)
{
    if (prev->type != HS_FT_REG || !hs_change_meta_equal(src, prev))
        return HS_VERDICT_COPY;
    if (!(prev->flags & HS_ME_HASH))
        return HS_VERDICT_COPY; /* nothing to verify against */
    if (checksum || src->st_ino != prev->ino ||
        !same_time(&src->st_ctim, prev->ctime_sec, prev->ctime_nsec))
        return HS_VERDICT_VERIFY;
    return HS_VERDICT_LINK;
}

enum hs_verdict hs_change_other(const struct stat *src, const char *target, size_t target_len,
                                const struct hs_mentry *prev)
{
    if (!hs_change_meta_equal(src, prev))
        return HS_VERDICT_COPY;
    if (S_ISLNK(src->st_mode) &&
        (prev->target_len != target_len || memcmp(prev->target, target, target_len) != 0))
        return HS_VERDICT_COPY;
    return HS_VERDICT_LINK;
}

enum hs_verdict hs_change_against_file(const struct stat *src, const struct stat *prev,
                                       bool checksum)
{
    if ((src->st_mode & S_IFMT) != (prev->st_mode & S_IFMT) ||
        (src->st_mode & 07777) != (prev->st_mode & 07777) || src->st_size != prev->st_size ||
        src->st_uid != prev->st_uid || src->st_gid != prev->st_gid ||
        src->st_mtim.tv_sec != prev->st_mtim.tv_sec ||
        src->st_mtim.tv_nsec != prev->st_mtim.tv_nsec)
        return HS_VERDICT_COPY;
    return checksum ? HS_VERDICT_VERIFY : HS_VERDICT_LINK;
}
