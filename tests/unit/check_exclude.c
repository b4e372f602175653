#include "exclude.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* runner.c finds it through the generated suites.h, which this file cannot see. */
Suite *exclude_suite(void);

/* NUL-terminated shorthand; the byte tests pass explicit lengths. */
static bool gm(const char *pat, const char *str)
{
    return hs_glob_match(pat, strlen(pat), str, strlen(str));
}

static bool xm(const struct hs_exclude *x, const char *rel, bool is_dir)
{
    return hs_exclude_match(x, rel, strlen(rel), is_dir);
}

static struct hs_exclude *with(const char *const *pats)
{
    struct hs_exclude *x = hs_exclude_new();
    struct hs_err e = {0};
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; pats[i]; i++)
        ck_assert_msg(hs_exclude_add(x, pats[i], &e) == 0, "%s: %s", pats[i], e.msg);
    hs_err_clear(&e);
    return x;
}

START_TEST(glob_star_question)
{
    ck_assert(gm("abc", "abc"));
    ck_assert(!gm("abc", "abd"));
    ck_assert(!gm("abc", "ab"));
    ck_assert(gm("*", ""));
    ck_assert(gm("*.o", "x.o"));
    ck_assert(gm("*.o", ".o"));
    ck_assert(!gm("*.o", "x.c"));
    ck_assert(!gm("*.o", "d/x.o"));
    ck_assert(gm("a*b*c", "aXbYbZc"));
    ck_assert(!gm("a*b*c", "aXbYbZ"));
    ck_assert(gm("*/*", "a/b"));
    ck_assert(!gm("*", "a/b"));
    ck_assert(!gm("a*", "a/"));
    ck_assert(gm("?", "x"));
    ck_assert(!gm("?", ""));
    ck_assert(!gm("?", "xy"));
    ck_assert(!gm("?", "/"));
    ck_assert(gm("a?c", "abc"));
    ck_assert(!gm("a?c", "a/c"));
    ck_assert(gm("a/*/c", "a/b/c"));
    ck_assert(gm("a/*/c", "a//c"));
    ck_assert(!gm("a/*/c", "a/b/d/c"));
}
END_TEST

START_TEST(glob_classes)
{
    ck_assert(gm("[abc]", "b"));
    ck_assert(!gm("[abc]", "d"));
    ck_assert(gm("x[a-z]y", "xqy"));
    ck_assert(!gm("x[a-z]y", "xQy"));
    ck_assert(gm("[a-cx-z0]", "y"));
    ck_assert(gm("[a-cx-z0]", "0"));
    ck_assert(!gm("[a-cx-z0]", "m"));
    ck_assert(gm("[!a-c]", "d"));
    ck_assert(!gm("[!a-c]", "b"));
    ck_assert(gm("[^a-c]", "d"));
    ck_assert(!gm("[^a-c]", "a"));
    /* ']' first is a member, also after the negation */
    ck_assert(gm("[]]", "]"));
    ck_assert(gm("[]a]", "a"));
    ck_assert(!gm("[]a]", "b"));
    ck_assert(gm("[!]]", "x"));
    ck_assert(!gm("[!]]", "]"));
    /* a '-' at either end is a member */
    ck_assert(gm("[a-]", "-"));
    ck_assert(gm("[-a]", "-"));
    ck_assert(!gm("[a-]", "b"));
    /* escapes inside classes */
    ck_assert(gm("[\\]x]", "]"));
    ck_assert(gm("[\\!]", "!"));
    ck_assert(!gm("[\\!]", "a"));
    /* no class, negated or not, crosses a component */
    ck_assert(!gm("a[/]b", "a/b"));
    ck_assert(!gm("a[!x]b", "a/b"));
    ck_assert(gm("*[0-9].log", "app7.log"));
    ck_assert(!gm("*[0-9].log", "app.log"));
}
END_TEST

START_TEST(glob_escapes)
{
    ck_assert(gm("\\*", "*"));
    ck_assert(!gm("\\*", "x"));
    ck_assert(gm("\\?", "?"));
    ck_assert(!gm("\\?", "x"));
    ck_assert(gm("\\[a]", "[a]"));
    ck_assert(!gm("\\[a]", "a"));
    ck_assert(gm("a\\\\b", "a\\b"));
    ck_assert(gm("\\a", "a"));
    ck_assert(gm("x\\**", "x*yz"));
    ck_assert(!gm("x\\**", "xyz"));
}
END_TEST

