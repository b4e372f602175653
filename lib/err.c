#include "err.h"
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_err_clear(struct hs_err *e)
{
    if (!e)
        return;
    free(e->msg);
    e->msg = NULL;
    e->code = 0;
    e->kind = HS_OK;
}

void hs_err_kind(struct hs_err *e, enum hs_status kind)
{
    if (e)
        e->kind = kind;
}

/* Length of the valid UTF-8 sequence at p (1..4) and its code point, or 0
 * if it is not one. */
static size_t utf8_seq_len(const unsigned char *p, size_t n, unsigned *cp_out)
{
    size_t len;
    unsigned min;
    if (p[0] < 0x80) {
        *cp_out = p[0];
        return 1;
    }
    if ((p[0] & 0xe0) == 0xc0)
        len = 2, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
        len = 3, min = 0x800;
    else if ((p[0] & 0xf8) == 0xf0)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *cp_out = cp;
    return len;
}

bool hs_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned cp;
    for (size_t i = 0, n; i < len; i += n)
        if (!(n = utf8_seq_len(p + i, len - i, &cp)))
            return false;
    return true;
}

/* Valid characters that still must not reach a terminal raw: the C1
 * controls (U+009B is CSI to many terminals, U+0085 a line break), and the
 * invisible ones whose only effect is to move other text: bidi embeddings,
 * overrides, isolates and marks (U+061C, U+200E/F, U+202A-E, U+2066-9, the
 * "Trojan Source" set) and the line and paragraph separators (a line break,
 * like \n). Joiners and U+FEFF stay: they move nothing, and Persian and
 * Indic names and emoji need them. */
static bool unsafe_char(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static int put_hex(struct hs_buf *b, unsigned char c)
{
    char tmp[8];
    snprintf(tmp, sizeof tmp, "\\x%02x", c);
    return hs_buf_puts(b, tmp);
}

static int escape_into(struct hs_buf *b, const char *path, size_t len)
{
    const unsigned char *p = (const unsigned char *)path;
    int r = hs_buf_reserve(b, len);
    for (size_t i = 0; r == 0 && i < len;) {
        unsigned cp = 0;
        size_t n = utf8_seq_len(p + i, len - i, &cp);
        if (n > 1 && !unsafe_char(cp)) {
            r = hs_buf_append(b, p + i, n);
            i += n;
            continue;
        }
        if (n > 1) { /* byte by byte, as invalid UTF-8 is */
            for (size_t end = i + n; r == 0 && i < end; i++)
                r = put_hex(b, p[i]);
            continue;
        }
        unsigned char c = p[i++];
        if (n == 1 && c >= 0x20 && c != 0x7f && c != '\\')
            r = hs_buf_putc(b, (char)c);
        else if (c == '\\')
            r = hs_buf_puts(b, "\\\\");
        else if (c == '\n')
            r = hs_buf_puts(b, "\\n");
        else if (c == '\t')
            r = hs_buf_puts(b, "\\t");
        else
            r = put_hex(b, c);
    }
    return r;
}

char *hs_escape(const char *path, size_t len)
{
    struct hs_buf b = {0};
    if (escape_into(&b, path, len) < 0 || hs_buf_reserve(&b, 0) < 0) {
        hs_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int set_msg(struct hs_err *e, int errnum, struct hs_buf *b)
{
    if (errnum && b->data)
        hs_buf_puts(b, ": "), hs_buf_puts(b, strerror(errnum));
    if (!e) {
        hs_buf_free(b);
    } else {
        free(e->msg);
        e->msg = b->data;
        e->code = errnum;
        e->kind = HS_FAILED;
    }
    return errnum ? -errnum : -EINVAL;
}

int hs_err_path(struct hs_err *e, int errnum, const char *what, const char *path)
{
    struct hs_buf b = {0};
    hs_buf_puts(&b, what);
    if (path) {
        hs_buf_puts(&b, ": ");
        escape_into(&b, path, strlen(path));
    }
    return set_msg(e, errnum, &b);
}

int hs_err_path_why(struct hs_err *e, int errnum, const char *what, const char *path,
                    const char *why)
{
    struct hs_buf b = {0};
    hs_buf_puts(&b, what);
    hs_buf_puts(&b, ": ");
    escape_into(&b, path, strlen(path));
    hs_buf_puts(&b, ": ");
    hs_buf_puts(&b, why);
    set_msg(e, 0, &b);
    if (e)
        e->code = errnum;
    return -errnum;
}

int hs_err_setf(struct hs_err *e, int errnum, const char *fmt, ...)
{
    struct hs_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && hs_buf_reserve(&b, (size_t)n) == 0) {
        va_start(ap, fmt);
        vsnprintf(b.data, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b.len = (size_t)n;
    }
    return set_msg(e, errnum, &b);
}

void hs_err_move(struct hs_err *dst, struct hs_err *src)
{
    hs_err_clear(dst);
    *dst = *src;
    *src = (struct hs_err){0};
}

int hs_err_usage(struct hs_err *e, int errnum, const char *what, const char *path)
{
    int r = hs_err_path(e, errnum, what, path);
    hs_err_kind(e, HS_USAGE);
    return r;
}
