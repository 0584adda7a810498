/* zygote.c - embedded CPython, fork per call, supervision of children.
 *
 * The zygote is exec'd by the daemon (so it never holds the daemon's
 * memory, e.g. the identity secret) and stays single-threaded: fork() is
 * only safe here. It initialises Python once, imports and warms the tool
 * set, freezes the GC (fewer copy-on-write faults) and builds the seccomp
 * program once. Each call gets a fresh child, so nothing a call does is
 * visible to the next. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "zygote.h"
#include "confine.h"
#include "limits.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* One running tool call. */
typedef struct {
    pid_t        pid;           /* 0: free slot */
    int          pidfd;         /* readable once the child has exited */
    int          out_fd;        /* read end of stdout/stderr; -1 at EOF */
    json_int_t   id;
    int64_t      start_ms;
    int64_t      deadline_ms;
    sw_limits_t  lim;
    char        *buf;
    size_t       len;
    size_t       hard_cap;      /* output cap + trailer reserve */
    int          wall_killed;
    int          cap_killed;
} sw_child_t;

typedef struct {
    int           ctl_fd;
    sw_confine_t  confine;
    PyObject     *run_fn;       /* runner.run */
    sw_child_t    children[SW_MAX_CONCURRENCY];
    int           nchildren;
} sw_zygote_t;

/* ---- Python ---- */

static int
sw_py_init(sw_zygote_t *z, const sw_config_t *cfg)
{
    PyPreConfig  pre;
    PyConfig     config;
    PyStatus     st;
    PyObject    *path, *dir, *mod, *warm, *res;

    PyPreConfig_InitIsolatedConfig(&pre);
    pre.utf8_mode = 1;
    st = Py_PreInitialize(&pre);
    if (PyStatus_Exception(st)) {
        return -1;
    }

    /* Isolated, no site (.pth files are code), no bytecode writes, and the
     * home pinned to Debian's /usr so no other stdlib is ever picked up. */
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.write_bytecode = 0;
    config.user_site_directory = 0;
    config.install_signal_handlers = 1;     /* ignores SIGPIPE, SIGXFSZ */
    config.parse_argv = 0;
    st = PyConfig_SetString(&config, &config.home, L"/usr");
    if (!PyStatus_Exception(st)) {
        st = PyConfig_SetString(&config, &config.program_name,
                                L"/usr/bin/python3.11");
    }
    if (!PyStatus_Exception(st)) {
        st = Py_InitializeFromConfig(&config);
    }
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        sw_log("error", "python_init_failed",
               json_pack("{s:s}", "reason", st.err_msg ? st.err_msg : "?"));
        return -1;
    }

    path = PySys_GetObject("path");                  /* borrowed */
    dir = PyUnicode_DecodeFSDefault(cfg->toolset_dir);
    if (path == NULL || dir == NULL || PyList_Insert(path, 0, dir) != 0) {
        Py_XDECREF(dir);
        goto fail;
    }
    Py_DECREF(dir);

    mod = PyImport_ImportModule("runner");
    if (mod == NULL) {
        goto fail;
    }
    z->run_fn = PyObject_GetAttrString(mod, "run");
    warm = PyObject_GetAttrString(mod, "warm");
    Py_DECREF(mod);
    if (z->run_fn == NULL || warm == NULL) {
        Py_XDECREF(warm);
        goto fail;
    }
    res = PyObject_CallFunction(warm, "s", cfg->data_dir);
    Py_DECREF(warm);
    if (res == NULL) {
        goto fail;
    }
    Py_DECREF(res);

    /* Everything imported so far is shared copy-on-write with children;
     * keep the GC from touching (and so copying) those pages. */
    if (PyRun_SimpleString("import gc; gc.collect(); gc.freeze()") != 0) {
        goto fail;
    }
    return 0;

fail:
    PyErr_Print();
    sw_log("error", "toolset_import_failed",
           json_pack("{s:s}", "toolset", cfg->toolset_dir));
    return -1;
}

/* ---- child ---- */

