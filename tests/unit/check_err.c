/* Errors and escaping: what reaches a terminal is never a control. */
#include "err.h"
#include "testutil.h"

#include <errno.h>
#include <string.h>

static void assert_escaped(const char *in, size_t len, const char *want)
{
    char *got = hs_escape(in, len);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    free(got);
}

#define ESC(in, want) assert_escaped(in, sizeof(in) - 1, want)

START_TEST(c0_and_backslash)
{
    ESC("plain/name.txt", "plain/name.txt");
    ESC("a\nb\tc\\d", "a\\nb\\tc\\\\d");
    ESC("\x1b[31m\x01\x1f", "\\x1b[31m\\x01\\x1f");
    ESC("del\x7f", "del\\x7f");
    ESC(" ~", " ~");
}
END_TEST

/* U+0080..U+009F are valid UTF-8 (C2 80..C2 9F) but terminals act on them:
 * U+009B is CSI, U+0085 NEL. Their neighbours are ordinary characters. */
START_TEST(c1_controls)
{
    ESC("\xc2\x80", "\\xc2\\x80"); /* U+0080, first */
    ESC("\xc2\x85", "\\xc2\\x85"); /* NEL */
    ESC("x\xc2\x9b"
        "31m",
        "x\\xc2\\x9b31m");                  /* CSI */
    ESC("\xc2\x9f", "\\xc2\\x9f");          /* U+009F, last */
    ESC("\xc2\xa0", "\xc2\xa0");            /* U+00A0 NBSP: printable */
    ESC("\x7f\xc2\x80", "\\x7f\\xc2\\x80"); /* U+007F then U+0080 */
    ESC("end\xc2\x9b", "end\\xc2\\x9b");    /* at the end of the input */
}
END_TEST

/* The "Trojan Source" set: embeddings, overrides, isolates, marks. */
START_TEST(bidi_controls)
{
    ESC("\xe2\x80\xaa", "\\xe2\\x80\\xaa"); /* U+202A LRE, first */
    ESC("txt.\xe2\x80\xae"
        "fdp.exe",
        "txt.\\xe2\\x80\\xaefdp.exe");                                 /* U+202E RLO, last */
    ESC("\xe2\x81\xa6", "\\xe2\\x81\\xa6");                            /* U+2066 LRI, first */
    ESC("\xe2\x81\xa9", "\\xe2\\x81\\xa9");                            /* U+2069 PDI, last */
    ESC("\xe2\x80\x8e\xe2\x80\x8f", "\\xe2\\x80\\x8e\\xe2\\x80\\x8f"); /* LRM, RLM */
    ESC("\xd8\x9c", "\\xd8\\x9c");                                     /* U+061C ALM */
    ESC("\xe2\x80\xa8\xe2\x80\xa9", "\\xe2\\x80\\xa8\\xe2\\x80\\xa9"); /* LS, PS */
    /* the neighbours just outside the ranges are left alone */
    ESC("\xe2\x80\xa7", "\xe2\x80\xa7"); /* U+2027 hyphenation point */
    ESC("\xe2\x80\xaf", "\xe2\x80\xaf"); /* U+202F narrow NBSP */
    ESC("\xe2\x81\xa5", "\xe2\x81\xa5"); /* U+2065 (unassigned) */
    ESC("\xe2\x81\xaa", "\xe2\x81\xaa"); /* U+206A */
    ESC("\xe2\x80\x8d", "\xe2\x80\x8d"); /* U+200D ZWJ: emoji, Indic */
    ESC("\xef\xbb\xbf", "\xef\xbb\xbf"); /* U+FEFF */
}
END_TEST

START_TEST(invalid_utf8)
{
    ESC("\xc0\x9b", "\\xc0\\x9b");                   /* overlong ESC [ (0x1b) */
    ESC("\xc1\xbf", "\\xc1\\xbf");                   /* overlong U+007F */
    ESC("\xe0\x82\x9b", "\\xe0\\x82\\x9b");          /* overlong U+009B */
    ESC("\xed\xa0\x80", "\\xed\\xa0\\x80");          /* a surrogate */
    ESC("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
    ESC("\x9b", "\\x9b");                            /* a lone 8-bit CSI */
    ESC("a\xc2", "a\\xc2");                          /* cut at the end */
    ESC("\xe2\x80", "\\xe2\\x80");                   /* a cut bidi control */
    ESC("\xff\xfe", "\\xff\\xfe");
}
END_TEST

START_TEST(ordinary_utf8)
{
    ESC("caf\xc3\xa9", "caf\xc3\xa9"); /* é */
    ESC("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");                                 /* 日本語 */
    ESC("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"); /* Hebrew */
    ESC("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");                                 /* an emoji */
    ESC("\xc2\xa9", "\xc2\xa9");                                                 /* U+00A9 */
}
END_TEST

START_TEST(embedded_nul_and_empty)
{
    assert_escaped("a\0b", 3, "a\\x00b");
    assert_escaped("", 0, "");
}
END_TEST

/* hs_utf8_valid accepts exactly what hs_escape passes through as characters. */
#define VALID(in) hs_utf8_valid(in, sizeof(in) - 1)
START_TEST(utf8_validity)
{
    ck_assert(VALID(""));
    ck_assert(VALID("plain"));
    ck_assert(VALID("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
    ck_assert(VALID("\xc2\x9b"));          /* well-formed, if unsafe on a terminal */
    ck_assert(!VALID("\xc0\x9b"));         /* overlong */
    ck_assert(!VALID("\xe0\x82\x9b"));     /* overlong */
    ck_assert(!VALID("\xed\xa0\x80"));     /* a surrogate */
    ck_assert(!VALID("\xf4\x90\x80\x80")); /* past U+10FFFF */
    ck_assert(!VALID("\xf5\x80\x80\x80"));
    ck_assert(!VALID("a\x9b"));     /* a lone continuation byte */
    ck_assert(!VALID("a\xe2\x80")); /* cut at the end */
    ck_assert(!VALID("\xe2\x80z")); /* cut before another character */
    ck_assert(!VALID("\xff"));
    ck_assert(!hs_utf8_valid("\xc3\xa9", 1)); /* the length given, not the NUL, ends it */
}
END_TEST

/* Paths in error messages are escaped the same way. */
START_TEST(err_path_escapes)
{
    struct hs_err e = {0};
    ck_assert_int_eq(hs_err_path(&e, ENOENT, "cannot open", "x\xc2\x9b\xe2\x80\xae"), -ENOENT);
    ck_assert_str_eq(e.msg, "cannot open: x\\xc2\\x9b\\xe2\\x80\\xae: No such file or directory");
    hs_err_clear(&e);
}
END_TEST

Suite *err_suite(void)
{
    Suite *s = suite_create("err");
    TCase *tc = tu_tcase_plain("escape");
    tcase_add_test(tc, c0_and_backslash);
    tcase_add_test(tc, c1_controls);
    tcase_add_test(tc, bidi_controls);
    tcase_add_test(tc, invalid_utf8);
    tcase_add_test(tc, ordinary_utf8);
    tcase_add_test(tc, embedded_nul_and_empty);
    tcase_add_test(tc, err_path_escapes);
    tcase_add_test(tc, utf8_validity);
    suite_add_tcase(s, tc);
    return s;
}
