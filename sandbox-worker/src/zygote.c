/* zygote.c - embedded CPython, a child per call, supervision of children.
 *
 * The zygote is exec'd by the daemon (so it never holds the daemon's
 * memory, e.g. the identity secret) and stays single-threaded: fork() is
 * only safe here. It initialises Python once, imports and warms the tool
 * set, freezes the GC (fewer copy-on-write faults) and builds the seccomp
 * programs once.
 *
 * Each call gets a fresh child that runs that call only, so nothing a call
 * does is visible to the next. To keep fork (the page-table copy), the
 * seccomp JIT and the first page faults off the call's path, the zygote
 * keeps a few "spare" children forked ahead of time, confined as far as
 * possible without knowing the call (confine.h) and warmed up by the tool
 * set's warm-up calls (runner.REHEARSALS: the first at once, the others
 * while the worker is idle); a call goes to the oldest spare. Spares are
 * forked by the nursery (spare.c), so the zygote itself never forks on a
 * call's path.
 * After its result the child closes its output and waits to be killed:
 * the zygote answers first, and the teardown of the child's memory is no
 * longer on the call's path either. */
#include "zygote_int.h"
#include "util.h"
#include "zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- Python ---- */

/* The warm-up call spares make when the tool set names none. */
#define SW_DEFAULT_REHEARSAL_TOOL  "execute_code"
#define SW_DEFAULT_REHEARSAL_ARGS  "{\"code\": \"print(1)\"}"

/* Copies runner.REHEARSALS (optional): a sequence of (tool, arguments
 * JSON) pairs, at most SW_MAX_REHEARSALS. A malformed one stops the start,
 * with a sentence in the log. */
static int
sw_py_rehearsals(sw_zygote_t *z, PyObject *mod)
{
    PyObject   *attr, *seq, *item;
    const char *tool, *args;
    Py_ssize_t  i, n;
    json_t     *parsed;

    if (!PyObject_HasAttrString(mod, "REHEARSALS")) {
        z->rehearsals[0].tool = strdup(SW_DEFAULT_REHEARSAL_TOOL);
        z->rehearsals[0].args = strdup(SW_DEFAULT_REHEARSAL_ARGS);
        z->nrehearsals = 1;
        return z->rehearsals[0].tool && z->rehearsals[0].args ? 0 : -1;
    }
    attr = PyObject_GetAttrString(mod, "REHEARSALS");
    if (attr == NULL) {
        return -1;
    }
    seq = PySequence_Fast(attr, "runner.REHEARSALS must be a sequence");
    Py_DECREF(attr);
    if (seq == NULL) {
        return -1;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > SW_MAX_REHEARSALS) {
        PyErr_Format(PyExc_ValueError, "runner.REHEARSALS must hold 1 to %d"
                     " (tool, arguments JSON) pairs, not %zd",
                     SW_MAX_REHEARSALS, n);
        Py_DECREF(seq);
        return -1;
    }
    for (i = 0; i < n; i++) {
        item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2
            || (tool = PyUnicode_AsUTF8(PyTuple_GET_ITEM(item, 0))) == NULL
            || (args = PyUnicode_AsUTF8(PyTuple_GET_ITEM(item, 1))) == NULL)
        {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "runner.REHEARSALS[%zd] must be a"
                         " (tool, arguments JSON) pair of strings", i);
            Py_DECREF(seq);
            return -1;
        }
        parsed = json_loads(args, 0, NULL);
        if (!json_is_object(parsed)) {
            json_decref(parsed);
            PyErr_Format(PyExc_ValueError, "runner.REHEARSALS[%zd]: the"
                         " arguments are not a JSON object", i);
            Py_DECREF(seq);
            return -1;
        }
        json_decref(parsed);
        z->rehearsals[i].tool = strdup(tool);
        z->rehearsals[i].args = strdup(args);
        if (z->rehearsals[i].tool == NULL || z->rehearsals[i].args == NULL) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
        z->nrehearsals = (int) i + 1;
    }
    Py_DECREF(seq);
    return 0;
}

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
    if (z->run_fn == NULL || warm == NULL || sw_py_rehearsals(z, mod) != 0) {
        Py_DECREF(mod);
        Py_XDECREF(warm);
        goto fail;
    }
    Py_DECREF(mod);
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
    /* free heap pages back to the kernel: fewer pages for each fork to
     * map and each exit to unmap */
    (void) malloc_trim(0);
    return 0;