static void
sw_child_main(sw_zygote_t *z, int out_fd, pid_t zygote_pid, json_t *req,
    const sw_limits_t *lim)
{
    char        err[256];
    const char *tool = json_string_value(json_object_get(req, "tool"));
    const char *ws = json_string_value(json_object_get(req, "workspace"));
    char       *args = json_dumps(json_object_get(req, "arguments"),
                                  JSON_COMPACT);
    json_t     *ctx;
    char       *ctx_s;
    PyObject   *res;

    PyOS_AfterFork_Child();

    /* Own process group, so a wall kill reaches everything it started;
     * die with the zygote. */
    if (setpgid(0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0
        || getppid() != zygote_pid)
    {
        _exit(SW_EXIT_CONFINE_FAILED);
    }

    ctx = json_pack("{s:s,s:s,s:I,s:I}", "data_dir", z->confine.data_dir,
                    "workspace", ws, "output_bytes",
                    (json_int_t) lim->output_bytes, "wall_ms",
                    (json_int_t) lim->wall_ms);
    ctx_s = ctx ? json_dumps(ctx, JSON_COMPACT) : NULL;
    json_decref(ctx);
    if (tool == NULL || ws == NULL || args == NULL || ctx_s == NULL) {
        _exit(SW_EXIT_CONFINE_FAILED);
    }

    if (sw_confine_child(&z->confine, out_fd, ws, lim, err, sizeof(err))
        != 0)
    {
        /* fd 2 may already be the pipe: the reason reaches the zygote. */
        dprintf(2, "sandbox setup failed: %s\n", err);
        _exit(SW_EXIT_CONFINE_FAILED);
    }

    res = PyObject_CallFunction(z->run_fn, "sss", tool, args, ctx_s);
    if (res == NULL) {
        PyErr_Print();
        fflush(NULL);
        _exit(1);
    }
    fflush(NULL);
    _exit(0);
}

/* ---- supervision ---- */

static void
sw_send_error(sw_zygote_t *z, json_int_t id, const char *message)
{
    json_t *f = json_pack("{s:s,s:I,s:s,s:b,s:s,s:s,s:i,s:i,s:i,s:i,s:i}",
                          "type", "result", "id", id, "outcome", "crashed",
                          "is_error", 1, "output", "", "message", message,
                          "wall_ms", 0, "cpu_ms", 0, "maxrss_kb", 0,
                          "exit_code", -1, "signal", 0);
    if (f != NULL) {
        (void) sw_frame_write(z->ctl_fd, f);
        json_decref(f);
    }
}

static int
sw_limits_from_json(const json_t *j, sw_limits_t *lim)
{
    json_int_t w = json_integer_value(json_object_get(j, "wall_ms"));
    json_int_t c = json_integer_value(json_object_get(j, "cpu_ms"));
    json_int_t m = json_integer_value(json_object_get(j, "memory_mb"));
    json_int_t o = json_integer_value(json_object_get(j, "output_bytes"));

    if (w < 1 || w > SW_MAX_WALL_MS || c < 1 || c > SW_MAX_CPU_MS
        || m < SW_MIN_MEMORY_MB || m > SW_MAX_MEMORY_MB
        || o < 1 || o > SW_MAX_OUTPUT_BYTES)
    {
        return -1;
    }
    lim->wall_ms = (long) w;
    lim->cpu_ms = (long) c;
    lim->memory_mb = (long) m;
    lim->output_bytes = (long) o;
    return 0;
}

static void
sw_spawn(sw_zygote_t *z, json_t *req)
{
    json_int_t  id = json_integer_value(json_object_get(req, "id"));
    sw_limits_t lim;
    sw_child_t *c = NULL;
    int         p[2], i;
    pid_t       pid, self = getpid();

    if (sw_limits_from_json(json_object_get(req, "limits"), &lim) != 0
        || !json_is_string(json_object_get(req, "tool"))
        || !json_is_string(json_object_get(req, "workspace"))
        || !json_is_object(json_object_get(req, "arguments")))
    {
        sw_send_error(z, id, "crashed: malformed call frame");
        return;
    }
    for (i = 0; i < SW_MAX_CONCURRENCY; i++) {
        if (z->children[i].pid == 0) {
            c = &z->children[i];
            break;
        }
    }
    if (c == NULL) {
        sw_send_error(z, id, "crashed: too many calls in the zygote");
        return;
    }
    if (pipe2(p, O_CLOEXEC) != 0) {
        sw_send_error(z, id, "crashed: cannot create output pipe");
        return;
    }

    PyOS_BeforeFork();
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        sw_child_main(z, p[1], self, req, &lim);   /* never returns */
        _exit(SW_EXIT_CONFINE_FAILED);
    }
    PyOS_AfterFork_Parent();
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        sw_send_error(z, id, "crashed: cannot start a sandbox process");
        return;
    }
    (void) setpgid(pid, pid);   /* also done by the child; avoids a race */

    memset(c, 0, sizeof(*c));
    c->pid = pid;
    c->id = id;
    c->lim = lim;
    c->out_fd = p[0];
    c->start_ms = sw_now_ms();
    c->deadline_ms = c->start_ms + lim.wall_ms;
    c->hard_cap = (size_t) lim.output_bytes + SW_TRAILER_RESERVE_BYTES;
    c->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
    if (c->pidfd < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) {
        /* Cannot supervise it: kill and report. */
        kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        if (c->pidfd >= 0) {
            close(c->pidfd);
        }
        close(p[0]);
        c->pid = 0;
        sw_send_error(z, id, "crashed: cannot supervise a sandbox process");
        return;
    }
    z->nchildren++;
}

