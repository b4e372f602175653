/*
 * Config files: INI parsed with inih (Debian 12 ships r55).
 *
 * What Debian's inih build does, and how this file handles it:
 *  - INI_HANDLER_LINENO is 0, so the handler gets no line number. We feed
 *    inih through our own line reader (ini_parse_stream), which counts lines.
 *    inih calls the handler before it reads the next line, so the reader's
 *    count is the handler's line.
 *  - INI_CALL_HANDLER_ON_NEW_SECTION is 0: a section without keys is never
 *    reported. But an empty [retain] still counts, and an empty [source x]
 *    or [bogus] is an error. So the reader recognises section headers itself,
 *    and inih's truncated (49-byte) section argument is never used.
 *  - INI_ALLOW_MULTILINE is 1: an indented line would continue the previous
 *    value and come back as a second copy of that key (an extra exclude, or
 *    a bogus "duplicate key" for anything else). The reader strips leading
 *    whitespace, so indentation means nothing and continuation lines do not
 *    exist: an indented "b" on its own is a syntax error, as it looks.
 *  - INI_ALLOW_INLINE_COMMENTS with ";": a ';' after whitespace starts a
 *    comment ("exclude = *.tmp ; temp" is "*.tmp"); "a;b" stays intact. '#'
 *    and ';' start comments at the start of a line only. Values lose their
 *    surrounding whitespace. "key: value" works like "key = value".
 *  - INI_MAX_LINE is 200 without realloc: inih would split a longer line and
 *    parse its tail as a line of its own, shifting every line number after
 *    it. The reader rejects such lines instead.
 *  - INI_STOP_ON_FIRST_ERROR is 0, so the reader ends the stream at our
 *    first error. inih only returns the line of a syntax error, no reason, so
 *    the reader checks each line by inih's rules first and says what is wrong.
 */
#include "hardsnap.h"

#include "exclude.h"
#include "fsutil.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_COUNT    1000000
#define MAX_SEC_KEYS 16
/* timeout = SECONDS: at most MAX_COUNT (11.5 days), which in milliseconds
 * still fits poll()'s int. */
#define MAX_TIMEOUT MAX_COUNT

enum val_type {
    V_PATH,
    V_LIST,
    V_BOOL,
    V_COUNT,
    V_DURATION,
    V_SOURCE, /* a source's path: local (resolved) or [USER@]HOST:PATH */
    V_STRING, /* taken as written (a command: rsh, hardsnap-path) */
    V_SECONDS,
    V_HOOK_TIME, /* 30s, 10min, 2h */
    V_REPLICA,   /* a list of replicas: local (resolved) or [USER@]HOST:PATH as written */
};

/* A key of a section: where its value goes, as offsets into the section's struct. */
struct key_def {
    const char *name;
    enum val_type type;
    size_t off;
    size_t n_off; /* V_LIST: the count beside the array */
};

static const struct key_def hardsnap_keys[] = {
    {"dest", V_PATH, offsetof(struct hs_config, dest), 0},
    {"exclude", V_LIST, offsetof(struct hs_config, exclude), offsetof(struct hs_config, n_exclude)},
    {"one-file-system", V_BOOL, offsetof(struct hs_config, one_file_system), 0},
    {"checksum", V_BOOL, offsetof(struct hs_config, checksum), 0},
    {"rsh", V_STRING, offsetof(struct hs_config, rsh), 0},
    {"hardsnap-path", V_STRING, offsetof(struct hs_config, hardsnap_path), 0},
    {"timeout", V_SECONDS, offsetof(struct hs_config, timeout), 0},
    {"prometheus", V_PATH, offsetof(struct hs_config, prometheus), 0},
    {"before", V_STRING, offsetof(struct hs_config, before), 0},
    {"after", V_STRING, offsetof(struct hs_config, after), 0},
    {"on-failure", V_STRING, offsetof(struct hs_config, on_failure), 0},
    {"hook-timeout", V_HOOK_TIME, offsetof(struct hs_config, hook_timeout), 0},
    {"replicate", V_REPLICA, offsetof(struct hs_config, replicate),
     offsetof(struct hs_config, n_replicate)},
    {NULL, 0, 0, 0},
};

