#include "hardsnap.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* runner.c finds it through the generated suites.h, which this file cannot see. */
Suite *config_suite(void);

static const char example[] = "[hardsnap]\n"
                              "dest = /var/backups/hardsnap\n"
                              "exclude = *.tmp\n"
                              "exclude = /home/*/.cache\n"
                              "one-file-system = yes\n"
                              "\n"
                              "[source home]\n"
                              "path = /home\n"
                              "exclude = Downloads\n"
                              "\n"
                              "[source etc]\n"
                              "path = /etc\n"
                              "\n"
                              "[retain]\n"
                              "keep-daily = 7\n"
                              "keep-weekly = 4\n"
                              "keep-monthly = 12\n";

/* A valid head that error cases append to: [hardsnap] at line 1, source at 3. */
#define HEAD "[hardsnap]\ndest = /d\n[source s]\npath = /s\n"

static enum hs_status load_text(const char *text, struct hs_config *c, struct hs_err *e)
{
    tu_write("conf/x.conf", text, strlen(text));
    return hs_config_load(c, tu_path("conf/x.conf"), e);
}

/* Loads text, expects HS_USAGE with "FILE:LINE: " (line 0: "FILE: ") and word. */
static void expect_error(const char *text, unsigned line, const char *word)
{
    struct hs_config c;
    struct hs_err e = {0};
    char want[4096];
    ck_assert_int_eq(load_text(text, &c, &e), HS_USAGE);
    ck_assert_int_eq(e.kind, HS_USAGE);
    ck_assert_ptr_nonnull(e.msg);
    if (line)
        snprintf(want, sizeof want, "%s:%u: ", tu_path("conf/x.conf"), line);
    else
        snprintf(want, sizeof want, "%s: ", tu_path("conf/x.conf"));
    ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0, "\"%s\" does not start with \"%s\"",
                  e.msg, want);
    ck_assert_msg(strstr(e.msg, word), "\"%s\" does not name \"%s\"", e.msg, word);
    /* left zeroed, and freeing twice is harmless */
    ck_assert_ptr_null(c.file);
    ck_assert_ptr_null(c.dest);
    ck_assert_ptr_null(c.sources);
    ck_assert_uint_eq(c.n_sources, 0);
    hs_config_free(&c);
    hs_err_clear(&e);
}

START_TEST(example_config)
{
    struct hs_config c;
    struct hs_err e = {0};
    ck_assert_int_eq(load_text(example, &c, &e), HS_OK);
    ck_assert_ptr_null(e.msg);
    ck_assert_str_eq(c.file, tu_path("conf/x.conf"));
    ck_assert_str_eq(c.dest, "/var/backups/hardsnap");
    ck_assert_uint_eq(c.n_exclude, 2);
    ck_assert_str_eq(c.exclude[0], "*.tmp");
    ck_assert_str_eq(c.exclude[1], "/home/*/.cache");
    ck_assert_int_eq(c.one_file_system, 1);
    ck_assert_int_eq(c.checksum, -1);

    ck_assert_uint_eq(c.n_sources, 2);
    ck_assert_str_eq(c.sources[0].name, "home");
    ck_assert_str_eq(c.sources[0].path, "/home");
    ck_assert_uint_eq(c.sources[0].n_exclude, 1);
    ck_assert_str_eq(c.sources[0].exclude[0], "Downloads");
    ck_assert_uint_eq(c.sources[0].line, 7);
    ck_assert_str_eq(c.sources[1].name, "etc");
    ck_assert_str_eq(c.sources[1].path, "/etc");
    ck_assert_uint_eq(c.sources[1].n_exclude, 0);
    ck_assert_uint_eq(c.sources[1].line, 11);

    ck_assert(c.has_retain);
    ck_assert_int_eq(c.retain.keep_last, -1);
    ck_assert_int_eq(c.retain.keep_hourly, -1);
    ck_assert_int_eq(c.retain.keep_daily, 7);
    ck_assert_int_eq(c.retain.keep_weekly, 4);
    ck_assert_int_eq(c.retain.keep_monthly, 12);
    ck_assert_int_eq(c.retain.keep_yearly, -1);
    ck_assert_int_eq(c.retain.keep_within, -1);

    hs_config_free(&c);
    ck_assert_ptr_null(c.file);
    ck_assert_ptr_null(c.sources);
    ck_assert_uint_eq(c.n_exclude, 0);
    hs_config_free(&c);
}
END_TEST

