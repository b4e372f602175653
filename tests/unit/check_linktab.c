#include "linktab.h"
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* runner.c finds it through the generated suites.h, which this file cannot see. */
Suite *linktab_suite(void);

/* malloc'ed data, so ASan/LSan report any entry whose data the table drops. */
static int *tag(int v)
{
    int *p = malloc(sizeof *p);
    if (!p)
        ck_abort_msg("out of memory");
    *p = v;
    return p;
}

static struct hs_link *add_ok(struct hs_linktab *t, uint64_t dev, uint64_t ino, uint64_t nlink,
                              const char *path, int v)
{
    struct hs_link *l = NULL;
    ck_assert_int_eq(hs_linktab_add(t, dev, ino, nlink, path, strlen(path), tag(v), &l), 0);
    ck_assert_ptr_nonnull(l);
    return l;
}

START_TEST(test_countdown)
{
    struct hs_linktab *t = hs_linktab_new();
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(hs_linktab_find(t, 1, 2));
    struct hs_link *l = add_ok(t, 1, 2, 3, "a/b", 7);
    ck_assert_uint_eq(l->dev, 1);
    ck_assert_uint_eq(l->ino, 2);
    ck_assert_uint_eq(l->remaining, 2);
    ck_assert_str_eq(l->path, "a/b");
    ck_assert_uint_eq(l->path_len, 3);
    ck_assert_int_eq(*(int *)l->data, 7);
    ck_assert_uint_eq(hs_linktab_count(t), 1);

    ck_assert_ptr_eq(hs_linktab_find(t, 1, 2), l);
    ck_assert_ptr_null(hs_linktab_find(t, 2, 1));
    hs_linktab_release(t, l);
    ck_assert_uint_eq(hs_linktab_count(t), 1);
    l = hs_linktab_find(t, 1, 2);
    ck_assert_ptr_nonnull(l);
    ck_assert_uint_eq(l->remaining, 1);
    hs_linktab_release(t, l);
    ck_assert_uint_eq(hs_linktab_count(t), 0);
    ck_assert_ptr_null(hs_linktab_find(t, 1, 2));
    hs_linktab_free(t);
}
END_TEST

START_TEST(test_nlink_rejected)
{
    struct hs_linktab *t = hs_linktab_new();
    struct hs_link *l = NULL;
    ck_assert_int_eq(hs_linktab_add(t, 1, 2, 1, "x", 1, tag(1), &l), -EINVAL);
    ck_assert_int_eq(hs_linktab_add(t, 1, 2, 0, "x", 1, tag(2), &l), -EINVAL);
    ck_assert_ptr_null(l);
    ck_assert_uint_eq(hs_linktab_count(t), 0);
    ck_assert_ptr_null(hs_linktab_find(t, 1, 2));
    hs_linktab_free(t);
}
END_TEST

START_TEST(test_replace_duplicate)
{
    struct hs_linktab *t = hs_linktab_new();
    add_ok(t, 5, 9, 4, "old", 1);
    add_ok(t, 5, 10, 2, "other", 3);
    struct hs_link *l = add_ok(t, 5, 9, 2, "new/name", 2);
    ck_assert_uint_eq(hs_linktab_count(t), 2);
    ck_assert_ptr_eq(hs_linktab_find(t, 5, 9), l);
    ck_assert_str_eq(l->path, "new/name");
    ck_assert_uint_eq(l->path_len, 8);
    ck_assert_uint_eq(l->remaining, 1);
    ck_assert_int_eq(*(int *)l->data, 2);
    hs_linktab_release(t, l);
    ck_assert_ptr_null(hs_linktab_find(t, 5, 9));
    ck_assert_str_eq(hs_linktab_find(t, 5, 10)->path, "other");
    ck_assert_uint_eq(hs_linktab_count(t), 1);
    hs_linktab_free(t);
}
END_TEST

START_TEST(test_path_copy)
{
    struct hs_linktab *t = hs_linktab_new();
    char buf[] = "dir/\xff\n\x01name-and-more";
    struct hs_link *l = NULL;
    ck_assert_int_eq(hs_linktab_add(t, 1, 1, 2, buf, 11, NULL, &l), 0);
    memset(buf, 'z', sizeof buf - 1);
    ck_assert_uint_eq(l->path_len, 11);
    ck_assert_mem_eq(l->path, "dir/\xff\n\x01name", 11);
    ck_assert_int_eq(l->path[11], '\0');

    /* An empty path is a valid copy, and out may be NULL. */
    ck_assert_int_eq(hs_linktab_add(t, 1, 2, 2, "", 0, NULL, NULL), 0);
    ck_assert_str_eq(hs_linktab_find(t, 1, 2)->path, "");

    ck_assert_int_eq(hs_linktab_add(t, 1, 3, 2, "a\0b", 3, tag(1), NULL), -EINVAL);
    ck_assert_ptr_null(hs_linktab_find(t, 1, 3));
    ck_assert_uint_eq(hs_linktab_count(t), 2);
    hs_linktab_free(t);
}
END_TEST

START_TEST(test_set_path)
{
    struct hs_linktab *t = hs_linktab_new();
    struct hs_link *l = add_ok(t, 3, 4, 3, "first", 0);
    ck_assert_int_eq(hs_linktab_set_path(l, "second/copy.1xyz", 13), 0);
    ck_assert_str_eq(l->path, "second/copy.1");
    ck_assert_uint_eq(l->path_len, 13);
    ck_assert_int_eq(hs_linktab_set_path(l, "bad\0path", 8), -EINVAL);
    ck_assert_str_eq(l->path, "second/copy.1");
    ck_assert_uint_eq(l->path_len, 13);
    ck_assert_uint_eq(l->remaining, 2);
    hs_linktab_release(t, l);
    ck_assert_str_eq(hs_linktab_find(t, 3, 4)->path, "second/copy.1");
    hs_linktab_free(t);
}
END_TEST

