/* Change detection: which differences link, verify or copy. */
#include "change.h"
#include "testutil.h"

#include <string.h>

static struct stat base_stat(void)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = S_IFREG | 0644;
    st.st_uid = 1000;
    st.st_gid = 1000;
    st.st_size = 4096;
    st.st_mtim.tv_sec = 1700000000;
    st.st_mtim.tv_nsec = 500;
    st.st_ctim.tv_sec = 1700000100;
    st.st_ctim.tv_nsec = 7;
    st.st_ino = 77;
    return st;
}

static struct hs_mentry record_of(const struct stat *st)
{
    struct hs_mentry m = {0};
    hs_mentry_from_stat(&m, st);
    m.flags = HS_ME_HASH;
    return m;
}

START_TEST(unchanged_links)
{
    struct stat st = base_stat();
    struct hs_mentry m = record_of(&st);
    ck_assert_int_eq(hs_change_regular(&st, &m, false), HS_VERDICT_LINK);
    ck_assert_int_eq(hs_change_regular(&st, &m, true), HS_VERDICT_VERIFY);
}
END_TEST

START_TEST(visible_changes_copy)
{
    struct stat st = base_stat();
    struct hs_mentry m = record_of(&st);
    struct stat s;
    s = st, s.st_size++;
    ck_assert_int_eq(hs_change_regular(&s, &m, false), HS_VERDICT_COPY);
    s = st, s.st_mtim.tv_nsec++; /* a same-size edit within the second */
    ck_assert_int_eq(hs_change_regular(&s, &m, false), HS_VERDICT_COPY);
    s = st, s.st_mode = S_IFREG | 0600;
    ck_assert_int_eq(hs_change_regular(&s, &m, false), HS_VERDICT_COPY);
    s = st, s.st_uid = 0;
    ck_assert_int_eq(hs_change_regular(&s, &m, false), HS_VERDICT_COPY);
    s = st, s.st_gid = 0;
    ck_assert_int_eq(hs_change_regular(&s, &m, false), HS_VERDICT_COPY);
    s = st, s.st_mode = S_IFLNK | 0644;
    ck_assert_int_eq(hs_change_regular(&s, &m, false), HS_VERDICT_COPY);
}
END_TEST

START_TEST(hidden_changes_verify)
{
    struct stat st = base_stat();
    struct hs_mentry m = record_of(&st);
    struct stat s;
    s = st, s.st_ctim.tv_nsec++; /* mtime restored by a tool */
    ck_assert_int_eq(hs_change_regular(&s, &m, false), HS_VERDICT_VERIFY);
    s = st, s.st_ino++; /* replaced by rename */
    ck_assert_int_eq(hs_change_regular(&s, &m, false), HS_VERDICT_VERIFY);
    m.flags = 0; /* no hash recorded: nothing to verify against */
    ck_assert_int_eq(hs_change_regular(&s, &m, false), HS_VERDICT_COPY);
}
END_TEST

START_TEST(symlinks_and_specials)
{
    struct stat st = base_stat();
    st.st_mode = S_IFLNK | 0777;
    st.st_size = 3;
    struct hs_mentry m = record_of(&st);
    m.flags = 0;
    m.target = "abc";
    m.target_len = 3;
    ck_assert_int_eq(hs_change_other(&st, "abc", 3, &m), HS_VERDICT_LINK);
    ck_assert_int_eq(hs_change_other(&st, "abd", 3, &m), HS_VERDICT_COPY);
    struct stat dev = base_stat();
    dev.st_mode = S_IFCHR | 0600;
    dev.st_rdev = 0x103;
    struct hs_mentry md = record_of(&dev);
    ck_assert_int_eq(hs_change_other(&dev, NULL, 0, &md), HS_VERDICT_LINK);
    dev.st_rdev = 0x104;
    ck_assert_int_eq(hs_change_other(&dev, NULL, 0, &md), HS_VERDICT_COPY);
}
END_TEST

START_TEST(against_file)
{
    struct stat a = base_stat(), b = base_stat();
    b.st_ino = 999;
    b.st_ctim.tv_sec = 1; /* the snapshot's own inode and ctime never matter */
    ck_assert_int_eq(hs_change_against_file(&a, &b, false), HS_VERDICT_LINK);
    ck_assert_int_eq(hs_change_against_file(&a, &b, true), HS_VERDICT_VERIFY);
    b.st_mtim.tv_nsec = 0; /* rsync keeps ns mtimes on Linux; a difference is a change */
    ck_assert_int_eq(hs_change_against_file(&a, &b, false), HS_VERDICT_COPY);
}
END_TEST

Suite *change_suite(void)
{
    Suite *s = suite_create("change");
    TCase *tc = tu_tcase_plain("change");
    tcase_add_test(tc, unchanged_links);
    tcase_add_test(tc, visible_changes_copy);
    tcase_add_test(tc, hidden_changes_verify);
    tcase_add_test(tc, symlinks_and_specials);
    tcase_add_test(tc, against_file);
    suite_add_tcase(s, tc);
    return s;
}
