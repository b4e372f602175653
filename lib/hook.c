/*
 * Hooks: a command from the config, run by /bin/sh -c around a run or a
 * source (a filesystem snapshot before, its removal after, a database dump,
 * a ping). It runs in a process group of its own, so that a hook past its
 * time is ended with everything it started (a pg_dump under a shell, a
 * curl), and its standard output is read (a source's `path=DIR`).
 */
#include "buf.h"
#include "err.h"
#include "fsutil.h"
#include "hardsnap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What is kept of a hook's standard output; more is read and dropped, so
 * that a chatty hook never blocks on a full pipe. */
#define HOOK_OUT_MAX (64 * 1024)
/* After SIGTERM to the group, this long until SIGKILL. */
#define HOOK_GRACE_MS 5000

extern char **environ;

static const char *const hook_vars[] = {"HARDSNAP_DEST=", "HARDSNAP_SNAPSHOT=", "HARDSNAP_SOURCE=",
                                        "HARDSNAP_REPORT=", "HARDSNAP_STATUS="};

/* The hook's environment: ours without the HARDSNAP_* variables above,
 * then those that have a value (from *own on: the strings made here). Made
 * before fork: the child of a process with threads (the engine's flusher)
 * may not call malloc. */
static char **hook_environ(const struct hs_hook_env *env, size_t *own)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **v = calloc(n + 6, sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool ours = false;
        for (size_t j = 0; j < sizeof hook_vars / sizeof hook_vars[0]; j++)
            ours |= strncmp(environ[i], hook_vars[j], strlen(hook_vars[j])) == 0;
        if (!ours)
            v[k++] = environ[i];
    }
    *own = k;
    char status[16];
    snprintf(status, sizeof status, "%d", env->status);
    const char *vals[] = {env->dest, env->snapshot, env->source, env->report,
                          env->status >= 0 ? status : NULL};
    for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) {
        if (!vals[j])
            continue;
        if (asprintf(&v[k], "%s%s", hook_vars[j], vals[j]) < 0) {
            v[k] = NULL;
            for (size_t i = *own; i < k; i++)
                free(v[i]);
            free(v);
            return NULL;
        }
        k++;
    }
    return v;
}

static void free_environ(char **v, size_t own)
{
    if (!v)
        return;
    for (size_t i = own; v[i]; i++)
        free(v[i]);
    free(v);
}

/* In the child: its own group, stdin from /dev/null, stdout to the pipe
 * (out) or else to our stderr: our stdout may be a JSON object's alone. */
static void exec_hook(const char *command, char **envp, int out)
{
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull > 0) {
        dup2(devnull, 0);
        close(devnull);
    }
    if (dup2(out >= 0 ? out : 2, 1) < 0)
        _exit(127);
    signal(SIGPIPE, SIG_DFL);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    execve("/bin/sh", argv, envp);
    _exit(127);
}

/* Reads what is there (keeping up to HOOK_OUT_MAX): 0 at its end. */
static int drain_out(int fd, struct hs_buf *out)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : 0;
    if (n > 0 && out && out->len < HOOK_OUT_MAX) {
        size_t keep = (size_t)n < HOOK_OUT_MAX - out->len ? (size_t)n : HOOK_OUT_MAX - out->len;
        hs_buf_append(out, buf, keep);
    }
    return n > 0;
}

/* Waits for the child, reading its output, and ends its group when its
 * time is up: its wait status, and whether it was killed for time. */
static int wait_hook(pid_t pid, int fd, unsigned timeout, struct hs_buf *out, bool *timed_out)
{
    double start = hs_monotonic_seconds() * 1000.0, term_at = 0;
    int status = 0;
    bool open_fd = fd >= 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return -1;
        double t = hs_monotonic_seconds() * 1000.0;
        if (timeout && !*timed_out && t - start >= timeout * 1000.0) {
            *timed_out = true;
            term_at = t;
            kill(-pid, SIGTERM);
        } else if (*timed_out && t - term_at >= HOOK_GRACE_MS) {
            kill(-pid, SIGKILL);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (open_fd && poll(&p, 1, 50) > 0 && !drain_out(fd, out))
            open_fd = false;
        else if (!open_fd)
            poll(NULL, 0, 20);
    }
    /* what the hook wrote before it ended (not what its children still
     * write: the pipe's other ends may live on in them) */
    if (open_fd) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        while (drain_out(fd, out) > 0 && (!out || out->len < HOOK_OUT_MAX))
            ;
    }
    if (*timed_out)
        kill(-pid, SIGKILL); /* what it left behind in its group */
    return status;
}

int hs_hook_run(const char *what, const char *command, const struct hs_hook_env *env, char **out,
                struct hs_err *err)
{
    if (out)
        *out = NULL;
    size_t own = 0;
    char **envp = hook_environ(env, &own);
    int pfd[2] = {-1, -1};
    if (!envp || (out && pipe2(pfd, O_CLOEXEC) < 0)) {
        int e = envp ? errno : ENOMEM;
        free_environ(envp, own);
        return hs_err_setf(err, e, "%s hook", what);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        if (out) {
            close(pfd[0]);
            close(pfd[1]);
        }
        free_environ(envp, own);
        return hs_err_setf(err, e, "%s hook", what);
    }
    if (pid == 0)
        exec_hook(command, envp, pfd[1]);
    if (out)
        close(pfd[1]);
    free_environ(envp, own);
    /* the group exists before we might signal it */
    setpgid(pid, pid);
    struct hs_buf buf = {0};
    bool timed_out = false;
    int status = wait_hook(pid, pfd[0], env->timeout, out ? &buf : NULL, &timed_out);
    if (out)
        close(pfd[0]);
    if (out && buf.len && hs_buf_putc(&buf, '\0') == 0) {
        *out = buf.data;
        buf.data = NULL;
    }
    hs_buf_free(&buf);
    if (status < 0)
        return hs_err_setf(err, errno, "%s hook", what);
    if (timed_out)
        return hs_err_setf(err, ETIMEDOUT, "%s hook ran past its %u s (hook-timeout): ended", what,
                           env->timeout);
    if (WIFSIGNALED(status)) {
        hs_err_setf(err, 0, "%s hook killed by signal %d", what, WTERMSIG(status));
        return -EINTR;
    }
    int code = WEXITSTATUS(status);
    if (code == 127)
        hs_err_setf(err, 0, "%s hook: exit 127 (command not found?)", what);
    else if (code && code != HS_HOOK_NOT_NOW)
        hs_err_setf(err, 0, "%s hook failed: exit %d", what, code);
    return code;
}

/* A `path=DIR` line of a source's before hook: DIR (malloc'd), or NULL. */
char *hs_hook_path(const char *out)
{
    for (const char *p = out; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 5 && strncmp(p, "path=", 5) == 0)
            return strndup(p + 5, n - 5);
        p = nl ? nl + 1 : p + n;
    }
    return NULL;
}