START_TEST(all_keys_and_syntax)
{
    static const char text[] = "\xef\xbb\xbf# comment\n"
                               "; comment\n"
                               "  [ hardsnap ]   ; the tool\n"
                               "dest: /d\n"
                               "checksum = OFF\n"
                               "one-file-system=False\n"
                               "exclude = a;b ; the ';' needs a space before it\n"
                               "    exclude = indented\n"
                               "[source   with space ]\n"
                               "path = /s\n"
                               "[retain]\n"
                               "keep-last = 0\n"
                               "keep-hourly = 24\n"
                               "keep-yearly = 1000000\n"
                               "keep-within = 36h\n";
    struct hs_config c;
    struct hs_err e = {0};
    ck_assert_msg(load_text(text, &c, &e) == HS_OK, "%s", e.msg);
    ck_assert_str_eq(c.dest, "/d");
    ck_assert_int_eq(c.checksum, 0);
    ck_assert_int_eq(c.one_file_system, 0);
    ck_assert_uint_eq(c.n_exclude, 2);
    ck_assert_str_eq(c.exclude[0], "a;b");
    ck_assert_str_eq(c.exclude[1], "indented");
    ck_assert_uint_eq(c.n_sources, 1);
    ck_assert_str_eq(c.sources[0].name, "with space");
    ck_assert_uint_eq(c.sources[0].line, 9);
    ck_assert_int_eq(c.retain.keep_last, 0);
    ck_assert_int_eq(c.retain.keep_hourly, 24);
    ck_assert_int_eq(c.retain.keep_daily, -1);
    ck_assert_int_eq(c.retain.keep_yearly, 1000000);
    ck_assert_int_eq(c.retain.keep_within, 36 * 3600);
    hs_config_free(&c);
}
END_TEST

START_TEST(booleans)
{
    static const char *const yes[] = {"yes", "YES", "true", "True", "on", "On", "1"};
    static const char *const no[] = {"no", "No", "false", "FALSE", "off", "oFF", "0"};
    char text[256];
    struct hs_config c;
    struct hs_err e = {0};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        snprintf(text, sizeof text, "[hardsnap]\ndest=/d\nchecksum=%s\n[source s]\npath=/s\n",
                 yes[i]);
        ck_assert_msg(load_text(text, &c, &e) == HS_OK, "%s", e.msg);
        ck_assert_int_eq(c.checksum, 1);
        hs_config_free(&c);
        snprintf(text, sizeof text, "[hardsnap]\ndest=/d\nchecksum=%s\n[source s]\npath=/s\n",
                 no[i]);
        ck_assert_msg(load_text(text, &c, &e) == HS_OK, "%s", e.msg);
        ck_assert_int_eq(c.checksum, 0);
        hs_config_free(&c);
    }
}
END_TEST

START_TEST(empty_retain_counts)
{
    struct hs_config c;
    struct hs_err e = {0};
    ck_assert_int_eq(load_text(HEAD "[retain]\n", &c, &e), HS_OK);
    ck_assert(c.has_retain);
    ck_assert_int_eq(c.retain.keep_daily, -1);
    hs_config_free(&c);
    ck_assert_int_eq(load_text(HEAD, &c, &e), HS_OK);
    ck_assert(!c.has_retain);
    hs_config_free(&c);
}
END_TEST