START_TEST(glob_double_star)
{
    ck_assert(gm("a/**/b", "a/b"));
    ck_assert(gm("a/**/b", "a/x/b"));
    ck_assert(gm("a/**/b", "a/x/y/z/b"));
    ck_assert(!gm("a/**/b", "a/xb"));
    ck_assert(!gm("a/**/b", "ab"));
    ck_assert(!gm("a/**/b", "a/x/bc"));
    ck_assert(gm("**/foo", "foo"));
    ck_assert(gm("**/foo", "x/foo"));
    ck_assert(gm("**/foo", "x/y/foo"));
    ck_assert(!gm("**/foo", "xfoo"));
    ck_assert(!gm("**/foo", "x/foo/y"));
    ck_assert(gm("**/a/**/b", "a/b"));
    ck_assert(gm("**/a/**/b", "x/a/y/b"));
    ck_assert(gm("a/**", "a/x"));
    ck_assert(gm("a/**", "a/x/y"));
    ck_assert(!gm("a/**", "a"));
    ck_assert(!gm("a/**", "b/x"));
    ck_assert(gm("**", "a/b/c"));
    ck_assert(gm("**", ""));
    /* not at a component boundary, "**" is just "anything" */
    ck_assert(gm("a**b", "ab"));
    ck_assert(gm("a**b", "a/x/b"));
    ck_assert(gm("a**b", "axb"));
    ck_assert(gm("**.o", "d/e/f.o"));
    ck_assert(gm("a/**b", "a/b"));
    ck_assert(gm("a/**b", "a/x/yb"));
    ck_assert(!gm("a/**b", "ab"));
    ck_assert(gm("a***b", "a/b"));
    ck_assert(gm("/**/x", "/x"));
    ck_assert(gm("/**/x", "/d/x"));
    ck_assert(gm("**/*.c", "src/lib/a.c"));
    ck_assert(gm("**/*.c", "a.c"));
    ck_assert(!gm("**/*.c", "src/a.h"));
    ck_assert(gm("home/**/.cache/*", "home/u/.cache/x"));
    ck_assert(!gm("home/**/.cache/*", "home/u/.cache/x/y"));
}
END_TEST

START_TEST(glob_bytes)
{
    static const char name[] = "caf\xc3\xa9\xff\n.o";
    size_t n = sizeof name - 1;
#define GB(pat) hs_glob_match(pat, strlen(pat), name, n)
    ck_assert(GB("*.o"));
    ck_assert(GB("caf??\xff?.o"));
    ck_assert(GB("caf[\xc3][\x80-\xbf]*"));
    ck_assert(!GB("caf[!\xc3]*"));
    ck_assert(GB("*[\xf0-\xff]?.o"));
    ck_assert(!GB("*[\x01-\x7f]\xff*"));
    ck_assert(GB("*\n*"));
    ck_assert(!GB("*\r*"));
    /* a '?' is one byte, not one character */
    ck_assert(!GB("caf?\xff\n.o"));
#undef GB
    /* lengths are honored: no reliance on NUL termination */
    ck_assert(hs_glob_match("ab*", 3, "abcdef", 2));
    ck_assert(!hs_glob_match("abc", 3, "abcdef", 2));
    ck_assert(hs_glob_match("a?", 2, "a\0", 2));
}
END_TEST

START_TEST(glob_malformed_no_match)
{
    ck_assert(!gm("[abc", "[abc"));
    ck_assert(!gm("[abc", "a"));
    ck_assert(!gm("ab\\", "ab\\"));
    ck_assert(!gm("[]", "]"));
    ck_assert(!gm("[!]", "x"));
}
END_TEST

/* The obvious exponential definition, to check the two-pointer matcher. */
static bool ref_match(const char *pat, size_t plen, size_t p, const char *str, size_t slen,
                      size_t s);

static bool ref_stars(const char *pat, size_t plen, size_t p, const char *str, size_t slen,
                      size_t s)
{
    size_t q = p;
    while (q < plen && pat[q] == '*')
        q++;
    if (q - p == 1) {
        for (size_t k = s;; k++) {
            if (ref_match(pat, plen, q, str, slen, k))
                return true;
            if (k == slen || str[k] == '/')
                return false;
        }
    }
    if (q < plen && pat[q] == '/' && (p == 0 || pat[p - 1] == '/')) {
        if (ref_match(pat, plen, q + 1, str, slen, s))
            return true;
        for (size_t k = s; k < slen; k++)
            if (str[k] == '/' && ref_match(pat, plen, q + 1, str, slen, k + 1))
                return true;
        return false;
    }
    for (size_t k = s; k <= slen; k++)
        if (ref_match(pat, plen, q, str, slen, k))
            return true;
    return false;
}