START_TEST(test_stable_address)
{
    struct hs_linktab *t = hs_linktab_new();
    struct hs_link *l = add_ok(t, 0, 0, 2, "zero", 0);
    for (uint64_t i = 1; i <= 10000; i++)
        add_ok(t, 0, i, 2, "x", (int)i);
    ck_assert_ptr_eq(hs_linktab_find(t, 0, 0), l);
    for (uint64_t i = 1; i <= 10000; i++)
        hs_linktab_release(t, hs_linktab_find(t, 0, i));
    ck_assert_ptr_eq(hs_linktab_find(t, 0, 0), l);
    ck_assert_str_eq(l->path, "zero");
    ck_assert_uint_eq(hs_linktab_count(t), 1);
    hs_linktab_free(t);
}
END_TEST

START_TEST(test_free_pending)
{
    hs_linktab_free(NULL);
    struct hs_linktab *t = hs_linktab_new();
    for (uint64_t i = 0; i < 1000; i++)
        add_ok(t, i, i, 5, "pending", (int)i);
    hs_linktab_free(t);
}
END_TEST

#define MANY 200000

/* Keys that defeat a weak hash: one ino on many devs, sequential inos, keys
 * differing only in high bits, and dev == ino. All distinct. */
static void many_key(uint32_t i, uint64_t *dev, uint64_t *ino)
{
    switch (i % 4) {
    case 0:
        *dev = i, *ino = 42;
        break;
    case 1:
        *dev = 7, *ino = i;
        break;
    case 2:
        *dev = 7, *ino = (uint64_t)i << 32;
        break;
    default:
        *dev = (uint64_t)i << 20, *ino = (uint64_t)i << 20;
        break;
    }
}

/* Every passing ck_assert writes to Check's pipe, which would dominate this
 * test; so the hot path only reaches Check when something is wrong. */
static void many_check_release(struct hs_linktab *t, uint32_t i, uint8_t *rem)
{
    uint64_t dev, ino;
    many_key(i, &dev, &ino);
    struct hs_link *l = hs_linktab_find(t, dev, ino);
    if (!l)
        ck_abort_msg("entry %u (%#llx, %#llx) is missing", (unsigned)i, (unsigned long long)dev,
                     (unsigned long long)ino);
    if (l->dev != dev || l->ino != ino || l->remaining != rem[i] || *(int *)l->data != (int)i ||
        l->path_len != 1 || l->path[0] != 'a' + (int)(i % 26) || l->path[1] != '\0')
        ck_abort_msg("entry %u found the wrong link (%#llx, %#llx, %d)", (unsigned)i,
                     (unsigned long long)l->dev, (unsigned long long)l->ino, *(int *)l->data);
    hs_linktab_release(t, l);
    if (--rem[i] == 0 && hs_linktab_find(t, dev, ino))
        ck_abort_msg("entry %u outlived its last release", (unsigned)i);
}

START_TEST(test_many)
{
    struct hs_linktab *t = hs_linktab_new();
    uint8_t *rem = calloc(MANY, 1);
    ck_assert_ptr_nonnull(rem);
    size_t live = 0;
    uint64_t rng = 0x243f6a8885a308d3ULL;
    for (uint32_t i = 0; i < MANY; i++) {
        uint64_t dev, ino;
        many_key(i, &dev, &ino);
        char p = (char)('a' + i % 26);
        rem[i] = (uint8_t)(1 + i % 3);
        if (hs_linktab_add(t, dev, ino, rem[i] + 1u, &p, 1, tag((int)i), NULL) != 0)
            ck_abort_msg("add %u failed", (unsigned)i);
        live++;
        /* Release names of random earlier groups, so deletions land inside
         * probe runs that later lookups still have to cross. */
        for (int k = 0; k < 2; k++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            uint32_t j = (uint32_t)((rng >> 33) % (i + 1));
            if (rem[j] == 0)
                continue;
            many_check_release(t, j, rem);
            live -= rem[j] == 0;
        }
        if (i % 4096 == 0)
            ck_assert_uint_eq(hs_linktab_count(t), live);
    }
    ck_assert_uint_eq(hs_linktab_count(t), live);
    ck_assert_uint_gt(live, MANY / 10);
    for (uint32_t i = 0; i < MANY; i++) {
        while (rem[i] > 0)
            many_check_release(t, i, rem);
    }
    ck_assert_uint_eq(hs_linktab_count(t), 0);
    for (uint32_t i = 0; i < MANY; i += 997) {
        uint64_t dev, ino;
        many_key(i, &dev, &ino);
        ck_assert_ptr_null(hs_linktab_find(t, dev, ino));
    }
    free(rem);
    hs_linktab_free(t);
}
END_TEST

Suite *linktab_suite(void)
{
    Suite *s = suite_create("linktab");
    TCase *tc = tu_tcase_plain("linktab");
    tcase_add_test(tc, test_countdown);
    tcase_add_test(tc, test_nlink_rejected);
    tcase_add_test(tc, test_replace_duplicate);
    tcase_add_test(tc, test_path_copy);
    tcase_add_test(tc, test_set_path);
    tcase_add_test(tc, test_stable_address);
    tcase_add_test(tc, test_free_pending);
    tcase_add_test(tc, test_many);
    suite_add_tcase(s, tc);
    return s;
}
