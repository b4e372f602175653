#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char tu_tmp[PATH_MAX];
int tu_tmpfd = -1;

void tu_tmp_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tu_tmp, sizeof tu_tmp, "%s/hs-unit-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tu_tmp));
    tu_tmpfd = open(tu_tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(tu_tmpfd, 0);
}

void tu_tmp_teardown(void)
{
    if (tu_tmpfd >= 0)
        close(tu_tmpfd);
    tu_tmpfd = -1;
    if (getenv("HS_KEEP_TMP")) {
        fprintf(stderr, "kept %s\n", tu_tmp);
        return;
    }
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tu_tmp);
}

TCase *tu_tcase_plain(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, TU_TIMEOUT);
    return tc;
}

TCase *tu_tcase(const char *name)
{
    TCase *tc = tu_tcase_plain(name);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    return tc;
}

TCase *tu_tcase_tagged(const char *name, const char *tags)
{
    TCase *tc = tu_tcase(name);
    tcase_set_tags(tc, tags);
    return tc;
}

/* Skips are appended, a byte each, to an unnamed temp file whose open file
 * description the forked tests share with the runner (CK_FORK): the count
 * survives the children. */
static int skip_fd = -1;

void tu_skips_begin(void)
{
    FILE *f = tmpfile();
    if (!f || fcntl(fileno(f), F_SETFL, O_APPEND) < 0) {
        perror("hs_unit: tmpfile");
        exit(2);
    }
    skip_fd = fileno(f); /* open until the runner exits */
}

unsigned tu_skips_count(void)
{
    struct stat st;
    return skip_fd >= 0 && fstat(skip_fd, &st) == 0 ? (unsigned)st.st_size : 0;
}

void tu_skip(const char *why)
{
    fprintf(stderr, "SKIP: %s: %s\n", tcase_name(), why);
    if (skip_fd >= 0 && write(skip_fd, "s", 1) != 1)
        ck_abort_msg("cannot record the skip: %s", strerror(errno));
}

const char *tu_path(const char *rel)
{
    static char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", tu_tmp, rel);
    return p;
}

void tu_mkdir(const char *rel)
{
    char cmd[PATH_MAX * 2 + 32];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tu_path(rel));
    ck_assert_int_eq(system(cmd), 0);
}

void tu_link(const char *from, const char *to)
{
    char *a = strdup(tu_path(from)); /* tu_path's buffer is shared */
    ck_assert_ptr_nonnull(a);
    int r = link(a, tu_path(to));
    free(a);
    ck_assert_msg(r == 0, "link %s %s: %s", from, to, strerror(errno));
}

void tu_write(const char *rel, const void *data, size_t len)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", rel);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        tu_mkdir(dir);
    }
    int fd = open(tu_path(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "open %s: %s", rel, strerror(errno));
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

char *tu_read(const char *rel, size_t *len)
{
    int fd = open(tu_path(rel), O_RDONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "open %s: %s", rel, strerror(errno));
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    char *buf = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(buf);
    ssize_t n = read(fd, buf, (size_t)st.st_size);
    ck_assert_int_eq(n, st.st_size);
    close(fd);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

struct stat tu_lstat(const char *rel)
{
    struct stat st;
    ck_assert_msg(lstat(tu_path(rel), &st) == 0, "lstat %s: %s", rel, strerror(errno));
    return st;
}
