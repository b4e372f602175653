/*
 * The matcher interprets the pattern text directly instead of compiling it to
 * tokens: patterns are short, and it keeps hs_glob_match free of allocation.
 *
 * It is the classic two-pointer wildcard algorithm with two backtrack points,
 * one for the last '*' and one for the last '**', instead of recursion:
 *
 * - A '*' cannot cross '/', so two '*' with a '/' between them never compete
 *   for the same bytes (the first one has to end at that very '/'), and two
 *   '*' in the same component are interchangeable: growing the later one
 *   does whatever growing the earlier one could. Only the last '*' ever needs
 *   to grow.
 * - A '**' can take anything, so the text between two '**' is best matched
 *   where it ends earliest, which the inner loop finds by trying start
 *   positions in order and growing '*' lazily; once the next '**' is reached
 *   the earlier one never needs to grow again. A '**' followed by '/' at the
 *   start of a component means "zero or more whole directories" (so that
 *   "a/" "**" "/b" matches "a/b"): it may only grow to the start of a later
 *   component.
 *
 * Each start of the last '**' costs O(P*S) at most, for P pattern bytes and S
 * path bytes, so the worst case is O(P*S*S) whatever the number of stars, and
 * O(P*S) without '**'. Typical patterns run in O(P+S).
 */
#include "exclude.h"
#include "buf.h"
#include "fsutil.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    XP_ANCHORED = 1u << 0, /* matched against the whole relpath, not its last component */
    XP_DIR_ONLY = 1u << 1, /* had a trailing '/' */
    XP_WILD = 1u << 2,     /* has '*', '?' or '['; otherwise text is unescaped, for memcmp */
};

struct xpat {
    char *text;
    size_t len;
    unsigned flags;
};

struct hs_exclude {
    struct xpat *v;
    size_t n, cap;
};

#define NO_STAR SIZE_MAX

/* Index just past the ']' closing the class that opens at p, or 0 if it is
 * unterminated. A ']' right after "[", "[!" or "[^" is a member, not the end. */
static size_t class_end(const char *pat, size_t plen, size_t p)
{
    size_t i = p + 1;
    if (i < plen && (pat[i] == '!' || pat[i] == '^'))
        i++;
    if (i < plen && pat[i] == ']')
        i++;
    while (i < plen && pat[i] != ']')
        i += pat[i] == '\\' ? 2 : 1;
    return i < plen ? i + 1 : 0;
}

/* The member at *i (an escape is one member), moving *i past it. */
static unsigned char class_member(const char *pat, size_t *i)
{
    if (pat[*i] == '\\')
        (*i)++;
    return (unsigned char)pat[(*i)++];
}

static bool class_match(const char *pat, size_t p, size_t end, unsigned char c)
{
    size_t i = p + 1, close = end - 1;
    bool neg = pat[i] == '!' || pat[i] == '^';
    bool hit = false;
    if (neg)
        i++;
    while (i < close) {
        unsigned char lo = class_member(pat, &i), hi = lo;
        /* a '-' just before the closing ']' is a member, not a range */
        if (i + 1 < close && pat[i] == '-') {
            i++;
            hi = class_member(pat, &i);
        }
        if (lo <= c && c <= hi)
            hit = true;
    }
    /* like FNM_PATHNAME: nothing but a literal '/' crosses a component */
    return c != '/' && hit != neg;
}

/* Whether the one-byte element at pat[p] ('?', a class or a literal) matches
 * c; *next is set past it. Malformed syntax matches itself literally. */
static bool elem_match(const char *pat, size_t plen, size_t p, unsigned char c, size_t *next)
{
    size_t end;
    switch (pat[p]) {
    case '?':
        *next = p + 1;
        return c != '/';
    case '[':
        end = class_end(pat, plen, p);
        if (end) {
            *next = end;
            return class_match(pat, p, end, c);
        }
        break;
    case '\\':
        if (p + 1 < plen) {
            *next = p + 2;
            return (unsigned char)pat[p + 1] == c;
        }
        break;
    }
    *next = p + 1;
    return (unsigned char)pat[p] == c;
}

struct glob_state {
    size_t star_p, star_s;   /* resume points of the last '*' */
    size_t dstar_p, dstar_s; /* resume points of the last '**' */
    bool dstar_dirs;         /* that '**' was "**" "/" at a component start */
};