static bool ref_match(const char *pat, size_t plen, size_t p, const char *str, size_t slen,
                      size_t s)
{
    if (p == plen)
        return s == slen;
    if (pat[p] == '*')
        return ref_stars(pat, plen, p, str, slen, s);
    if (s == slen)
        return false;
    if (pat[p] == '?')
        return str[s] != '/' && ref_match(pat, plen, p + 1, str, slen, s + 1);
    return pat[p] == str[s] && ref_match(pat, plen, p + 1, str, slen, s + 1);
}

START_TEST(glob_agrees_with_reference)
{
    static const char *const atoms[] = {"a", "b", "/", "*", "**", "?", "**/", "a/"};
    static const char alpha[] = "ab/";
    unsigned long seed = 12345;
    char pat[64], str[16];
    for (int iter = 0; iter < 200000; iter++) {
        size_t plen = 0, slen;
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        unsigned long r = seed >> 20;
        size_t natoms = r % 7;
        for (size_t i = 0; i < natoms; i++) {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            const char *a = atoms[(seed >> 33) % 8];
            memcpy(pat + plen, a, strlen(a));
            plen += strlen(a);
        }
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        slen = (seed >> 33) % 9;
        for (size_t i = 0; i < slen; i++) {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            str[i] = alpha[(seed >> 33) % 3];
        }
        bool want = ref_match(pat, plen, 0, str, slen, 0);
        ck_assert_msg(hs_glob_match(pat, plen, str, slen) == want, "\"%.*s\" vs \"%.*s\": want %d",
                      (int)plen, pat, (int)slen, str, want);
    }
}
END_TEST

START_TEST(exclude_unanchored)
{
    struct hs_exclude *x = with((const char *const[]){"*.o", "core", NULL});
    ck_assert_uint_eq(hs_exclude_count(x), 2);
    ck_assert(xm(x, "a.o", false));
    ck_assert(xm(x, "src/lib/a.o", false));
    ck_assert(xm(x, "src/lib/a.o", true));
    ck_assert(!xm(x, "src/lib/a.c", false));
    ck_assert(!xm(x, "a.o/b", false));
    ck_assert(xm(x, "core", false));
    ck_assert(xm(x, "x/y/core", false));
    ck_assert(!xm(x, "x/core2", false));
    ck_assert(!xm(x, "x/mycore", false));
    ck_assert(!xm(x, "core/x", false));
    /* only len bytes count */
    ck_assert(hs_exclude_match(x, "x/core/y", 6, false));
    ck_assert(!hs_exclude_match(x, "x/core", 5, false));
    hs_exclude_free(x);
}
END_TEST

START_TEST(exclude_anchored)
{
    struct hs_exclude *x = with((const char *const[]){"/home/*/.cache", "var/tmp", "/top", NULL});
    ck_assert(xm(x, "home/alice/.cache", true));
    ck_assert(xm(x, "home/bob/.cache", false));
    ck_assert(!xm(x, "x/home/alice/.cache", true));
    ck_assert(!xm(x, "home/a/b/.cache", true));
    ck_assert(!xm(x, "home/alice/.cache2", true));
    ck_assert(xm(x, "var/tmp", true));
    ck_assert(!xm(x, "srv/var/tmp", true));
    ck_assert(!xm(x, "var/tmpx", true));
    ck_assert(xm(x, "top", true));
    ck_assert(!xm(x, "a/top", true));
    hs_exclude_free(x);

    x = with((const char *const[]){"**/node_modules", "/a/**/z", NULL});
    ck_assert(xm(x, "node_modules", true));
    ck_assert(xm(x, "p/q/node_modules", true));
    ck_assert(!xm(x, "p/my_node_modules", true));
    ck_assert(xm(x, "a/z", false));
    ck_assert(xm(x, "a/b/c/z", false));
    ck_assert(!xm(x, "b/a/z", false));
    hs_exclude_free(x);
}
END_TEST

START_TEST(exclude_dir_only)
{
    struct hs_exclude *x = with((const char *const[]){"build/", "/srv/data/", "*.d/", NULL});
    ck_assert(xm(x, "build", true));
    ck_assert(xm(x, "a/b/build", true));
    ck_assert(!xm(x, "build", false));
    ck_assert(!xm(x, "a/build", false));
    ck_assert(xm(x, "srv/data", true));
    ck_assert(!xm(x, "srv/data", false));
    ck_assert(!xm(x, "x/srv/data", true));
    ck_assert(xm(x, "etc/conf.d", true));
    ck_assert(!xm(x, "etc/conf.d", false));
    hs_exclude_free(x);
}
END_TEST