START_TEST(relative_paths)
{
    static const char text[] = "[hardsnap]\ndest = ../backups\n"
                               "[source a]\npath = data/a\n"
                               "[source b]\npath = /abs/b\n";
    struct hs_config c;
    struct hs_err e = {0};
    char want[4096];
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    ck_assert_int_ge(cwd, 0);
    ck_assert_int_eq(load_text(text, &c, &e), HS_OK);
    snprintf(want, sizeof want, "%s/conf/../backups", tu_tmp);
    ck_assert_str_eq(c.dest, want);
    snprintf(want, sizeof want, "%s/conf/data/a", tu_tmp);
    ck_assert_str_eq(c.sources[0].path, want);
    ck_assert_str_eq(c.sources[1].path, "/abs/b");
    hs_config_free(&c);

    /* against the file's directory, not the cwd */
    ck_assert_int_eq(chdir(tu_tmp), 0);
    ck_assert_int_eq(hs_config_load(&c, "conf/x.conf", &e), HS_OK);
    ck_assert_str_eq(c.file, "conf/x.conf");
    ck_assert_str_eq(c.dest, "conf/../backups");
    ck_assert_str_eq(c.sources[0].path, "conf/data/a");
    hs_config_free(&c);

    /* a file in the cwd: the cwd is its directory */
    ck_assert_int_eq(chdir("conf"), 0);
    ck_assert_int_eq(hs_config_load(&c, "x.conf", &e), HS_OK);
    ck_assert_str_eq(c.dest, "../backups");
    ck_assert_str_eq(c.sources[0].path, "data/a");
    hs_config_free(&c);
    ck_assert_int_eq(fchdir(cwd), 0);
    close(cwd);
}
END_TEST

START_TEST(remote_sources)
{
    static const char text[] = "[hardsnap]\n"
                               "dest = store\n"
                               "rsh = ssh -i /root/.ssh/hs_ed25519\n"
                               "hardsnap-path = sudo /usr/local/bin/hardsnap\n"
                               "timeout = 300\n"
                               "[source web1]\n"
                               "rsh = ssh -p 2222\n"
                               "path = root@web1.example.org:srv/www\n"
                               "hardsnap-path = hs\n"
                               "[source db]\n"
                               "path = db:/var/lib/db\n"
                               "[source local]\n"
                               "path = ./a:b\n";
    struct hs_config c;
    struct hs_err e = {0};
    char want[4096];
    ck_assert_msg(load_text(text, &c, &e) == HS_OK, "%s", e.msg);
    ck_assert_str_eq(c.rsh, "ssh -i /root/.ssh/hs_ed25519");
    ck_assert_str_eq(c.hardsnap_path, "sudo /usr/local/bin/hardsnap");
    ck_assert_uint_eq(c.timeout, 300);
    ck_assert_uint_eq(c.n_sources, 3);
    /* a remote PATH is the host's, never resolved against the file's folder */
    ck_assert_str_eq(c.sources[0].host, "root@web1.example.org");
    ck_assert_str_eq(c.sources[0].path, "srv/www");
    ck_assert_str_eq(c.sources[0].rsh, "ssh -p 2222");
    ck_assert_str_eq(c.sources[0].hardsnap_path, "hs");
    ck_assert_str_eq(c.sources[1].host, "db");
    ck_assert_str_eq(c.sources[1].path, "/var/lib/db");
    ck_assert_ptr_null(c.sources[1].rsh);
    ck_assert_ptr_null(c.sources[1].hardsnap_path);
    ck_assert_ptr_null(c.sources[2].host);
    snprintf(want, sizeof want, "%s/conf/./a:b", tu_tmp);
    ck_assert_str_eq(c.sources[2].path, want);
    hs_config_free(&c);

    /* unset: NULL and 0 (ssh, hardsnap, no limit) */
    ck_assert_int_eq(load_text(HEAD, &c, &e), HS_OK);
    ck_assert_ptr_null(c.rsh);
    ck_assert_ptr_null(c.hardsnap_path);
    ck_assert_uint_eq(c.timeout, 0);
    ck_assert_ptr_null(c.sources[0].host);
    hs_config_free(&c);

    /* a global rsh with only local sources is fine: it waits for a remote one */
    ck_assert_int_eq(load_text("[hardsnap]\ndest=/d\nrsh=ssh -4\ntimeout=1000000\n"
                               "[source s]\npath=/s\n",
                               &c, &e),
                     HS_OK);
    ck_assert_str_eq(c.rsh, "ssh -4");
    ck_assert_uint_eq(c.timeout, 1000000);
    hs_config_free(&c);
}
END_TEST