/* Lets the last '**' take more of str; false when it cannot. */
static bool dstar_grow(struct glob_state *g, const char *str, size_t slen)
{
    if (g->dstar_p == NO_STAR || g->dstar_s >= slen)
        return false;
    if (!g->dstar_dirs) {
        g->dstar_s++;
        return true;
    }
    const char *slash = memchr(str + g->dstar_s, '/', slen - g->dstar_s);
    if (!slash)
        return false;
    g->dstar_s = (size_t)(slash - str) + 1;
    return true;
}

/* Handles the run of '*' at *p; returns true when the rest of the pattern is a
 * trailing "**", which matches whatever is left. */
static bool take_stars(const char *pat, size_t plen, size_t *p, size_t s, struct glob_state *g)
{
    size_t q = *p;
    while (q < plen && pat[q] == '*')
        q++;
    if (q - *p == 1) {
        g->star_p = q;
        g->star_s = s;
        *p = q;
        return false;
    }
    /* s is at a component start here: the '/' before the stars matched */
    g->dstar_dirs = q < plen && pat[q] == '/' && (*p == 0 || pat[*p - 1] == '/');
    g->dstar_p = g->dstar_dirs ? q + 1 : q;
    g->dstar_s = s;
    g->star_p = NO_STAR;
    *p = g->dstar_p;
    return q == plen;
}

static bool glob_run(const char *pat, size_t plen, const char *str, size_t slen)
{
    struct glob_state g = {.star_p = NO_STAR, .dstar_p = NO_STAR};
    size_t p = 0, s = 0, next;
    for (;;) {
        if (p < plen && pat[p] == '*') {
            if (take_stars(pat, plen, &p, s, &g))
                return true;
            continue;
        }
        if (p < plen && s < slen) {
            if (elem_match(pat, plen, p, (unsigned char)str[s], &next)) {
                p = next;
                s++;
                continue;
            }
        } else if (p == plen && s == slen) {
            return true;
        }
        if (g.star_p != NO_STAR && g.star_s < slen && str[g.star_s] != '/') {
            p = g.star_p;
            s = ++g.star_s;
        } else if (dstar_grow(&g, str, slen)) {
            p = g.dstar_p;
            s = g.dstar_s;
            g.star_p = NO_STAR;
        } else {
            return false;
        }
    }
}

/* What a scan of the pattern found, for the flags. */
struct pat_scan {
    const char *why; /* NULL if well-formed */
    size_t last;     /* start of the last element */
    bool slash;      /* has a '/' outside classes */
    bool wild;
};

static struct pat_scan scan_pattern(const char *pat, size_t plen)
{
    struct pat_scan r = {0};
    for (size_t i = 0; i < plen;) {
        r.last = i;
        switch (pat[i]) {
        case '\0':
            r.why = "NUL byte";
            return r;
        case '\\':
            if (i + 1 == plen) {
                r.why = "trailing backslash";
                return r;
            }
            r.slash |= pat[i + 1] == '/';
            i += 2;
            continue;
        case '[':
            if (!(i = class_end(pat, plen, i))) {
                r.why = "unterminated \"[\"";
                return r;
            }
            r.wild = true;
            continue;
        case '*':
        case '?':
            r.wild = true;
            break;
        case '/':
            r.slash = true;
            break;
        }
        i++;
    }
    return r;
}

bool hs_glob_match(const char *pat, size_t plen, const char *str, size_t slen)
{
    if (scan_pattern(pat, plen).why)
        return false;
    return glob_run(pat, plen, str, slen);
}

/* Drops the backslashes of a pattern without wildcards so that matching it is
 * a memcmp. Shrinks in place. */
static size_t unescape(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\')
            i++;
        s[o++] = s[i];
    }
    return o;
}

