/*
 * A program of someone else's, built against the installed libhardsnap with
 * nothing but `pkg-config --cflags --libs hardsnap` (tests/install/run.sh):
 * it backs up a small tree, lists the store, asks for a file's versions,
 * restores and exports the snapshot, and checks what each call says.
 *
 *     use_lib VERSION DIR    (DIR: an empty directory to work in)
 *
 * Prints "use_lib: ok" and exits 0, or names the first thing that was wrong
 * and exits 1.
 */
#define _POSIX_C_SOURCE 200809L /* symlink, lstat: nothing else beyond C11 */
#include <hardsnap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "use_lib: %s:%d: %s\n", __FILE__, __LINE__, #cond);                    \
            failed = 1;                                                                            \
        }                                                                                          \
    } while (0)

static const char *in(const char *dir, const char *rel)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, rel);
    return buf[k];
}

static void put(const char *path, const char *data)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(data, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Which of the three stats pointers an event carries (one, of its kind). */
struct seen {
    unsigned backup, restore, exported, other;
};

static void on_event(const struct hs_event *ev, void *user)
{
    struct seen *s = user;
    int n = !!ev->stats + !!ev->restore_stats + !!ev->export_stats;
    if (n != 1)
        s->other++;
    else if (ev->stats)
        s->backup++;
    else if (ev->restore_stats)
        s->restore++;
    else
        s->exported++;
}

static void on_version(const struct hs_file_version *v, void *user)
{
    unsigned *n = user;
    CHECK(v->present);
    CHECK(v->type == HS_ENTRY_FILE);
    CHECK(v->size == 5);
    CHECK(v->snapshots == 1);
    (*n)++;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: use_lib VERSION DIR\n");
        return 2;
    }
    const char *dir = argv[2];
    CHECK(strcmp(hs_version(), argv[1]) == 0);

    if (mkdir(in(dir, "src"), 0755) < 0 || mkdir(in(dir, "src/d"), 0755) < 0 ||
        mkdir(in(dir, "dest"), 0700) < 0) {
        perror(dir);
        return 1;
    }
    put(in(dir, "src/a"), "hello");
    put(in(dir, "src/d/b"), "world!");
    if (symlink("a", in(dir, "src/l")) < 0) {
        perror("symlink");
        return 1;
    }

    struct hs_err err = {0};
    struct seen seen = {0};
    struct hs_source src = {.path = in(dir, "src")};
    struct hs_backup_opts bo = {.sources = &src,
                                .n_sources = 1,
                                .dest = in(dir, "dest"),
                                .now = "2026-01-02T030405Z",
                                .on_event = on_event,
                                .user = &seen,
                                .verbose_events = true};
    struct hs_backup_result res;
    CHECK(hs_backup(&bo, &res, &err) == HS_OK);
    CHECK(strcmp(res.name, "2026-01-02T030405Z") == 0);
    CHECK(res.stats.files == 2 && res.stats.dirs == 2 && res.stats.symlinks == 1);
    CHECK(res.n_sources == 1 && res.sources[0].stats.files == 2 && !res.sources[0].carried);
    hs_backup_result_free(&res);
    hs_err_clear(&err);

    struct hs_list list;
    CHECK(hs_list(in(dir, "dest"), &list, &err) == HS_OK);
    CHECK(list.n == 1 && strcmp(list.snapshots[0].name, res.name) == 0);
    hs_list_free(&list);
    hs_err_clear(&err);

    unsigned versions = 0;
    CHECK(hs_versions(in(dir, "dest"), "a", on_version, &versions, &err) == HS_OK);
    CHECK(versions == 1);
    hs_err_clear(&err);

    struct hs_restore_opts ro = {.source = in(dir, "dest/latest"),
                                 .target = in(dir, "back"),
                                 .on_event = on_event,
                                 .user = &seen,
                                 .verbose_events = true};
    struct hs_restore_stats rs;
    CHECK(hs_restore(&ro, &rs, &err) == HS_OK);
    CHECK(rs.files == 2 && rs.dirs >= 1 && rs.symlinks == 1 && rs.bytes_copied == 11);
    hs_err_clear(&err);
    struct stat st;
    CHECK(lstat(in(dir, "back/d/b"), &st) == 0 && st.st_size == 6);

    struct hs_export_opts xo = {.source = in(dir, "dest/latest"),
                                .archive = in(dir, "snap.tar"),
                                .on_event = on_event,
                                .user = &seen,
                                .verbose_events = true};
    struct hs_export_stats xs;
    CHECK(hs_export(&xo, &xs, &err) == HS_OK);
    CHECK(xs.files == 2 && xs.symlinks == 1 && xs.bytes_copied == 11);
    hs_err_clear(&err);
    CHECK(stat(in(dir, "snap.tar"), &st) == 0 && st.st_size > 0);

    /* each operation's events carried its own stats, and only those */
    CHECK(seen.backup > 0 && seen.restore > 0 && seen.exported > 0 && seen.other == 0);

    char *esc = hs_escape("a\nb", 3);
    CHECK(esc && strcmp(esc, "a\\nb") == 0);
    free(esc);
    CHECK(hs_snapshot_name_valid(res.name));

    if (failed)
        return 1;
    puts("use_lib: ok");
    return 0;
}
