/* The ISO image root patcher (export_iso.c): on an image libarchive wrote,
 * the root's records take the given mode, owner and times, and its link
 * count is 2 + its subdirectories; anything that is not such an image is
 * refused. Read back here byte by byte (ECMA-119, RRIP), not with the
 * patcher's own code. */
#include "testutil.h"

#include "export_iso.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SECTOR 2048

/* An image with /d/sub and /f (a file dated 1990), as export writes one. */
static void make_image(const char *rel)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    ck_assert_int_eq(archive_write_set_format_iso9660(a), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_set_options(a, "iso9660:rockridge=strict,iso9660:joliet"),
                     ARCHIVE_OK);
    ck_assert_int_eq(archive_write_open_filename(a, tu_path(rel)), ARCHIVE_OK);
    const char *names[] = {"d", "d/sub", "f"};
    for (int i = 0; i < 3; i++) {
        archive_entry_clear(e);
        archive_entry_copy_pathname(e, names[i]);
        archive_entry_set_mode(e, i < 2 ? AE_IFDIR | 0755 : AE_IFREG | 0644);
        archive_entry_set_mtime(e, 631152000, 0); /* 1990-01-01 */
        archive_entry_set_nlink(e, i == 0 ? 3 : i == 1 ? 2 : 1);
        archive_entry_set_size(e, i < 2 ? 0 : 3);
        ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
        if (i == 2)
            ck_assert_int_eq(archive_write_data(a, "abc", 3), 3);
    }
    ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    archive_entry_free(e);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The n-th directory record (0 = ".") of the directory at extent. */
static const unsigned char *record(const unsigned char *img, uint32_t extent, int n)
{
    const unsigned char *r = img + (size_t)extent * SECTOR;
    while (n-- > 0)
        r += r[0];
    ck_assert_uint_ge(r[0], 34);
    return r;
}

/* The record's Rock Ridge entry sig (in the record itself), or NULL. */
static const unsigned char *rr_entry(const unsigned char *r, const char *sig)
{
    size_t su = 33 + r[32] + (r[32] % 2 == 0);
    for (size_t i = su; i + 4 <= r[0] && r[i + 2] >= 4; i += r[i + 2])
        if (!memcmp(r + i, sig, 2))
            return r + i;
    return NULL;
}

/* 2000-01-02 03:04:05 UTC as ISO 9660 writes it (years since 1900). */
static const unsigned char want_date[7] = {100, 1, 2, 3, 4, 5, 0};

/* A record that describes the root: its date, and with rr its PX and TF. */
static void assert_root_record(const unsigned char *r, bool rr)
{
    ck_assert_mem_eq(r + 18, want_date, 7);
    if (!rr)
        return;
    const unsigned char *px = rr_entry(r, "PX"), *tf = rr_entry(r, "TF");
    ck_assert_ptr_nonnull(px);
    ck_assert_ptr_nonnull(tf);
    ck_assert_uint_eq(le32(px + 4), S_IFDIR | 0712);
    ck_assert_uint_eq(px[11], (S_IFDIR | 0712) & 0xff); /* the big-endian half too */
    ck_assert_uint_eq(le32(px + 12), 3);                /* links: 2 + d, the one subdirectory */
    ck_assert_uint_eq(le32(px + 20), 1234);
    ck_assert_uint_eq(le32(px + 28), 5678);
    ck_assert(tf[4] & 0x02); /* a modify time; short form: the first one after creation */
    ck_assert_uint_eq(tf[4] & 0x81, 0);
    ck_assert_mem_eq(tf + 5, want_date, 7);
}

START_TEST(root_takes_the_snapshot_root)
{
    make_image("x.iso");
    struct stat st = {.st_mode = S_IFDIR | 0712, .st_uid = 1234, .st_gid = 5678};
    st.st_mtim.tv_sec = 946782245; /* 2000-01-02 03:04:05 */
    st.st_atim = st.st_ctim = st.st_mtim;
    int fd = open(tu_path("x.iso"), O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct hs_err err = {0};
    ck_assert_int_eq(hs_iso_patch_root(fd, &st, &err), 0);
    close(fd);
    size_t len;
    unsigned char *img = (unsigned char *)tu_read("x.iso", &len);
    int vds = 0;
    for (size_t vd = 16 * SECTOR; img[vd] != 255; vd += SECTOR) {
        if (img[vd] != 1 && img[vd] != 2)
            continue;
        bool rr = img[vd] == 1; /* the primary; the supplementary is Joliet */
        const unsigned char *root = img + vd + 156;
        assert_root_record(root, false);
        uint32_t ext = le32(root + 2);
        assert_root_record(record(img, ext, 0), rr); /* "." */
        assert_root_record(record(img, ext, 1), rr); /* ".." */
        const unsigned char *d = record(img, ext, 2), *f = record(img, ext, 3);
        ck_assert_uint_eq(d[33], rr ? 'D' : 0);              /* "D" (Joliet: UTF-16 "\0d") */
        assert_root_record(record(img, le32(d + 2), 1), rr); /* d's ".." */
        /* what is not the root keeps its own: d's ".", the file */
        ck_assert_uint_eq(record(img, le32(d + 2), 0)[18], 90);
        ck_assert_uint_eq(f[18], 90);
        if (rr)
            ck_assert_uint_eq(le32(rr_entry(f, "PX") + 4), S_IFREG | 0644);
        vds++;
    }
    ck_assert_int_eq(vds, 2);
    free(img);
    hs_err_clear(&err);
}
END_TEST

START_TEST(not_an_image_is_refused_unchanged)
{
    char junk[40 * SECTOR];
    memset(junk, 'x', sizeof junk);
    memcpy(junk + 16 * SECTOR, "\001CD001", 6); /* a primary with no root record */
    tu_write("junk.iso", junk, sizeof junk);
    struct stat st = {.st_mode = S_IFDIR | 0700};
    int fd = open(tu_path("junk.iso"), O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct hs_err err = {0};
    ck_assert_int_eq(hs_iso_patch_root(fd, &st, &err), -EINVAL);
    ck_assert_ptr_nonnull(err.msg);
    close(fd);
    size_t len;
    char *back = tu_read("junk.iso", &len);
    ck_assert_uint_eq(len, sizeof junk);
    ck_assert_mem_eq(back, junk, sizeof junk);
    free(back);
    hs_err_clear(&err);
    /* shorter than its volume descriptors */
    tu_write("short.iso", junk, 17 * SECTOR - 1);
    fd = open(tu_path("short.iso"), O_RDWR);
    ck_assert_int_eq(hs_iso_patch_root(fd, &st, &err), -EINVAL);
    close(fd);
    hs_err_clear(&err);
}
END_TEST

Suite *export_iso_suite(void)
{
    Suite *s = suite_create("export_iso");
    TCase *tc = tu_tcase("iso_root");
    tcase_add_test(tc, root_takes_the_snapshot_root);
    tcase_add_test(tc, not_an_image_is_refused_unchanged);
    suite_add_tcase(s, tc);
    return s;
}