static void
sw_kill_child(sw_child_t *c)
{
    (void) kill(-c->pid, SIGKILL);
    (void) kill(c->pid, SIGKILL);
}

/* Reads what is available; kills the child past the hard cap. */
static void
sw_drain(sw_child_t *c)
{
    char tmp[65536];

    while (c->out_fd >= 0) {
        ssize_t n = read(c->out_fd, tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return;             /* EAGAIN: nothing more for now */
        }
        if (n == 0) {
            close(c->out_fd);
            c->out_fd = -1;
            return;
        }
        if (c->len + (size_t) n > c->hard_cap) {
            n = (ssize_t) (c->hard_cap - c->len);
            if (!c->cap_killed) {
                c->cap_killed = 1;
                sw_kill_child(c);
            }
        }
        if (n > 0) {
            char *nb = realloc(c->buf, c->len + (size_t) n);
            if (nb == NULL) {
                c->cap_killed = 1;
                sw_kill_child(c);
                return;
            }
            c->buf = nb;
            memcpy(c->buf + c->len, tmp, (size_t) n);
            c->len += (size_t) n;
        }
    }
}

static const char *
sw_find_trailer(const char *buf, size_t len)
{
    const char *m = SW_TRAILER_MARKER, *found = NULL, *p = buf;
    size_t      mlen = strlen(m);

    while ((size_t) (p - buf) < len) {
        const char *q = memmem(p, len - (size_t) (p - buf), m, mlen);
        if (q == NULL) {
            break;
        }
        found = q;
        p = q + 1;
    }
    return found;
}

/* "30 s" when whole seconds, else "1500 ms". */
static void
sw_fmt_ms(char *out, size_t size, long ms)
{
    if (ms % 1000 == 0) {
        snprintf(out, size, "%ld s", ms / 1000);
    } else {
        snprintf(out, size, "%ld ms", ms);
    }
}

