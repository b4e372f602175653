/* Retention: which snapshots each rule keeps, at known times (UTC). */
#include "retain.h"
#include "store.h"
#include "testutil.h"

#include <stdio.h>

static struct hs_retain none(void)
{
    return (struct hs_retain){-1, -1, -1, -1, -1, -1, -1};
}

static time_t at(const char *name)
{
    time_t t;
    ck_assert_msg(hs_snapshot_name_parse(name, &t) == 0, "bad time %s", name);
    return t;
}

/* items[i] at start + i * step */
static struct hs_retain_item *series(const char *start, time_t step, size_t n)
{
    struct hs_retain_item *it = calloc(n, sizeof *it);
    time_t t0 = at(start);
    for (size_t i = 0; i < n; i++)
        it[i].t = t0 + (time_t)i * step;
    return it;
}

/* The kept snapshots as names, newest first, space-separated. */
static char *kept(const struct hs_retain_item *it, size_t n)
{
    static char out[16384];
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = n; i-- > 0;) {
        if (!it[i].reasons)
            continue;
        char name[HS_SNAPSHOT_NAME_LEN + 1];
        hs_snapshot_name_format(it[i].t, name);
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", len ? " " : "", name);
    }
    return out;
}

static size_t count_kept(const struct hs_retain_item *it, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += it[i].reasons != 0;
    return k;
}

START_TEST(keep_last)
{
    struct hs_retain p = none();
    p.keep_last = 3;
    struct hs_retain_item *it = series("2026-01-01T000000Z", 3600, 10);
    hs_retain_apply(&p, it[9].t, it, 10);
    ck_assert_str_eq(kept(it, 10), "2026-01-01T090000Z 2026-01-01T080000Z 2026-01-01T070000Z");
    ck_assert_uint_eq(it[9].reasons, HS_KEEP_LAST | HS_KEEP_NEWEST);
    free(it);
}
END_TEST

/* Hourly snapshots for 10 days: daily keeps each day's last (23:00). */
START_TEST(hourly_for_ten_days)
{
    size_t n = 240;
    struct hs_retain_item *it = series("2026-03-01T000000Z", 3600, n);
    struct hs_retain p = none();
    p.keep_daily = 7;
    hs_retain_apply(&p, it[n - 1].t, it, n);
    ck_assert_str_eq(kept(it, n), "2026-03-10T230000Z 2026-03-09T230000Z 2026-03-08T230000Z "
                                  "2026-03-07T230000Z 2026-03-06T230000Z 2026-03-05T230000Z "
                                  "2026-03-04T230000Z");
    p = none();
    p.keep_hourly = 24;
    hs_retain_apply(&p, it[n - 1].t, it, n);
    ck_assert_uint_eq(count_kept(it, n), 24);
    ck_assert_uint_eq(it[n - 24].reasons, HS_KEEP_HOURLY);
    ck_assert_uint_eq(it[n - 25].reasons, 0);
    free(it);
}
END_TEST

/* Daily for 400 days with a month left out: months without snapshots do
 * not count, and each month keeps its last day. */
START_TEST(daily_for_400_days_with_a_gap)
{
    size_t n = 0;
    struct hs_retain_item *it = series("2025-01-01T020000Z", 86400, 400);
    /* no snapshots in July 2025 */
    for (size_t i = 0; i < 400; i++) {
        struct tm tm;
        gmtime_r(&it[i].t, &tm);
        if (!(tm.tm_year == 125 && tm.tm_mon == 6))
            it[n++] = it[i];
    }
    struct hs_retain p = none();
    p.keep_monthly = 12;
    hs_retain_apply(&p, it[n - 1].t, it, n);
    /* 2025-01-01 + 399 days = 2026-02-04 */
    ck_assert_str_eq(kept(it, n), "2026-02-04T020000Z 2026-01-31T020000Z 2025-12-31T020000Z "
                                  "2025-11-30T020000Z 2025-10-31T020000Z 2025-09-30T020000Z "
                                  "2025-08-31T020000Z 2025-06-30T020000Z 2025-05-31T020000Z "
                                  "2025-04-30T020000Z 2025-03-31T020000Z 2025-02-28T020000Z");
    p = none();
    p.keep_yearly = 5;
    hs_retain_apply(&p, it[n - 1].t, it, n);
    ck_assert_str_eq(kept(it, n), "2026-02-04T020000Z 2025-12-31T020000Z");
    free(it);
}
END_TEST

