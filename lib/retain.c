#include "retain.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* As restic: a count of 0 is no rule, so a policy of zeros deletes nothing
 * instead of everything but the newest. */
bool hs_retain_any(const struct hs_retain *p)
{
    return p->keep_last > 0 || p->keep_hourly > 0 || p->keep_daily > 0 || p->keep_weekly > 0 ||
           p->keep_monthly > 0 || p->keep_yearly > 0 || p->keep_within > 0;
}

enum period { P_LAST, P_HOUR, P_DAY, P_WEEK, P_MONTH, P_YEAR };

/* A number naming the period of t; equal numbers, same period. */
static int64_t period_key(time_t t, enum period p)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    int64_t y = tm.tm_year + 1900;
    switch (p) {
    case P_LAST:
        return (int64_t)t;
    case P_HOUR:
        return ((y * 100 + tm.tm_mon) * 100 + tm.tm_mday) * 100 + tm.tm_hour;
    case P_DAY:
        return (y * 100 + tm.tm_mon) * 100 + tm.tm_mday;
    case P_WEEK: {
        /* ISO 8601: the week (Monday first) holding the year's first Thursday
         * is week 1; strftime's %G/%V compute exactly that */
        char buf[16];
        strftime(buf, sizeof buf, "%G%V", &tm);
        int64_t k = 0;
        for (const char *c = buf; *c; c++)
            k = k * 10 + (*c - '0');
        return k;
    }
    case P_MONTH:
        return y * 100 + tm.tm_mon;
    case P_YEAR:
        return y;
    }
    return 0;
}

/* Keeps the newest snapshot of each of the n most recent periods. */
static void keep_periods(struct hs_retain_item *items, size_t count, int n, enum period p,
                         unsigned reason)
{
    int kept = 0;
    int64_t last = 0;
    for (size_t i = count; i-- > 0 && kept < n;) {
        int64_t k = period_key(items[i].t, p);
        if (kept > 0 && k == last)
            continue;
        items[i].reasons |= reason;
        last = k;
        kept++;
    }
}

void hs_retain_apply(const struct hs_retain *p, time_t now, struct hs_retain_item *items, size_t n)
{
    static const struct {
        size_t field;
        enum period period;
        unsigned reason;
    } rules[] = {
        {offsetof(struct hs_retain, keep_last), P_LAST, HS_KEEP_LAST},
        {offsetof(struct hs_retain, keep_hourly), P_HOUR, HS_KEEP_HOURLY},
        {offsetof(struct hs_retain, keep_daily), P_DAY, HS_KEEP_DAILY},
        {offsetof(struct hs_retain, keep_weekly), P_WEEK, HS_KEEP_WEEKLY},
        {offsetof(struct hs_retain, keep_monthly), P_MONTH, HS_KEEP_MONTHLY},
        {offsetof(struct hs_retain, keep_yearly), P_YEAR, HS_KEEP_YEARLY},
    };
    for (size_t i = 0; i < n; i++)
        items[i].reasons = 0;
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        int count = *(const int *)((const char *)p + rules[r].field);
        if (count > 0)
            keep_periods(items, n, count, rules[r].period, rules[r].reason);
    }
    if (p->keep_within > 0)
        for (size_t i = 0; i < n; i++)
            if ((int64_t)items[i].t > (int64_t)now - p->keep_within)
                items[i].reasons |= HS_KEEP_WITHIN;
    if (n > 0)
        items[n - 1].reasons |= HS_KEEP_NEWEST;
}

void hs_retain_describe(unsigned bits, char *out, size_t size)
{
    static const char *const names[] = {"last",   "hourly", "daily",  "weekly", "monthly",
                                        "yearly", "within", "newest", "future"};
    size_t len = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(bits & (1u << i)))
            continue;
        int k = snprintf(out + len, size - len, "%s%s", len ? "," : "", names[i]);
        if (k < 0 || (size_t)k >= size - len)
            break;
        len += (size_t)k;
    }
}