fail:
    PyErr_Print();
    sw_log("error", "toolset_import_failed",
           json_pack("{s:s}", "toolset", cfg->toolset_dir));
    return -1;
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

/* Validates a call frame; fills lim and the file-size limit. */
static int
sw_call_check(json_t *req, sw_limits_t *lim, long *fsize)
{
    json_t     *jl = json_object_get(req, "limits");
    json_int_t  fs = json_integer_value(json_object_get(jl, "fsize_bytes"));

    if (sw_limits_from_json(jl, lim) != 0
        || !json_is_integer(json_object_get(jl, "fsize_bytes"))
        || fs < 0 || fs > SW_CHILD_FSIZE_BYTES
        || !json_is_string(json_object_get(req, "tool"))
        || !json_is_string(json_object_get(req, "workspace"))
        || !json_is_boolean(json_object_get(req, "workspace_writable"))
        || !json_is_object(json_object_get(req, "arguments")))
    {
        return -1;
    }
    *fsize = (long) fs;
    return 0;
}

/* Hands the call to a waiting child: its limits lowered from outside,
 * then the frame on its call pipe. */
static int
sw_hand_over(sw_zygote_t *z, json_t *req, const sw_limits_t *lim, long fsize,
    sw_spare_t *s)
{
    int rc;

    if (sw_spare_take(z, s) != 0) {
        return -1;
    }
    rc = sw_confine_lower_limits(s->pid, lim, fsize);
    if (rc == 0) {
        /* from the nursery's background scheduling to a call's */
        (void) sw_sched_slice(s->pid, SCHED_OTHER, SW_SLICE_CALL_US);
        rc = sw_frame_write(s->call_fd, req);
    }
    if (rc != 0) {
        sw_spare_discard(s);
        return -1;
    }
    close(s->call_fd);
    s->call_fd = -1;
    return 0;
}