START_TEST(parse_remote)
{
    static const struct {
        const char *arg, *host, *path; /* host NULL: local */
    } good[] = {
        {"host:/srv", "host", "/srv"},
        {"root@web1.example.org:/srv", "root@web1.example.org", "/srv"},
        {"h:.", "h", "."},
        {"h:rel/dir", "h", "rel/dir"},
        {"h:/a:b", "h", "/a:b"},
        {"[::1]:/srv", "::1", "/srv"},
        {"u@[fe80::1%eth0]:x", "u@fe80::1%eth0", "x"},
        {"./a:b", NULL, NULL},
        {"/abs/a:b", NULL, NULL},
        {"dir/x", NULL, NULL},
        {"plain", NULL, NULL},
        {"a@b", NULL, NULL},
    };
    static const struct {
        const char *arg, *why;
    } bad[] = {
        {":/srv", "without a host"},   {"@:/srv", "without a host"},
        {"u@:/srv", "without a host"}, {"[]:/srv", "without a host"},
        {"@h:/srv", "empty user"},     {"h:", "without a path"},
        {"u@h:", "without a path"},    {"-oProxyCommand=x:/srv", "'-'"},
        {"u@-h:/srv", "'-'"},          {"-u@h:/srv", "'-'"},
        {"[::1:/srv", "[address]"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct hs_err e = {0};
        char *host = (char *)1, *path = (char *)1;
        int r = hs_source_parse_remote(good[i].arg, &host, &path, &e);
        ck_assert_msg(r == (good[i].host ? 1 : 0), "%s: %d (%s)", good[i].arg, r, e.msg);
        ck_assert_ptr_null(e.msg);
        if (good[i].host) {
            ck_assert_str_eq(host, good[i].host);
            ck_assert_str_eq(path, good[i].path);
        } else {
            ck_assert_ptr_null(host);
            ck_assert_ptr_null(path);
        }
        free(host);
        free(path);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_err e = {0};
        char *host = (char *)1, *path = (char *)1;
        int r = hs_source_parse_remote(bad[i].arg, &host, &path, &e);
        ck_assert_msg(r < 0, "%s accepted", bad[i].arg);
        ck_assert_int_eq(e.kind, HS_USAGE);
        ck_assert_ptr_null(host);
        ck_assert_ptr_null(path);
        ck_assert_msg(e.msg && strstr(e.msg, bad[i].why) && strstr(e.msg, bad[i].arg),
                      "%s: \"%s\" lacks \"%s\"", bad[i].arg, e.msg, bad[i].why);
        hs_err_clear(&e);
    }
}
END_TEST

START_TEST(err_unknown_section)
{
    expect_error(HEAD "[retian]\n", 5, "unknown section [retian]");
    expect_error("[source s]\npath=/s\n[sourcex]\nkeep=1\n", 3, "[sourcex]");
}
END_TEST

START_TEST(err_unknown_key)
{
    expect_error(HEAD "\n[hardsnap]\n", 6, "duplicate section [hardsnap] (first at line 1)");
    expect_error("[hardsnap]\ndest = /d\n\nfoo = 1\n", 4, "unknown key \"foo\" in [hardsnap]");
    expect_error(HEAD "bar = 1\n", 5, "unknown key \"bar\" in [source s]");
    expect_error(HEAD "[retain]\nkeep-dayly = 1\n", 6, "\"keep-dayly\" in [retain]");
}
END_TEST

START_TEST(err_key_outside_section)
{
    expect_error("# top\ndest = /d\n" HEAD, 2, "key \"dest\" outside any section");
}
END_TEST

START_TEST(err_bad_bool)
{
    expect_error("[hardsnap]\ndest=/d\none-file-system = x\n", 3,
                 "bad boolean \"x\" for one-file-system");
    expect_error("[hardsnap]\ndest=/d\nchecksum = yess\n", 3, "\"yess\"");
}
END_TEST

START_TEST(err_bad_number)
{
    expect_error(HEAD "[retain]\nkeep-daily = 7x\n", 6, "bad number \"7x\" for keep-daily");
    expect_error(HEAD "[retain]\n\nkeep-last = -1\n", 7, "\"-1\"");
    expect_error(HEAD "[retain]\nkeep-weekly = +1\n", 6, "\"+1\"");
    expect_error(HEAD "[retain]\nkeep-yearly = 1000001\n", 6, "\"1000001\"");
    expect_error(HEAD "[retain]\nkeep-hourly = 99999999999999999999\n", 6, "keep-hourly");
    expect_error(HEAD "[retain]\nkeep-monthly = 1 2\n", 6, "\"1 2\"");
    expect_error(HEAD "[retain]\nkeep-monthly =\n", 6, "empty value for keep-monthly");
}
END_TEST

START_TEST(err_bad_duration)
{
    expect_error(HEAD "[retain]\nkeep-within = 7\n", 6, "bad duration \"7\" for keep-within");
    expect_error(HEAD "[retain]\nkeep-within = 7q\n", 6, "\"7q\"");
    expect_error(HEAD "[retain]\nkeep-within = 0d\n", 6, "\"0d\"");
}
END_TEST

START_TEST(err_duplicate_source)
{
    expect_error("[source home]\npath=/a\n[hardsnap]\ndest=/d\n[source home]\npath=/b\n", 5,
                 "duplicate section [source home] (first at line 1)");
    expect_error("[source home]\npath=/a\n[source  home ]\n", 3, "(first at line 1)");
}
END_TEST

START_TEST(err_bad_source_name)
{
    expect_error("[hardsnap]\ndest=/d\n[source a/b]\npath=/s\n", 3, "\"a/b\"");
    expect_error("[hardsnap]\ndest=/d\n[source ..]\npath=/s\n", 3, "\"..\"");
    expect_error("[hardsnap]\ndest=/d\n[source .]\npath=/s\n", 3, "\".\"");
    expect_error("[hardsnap]\ndest=/d\n[source .hardsnap]\npath=/s\n", 3, "\".hardsnap\"");
    expect_error("[hardsnap]\ndest=/d\n[source]\npath=/s\n", 3, "bad source name \"\"");
}
END_TEST

START_TEST(err_source_without_path)
{
    expect_error(HEAD "[source empty]\n[retain]\nkeep-last = 1\n", 5, "[source empty] has no path");
    expect_error(HEAD "[source x]\nexclude = a\n", 5, "[source x] has no path");
}
END_TEST

START_TEST(err_missing_dest)
{
    expect_error("[hardsnap]\nexclude = a\n[source s]\npath = /s\n", 0, "no dest");
    expect_error("[source s]\npath = /s\n", 0, "no dest");
}
END_TEST

START_TEST(err_no_source)
{
    expect_error("[hardsnap]\ndest = /d\n[retain]\nkeep-last = 1\n", 0, "no [source NAME]");
}
END_TEST

START_TEST(err_duplicate_key)
{
    expect_error("[hardsnap]\ndest = /a\n\ndest = /b\n", 4,
                 "duplicate key \"dest\" in [hardsnap] (first at line 2)");
    expect_error(HEAD "path = /t\n", 5, "duplicate key \"path\" in [source s] (first at line 4)");
    expect_error(HEAD "[retain]\nkeep-daily=1\nkeep-daily=1\n", 7, "\"keep-daily\"");
    expect_error("[hardsnap]\ndest=/d\nchecksum=1\nchecksum=1\n", 4, "\"checksum\"");
}
END_TEST

START_TEST(err_empty_path)
{
    expect_error("[hardsnap]\ndest =\n", 2, "empty value for dest");
    expect_error(HEAD "[source t]\npath = ; nothing\n", 6, "empty value for path");
    expect_error(HEAD "exclude =\n", 5, "empty value for exclude");
}
END_TEST

START_TEST(err_syntax)
{
    expect_error(HEAD "just words\n", 5, "expected \"key = value\"");
    /* no continuation lines: an indented value is a line of its own */
    expect_error(HEAD "exclude = a\n  b\n", 6, "got \"b\"");
    expect_error(HEAD "[retain\n", 5, "missing ']'");
    expect_error(HEAD "[retain] x\n", 5, "unexpected \"x\"");
    expect_error(HEAD "[retain ;]\n", 5, "missing ']'");
}
END_TEST

START_TEST(err_long_line)
{
    char text[1024];
    char val[400];
    memset(val, 'x', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    snprintf(text, sizeof text, HEAD "exclude = %s\nbogus = 1\n", val);
    expect_error(text, 5, "line too long");
    /* 190 bytes is fine, and the next line is counted right */
    val[180] = '\0';
    snprintf(text, sizeof text, HEAD "exclude = %s\nbogus = 1\n", val);
    expect_error(text, 6, "unknown key \"bogus\"");
}
END_TEST

START_TEST(err_nul_byte)
{
    static const char text[] = HEAD "exclude = a\0b\n";
    struct hs_config c;
    struct hs_err e = {0};
    tu_write("conf/x.conf", text, sizeof text - 1);
    ck_assert_int_eq(hs_config_load(&c, tu_path("conf/x.conf"), &e), HS_USAGE);
    ck_assert_msg(strstr(e.msg, ":5: NUL byte"), "%s", e.msg);
    hs_err_clear(&e);
}
END_TEST

START_TEST(err_control_bytes_escaped)
{
    expect_error(HEAD "ke\ty = 1\n", 5, "unknown key \"ke\\ty\"");
}
END_TEST

START_TEST(err_missing_file)
{
    struct hs_config c;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_config_load(&c, tu_path("nope.conf"), &e), HS_USAGE);
    ck_assert_int_eq(e.kind, HS_USAGE);
    ck_assert_int_eq(e.code, ENOENT);
    ck_assert_msg(strstr(e.msg, "cannot read config") && strstr(e.msg, tu_path("nope.conf")), "%s",
                  e.msg);
    ck_assert_ptr_null(c.file);
    hs_config_free(&c);
    hs_err_clear(&e);

    /* a directory opens, then fails to read */
    ck_assert_int_eq(hs_config_load(&c, tu_tmp, &e), HS_USAGE);
    ck_assert_int_eq(e.code, EISDIR);
    ck_assert_ptr_nonnull(strstr(e.msg, tu_tmp));
    ck_assert_ptr_null(c.file);
    hs_err_clear(&e);
}
END_TEST

START_TEST(err_remote_keys_on_local_source)
{
    /* the key's line, whether it comes before or after path, whatever follows */
    expect_error(HEAD "rsh = ssh -p 22\n", 5, "rsh is only for a remote source");
    expect_error(HEAD "hardsnap-path = hs\n[retain]\nkeep-last = 1\n", 5,
                 "hardsnap-path is only for a remote source");
    expect_error(
        "[hardsnap]\ndest = /d\n[source s]\nrsh = ssh\npath = /s\n[source t]\npath = h:/t\n", 4,
        "[source s] is local");
    expect_error("[hardsnap]\ndest = /d\n[source s]\nhardsnap-path = hs\npath = ./a:b\n", 4,
                 "hardsnap-path is only");
    expect_error(HEAD "rsh = ssh\nrsh = ssh\n", 6, "duplicate key \"rsh\"");
    expect_error("[hardsnap]\ndest=/d\nrsh = a\nrsh = b\n", 4, "duplicate key \"rsh\"");
    expect_error("[hardsnap]\ndest=/d\nhardsnap-path =\n", 3, "empty value for hardsnap-path");
    expect_error(HEAD "[retain]\nrsh = ssh\n", 6, "unknown key \"rsh\" in [retain]");
}
END_TEST

START_TEST(err_bad_remote_path)
{
    expect_error(HEAD "[source r]\npath = :/srv\n", 6, "remote source without a host");
    expect_error(HEAD "[source r]\npath = web1:\n", 6, "remote source without a path");
    expect_error(HEAD "[source r]\n\npath = -oProxyCommand=x:/srv\n", 7, "starts with '-'");
}
END_TEST

START_TEST(err_bad_timeout)
{
    static const char *const bad[] = {"0", "-1", "+5", "5s", "1.5", "1000001", "99999999999999"};
    char text[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "[hardsnap]\ndest = /d\ntimeout = %s\n", bad[i]);
        char word[64];
        snprintf(word, sizeof word, "bad number of seconds \"%s\" for timeout", bad[i]);
        expect_error(text, 3, word);
    }
    expect_error(HEAD "timeout = 5\n", 5, "unknown key \"timeout\" in [source s]");
    expect_error("[hardsnap]\ndest=/d\ntimeout = 5\ntimeout = 5\n", 4, "duplicate key \"timeout\"");
}
END_TEST

