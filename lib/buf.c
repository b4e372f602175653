#include "buf.h"
#include "hardsnap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hs_buf_reserve(struct hs_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    b->data[b->len] = '\0';
    return 0;
}

int hs_buf_append(struct hs_buf *b, const void *p, size_t n)
{
    int r = hs_buf_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int hs_buf_puts(struct hs_buf *b, const char *s)
{
    return hs_buf_append(b, s, strlen(s));
}

int hs_buf_putc(struct hs_buf *b, char c)
{
    return hs_buf_append(b, &c, 1);
}

int hs_buf_json(struct hs_buf *b, const char *s)
{
    int r = hs_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; r == 0 && *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            esc[2] = '\0';
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
        } else {
            esc[0] = (char)*p;
            esc[1] = '\0';
        }
        r = hs_buf_puts(b, esc);
    }
    return r < 0 ? r : hs_buf_putc(b, '"');
}

const char *hs_bytes_text(char *buf, size_t n, uint64_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%" PRIu64 " B", bytes);
    else
        snprintf(buf, n, "%.1f %s", v, units[u]);
    return buf;
}

char *hs_json_quote(const char *s)
{
    struct hs_buf b = {0};
    if (hs_buf_json(&b, s) < 0) {
        hs_buf_free(&b);
        return NULL;
    }
    return b.data;
}

void hs_buf_truncate(struct hs_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

void hs_buf_free(struct hs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *hs_buf_join(struct hs_buf *b, const char *base, const char *path)
{
    hs_buf_truncate(b, 0);
    hs_buf_puts(b, base);
    if (*path) {
        if (b->len && b->data[b->len - 1] != '/')
            hs_buf_putc(b, '/');
        hs_buf_puts(b, path);
    }
    return b->data ? b->data : path;
}