START_TEST(exclude_literal_escapes)
{
    struct hs_exclude *x = with((const char *const[]){"a\\*b", "\\#notes", "x\\[1]", NULL});
    ck_assert(xm(x, "d/a*b", false));
    ck_assert(!xm(x, "d/aXb", false));
    ck_assert(xm(x, "#notes", false));
    ck_assert(xm(x, "x[1]", false));
    ck_assert(!xm(x, "x1", false));
    hs_exclude_free(x);
}
END_TEST

START_TEST(exclude_odd_bytes)
{
    struct hs_exclude *x =
        with((const char *const[]){"\xff\xfe*", "line\nbreak", "/d/?\x80", NULL});
    ck_assert(xm(x, "a/\xff\xfe\x01", false));
    ck_assert(!xm(x, "a/\xfe\xff", false));
    ck_assert(xm(x, "p/line\nbreak", false));
    ck_assert(!xm(x, "p/line", false));
    ck_assert(xm(x, "d/\xe2\x80", false));
    ck_assert(!xm(x, "d/\xe2\x81", false));
    hs_exclude_free(x);
}
END_TEST

static void expect_bad(const char *pat, const char *shown)
{
    struct hs_exclude *x = with((const char *const[]){"ok", NULL});
    struct hs_err e = {0};
    ck_assert_int_eq(hs_exclude_add(x, pat, &e), -EINVAL);
    ck_assert_int_eq(e.code, EINVAL);
    ck_assert_int_eq(e.kind, HS_USAGE);
    ck_assert_ptr_nonnull(e.msg);
    ck_assert_msg(strstr(e.msg, "bad exclude pattern"), "message: %s", e.msg);
    ck_assert_msg(strstr(e.msg, shown), "message %s does not show %s", e.msg, shown);
    ck_assert_uint_eq(hs_exclude_count(x), 1);
    hs_err_clear(&e);
    hs_exclude_free(x);
}

START_TEST(exclude_malformed)
{
    expect_bad("", "\"\"");
    expect_bad("[abc", "\"[abc\"");
    expect_bad("x/[a-", "\"x/[a-\"");
    expect_bad("[]", "\"[]\"");
    expect_bad("tail\\", "\"tail\\\\\"");
    expect_bad("/", "\"/\"");
    expect_bad("bad\nname[", "\"bad\\nname[\"");
}
END_TEST

START_TEST(exclude_file)
{
    static const char text[] = "# build products\r\n"
                               "*.o\r\n"
                               "\r\n"
                               "\n"
                               "/cache/\n"
                               " spaced \n"
                               "#*.c\n"
                               "tmp\\#x\n"
                               "last";
    tu_write("ex", text, sizeof text - 1);
    struct hs_exclude *x = hs_exclude_new();
    struct hs_err e = {0};
    ck_assert_int_eq(hs_exclude_add_file(x, tu_path("ex"), &e), 0);
    ck_assert_ptr_null(e.msg);
    ck_assert_uint_eq(hs_exclude_count(x), 5);
    ck_assert(xm(x, "a/b.o", false));
    ck_assert(!xm(x, "a/b.o\r", false));
    ck_assert(xm(x, "cache", true));
    ck_assert(!xm(x, "cache", false));
    ck_assert(xm(x, "d/ spaced ", false));
    ck_assert(!xm(x, "d/spaced", false));
    ck_assert(!xm(x, "x.c", false));
    ck_assert(!xm(x, "# build products", false));
    ck_assert(xm(x, "tmp#x", false));
    ck_assert(xm(x, "q/last", false));
    hs_exclude_free(x);
}
END_TEST

START_TEST(exclude_file_bad_line)
{
    tu_write("ex", "good\n# comment\n[bad\nother\n", 26);
    struct hs_exclude *x = with((const char *const[]){"keep", NULL});
    struct hs_err e = {0};
    ck_assert_int_eq(hs_exclude_add_file(x, tu_path("ex"), &e), -EINVAL);
    ck_assert_int_eq(e.kind, HS_USAGE);
    ck_assert_int_eq(e.code, EINVAL);
    ck_assert_msg(strstr(e.msg, "/ex:3: bad exclude pattern \"[bad\""), "message: %s", e.msg);
    /* all or nothing: the good line before is not kept either */
    ck_assert_uint_eq(hs_exclude_count(x), 1);
    ck_assert(!xm(x, "good", false));
    ck_assert(xm(x, "keep", false));
    hs_err_clear(&e);
    hs_exclude_free(x);
}
END_TEST