START_TEST(duration_units)
{
    int64_t s = 0;
    ck_assert_int_eq(hs_parse_duration("36h", &s), 0);
    ck_assert_int_eq(s, 36 * 3600);
    ck_assert_int_eq(hs_parse_duration("7d", &s), 0);
    ck_assert_int_eq(s, 7 * 86400);
    ck_assert_int_eq(hs_parse_duration("2w", &s), 0);
    ck_assert_int_eq(s, 14 * 86400);
    ck_assert_int_eq(hs_parse_duration("6m", &s), 0);
    ck_assert_int_eq(s, 180 * 86400);
    ck_assert_int_eq(hs_parse_duration("1y", &s), 0);
    ck_assert_int_eq(s, 365 * 86400);
    ck_assert_int_eq(hs_parse_duration("1h", &s), 0);
    ck_assert_int_eq(s, 3600);
    ck_assert_int_eq(hs_parse_duration("010d", &s), 0);
    ck_assert_int_eq(s, 10 * 86400);
    ck_assert_int_eq(hs_parse_duration("1000y", &s), 0);
    ck_assert_int_eq(s, (int64_t)1000 * 365 * 86400);
}
END_TEST

START_TEST(duration_bad)
{
    static const char *const bad[] = {
        "",
        "7",
        "d",
        "7q",
        "0d",
        "00h",
        "-1d",
        "+1d",
        " 1d",
        "1d ",
        "1D",
        "1dd",
        "1.5d",
        "1 d",
        "7x7",
        "h1",
        "1hd",
        "0x1d",
        "99999999999999999999d",
        "9223372036854775807h",
        "300000000000000000y",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t s = 42;
        ck_assert_msg(hs_parse_duration(bad[i], &s) == -EINVAL, "\"%s\" accepted", bad[i]);
        ck_assert_int_eq(s, 42);
    }
    int64_t s = 0;
    ck_assert_int_eq(hs_parse_duration(NULL, &s), -EINVAL);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tu_tcase("load");
    tcase_add_test(tc, example_config);
    tcase_add_test(tc, all_keys_and_syntax);
    tcase_add_test(tc, booleans);
    tcase_add_test(tc, empty_retain_counts);
    tcase_add_test(tc, relative_paths);
    tcase_add_test(tc, remote_sources);
    suite_add_tcase(s, tc);

    tc = tu_tcase("errors");
    tcase_add_test(tc, err_unknown_section);
    tcase_add_test(tc, err_unknown_key);
    tcase_add_test(tc, err_key_outside_section);
    tcase_add_test(tc, err_bad_bool);
    tcase_add_test(tc, err_bad_number);
    tcase_add_test(tc, err_bad_duration);
    tcase_add_test(tc, err_duplicate_source);
    tcase_add_test(tc, err_bad_source_name);
    tcase_add_test(tc, err_source_without_path);
    tcase_add_test(tc, err_missing_dest);
    tcase_add_test(tc, err_no_source);
    tcase_add_test(tc, err_duplicate_key);
    tcase_add_test(tc, err_empty_path);
    tcase_add_test(tc, err_syntax);
    tcase_add_test(tc, err_long_line);
    tcase_add_test(tc, err_nul_byte);
    tcase_add_test(tc, err_control_bytes_escaped);
    tcase_add_test(tc, err_missing_file);
    tcase_add_test(tc, err_remote_keys_on_local_source);
    tcase_add_test(tc, err_bad_remote_path);
    tcase_add_test(tc, err_bad_timeout);
    suite_add_tcase(s, tc);

    tc = tu_tcase_plain("remote");
    tcase_add_test(tc, parse_remote);
    suite_add_tcase(s, tc);

    tc = tu_tcase_plain("duration");
    tcase_add_test(tc, duration_units);
    tcase_add_test(tc, duration_bad);
    suite_add_tcase(s, tc);
    return s;
}