static const struct key_def source_keys[] = {
    {"path", V_SOURCE, offsetof(struct hs_config_source, path), 0},
    {"exclude", V_LIST, offsetof(struct hs_config_source, exclude),
     offsetof(struct hs_config_source, n_exclude)},
    {"rsh", V_STRING, offsetof(struct hs_config_source, rsh), 0},
    {"hardsnap-path", V_STRING, offsetof(struct hs_config_source, hardsnap_path), 0},
    {"before", V_STRING, offsetof(struct hs_config_source, before), 0},
    {"after", V_STRING, offsetof(struct hs_config_source, after), 0},
    {NULL, 0, 0, 0},
};

/* every key of a section has its place in parse.key_line */
_Static_assert(sizeof hardsnap_keys / sizeof hardsnap_keys[0] <= MAX_SEC_KEYS + 1, "MAX_SEC_KEYS");
_Static_assert(sizeof source_keys / sizeof source_keys[0] <= MAX_SEC_KEYS + 1, "MAX_SEC_KEYS");

static const struct key_def retain_keys[] = {
    {"keep-last", V_COUNT, offsetof(struct hs_retain, keep_last), 0},
    {"keep-hourly", V_COUNT, offsetof(struct hs_retain, keep_hourly), 0},
    {"keep-daily", V_COUNT, offsetof(struct hs_retain, keep_daily), 0},
    {"keep-weekly", V_COUNT, offsetof(struct hs_retain, keep_weekly), 0},
    {"keep-monthly", V_COUNT, offsetof(struct hs_retain, keep_monthly), 0},
    {"keep-yearly", V_COUNT, offsetof(struct hs_retain, keep_yearly), 0},
    {"keep-within", V_DURATION, offsetof(struct hs_retain, keep_within), 0},
    {NULL, 0, 0, 0},
};
_Static_assert(sizeof retain_keys / sizeof retain_keys[0] <= MAX_SEC_KEYS + 1, "MAX_SEC_KEYS");

struct parse {
    struct hs_config *c;
    const char *file;
    FILE *f;
    struct hs_err *err;
    char *line; /* getline's buffer */
    size_t line_cap;
    unsigned lineno;
    /* the current section; keys == NULL before the first one */
    const struct key_def *keys;
    size_t src; /* index in c->sources when keys == source_keys */
    char *label;
    unsigned key_line[MAX_SEC_KEYS]; /* where each key was set, 0 = not yet */
    unsigned hardsnap_line, retain_line;
    /* the first error wins; the reader stops the stream after it */
    bool failed;
    unsigned err_line;
    enum hs_status status;
};

