/* inomap: values by (dev, ino), through growth. */
#include "inomap.h"
#include "testutil.h"

START_TEST(get_find_grow)
{
    struct hs_inomap m;
    ck_assert_int_eq(hs_inomap_init(&m, sizeof(uint64_t) * 3), 0);
    enum { N = 100000 };
    for (uint64_t i = 1; i <= N; i++) {
        bool fresh;
        /* the same inode number on two devices, and runs of numbers */
        for (uint64_t dev = 1; dev <= 2; dev++) {
            uint64_t *v = hs_inomap_get(&m, dev, i, &fresh);
            ck_assert_ptr_nonnull(v);
            ck_assert(fresh);
            ck_assert_uint_eq(v[0] | v[1] | v[2], 0);
            v[0] = i * dev, v[2] = ~i;
        }
    }
    ck_assert_uint_eq(m.n, 2 * N);
    for (uint64_t i = 1; i <= N; i += 7) {
        bool fresh;
        uint64_t *v = hs_inomap_get(&m, 2, i, &fresh);
        ck_assert(!fresh);
        ck_assert_uint_eq(v[0], i * 2);
        ck_assert_uint_eq(v[2], ~i);
        ck_assert_ptr_eq(hs_inomap_find(&m, 2, i), v);
    }
    ck_assert_ptr_null(hs_inomap_find(&m, 3, 5));
    ck_assert_ptr_null(hs_inomap_find(&m, 1, N + 1));
    size_t seen = 0;
    for (size_t i = 0; i <= m.mask; i++)
        seen += hs_inomap_slot(&m, i) != NULL;
    ck_assert_uint_eq(seen, 2 * N);
    ck_assert_uint_le(m.n * 2, m.mask + 1); /* at most half full */
    hs_inomap_free(&m);
}
END_TEST

/* Removal keeps every other key reachable (the probe runs the removed keys
 * sat in shift back), gives slots back as the table empties, and (0, 0) is
 * a key like any other. */
START_TEST(remove_shift_shrink)
{
    struct hs_inomap m;
    ck_assert_int_eq(hs_inomap_init(&m, sizeof(uint64_t)), 0);
    enum { N = 50000 };
    bool fresh;
    for (uint64_t i = 0; i < N; i++)
        *(uint64_t *)hs_inomap_get(&m, i % 3, i, &fresh) = i + 1;
    size_t full = m.mask + 1;
    ck_assert_uint_eq(*(uint64_t *)hs_inomap_find(&m, 0, 0), 1);
    for (uint64_t i = 0; i < N; i += 2)
        hs_inomap_remove(&m, i % 3, i);
    hs_inomap_remove(&m, 1, 0); /* not there: nothing happens */
    ck_assert_uint_eq(m.n, N / 2);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t *v = hs_inomap_find(&m, i % 3, i);
        if (i % 2 ? !v || *v != i + 1 : v != NULL)
            ck_abort_msg("key %llu: %s", (unsigned long long)i, v ? "wrong value" : "lost");
    }
    for (uint64_t i = 1; i < N; i += 2)
        hs_inomap_remove(&m, i % 3, i);
    ck_assert_uint_eq(m.n, 0);
    ck_assert_uint_le(m.mask + 1, full / 16); /* given back */
    ck_assert_ptr_null(hs_inomap_get(&m, HS_INOMAP_NO_DEV, 0, &fresh));
    uint64_t *v = hs_inomap_get(&m, 0, 0, &fresh);
    ck_assert(fresh);
    ck_assert_uint_eq(*v, 0); /* a slot given back and taken again is zeroed */
    hs_inomap_free(&m);
}
END_TEST

Suite *inomap_suite(void)
{
    Suite *s = suite_create("inomap");
    TCase *tc = tu_tcase_plain("inomap");
    tcase_add_test(tc, get_find_grow);
    tcase_add_test(tc, remove_shift_shrink);
    suite_add_tcase(s, tc);
    return s;
}