static void
sw_finish(sw_zygote_t *z, sw_child_t *c)
{
    struct rusage  ru;
    int            status = 0, is_error = 1, sig = 0, code = -1;
    const char    *outcome, *trailer;
    char           msg[256] = "", lim_s[32];
    json_t        *tj = NULL, *f;
    size_t         text_len = c->len, out_len;
    char          *text;
    long           cpu_ms, wall_ms;
    pid_t          r;

    sw_drain(c);
    memset(&ru, 0, sizeof(ru));
    do {
        r = wait4(c->pid, &status, 0, &ru);
    } while (r < 0 && errno == EINTR);
    wall_ms = (long) (sw_now_ms() - c->start_ms);
    cpu_ms = (long) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000
             + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
    text_len = c->len;

    trailer = c->buf ? sw_find_trailer(c->buf, c->len) : NULL;
    if (trailer != NULL) {
        const char *js = trailer + strlen(SW_TRAILER_MARKER);
        tj = json_loadb(js, c->len - (size_t) (js - c->buf), 0, NULL);
        if (!json_is_object(tj)) {
            json_decref(tj);
            tj = NULL;
        } else {
            text_len = (size_t) (trailer - c->buf);
            /* The runner starts its trailer on a new line: drop that. */
            if (text_len > 0 && c->buf[text_len - 1] == '\n') {
                text_len--;
            }
        }
    }
    if (WIFSIGNALED(status)) {
        sig = WTERMSIG(status);
    } else if (WIFEXITED(status)) {
        code = WEXITSTATUS(status);
    }

    if (c->wall_killed) {
        outcome = "timeout";
        sw_fmt_ms(lim_s, sizeof(lim_s), c->lim.wall_ms);
        snprintf(msg, sizeof(msg), "killed: wall-clock limit of %s exceeded",
                 lim_s);
    } else if (c->cap_killed) {
        outcome = "output_truncated";
        snprintf(msg, sizeof(msg), "killed: output limit of %ld bytes"
                 " exceeded (output truncated)", c->lim.output_bytes);
        if (text_len > (size_t) c->lim.output_bytes) {
            text_len = (size_t) c->lim.output_bytes;
        }
    } else if (sig == SIGXCPU
               || (sig == SIGKILL
                   && cpu_ms >= (c->lim.cpu_ms + 999) / 1000 * 1000))
    {
        outcome = "cpu_limit";
        sw_fmt_ms(lim_s, sizeof(lim_s), (c->lim.cpu_ms + 999) / 1000 * 1000);
        snprintf(msg, sizeof(msg), "killed: CPU-time limit of %s exceeded",
                 lim_s);
    } else if (sig != 0) {
        outcome = "crashed";
        snprintf(msg, sizeof(msg), "crashed: killed by signal %d (%s)", sig,
                 strsignal(sig));
    } else if (tj != NULL) {
        const char *s = json_string_value(json_object_get(tj, "status"));
        int         trunc = json_is_true(json_object_get(tj, "truncated"));
        if (s != NULL && strcmp(s, "ok") == 0) {
            outcome = trunc ? "output_truncated" : "ok";
            is_error = 0;
            if (trunc) {
                snprintf(msg, sizeof(msg), "[output truncated at %ld bytes]",
                         c->lim.output_bytes);
            }
        } else if (s != NULL && strcmp(s, "memory_limit") == 0) {
            outcome = "memory_limit";
            snprintf(msg, sizeof(msg), "killed: memory limit of %ld MiB"
                     " exceeded", c->lim.memory_mb);
        } else {
            outcome = "error";
        }
    } else if (code == SW_EXIT_CONFINE_FAILED) {
        outcome = "crashed";
        snprintf(msg, sizeof(msg), "crashed: the sandbox could not be set up");
    } else {
        outcome = "crashed";
        snprintf(msg, sizeof(msg), "crashed: exited with status %d without"
                 " a result", code);
    }

    text = sw_utf8_sanitize(c->buf ? c->buf : "", text_len, &out_len);
    f = json_pack("{s:s,s:I,s:s,s:b,s:s%,s:I,s:I,s:I,s:i,s:i}",
                  "type", "result", "id", c->id, "outcome", outcome,
                  "is_error", is_error, "output", text ? text : "",
                  text ? out_len : (size_t) 0,
                  "wall_ms", (json_int_t) wall_ms,
                  "cpu_ms", (json_int_t) cpu_ms,
                  "maxrss_kb", (json_int_t) ru.ru_maxrss,
                  "exit_code", code, "signal", sig);
    free(text);
    if (f != NULL) {
        if (msg[0] != '\0') {
            json_object_set_new(f, "message", json_string(msg));
        }
        if (tj != NULL && !c->wall_killed && !c->cap_killed && sig == 0) {
            json_t *res = json_object_get(tj, "result");
            json_t *err = json_object_get(tj, "error");
            if (res != NULL) {
                json_object_set(f, "result", res);
            }
            if (json_is_string(err)) {
                json_object_set(f, "error", err);
            }
        }
        if (sw_frame_write(z->ctl_fd, f) != 0) {
            sw_log("error", "result_write_failed", NULL);
        }
        json_decref(f);
    }
    json_decref(tj);

    if (c->out_fd >= 0) {
        close(c->out_fd);
    }
    close(c->pidfd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    z->nchildren--;
}

static void
sw_kill_all(sw_zygote_t *z)
{
    int i;

    for (i = 0; i < SW_MAX_CONCURRENCY; i++) {
        if (z->children[i].pid != 0) {
            sw_kill_child(&z->children[i]);
        }
    }
}

static int
sw_loop(sw_zygote_t *z)
{
    struct pollfd  pfd[1 + 2 * SW_MAX_CONCURRENCY];
    sw_child_t    *owner[1 + 2 * SW_MAX_CONCURRENCY];
    int            n, i, rc, timeout;
    int64_t        now, next;

    for (;;) {
        n = 0;
        pfd[n].fd = z->ctl_fd;
        pfd[n].events = POLLIN;
        owner[n++] = NULL;
        now = sw_now_ms();
        next = -1;
        for (i = 0; i < SW_MAX_CONCURRENCY; i++) {
            sw_child_t *c = &z->children[i];
            if (c->pid == 0) {
                continue;
            }
            if (!c->wall_killed && now >= c->deadline_ms) {
                c->wall_killed = 1;
                sw_kill_child(c);
            }
            if (!c->wall_killed && (next < 0 || c->deadline_ms < next)) {
                next = c->deadline_ms;
            }
            if (c->out_fd >= 0) {
                pfd[n].fd = c->out_fd;
                pfd[n].events = POLLIN;
                owner[n++] = c;
            }
            pfd[n].fd = c->pidfd;
            pfd[n].events = POLLIN;
            owner[n++] = c;
        }
        timeout = next < 0 ? -1 : (int) (next - now);

        rc = poll(pfd, (nfds_t) n, timeout);
        if (rc < 0) {
            if (errno == EINTR) {
                continue;
            }
            sw_log("error", "poll_failed",
                   json_pack("{s:s}", "error", strerror(errno)));
            return 1;
        }
        /* Output first, then exits, so a child's last bytes are kept. */
        for (i = 1; i < n; i++) {
            sw_child_t *c = owner[i];
            if (c->pid != 0 && pfd[i].fd == c->out_fd && pfd[i].revents) {
                sw_drain(c);
            }
        }
        for (i = 1; i < n; i++) {
            sw_child_t *c = owner[i];
            if (c->pid != 0 && pfd[i].fd == c->pidfd && pfd[i].revents) {
                sw_finish(z, c);
            }
        }
        if (pfd[0].revents) {
            json_t *req = NULL;
            rc = sw_frame_read(z->ctl_fd, &req, SW_MAX_FRAME_BYTES);
            if (rc != 0) {
                /* Daemon gone or speaking nonsense: take everyone down. */
                sw_kill_all(z);
                return rc == 1 ? 0 : 1;
            }
            sw_spawn(z, req);
            json_decref(req);
        }
    }
}

int
sw_zygote_main(const sw_config_t *cfg)
{
    sw_zygote_t *z;
    sigset_t     none;
    char         err[256];
    json_t      *hello;
    int          rc;

    sw_log_set_component("zygote");
    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);

    /* Die with the daemon; keep our memory away from same-UID processes. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0
        || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    {
        sw_log("error", "prctl_failed", NULL);
        return 1;
    }
    if (clearenv() != 0 || setenv("PATH", "/usr/bin:/bin", 1) != 0
        || setenv("LANG", "C.UTF-8", 1) != 0)
    {
        return 1;
    }

    z = calloc(1, sizeof(*z));
    if (z == NULL) {
        return 1;
    }
    z->ctl_fd = cfg->zygote_fd;
    z->confine.toolset_dir = cfg->toolset_dir;
    z->confine.data_dir = cfg->data_dir;
    if (sw_confine_init(&z->confine, err, sizeof(err)) != 0) {
        sw_log("error", "seccomp_build_failed",
               json_pack("{s:s}", "reason", err));
        return 1;
    }
    if (z->confine.landlock_abi == 0 && !cfg->allow_no_landlock) {
        sw_log("error", "landlock_unavailable", NULL);
        return 1;
    }
    if (sw_py_init(z, cfg) != 0) {
        return 1;
    }

    hello = json_pack("{s:s,s:i,s:s,s:i}", "type", "hello", "landlock_abi",
                      z->confine.landlock_abi, "python", Py_GetVersion(),
                      "bpf_instructions", (int) z->confine.bpf.len);
    if (hello == NULL || sw_frame_write(z->ctl_fd, hello) != 0) {
        json_decref(hello);
        return 1;
    }
    json_decref(hello);

    rc = sw_loop(z);
    sw_kill_all(z);
    return rc;
}