static int fail(struct parse *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int oom(struct parse *p)
{
    if (!p->failed) {
        hs_err_path(p->err, ENOMEM, "cannot load config", p->file);
        hs_err_kind(p->err, HS_FAILED);
        p->status = HS_FAILED;
        p->failed = true;
    }
    return -ENOMEM;
}

static int fail(struct parse *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An exclude pattern is checked here, where its file and line are known. */
static int check_pattern(struct parse *p, unsigned line, const char *v)
{
    struct hs_exclude *excl = hs_exclude_new();
    if (!excl)
        return oom(p);
    struct hs_err e = {0};
    int r = hs_exclude_add(excl, v, &e) < 0 ? -EINVAL : 0;
    hs_exclude_free(excl);
    if (r < 0 && e.code == ENOMEM)
        r = oom(p);
    else if (r < 0)
        r = fail(p, line, "%s", e.msg ? e.msg : "bad exclude pattern");
    hs_err_clear(&e);
    return r;
}

/* "FILE:LINE: message" (just "FILE: " without a line), escaped as a whole so
 * that no byte of the config file can break the line it is reported on. */
static int fail(struct parse *p, unsigned line, const char *fmt, ...)
{
    if (p->failed)
        return -EINVAL;
    char *msg = NULL, *full = NULL, *esc = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return oom(p);
    if (line)
        n = asprintf(&full, "%s:%u: %s", p->file, line, msg);
    else
        n = asprintf(&full, "%s: %s", p->file, msg);
    free(msg);
    if (n < 0)
        return oom(p);
    esc = hs_escape(full, strlen(full));
    free(full);
    if (!esc)
        return oom(p);
    hs_err_setf(p->err, 0, "%s", esc);
    hs_err_kind(p->err, HS_USAGE);
    free(esc);
    p->status = HS_USAGE;
    p->failed = true;
    p->err_line = line;
    return -EINVAL;
}

static int read_fail(struct parse *p, int errnum)
{
    if (!p->failed) {
        hs_err_path(p->err, errnum, "cannot read config", p->file);
        hs_err_kind(p->err, HS_USAGE);
        p->status = HS_USAGE;
        p->failed = true;
    }
    return -errnum;
}

/* ---- values ---------------------------------------------------------- */

int hs_parse_duration(const char *s, int64_t *seconds)
{
    static const struct {
        char unit;
        int64_t secs;
    } units[] = {
        {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}, {'m', 30 * 86400}, {'y', 365 * 86400},
    };
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    int64_t n = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (n > (INT64_MAX - 9) / 10)
            return -EINVAL;
        n = n * 10 + (*s - '0');
    }
    if (n == 0 || s[0] == '\0' || s[1] != '\0')
        return -EINVAL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (units[i].unit != *s)
            continue;
        if (n > INT64_MAX / units[i].secs)
            return -EINVAL;
        *seconds = n * units[i].secs;
        return 0;
    }
    return -EINVAL;
}

static int parse_count(const char *s, int *out)
{
    long n = 0;
    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -EINVAL;
        n = n * 10 + (*s - '0');
        if (n > MAX_COUNT)
            return -ERANGE;
    }
    *out = (int)n;
    return 0;
}

static int parse_seconds(const char *s, unsigned *out)
{
    int n;
    if (parse_count(s, &n) < 0 || n == 0 || n > MAX_TIMEOUT)
        return -EINVAL;
    *out = (unsigned)n;
    return 0;
}

/* A hook's time: a number and s, min or h, as 30s, 10min, 2h (at most a
 * day: a hook that needs more is not a hook). */