/* Fills xp from pattern text; returns NULL, or why the text is malformed. */
static const char *compile(const char *pat, size_t plen, struct xpat *xp, int *err)
{
    struct pat_scan sc = scan_pattern(pat, plen);
    *err = 0;
    if (plen == 0)
        return "empty";
    if (sc.why)
        return sc.why;
    xp->flags = 0;
    if (pat[sc.last] == '/') {
        xp->flags |= XP_DIR_ONLY;
        plen--;
    }
    if (plen && pat[0] == '/') {
        xp->flags |= XP_ANCHORED;
        pat++, plen--;
    }
    if (plen == 0)
        return "nothing but \"/\"";
    sc = scan_pattern(pat, plen);
    if (sc.slash)
        xp->flags |= XP_ANCHORED;
    if (sc.wild)
        xp->flags |= XP_WILD;
    xp->text = malloc(plen + 1);
    if (!xp->text) {
        *err = ENOMEM;
        return "out of memory";
    }
    memcpy(xp->text, pat, plen);
    xp->len = sc.wild ? plen : unescape(xp->text, plen);
    xp->text[xp->len] = '\0';
    return NULL;
}

static int push(struct hs_exclude *excl, const struct xpat *xp)
{
    if (excl->n == excl->cap) {
        size_t cap = excl->cap ? excl->cap * 2 : 8;
        struct xpat *v = realloc(excl->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        excl->v = v;
        excl->cap = cap;
    }
    excl->v[excl->n++] = *xp;
    return 0;
}

/* Adds one pattern; returns NULL, or why it was not added (*err is ENOMEM if
 * that was the reason). */
static const char *add_one(struct hs_exclude *excl, const char *pat, size_t plen, int *err)
{
    struct xpat xp;
    const char *why = compile(pat, plen, &xp, err);
    if (!why && push(excl, &xp) < 0) {
        free(xp.text);
        *err = ENOMEM;
        why = "out of memory";
    }
    return why;
}

/* The error of add_one; file is NULL for a pattern that is not from a file. */
static int add_failed(struct hs_err *e, const char *pat, size_t plen, const char *why, int err,
                      const char *file, size_t lineno)
{
    if (err)
        return hs_err_setf(e, err, "cannot add exclude pattern");
    char *epat = hs_escape(pat, plen);
    char *efile = file ? hs_escape(file, strlen(file)) : NULL;
    int r;
    if (file)
        r = hs_err_setf(e, 0, "%s:%zu: bad exclude pattern \"%s\" (%s)", efile ? efile : "?",
                        lineno, epat ? epat : "?", why);
    else
        r = hs_err_setf(e, 0, "bad exclude pattern \"%s\" (%s)", epat ? epat : "?", why);
    free(epat);
    free(efile);
    hs_err_kind(e, HS_USAGE);
    if (e)
        e->code = EINVAL; /* said by why, not by strerror */
    return r;
}

struct hs_exclude *hs_exclude_new(void)
{
    return calloc(1, sizeof(struct hs_exclude));
}

/* Forgets the patterns from the n-th on, so a failing file adds none. */
static void truncate_to(struct hs_exclude *excl, size_t n)
{
    while (excl->n > n)
        free(excl->v[--excl->n].text);
}

void hs_exclude_free(struct hs_exclude *excl)
{
    if (!excl)
        return;
    truncate_to(excl, 0);
    free(excl->v);
    free(excl);
}

size_t hs_exclude_count(const struct hs_exclude *excl)
{
    return excl ? excl->n : 0;
}

int hs_exclude_add(struct hs_exclude *excl, const char *pattern, struct hs_err *e)
{
    size_t plen = strlen(pattern);
    int err;
    const char *why = add_one(excl, pattern, plen, &err);
    return why ? add_failed(e, pattern, plen, why, err, NULL, 0) : 0;
}

/* Exclude files are lists of patterns: 16 MiB is far beyond any, and a
 * bound keeps a wrong argument (/dev/zero) from eating the memory. */
#define EXCLUDE_FILE_MAX (16u << 20)

static int read_all(int fd, struct hs_buf *b)
{
    for (;;) {
        if (b->len > EXCLUDE_FILE_MAX)
            return -EFBIG;
        if (hs_buf_reserve(b, 65536) < 0)
            return -ENOMEM;
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        b->len += (size_t)n;
    }
}

static int read_file(const char *file, struct hs_buf *b, struct hs_err *e)
{
    int fd = hs_open_steering_file(file, "cannot read exclude file", e);
    if (fd < 0)
        return fd;
    int r = read_all(fd, b);
    close(fd);
    if (r < 0) {
        hs_err_path(e, -r, "cannot read exclude file", file);
        if (r != -ENOMEM)
            hs_err_kind(e, HS_USAGE);
    }
    return r;
}

/* One line of an exclude file, without its "\n" or "\r\n". */
static int add_line(struct hs_exclude *excl, const char *line, size_t len, const char *file,
                    size_t lineno, struct hs_err *e)
{
    int err;
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0 || line[0] == '#')
        return 0;
    const char *why = add_one(excl, line, len, &err);
    return why ? add_failed(e, line, len, why, err, file, lineno) : 0;
}

