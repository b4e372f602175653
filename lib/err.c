#include "err.h"
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
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

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    size_t len;
    unsigned min;
    if (p[0] < 0x80)
        return 1;
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
    return len;
}

static int escape_into(struct hs_buf *b, const char *path, size_t len)
{
    const unsigned char *p = (const unsigned char *)path;
    int r = hs_buf_reserve(b, len);
    for (size_t i = 0; r == 0 && i < len;) {
        size_t n = utf8_seq_len(p + i, len - i);
        char tmp[8];
        if (n > 1) {
            r = hs_buf_append(b, p + i, n);
            i += n;
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
        else {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            r = hs_buf_puts(b, tmp);
        }
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