static int parse_hook_time(const char *s, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long n = *s >= '0' && *s <= '9' ? strtoul(s, &end, 10) : 0;
    unsigned long unit = !end                      ? 0
                         : strcmp(end, "s") == 0   ? 1
                         : strcmp(end, "min") == 0 ? 60
                         : strcmp(end, "h") == 0   ? 3600
                                                   : 0;
    if (errno || !unit || n == 0 || n > 86400 / unit)
        return -EINVAL;
    *out = (unsigned)(n * unit);
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

/* Relative paths mean "next to the config file", whatever the cwd of cron. */
static char *resolve_path(const char *file, const char *v)
{
    size_t dl = (size_t)(hs_path_base(file, strlen(file)) - file), vl = strlen(v);
    if (v[0] == '/' || dl == 0)
        return strdup(v);
    char *r = malloc(dl + vl + 1);
    if (!r)
        return NULL;
    memcpy(r, file, dl);
    memcpy(r + dl, v, vl + 1);
    return r;
}

static int push_str(char ***v, size_t *n, const char *s)
{
    char *copy = strdup(s);
    char **nv = copy ? realloc(*v, (*n + 1) * sizeof **v) : NULL;
    if (!nv) {
        free(copy);
        return -ENOMEM;
    }
    nv[(*n)++] = copy;
    *v = nv;
    return 0;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- keys ------------------------------------------------------------ */

static void *section_base(struct parse *p)
{
    if (p->keys == hardsnap_keys)
        return p->c;
    if (p->keys == retain_keys)
        return &p->c->retain;
    return &p->c->sources[p->src];
}

/* path = in [source NAME]: a remote one keeps its PATH as written (it names
 * a directory on HOST, not next to this file). */
static int set_source_path(struct parse *p, struct hs_config_source *s, const char *v)
{
    struct hs_err e = {0};
    char *host, *path;
    int r = hs_source_parse_remote(v, &host, &path, &e);
    if (r < 0) {
        r = e.code == ENOMEM ? oom(p) : fail(p, p->lineno, "%s", e.msg ? e.msg : "bad path");
        hs_err_clear(&e);
        return r;
    }
    if (r > 0) {
        s->host = host;
        s->path = path;
        return 0;
    }
    s->path = resolve_path(p->file, v);
    return s->path ? 0 : oom(p);
}

/* replicate = in [hardsnap] (repeatable): a local one next to this file
 * when relative, a remote one as written. */
static int add_replica(struct parse *p, const struct key_def *k, const char *v)
{
    struct hs_err e = {0};
    char *host = NULL, *path = NULL;
    int r = hs_source_parse_remote(v, &host, &path, &e);
    free(host);
    free(path);
    if (r < 0) {
        r = e.code == ENOMEM ? oom(p) : fail(p, p->lineno, "%s", e.msg ? e.msg : "bad replica");
        hs_err_clear(&e);
        return r;
    }
    char *value = r > 0 ? strdup(v) : resolve_path(p->file, v);
    r = value ? push_str((char ***)((char *)p->c + k->off), (size_t *)((char *)p->c + k->n_off),
                         value)
              : -ENOMEM;
    free(value);
    return r < 0 ? oom(p) : 0;
}

static int set_value(struct parse *p, const struct key_def *k, const char *v)
{
    char *field = (char *)section_base(p) + k->off;
    unsigned line = p->lineno;
    int r;

    switch (k->type) {
    case V_PATH:
        *(char **)field = resolve_path(p->file, v);
        return *(char **)field ? 0 : oom(p);
    case V_SOURCE:
        return set_source_path(p, section_base(p), v);
    case V_STRING:
        *(char **)field = strdup(v);
        return *(char **)field ? 0 : oom(p);
    case V_SECONDS:
        if (parse_seconds(v, (unsigned *)field) < 0)
            return fail(p, line, "bad number of seconds \"%s\" for %s (use 1 to %d)", v, k->name,
                        MAX_TIMEOUT);
        return 0;
    case V_HOOK_TIME:
        if (parse_hook_time(v, (unsigned *)field) < 0)
            return fail(p, line, "bad duration \"%s\" for %s (use 30s, 10min, 2h: up to a day)", v,
                        k->name);
        return 0;
    case V_REPLICA:
        return add_replica(p, k, v);
    case V_LIST:
        if ((r = check_pattern(p, line, v)) != 0)
            return r;
        r = push_str((char ***)field, (size_t *)((char *)section_base(p) + k->n_off), v);
        return r < 0 ? oom(p) : 0;
    case V_BOOL:
        if (parse_bool(v, (int *)field) < 0)
            return fail(p, line, "bad boolean \"%s\" for %s (use yes/no, true/false, on/off, 1/0)",
                        v, k->name);
        return 0;
    case V_COUNT:
        if (parse_count(v, (int *)field) < 0)
            return fail(p, line, "bad number \"%s\" for %s (use 0 to %d)", v, k->name, MAX_COUNT);
        return 0;
    case V_DURATION:
        if (hs_parse_duration(v, (int64_t *)field) < 0)
            return fail(p, line, "bad duration \"%s\" for %s (use e.g. 36h, 7d, 2w, 6m, 1y)", v,
                        k->name);
        return 0;
    }
    return fail(p, line, "internal error: key %s has no type", k->name);
}

static int on_key(struct parse *p, const char *name, const char *value)
{
    unsigned line = p->lineno;
    if (!p->keys)
        return fail(p, line, "key \"%s\" outside any section", name);
    size_t i = 0;
    while (p->keys[i].name && strcmp(p->keys[i].name, name) != 0)
        i++;
    const struct key_def *k = &p->keys[i];
    if (!k->name)
        return fail(p, line, "unknown key \"%s\" in [%s]", name, p->label);
    if (k->type != V_LIST && k->type != V_REPLICA && p->key_line[i])
        return fail(p, line, "duplicate key \"%s\" in [%s] (first at line %u)", name, p->label,
                    p->key_line[i]);
    if (!*value)
        return fail(p, line, "empty value for %s", name);
    p->key_line[i] = line;
    return set_value(p, k, value);
}

/* inih's handler: its section argument is ignored, see the top of the file. */
static int on_ini_key(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;
    (void)section;
    if (p->failed)
        return 0;
    return on_key(p, name, value) == 0;
}

/* ---- sections -------------------------------------------------------- */

static bool source_name_ok(const char *n)
{
    return *n && !strchr(n, '/') && strcmp(n, ".") != 0 && strcmp(n, "..") != 0 &&
           strcmp(n, ".hardsnap") != 0;
}

static int begin_source(struct parse *p, const char *name, unsigned line)
{
    struct hs_config *c = p->c;
    if (!source_name_ok(name))
        return fail(p, line,
                    "bad source name \"%s\" (it must be non-empty, without '/', and not \".\", "
                    "\"..\" or \".hardsnap\")",
                    name);
    for (size_t i = 0; i < c->n_sources; i++)
        if (strcmp(c->sources[i].name, name) == 0)
            return fail(p, line, "duplicate section [source %s] (first at line %u)", name,
                        c->sources[i].line);
    struct hs_config_source *s = realloc(c->sources, (c->n_sources + 1) * sizeof *s);
    if (!s)
        return oom(p);
    c->sources = s;
    s = &c->sources[c->n_sources];
    memset(s, 0, sizeof *s);
    s->line = line;
    s->name = strdup(name);
    if (!s->name)
        return oom(p);
    p->src = c->n_sources++;
    p->keys = source_keys;
    return 0;
}

/* A section that may appear once; its first line is kept in *first. */
static int begin_single(struct parse *p, const struct key_def *keys, const char *name,
                        unsigned *first, unsigned line)
{
    if (*first)
        return fail(p, line, "duplicate section [%s] (first at line %u)", name, *first);
    *first = line;
    p->keys = keys;
    return 0;
}

/* The line where key name was set in the current section (0: not set). */
static unsigned key_line(const struct parse *p, const char *name)
{
    for (size_t i = 0; p->keys && p->keys[i].name; i++)
        if (strcmp(p->keys[i].name, name) == 0)
            return p->key_line[i];
    return 0;
}

/* Checks what needs the whole section (its keys come in any order): rsh and
 * hardsnap-path say how to reach a host, which a local source has not. */
static int end_section(struct parse *p)
{
    if (p->keys != source_keys)
        return 0;
    const struct hs_config_source *s = &p->c->sources[p->src];
    if (!s->path || s->host)
        return 0; /* no path: check_complete says so */
    static const char *const remote_only[] = {"rsh", "hardsnap-path"};
    for (size_t i = 0; i < sizeof remote_only / sizeof remote_only[0]; i++) {
        unsigned line = key_line(p, remote_only[i]);
        if (line)
            return fail(p, line,
                        "%s is only for a remote source (path = [USER@]HOST:PATH), "
                        "and [source %s] is local",
                        remote_only[i], s->name);
    }
    return 0;
}

static int begin_section(struct parse *p, char *name, unsigned line)
{
    int r;
    if ((r = end_section(p)) < 0)
        return r;
    free(p->label);
    p->label = strdup(name);
    if (!p->label)
        return oom(p);
    memset(p->key_line, 0, sizeof p->key_line);
    if (strcmp(name, "hardsnap") == 0)
        return begin_single(p, hardsnap_keys, name, &p->hardsnap_line, line);
    if (strcmp(name, "retain") == 0) {
        r = begin_single(p, retain_keys, name, &p->retain_line, line);
        p->c->has_retain = true;
        return r;
    }
    if (strncmp(name, "source", 6) == 0 && (name[6] == '\0' || isspace((unsigned char)name[6]))) {
        char *n = name + 6;
        while (isspace((unsigned char)*n))
            n++;
        return begin_source(p, n, line);
    }
    return fail(p, line, "unknown section [%s]", name);
}

/* ---- lines ----------------------------------------------------------- */

/* inih's scan: to one of chars, or to an inline comment (';' after a space). */
static char *scan_to(char *s, const char *chars)
{
    bool was_space = false;
    while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* s is stripped and ours to cut up; checks it by inih's rules, and starts sections. */
static int check_line(struct parse *p, char *s)
{
    unsigned line = p->lineno;
    if (!*s || *s == ';' || *s == '#')
        return 0;
    if (*s != '[') {
        char *end = scan_to(s, "=:");
        if (*end != '=' && *end != ':')
            return fail(p, line, "expected \"key = value\" or \"[section]\", got \"%s\"", s);
        return 0;
    }
    char *end = scan_to(s + 1, "]");
    if (*end != ']')
        return fail(p, line, "missing ']' in section header \"%s\"", s);
    char *rest = trim(end + 1);
    if (*rest && *rest != ';' && *rest != '#')
        return fail(p, line, "unexpected \"%s\" after section header", rest);
    *end = '\0';
    return begin_section(p, trim(s + 1), line);
}

/* The next line into p->line, but never more than LINE_READ_MAX bytes of
 * it (a config is short; /dev/zero is not): its length, -1 at the end or
 * on an error, -2 for a line too long. */
#define LINE_READ_MAX 4096

static ssize_t bounded_line(struct parse *p)
{
    if (!p->line) {
        p->line_cap = LINE_READ_MAX + 1;
        if (!(p->line = malloc(p->line_cap)))
            return -1;
    }
    size_t n = 0;
    int c;
    while ((c = getc(p->f)) != EOF) {
        if (n == LINE_READ_MAX)
            return -2;
        p->line[n++] = (char)c; /* NUL bytes too: the caller rejects them */
        if (c == '\n')
            break;
    }
    if (n == 0 && c == EOF)
        return -1;
    p->line[n] = '\0';
    return (ssize_t)n;
}

/* ini_reader: hands inih one stripped line at a time, counting them. */
static char *read_line(char *buf, int size, void *stream)
{
    struct parse *p = stream;
    if (p->failed)
        return NULL;
    errno = 0;
    ssize_t n = bounded_line(p);
    if (n < 0) {
        if (ferror(p->f))
            read_fail(p, errno ? errno : EIO);
        else if (n == -2)
            fail(p, p->lineno + 1, "line too long (at most %d bytes)", size - 1);
        return NULL;
    }
    p->lineno++;
    char *s = p->line;
    if ((size_t)n != strlen(s)) {
        fail(p, p->lineno, "NUL byte in line");
        return NULL;
    }
    if (p->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
        s += 3;
    s = trim(s);
    size_t len = strlen(s);
    if (len + 1 > (size_t)size) {
        fail(p, p->lineno, "line too long (at most %d bytes)", size - 1);
        return NULL;
    }
    /* inih's copy first: check_line cuts section names up in place. */
    memcpy(buf, s, len + 1);
    if (check_line(p, s) < 0)
        return NULL;
    return buf;
}

/* ---- the whole file -------------------------------------------------- */

static int check_complete(struct parse *p)
{
    struct hs_config *c = p->c;
    for (size_t i = 0; i < c->n_sources; i++)
        if (!c->sources[i].path)
            return fail(p, c->sources[i].line, "[source %s] has no path", c->sources[i].name);
    if (!c->dest)
        return fail(p, 0, "no dest in [hardsnap]");
    if (!c->n_sources)
        return fail(p, 0, "no [source NAME] section");
    return 0;
}

static void config_init(struct hs_config *c)
{
    memset(c, 0, sizeof *c);
    c->one_file_system = -1;
    c->checksum = -1;
    c->retain = (struct hs_retain){-1, -1, -1, -1, -1, -1, -1};
}

static void parse_file(struct parse *p)
{
    int r = ini_parse_stream(read_line, p, on_ini_key, p);
    if (r == -2) {
        oom(p);
    } else if (r > 0 && (!p->failed || (unsigned)r < p->err_line)) {
        /* Not expected: check_line knows inih's rules. Still say where. */
        p->failed = false;
        fail(p, (unsigned)r, "syntax error");
    }
    if (!p->failed && end_section(p) == 0)
        check_complete(p);
}

enum hs_status hs_config_load(struct hs_config *c, const char *file, struct hs_err *err)
{
    struct parse p = {.c = c, .file = file, .err = err, .status = HS_OK};

    config_init(c);
    int fd = hs_open_steering_file(file, "cannot read config", err);
    p.f = fd >= 0 ? fdopen(fd, "re") : NULL;
    if (!p.f) {
        if (fd >= 0) {
            hs_err_path(err, errno, "cannot read config", file);
            hs_err_kind(err, HS_USAGE);
            close(fd);
        }
        hs_config_free(c);
        return HS_USAGE;
    }
    parse_file(&p);
    fclose(p.f);
    free(p.line);
    free(p.label);
    if (!p.failed && !(c->file = strdup(file)))
        oom(&p);
    if (p.failed) {
        hs_config_free(c);
        return p.status;
    }
    return HS_OK;
}

void hs_config_free(struct hs_config *c)
{
    if (!c)
        return;
    free(c->file);
    free(c->dest);
    free(c->rsh);
    free(c->hardsnap_path);
    free(c->prometheus);
    free(c->before);
    free(c->after);
    free(c->on_failure);
    free_strv(c->exclude, c->n_exclude);
    free_strv(c->replicate, c->n_replicate);
    for (size_t i = 0; i < c->n_sources; i++) {
        free(c->sources[i].name);
        free(c->sources[i].path);
        free(c->sources[i].host);
        free(c->sources[i].rsh);
        free(c->sources[i].hardsnap_path);
        free(c->sources[i].before);
        free(c->sources[i].after);
        free_strv(c->sources[i].exclude, c->sources[i].n_exclude);
    }
    free(c->sources);
    memset(c, 0, sizeof *c);
}

/* HOST as rsync reads it: "[v6addr]" loses its brackets (ssh wants the bare
 * address), and a host that starts with '-' is refused, as the remote shell
 * would take it for an option (-oProxyCommand=... runs a command here). */
int hs_source_parse_remote(const char *arg, char **host, char **path, struct hs_err *err)
{
    *host = *path = NULL;
    const char *colon = strchr(arg, ':');
    const char *slash = strchr(arg, '/');
    const char *at = strchr(arg, '@');
    /* [USER@]HOST: the user ends at the first '@' before the host */
    const char *h = at && (!colon || at < colon) && (!slash || at < slash) ? at + 1 : arg;
    const char *h_end = NULL; /* end of a bracketed host */
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (close && close[1] == ':' && (!slash || slash > close)) {
            h_end = close;
            colon = close + 1;
        }
    }
    if (!colon || (slash && slash < colon))
        return 0;
    if (*h == '[' && !h_end)
        return hs_err_usage(err, 0, "remote source with a bad [address] (write [ADDR]:PATH)", arg);
    if (h == colon || (h_end && h_end == h + 1))
        return hs_err_usage(err, 0, "remote source without a host", arg);
    if (h != arg && h == arg + 1)
        return hs_err_usage(err, 0, "remote source with an empty user", arg);
    if (*h == '-' || *arg == '-')
        return hs_err_usage(err, 0, "remote source whose host or user starts with '-'", arg);
    if (!colon[1])
        return hs_err_usage(err, 0, "remote source without a path (write HOST:. for the home)",
                            arg);
    size_t user_len = (size_t)(h - arg);
    size_t host_len = h_end ? (size_t)(h_end - h - 1) : (size_t)(colon - h);
    *host = malloc(user_len + host_len + 1);
    *path = strdup(colon + 1);
    if (!*host || !*path) {
        free(*host);
        free(*path);
        *host = *path = NULL;
        return hs_err_setf(err, ENOMEM, "remote source");
    }
    memcpy(*host, arg, user_len);
    memcpy(*host + user_len, h_end ? h + 1 : h, host_len);
    (*host)[user_len + host_len] = '\0';
    return 1;
}
