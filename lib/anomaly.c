/*
 * Anomalies (anomaly.h): the store's usual change rate from its log, and
 * whether a run's is far above it.
 */
#include "anomaly.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/* Enough of the log's tail for HS_ANOMALY_RUNS backup lines between prune
 * and failed runs (a line is about 150 bytes). */
#define ANOMALY_TAIL 32768

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The change rate of one log line, if it is a backup that made its
 * snapshot and had files to change. */
static bool line_rate(const char *line, double *rate)
{
    char cmd[16], status[8], files[24], copied[24], snap[32];
    if (!hs_log_field(line, "command", cmd, sizeof cmd) ||
        (strcmp(cmd, "backup") != 0 && strcmp(cmd, "run") != 0) ||
        !hs_log_field(line, "status", status, sizeof status) || atoi(status) > 1 ||
        !hs_log_field(line, "snapshot", snap, sizeof snap) || !strcmp(snap, "-") ||
        !hs_log_field(line, "files", files, sizeof files) ||
        !hs_log_field(line, "copied", copied, sizeof copied))
        return false;
    double f = strtod(files, NULL), c = strtod(copied, NULL);
    if (!(f > 0) || c < 0 || c > f)
        return false;
    *rate = c / f;
    return true;
}

double hs_anomaly_usual_rate(int hsfd, unsigned *runs)
{
    *runs = 0;
    char *buf = malloc(ANOMALY_TAIL);
    if (!buf)
        return 0;
    size_t n = hs_log_tail(hsfd, buf, ANOMALY_TAIL);
    double rates[HS_ANOMALY_RUNS];
    unsigned k = 0;
    /* newest first, from the end */
    while (n > 0 && k < HS_ANOMALY_RUNS) {
        buf[--n] = '\0'; /* the line's '\n' */
        char *nl = memrchr(buf, '\n', n);
        char *line = nl ? nl + 1 : buf;
        if (line_rate(line, &rates[k]))
            k++;
        n = (size_t)(line - buf);
    }
    free(buf);
    *runs = k;
    if (k == 0)
        return 0;
    qsort(rates, k, sizeof rates[0], cmp_double);
    return k % 2 ? rates[k / 2] : (rates[k / 2 - 1] + rates[k / 2]) / 2;
}

void hs_anomaly_judge(struct hs_change_alarm *c, uint64_t files, uint64_t copied, double usual,
                      unsigned runs)
{
    *c = (struct hs_change_alarm){.usual = usual, .runs = runs};
    c->rate = files ? (double)copied / (double)files : 0;
    c->raised = runs >= HS_ANOMALY_MIN_RUNS && copied >= HS_ANOMALY_MIN_FILES &&
                c->rate >= HS_ANOMALY_MIN_RATE && c->rate > HS_ANOMALY_FACTOR * usual;
}