/* CPU time (ms) a live process has used; -1 if it cannot be read. */
static long
sw_cpu_used_ms(pid_t pid)
{
    struct timespec ts;
    clockid_t       clk;

    if (clock_getcpuclockid(pid, &clk) != 0 || clock_gettime(clk, &ts) != 0) {
        return -1;
    }
    return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts the call in a spare (or, with none, a child forked now). */
static void
sw_start_call(sw_zygote_t *z, json_t *req)
{
    json_int_t  id = json_integer_value(json_object_get(req, "id"));
    sw_limits_t lim;
    sw_spare_t  s;
    sw_child_t *c = NULL;
    long        fsize;
    int         i, rc, idle;

    if (sw_call_check(req, &lim, &fsize) != 0) {
        sw_send_error(z, id, "crashed: malformed call frame");
        return;
    }
    for (i = 0; i < SW_ZYGOTE_SLOTS; i++) {
        if (z->children[i].pid == 0) {
            c = &z->children[i];
            break;
        }
    }
    if (c == NULL) {
        sw_send_error(z, id, "crashed: too many calls in the zygote");
        return;
    }
    idle = !sw_call_in_flight(z)
           && sw_now_ms() - z->answered_ms >= SW_REHEARSAL_IDLE_MS;
    /* A spare may have died unnoticed: one more try with a fresh child. */
    rc = sw_hand_over(z, req, &lim, fsize, &s);
    if (rc != 0) {
        rc = sw_hand_over(z, req, &lim, fsize, &s);
    }
    if (rc != 0) {
        sw_send_error(z, id, "crashed: cannot start a sandbox process");
        return;
    }

    memset(c, 0, sizeof(*c));
    c->pid = s.pid;
    c->pidfd = s.pidfd;
    c->out_fd = s.out_fd;
    c->id = id;
    c->lim = lim;
    c->start_ms = sw_now_ms();
    c->after_idle = idle;
    c->deadline_ms = c->start_ms + lim.wall_ms;
    /* the warm-up is not the call's: its figures start here */
    c->cpu_base_ms = sw_cpu_used_ms(s.pid);
    if (c->cpu_base_ms < 0) {
        c->cpu_base_ms = 0;
    }
    c->hard_cap = (size_t) lim.output_bytes + SW_TRAILER_RESERVE_BYTES;
    z->nchildren++;
}

/* A call with no spare left waits for the one the nursery is making:
 * forking here would hold up the zygote (and every other call). Only
 * without a nursery does the zygote fork for the call itself. */
static void
sw_dispatch(sw_zygote_t *z, json_t *req)
{
    if (z->nspares > 0 || z->nursery_fd < 0
        || z->nchildren + z->npending >= SW_ZYGOTE_SLOTS)
    {
        sw_start_call(z, req);
        return;
    }
    z->pending[z->npending++] = json_incref(req);
    sw_spare_request(z);
}

/* Starts waiting calls while there are spares (or no nursery). */
static void
sw_start_pending(sw_zygote_t *z)
{
    json_t *req;

    while (z->npending > 0 && (z->nspares > 0 || z->nursery_fd < 0)) {
        req = z->pending[0];
        memmove(&z->pending[0], &z->pending[1],
                (size_t) (z->npending - 1) * sizeof(z->pending[0]));
        z->npending--;
        sw_start_call(z, req);
        json_decref(req);
    }
}

/* While calls wait for a spare, the nursery is on their path. */
static void
sw_nursery_sched(sw_zygote_t *z)
{
    int on_path = z->npending > 0;

    if (z->nursery_fd < 0 || on_path == z->nursery_on_path) {
        return;
    }
    (void) sw_sched_slice(z->nursery_pid, on_path ? SCHED_OTHER : SCHED_BATCH,
                          on_path ? SW_SLICE_CALL_US : 0);
    z->nursery_on_path = on_path;
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

/* How the child ended, and what it used. */
typedef struct {
    int   sig;                  /* terminating signal, 0 if none */
    int   code;                 /* exit status, -1 if killed */
    long  cpu_ms;
    long  rss_kb;
} sw_end_t;

/* Outcome, is_error and the sentence for a finished child. */
static const char *
sw_outcome(sw_child_t *c, const sw_end_t *e, json_t *tj, int *is_error,
    char *msg, size_t msg_size)
{
    char lim_s[32];
    long cpu_s = (c->lim.cpu_ms + 999) / 1000;

    *is_error = 1;
    if (c->wall_killed) {
        sw_fmt_ms(lim_s, sizeof(lim_s), c->lim.wall_ms);
        snprintf(msg, msg_size, "killed: wall-clock limit of %s exceeded",
                 lim_s);
        return "timeout";
    }
    if (c->cap_killed) {
        snprintf(msg, msg_size, "killed: output limit of %ld bytes"
                 " exceeded (output truncated)", c->lim.output_bytes);
        return "output_truncated";
    }
    if (e->sig == SIGXCPU || (e->sig == SIGKILL && e->cpu_ms >= cpu_s * 1000)) {
        snprintf(msg, msg_size, "killed: CPU-time limit of %ld s exceeded",
                 cpu_s);
        return "cpu_limit";
    }
    if (e->sig != 0) {
        snprintf(msg, msg_size, "crashed: killed by signal %d (%s)", e->sig,
                 strsignal(e->sig));
        return "crashed";
    }
    if (tj != NULL) {
        const char *st = json_string_value(json_object_get(tj, "status"));
        if (st != NULL && strcmp(st, "ok") == 0) {
            *is_error = 0;
            if (json_is_true(json_object_get(tj, "truncated"))) {
                snprintf(msg, msg_size, "[output truncated at %ld bytes]",
                         c->lim.output_bytes);
                return "output_truncated";
            }
            return "ok";
        }
        if (st != NULL && strcmp(st, "memory_limit") == 0) {
            snprintf(msg, msg_size, "killed: memory limit of %ld MiB"
                     " exceeded", c->lim.memory_mb);
            return "memory_limit";
        }
        return "error";
    }
    if (e->code == SW_EXIT_CONFINE_FAILED) {
        snprintf(msg, msg_size, "crashed: the sandbox could not be set up");
    } else {
        snprintf(msg, msg_size, "crashed: exited with status %d without"
                 " a result", e->code);
    }
    return "crashed";
}

/* The runner's result trailer, parsed; *text_len is cut before it. */
static json_t *
sw_trailer(sw_child_t *c, size_t *text_len)
{
    const char *trailer, *js;
    json_t     *tj;

    *text_len = c->len;
    trailer = c->buf ? sw_find_trailer(c->buf, c->len) : NULL;
    if (trailer == NULL) {
        return NULL;
    }
    js = trailer + strlen(SW_TRAILER_MARKER);
    tj = json_loadb(js, c->len - (size_t) (js - c->buf), 0, NULL);
    if (!json_is_object(tj)) {
        json_decref(tj);
        return NULL;
    }
    *text_len = (size_t) (trailer - c->buf);
    /* The runner starts its trailer on a new line: drop that. */
    if (*text_len > 0 && c->buf[*text_len - 1] == '\n') {
        (*text_len)--;
    }
    return tj;
}

/* Sends the result frame of child c to the daemon. */
static void
sw_reply(sw_zygote_t *z, sw_child_t *c, const sw_end_t *e, json_t *tj,
    size_t text_len)
{
    const char *outcome;
    char        msg[256] = "", *text;
    size_t      out_len;
    int         is_error;
    json_t     *f;

    outcome = sw_outcome(c, e, tj, &is_error, msg, sizeof(msg));
    if (c->cap_killed && text_len > (size_t) c->lim.output_bytes) {
        text_len = (size_t) c->lim.output_bytes;
    }
    text = sw_utf8_sanitize(c->buf ? c->buf : "", text_len, &out_len);
    f = json_pack("{s:s,s:I,s:s,s:b,s:s%,s:I,s:I,s:I,s:i,s:i}",
                  "type", "result", "id", c->id, "outcome", outcome,
                  "is_error", is_error, "output", text ? text : "",
                  text ? out_len : (size_t) 0,
                  "wall_ms", (json_int_t) (sw_now_ms() - c->start_ms),
                  "cpu_ms", (json_int_t) e->cpu_ms,
                  "maxrss_kb", (json_int_t) e->rss_kb,
                  "exit_code", e->code, "signal", e->sig);
    free(text);
    c->replied = 1;
    z->answered_ms = sw_now_ms();
    if (f == NULL) {
        sw_send_error(z, c->id, "crashed: out of memory in the zygote");
        return;
    }
    if (msg[0] != '\0') {
        json_object_set_new(f, "message", json_string(msg));
    }
    if (tj != NULL && !c->wall_killed && !c->cap_killed && e->sig == 0) {
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

/* The call's share of a child's total CPU time (ms). */
static long
sw_call_cpu_ms(const sw_child_t *c, long total_ms)
{
    return total_ms > c->cpu_base_ms ? total_ms - c->cpu_base_ms : 0;
}

/* Peak RSS (KiB) of a live process, from /proc; -1 once its memory is
 * gone (exiting). */
static long
sw_peak_rss_kb(pid_t pid)
{
    char    path[64], buf[2048], *p;
    ssize_t n;
    int     fd;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    p = strstr(buf, "\nVmHWM:");
    return p ? strtol(p + 7, NULL, 10) : -1;
}

/*
 * The child closed its output and its result is complete: the call is
 * over. Take its figures from outside (CPU clock, /proc), kill it and
 * answer now; tearing down its memory is then off the call's path. The
 * child is reaped later (sw_finish). Returns -1 if the figures cannot be
 * had (the child is already exiting): sw_finish then does it all.
 */
static int
sw_finish_early(sw_zygote_t *z, sw_child_t *c)
{
    sw_end_t        e = { 0, 0, 0, 0 };
    json_t         *tj;
    size_t          text_len;
    long            cpu_ms;

    tj = sw_trailer(c, &text_len);
    if (tj == NULL) {
        return -1;
    }
    if ((cpu_ms = sw_cpu_used_ms(c->pid)) < 0
        || (e.rss_kb = sw_peak_rss_kb(c->pid)) < 0)
    {
        json_decref(tj);
        return -1;
    }
    e.cpu_ms = sw_call_cpu_ms(c, cpu_ms);
    /* It only waits to be killed now; its teardown is background work. */
    (void) sw_sched_slice(c->pid, SCHED_BATCH, 0);
    if (c->after_idle) {
        c->kill_at_ms = sw_now_ms() + SW_ANSWERED_KILL_DELAY_MS;
    } else {
        sw_kill_child(c);
    }
    sw_reply(z, c, &e, tj, text_len);
    json_decref(tj);
    return 0;
}

/*
 * Kills the answered children still waiting for their kill: a call has
 * come in this soon after them, and their teardown is better done now
 * than in the middle of that call.
 */
static void
sw_kill_answered(sw_zygote_t *z)
{
    int i;

    for (i = 0; i < SW_ZYGOTE_SLOTS; i++) {
        if (z->children[i].pid != 0 && z->children[i].kill_at_ms > 0) {
            z->children[i].kill_at_ms = 0;
            sw_kill_child(&z->children[i]);
        }
    }
}

/* The child has exited: reap it, answer unless already done, free the
 * slot. */
static void
sw_finish(sw_zygote_t *z, sw_child_t *c)
{
    struct rusage  ru;
    int            status = 0;
    sw_end_t       e = { 0, -1, 0, 0 };
    json_t        *tj;
    size_t         text_len;
    pid_t          r;

    sw_drain(c);
    memset(&ru, 0, sizeof(ru));
    do {
        r = wait4(c->pid, &status, 0, &ru);
    } while (r < 0 && errno == EINTR);

    if (!c->replied) {
        e.cpu_ms = sw_call_cpu_ms(c, (long) (ru.ru_utime.tv_sec
                                             + ru.ru_stime.tv_sec) * 1000
                                      + (ru.ru_utime.tv_usec
                                         + ru.ru_stime.tv_usec) / 1000);
        e.rss_kb = ru.ru_maxrss;
        if (WIFSIGNALED(status)) {
            e.sig = WTERMSIG(status);
        } else if (WIFEXITED(status)) {
            e.code = WEXITSTATUS(status);
        }
        tj = sw_trailer(c, &text_len);
        sw_reply(z, c, &e, tj, text_len);
        json_decref(tj);
    }

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

    for (i = 0; i < SW_ZYGOTE_SLOTS; i++) {
        if (z->children[i].pid != 0) {
            sw_kill_child(&z->children[i]);
        }
    }
    while (z->nspares > 0) {
        sw_spare_discard(&z->spares[--z->nspares]);
    }
    if (z->nursery_pid > 0) {
        (void) kill(z->nursery_pid, SIGKILL);
    }
    while (z->npending > 0) {
        json_decref(z->pending[--z->npending]);
    }
}

#define SW_POLL_MAX  (2 + 2 * SW_ZYGOTE_SLOTS + SW_MAX_PREFORK)

/* Fills pfd with what the loop waits for; kills children past their
 * deadline; returns the poll timeout (ms, -1 for none). */
static int
sw_poll_set(sw_zygote_t *z, struct pollfd *pfd, sw_child_t **owner, int *np)
{
    int64_t now = sw_now_ms(), next = -1;
    int     n = 0, i, timeout;

    pfd[n].fd = z->ctl_fd;
    pfd[n].events = POLLIN;
    owner[n++] = NULL;
    for (i = 0; i < SW_ZYGOTE_SLOTS; i++) {
        sw_child_t *c = &z->children[i];
        if (c->pid == 0) {
            continue;
        }
        if (!c->wall_killed && !c->replied && now >= c->deadline_ms) {
            c->wall_killed = 1;
            sw_kill_child(c);
        }
        if (c->kill_at_ms > 0 && now >= c->kill_at_ms) {
            c->kill_at_ms = 0;
            sw_kill_child(c);
        }
        if (c->kill_at_ms > 0 && (next < 0 || c->kill_at_ms < next)) {
            next = c->kill_at_ms;
        }
        if (!c->wall_killed && !c->replied
            && (next < 0 || c->deadline_ms < next))
        {
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
    /* A spare's pidfd is readable only if it died while waiting. */
    for (i = 0; i < z->nspares; i++) {
        pfd[n].fd = z->spares[i].pidfd;
        pfd[n].events = POLLIN;
        owner[n++] = NULL;
    }
    if (z->nursery_fd >= 0) {
        pfd[n].fd = z->nursery_fd;
        pfd[n].events = POLLIN;
        owner[n++] = NULL;
    }
    *np = n;
    timeout = next < 0 ? -1 : (int) (next - now);
    if (z->nursery_fd < 0 && z->nspares < z->prefork) {
        /* Wake up to restart the nursery. */
        int64_t wait = z->nursery_after_ms - now;
        wait = wait < 0 ? 0 : wait;
        if (timeout < 0 || wait < timeout) {
            timeout = (int) wait;
        }
    }
    return timeout;
}

/* Spares that died waiting, and spares arriving from the nursery. */
static void
sw_spare_events(sw_zygote_t *z, struct pollfd *pfd, int n)
{
    int i, j, nursery_fd = z->nursery_fd;

    for (i = 1; i < n; i++) {
        if (pfd[i].revents == 0) {
            continue;
        }
        if (pfd[i].fd == nursery_fd && nursery_fd >= 0) {
            sw_spare_receive(z);
            continue;
        }
        for (j = 0; j < z->nspares; j++) {
            if (z->spares[j].pidfd == pfd[i].fd) {
                sw_spare_died(z, j);
                break;
            }
        }
    }
}

static int
sw_loop(sw_zygote_t *z)
{
    struct pollfd  pfd[SW_POLL_MAX];
    sw_child_t    *owner[SW_POLL_MAX];
    int            n, i, rc, timeout, warm_in;

    for (;;) {
        sw_spare_request(z);
        sw_start_pending(z);
        sw_nursery_sched(z);
        timeout = sw_poll_set(z, pfd, owner, &n);
        warm_in = sw_spare_warm_idle(z);
        if (warm_in >= 0 && (timeout < 0 || warm_in < timeout)) {
            timeout = warm_in;
        }
        rc = poll(pfd, (nfds_t) n, timeout);
        if (rc < 0) {
            if (errno == EINTR) {
                continue;
            }
            sw_log("error", "poll_failed",
                   json_pack("{s:s}", "error", strerror(errno)));
            return 1;
        }
        if (rc == 0) {
            continue;
        }
        /* Output first, then exits, so a child's last bytes are kept. */
        for (i = 1; i < n; i++) {
            sw_child_t *c = owner[i];
            if (c != NULL && c->pid != 0 && pfd[i].fd == c->out_fd
                && pfd[i].revents)
            {
                sw_drain(c);
                if (c->out_fd < 0 && !c->wall_killed && !c->cap_killed) {
                    (void) sw_finish_early(z, c);
                }
            }
        }
        for (i = 1; i < n; i++) {
            sw_child_t *c = owner[i];
            if (c != NULL && c->pid != 0 && pfd[i].fd == c->pidfd
                && pfd[i].revents)
            {
                sw_finish(z, c);
            }
        }
        sw_spare_events(z, pfd, n);
        if (pfd[0].revents) {
            json_t *req = NULL;
            sw_kill_answered(z);
            rc = sw_frame_read(z->ctl_fd, &req, SW_MAX_FRAME_BYTES);
            if (rc != 0) {
                /* Daemon gone or speaking nonsense: take everyone down. */
                sw_kill_all(z);
                return rc == 1 ? 0 : 1;
            }
            sw_dispatch(z, req);
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

    /* No fastbins: consolidating them in a child would write to (and so
     * copy) heap pages all over the zygote's heap. */
    if (mallopt(M_MXFAST, 0) != 1) {
        sw_log("error", "mallopt_failed", NULL);
        return 1;
    }

    z = calloc(1, sizeof(*z));
    if (z == NULL) {
        return 1;
    }
    z->ctl_fd = cfg->zygote_fd;
    z->base = cfg->limits;
    z->prefork = (int) cfg->prefork;
    z->nursery_fd = -1;
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

    hello = json_pack("{s:s,s:i,s:s,s:i,s:i}", "type", "hello",
                      "landlock_abi", z->confine.landlock_abi,
                      "python", Py_GetVersion(),
                      "bpf_instructions", (int) z->confine.bpf.len,
                      "prefork", z->prefork);
    if (hello == NULL || sw_frame_write(z->ctl_fd, hello) != 0) {
        json_decref(hello);
        return 1;
    }
    json_decref(hello);

    rc = sw_loop(z);
    sw_kill_all(z);
    return rc;
}