START_TEST(exclude_file_missing)
{
    struct hs_exclude *x = hs_exclude_new();
    struct hs_err e = {0};
    ck_assert_int_eq(hs_exclude_add_file(x, tu_path("nope"), &e), -ENOENT);
    ck_assert_int_eq(e.code, ENOENT);
    ck_assert_int_eq(e.kind, HS_USAGE);
    ck_assert_msg(strstr(e.msg, "cannot read exclude file"), "message: %s", e.msg);
    ck_assert_msg(strstr(e.msg, tu_path("nope")), "message: %s", e.msg);
    ck_assert_uint_eq(hs_exclude_count(x), 0);
    hs_err_clear(&e);

    tu_mkdir("adir");
    ck_assert_int_eq(hs_exclude_add_file(x, tu_path("adir"), &e), -EISDIR);
    ck_assert_int_eq(e.kind, HS_USAGE);
    hs_err_clear(&e);
    hs_exclude_free(x);
}
END_TEST

START_TEST(exclude_file_large)
{
    enum { N = 20000 };
    char *text = malloc(N * 16);
    size_t len = 0;
    ck_assert_ptr_nonnull(text);
    for (int i = 0; i < N; i++)
        len += (size_t)sprintf(text + len, "f%05d*\n", i);
    tu_write("big", text, len);
    free(text);
    struct hs_exclude *x = hs_exclude_new();
    struct hs_err e = {0};
    ck_assert_int_eq(hs_exclude_add_file(x, tu_path("big"), &e), 0);
    ck_assert_uint_eq(hs_exclude_count(x), N);
    ck_assert(xm(x, "d/f19999.txt", false));
    ck_assert(!xm(x, "d/f20000", false));
    hs_exclude_free(x);
}
END_TEST

START_TEST(exclude_empty_and_null)
{
    struct hs_exclude *x = hs_exclude_new();
    ck_assert_uint_eq(hs_exclude_count(x), 0);
    ck_assert(!xm(x, "anything", true));
    hs_exclude_free(x);
    hs_exclude_free(NULL);
}
END_TEST

START_TEST(pathological_patterns)
{
    enum { DEPTH = 200 };
    char pat[128] = "", path[2 * DEPTH + 2];
    for (int i = 0; i < 20; i++)
        strcat(pat, "**/");
    strcat(pat, "x");
    for (int i = 0; i < DEPTH; i++)
        memcpy(path + 2 * i, "a/", 2);
    path[2 * DEPTH - 1] = '\0'; /* "a/a/.../a" */
    for (int i = 0; i < 1000; i++)
        ck_assert(!gm(pat, path));
    path[2 * DEPTH - 2] = 'x';
    ck_assert(gm(pat, path));

    /* the same through the exclude list, on every prefix as a walk would */
    struct hs_exclude *x = with((const char *const[]){pat, "**a**a**a**a**a**a**a**a**b", NULL});
    for (size_t n = 1; n < 2 * DEPTH - 2; n++)
        ck_assert(!hs_exclude_match(x, path, n, true));
    ck_assert(hs_exclude_match(x, path, 2 * DEPTH - 1, false));
    hs_exclude_free(x);

    /* stars in one long component, and '**' that must not cross-multiply */
    char comp[4001];
    memset(comp, 'a', 4000);
    comp[4000] = '\0';
    ck_assert(!gm("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", comp));
    ck_assert(!gm("**a**a**a**a**a**a**a**a**a**b", comp));
    ck_assert(!gm("**a*b", comp));
    ck_assert(gm("**a**a**a**a**a**a**a**a**a**a", comp));
}
END_TEST

Suite *exclude_suite(void)
{
    Suite *s = suite_create("exclude");
    TCase *tc = tu_tcase("glob");
    tcase_add_test(tc, glob_star_question);
    tcase_add_test(tc, glob_classes);
    tcase_add_test(tc, glob_escapes);
    tcase_add_test(tc, glob_double_star);
    tcase_add_test(tc, glob_bytes);
    tcase_add_test(tc, glob_malformed_no_match);
    tcase_add_test(tc, glob_agrees_with_reference);
    tcase_add_test(tc, pathological_patterns);
    suite_add_tcase(s, tc);

    tc = tu_tcase("exclude");
    tcase_add_test(tc, exclude_unanchored);
    tcase_add_test(tc, exclude_anchored);
    tcase_add_test(tc, exclude_dir_only);
    tcase_add_test(tc, exclude_literal_escapes);
    tcase_add_test(tc, exclude_odd_bytes);
    tcase_add_test(tc, exclude_malformed);
    tcase_add_test(tc, exclude_file);
    tcase_add_test(tc, exclude_file_bad_line);
    tcase_add_test(tc, exclude_file_missing);
    tcase_add_test(tc, exclude_file_large);
    tcase_add_test(tc, exclude_empty_and_null);
    suite_add_tcase(s, tc);
    return s;
}