/* 2026 has 53 ISO weeks: Monday 2026-12-28 to Sunday 2027-01-03 is one week. */
START_TEST(iso_week_53)
{
    const char *names[] = {"2026-12-20T120000Z", "2026-12-27T120000Z", "2026-12-28T120000Z",
                           "2026-12-31T120000Z", "2027-01-02T120000Z", "2027-01-04T120000Z"};
    struct hs_retain_item it[6];
    for (int i = 0; i < 6; i++)
        it[i].t = at(names[i]);
    struct hs_retain p = none();
    p.keep_weekly = 3;
    hs_retain_apply(&p, it[5].t, it, 6);
    /* W01 2027: 01-04; W53 2026: newest of 12-28..01-03 is 01-02; W52: 12-27 */
    ck_assert_str_eq(kept(it, 6), "2027-01-04T120000Z 2027-01-02T120000Z 2026-12-27T120000Z");
}
END_TEST

/* Rules do not consume each other's snapshots (restic, not borg). */
START_TEST(union_of_rules)
{
    /* daily at noon, Monday 2026-01-05 to Wednesday 2026-01-14 */
    struct hs_retain_item *it = series("2026-01-05T120000Z", 86400, 10);
    struct hs_retain p = none();
    p.keep_daily = 2;
    p.keep_weekly = 2;
    hs_retain_apply(&p, it[9].t, it, 10);
    /* daily: 01-14, 01-13; weekly: 01-14 (this week), 01-11 (Sunday, last week) */
    ck_assert_str_eq(kept(it, 10), "2026-01-14T120000Z 2026-01-13T120000Z 2026-01-11T120000Z");
    ck_assert_uint_eq(it[9].reasons, HS_KEEP_DAILY | HS_KEEP_WEEKLY | HS_KEEP_NEWEST);
    char why[64];
    hs_retain_describe(it[9].reasons, why, sizeof why);
    ck_assert_str_eq(why, "daily,weekly,newest");
    free(it);
}
END_TEST

START_TEST(within_and_newest)
{
    struct hs_retain_item *it = series("2026-01-01T000000Z", 3600, 48);
    struct hs_retain p = none();
    p.keep_within = 6 * 3600;
    time_t now = it[47].t + 1800; /* half an hour after the last */
    hs_retain_apply(&p, now, it, 48);
    ck_assert_uint_eq(count_kept(it, 48), 6); /* newer than now - 6h: the last 6 */
    ck_assert_uint_eq(it[42].reasons, HS_KEEP_WITHIN);
    ck_assert_uint_eq(it[41].reasons, 0);
    /* long after the last snapshot, keep-within keeps nothing but the newest */
    hs_retain_apply(&p, now + 86400 * 365, it, 48);
    ck_assert_uint_eq(count_kept(it, 48), 1);
    ck_assert_uint_eq(it[47].reasons, HS_KEEP_NEWEST);
    free(it);
    ck_assert(!hs_retain_any(&(struct hs_retain){-1, -1, -1, -1, -1, -1, -1}));
    ck_assert(!hs_retain_any(&(struct hs_retain){0, 0, 0, 0, 0, 0, -1})); /* zeros: no rule */
    ck_assert(hs_retain_any(&p));
}
END_TEST

Suite *retain_suite(void)
{
    Suite *s = suite_create("retain");
    TCase *tc = tu_tcase_plain("retain");
    tcase_add_test(tc, keep_last);
    tcase_add_test(tc, hourly_for_ten_days);
    tcase_add_test(tc, daily_for_400_days_with_a_gap);
    tcase_add_test(tc, iso_week_53);
    tcase_add_test(tc, union_of_rules);
    tcase_add_test(tc, within_and_newest);
    suite_add_tcase(s, tc);
    return s;
}