int hs_exclude_add_file(struct hs_exclude *excl, const char *file, struct hs_err *e)
{
    struct hs_buf b = {0};
    size_t before = excl->n, lineno = 0;
    int r = read_file(file, &b, e);
    for (size_t i = 0; r == 0 && i < b.len;) {
        const char *nl = memchr(b.data + i, '\n', b.len - i);
        size_t end = nl ? (size_t)(nl - b.data) : b.len;
        r = add_line(excl, b.data + i, end - i, file, ++lineno, e);
        i = end + 1;
    }
    if (r < 0)
        truncate_to(excl, before);
    hs_buf_free(&b);
    return r;
}

bool hs_exclude_match(const struct hs_exclude *excl, const char *relpath, size_t len, bool is_dir)
{
    if (!excl || excl->n == 0)
        return false;
    const char *base = hs_path_base(relpath, len);
    size_t blen = len - (size_t)(base - relpath);
    for (size_t i = 0; i < excl->n; i++) {
        const struct xpat *xp = &excl->v[i];
        if ((xp->flags & XP_DIR_ONLY) && !is_dir)
            continue;
        const char *s = xp->flags & XP_ANCHORED ? relpath : base;
        size_t slen = xp->flags & XP_ANCHORED ? len : blen;
        if (xp->flags & XP_WILD ? glob_run(xp->text, xp->len, s, slen)
                                : slen == xp->len && memcmp(s, xp->text, slen) == 0)
            return true;
    }
    return false;
}

bool hs_exclude_source(const struct hs_exclude *global, const struct hs_exclude *own,
                       const char *path, size_t len, size_t prefix_len, bool is_dir)
{
    if (len <= prefix_len)
        return false;
    const char *rel = path + prefix_len;
    size_t rlen = len - prefix_len;
    if (own && hs_exclude_match(own, rel, rlen, is_dir))
        return true;
    return global && (hs_exclude_match(global, rel, rlen, is_dir) ||
                      (prefix_len && hs_exclude_match(global, path, len, is_dir)));
}

#define MAX_WIRE_PATTERNS 100000

int hs_exclude_encode(const struct hs_exclude *excl, struct hs_buf *b)
{
    size_t n = excl ? excl->n : 0;
    int r = hs_put_varint(b, n);
    for (size_t i = 0; r == 0 && i < n; i++)
        r = hs_put_varint(b, excl->v[i].flags) < 0 ||
                    hs_put_bytes(b, excl->v[i].text, excl->v[i].len) < 0
                ? -ENOMEM
                : 0;
    return r;
}

int hs_exclude_decode(struct hs_exclude **out, const void *p, size_t len)
{
    struct hs_dec d;
    hs_dec_init(&d, p, len);
    *out = NULL;
    uint64_t n = hs_get_varint(&d);
    if (d.bad || n > MAX_WIRE_PATTERNS)
        return -EBADMSG;
    if (n == 0)
        return d.p == d.end ? 0 : -EBADMSG;
    struct hs_exclude *excl = hs_exclude_new();
    if (!excl)
        return -ENOMEM;
    int r = 0;
    for (uint64_t i = 0; r == 0 && i < n; i++) {
        uint64_t flags = hs_get_varint(&d);
        size_t tl;
        const char *text = hs_get_bytes(&d, 65536, &tl);
        if (d.bad || flags > (XP_ANCHORED | XP_DIR_ONLY | XP_WILD) || !tl) {
            r = -EBADMSG;
            break;
        }
        struct xpat xp = {.text = malloc(tl + 1), .len = tl, .flags = (unsigned)flags};
        if (!xp.text || push(excl, &xp) < 0) {
            free(xp.text);
            r = -ENOMEM;
            break;
        }
        memcpy(xp.text, text, tl);
        xp.text[tl] = '\0';
    }
    if (r == 0 && d.p != d.end)
        r = -EBADMSG;
    if (r < 0)
        hs_exclude_free(excl);
    else
        *out = excl;
    return r;
}
