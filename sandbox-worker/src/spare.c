/* spare.c - the children that run calls, and the nursery that forks them.
 *
 * A spare is forked ahead of time (by the nursery, so the zygote itself
 * never forks on a call's path), confined as far as it can be without
 * knowing the call, warmed up by a rehearsal call, and then waits for the
 * one call it will ever run (sw_child_run). zygote.c hands calls over and
 * supervises; this file is everything that happens before and inside the
 * child. */
#include "zygote_int.h"
#include "util.h"
#include "zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The nursery's end of its socket to the zygote. */
#define SW_NURSERY_FD       3

/* ---- children ---- */

/* Runs the call in this (spare, already generically confined) child. */
static void
sw_child_run(sw_zygote_t *z, json_t *req)
{
    char        err[256];
    json_t     *lim = json_object_get(req, "limits");
    const char *tool = json_string_value(json_object_get(req, "tool"));
    const char *ws = json_string_value(json_object_get(req, "workspace"));
    int         writable = json_is_true(json_object_get(req,
                                                        "workspace_writable"));
    char       *args = json_dumps(json_object_get(req, "arguments"),
                                  JSON_COMPACT);
    json_t     *ctx;
    char       *ctx_s;
    PyObject   *res;
    struct timespec ts;

    ctx = json_pack("{s:s,s:s,s:O,s:O}", "data_dir", z->confine.data_dir,
                    "workspace", ws ? ws : "",
                    "output_bytes", json_object_get(lim, "output_bytes"),
                    "wall_ms", json_object_get(lim, "wall_ms"));
    ctx_s = ctx ? json_dumps(ctx, JSON_COMPACT) : NULL;
    json_decref(ctx);
    if (tool == NULL || ws == NULL || args == NULL || ctx_s == NULL) {
        dprintf(SW_CHILD_OUT_FD, "sandbox setup failed: bad call\n");
        _exit(SW_EXIT_CONFINE_FAILED);
    }
    if (sw_confine_call(&z->confine, ws, writable, err, sizeof(err)) != 0) {
        /* one of them is the output pipe, depending on how far it got */
        dprintf(2, "sandbox setup failed: %s\n", err);
        dprintf(SW_CHILD_OUT_FD, "sandbox setup failed: %s\n", err);
        _exit(SW_EXIT_CONFINE_FAILED);
    }

    res = PyObject_CallFunction(z->run_fn, "sss", tool, args, ctx_s);
    if (res == NULL) {
        PyErr_Print();
        fflush(NULL);
        _exit(1);
    }
    fflush(NULL);
    /* EOF tells the zygote the result is complete. Wait for its SIGKILL
     * rather than exit: it reads this process's figures first, and the
     * (slow) teardown of its memory then happens after the answer. Should
     * the zygote not kill it (it could not use the result early), exit
     * after a while: it then finishes the call the usual way. */
    (void) syscall(SYS_close_range, 1U, ~0U, 0U);
    ts.tv_sec = SW_CHILD_LINGER_MS / 1000;
    ts.tv_nsec = (SW_CHILD_LINGER_MS % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    _exit(0);
}

/*
 * A forked child starts with none of the interpreter's pages in its page
 * tables: the first call would spend most of its time in page faults
 * (copy-on-write of the objects it touches, mapping libpython's code).
 * A spare takes those faults while waiting, by running the tool set's
 * warm-up calls (runner.REHEARSALS) with output to /dev/null. They run no
 * user code and see no user data; the real call then starts warm.
 */
static void
sw_rehearse(sw_zygote_t *z, const sw_rehearsal_t *rh)
{
    json_t   *ctx;
    char     *ctx_s;
    PyObject *res;

    ctx = json_pack("{s:s,s:s,s:i,s:I}", "data_dir", z->confine.data_dir,
                    "workspace", "/", "output_bytes", SW_MIN_OUTPUT_BYTES,
                    "wall_ms", (json_int_t) z->base.wall_ms);
    ctx_s = ctx ? json_dumps(ctx, JSON_COMPACT) : NULL;
    json_decref(ctx);
    if (ctx_s == NULL) {
        return;                 /* only a warm-up: the call works without */
    }
    res = PyObject_CallFunction(z->run_fn, "sss", rh->tool, rh->args, ctx_s);
    if (res == NULL) {
        PyErr_Clear();
    }
    Py_XDECREF(res);
    free(ctx_s);
}

/* Is a frame there (the call, or the zygote retiring this spare)? */
static int
sw_call_waiting(void)
{
    struct pollfd pfd = { SW_CHILD_CALL_FD, POLLIN, 0 };
    int           rc;

    do {
        rc = poll(&pfd, 1, 0);
    } while (rc < 0 && errno == EINTR);
    return rc != 0;             /* an error: stop warming, read the call */
}

/* The zygote found the worker idle: the other warm-up calls, each only
 * while no call is there. */
static void
sw_warm_more(sw_zygote_t *z)
{
    int i;

    for (i = 1; i < z->nrehearsals && !sw_call_waiting(); i++) {
        sw_rehearse(z, &z->rehearsals[i]);
    }
}

/* A spare child: confine what does not depend on the call, then wait for
 * the one call this process will ever run. */
static void
sw_spare_main(sw_zygote_t *z, int out_fd, int call_fd, pid_t zygote_pid,
    int rehearse)
{
    char        err[256];
    const char *type;
    json_t     *req = NULL;

    PyOS_AfterFork_Child();

    /* Own process group, so a wall kill reaches everything it started;
     * die with the zygote. */
    if (setpgid(0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0
        || getppid() != zygote_pid)
    {
        dprintf(out_fd, "sandbox setup failed: process group or parent:"
                " %s\n", strerror(errno));
        _exit(SW_EXIT_CONFINE_FAILED);
    }
    /* On failure the reason is written to the output pipe. */
    if (sw_confine_spare(&z->confine, out_fd, call_fd, &z->base, err,
                         sizeof(err)) != 0)
    {
        _exit(SW_EXIT_CONFINE_FAILED);
    }
    if (rehearse) {
        sw_rehearse(z, &z->rehearsals[0]);
    }
    for (;;) {
        /* EOF instead of a call: the zygote retired this child. */
        if (sw_frame_read(SW_CHILD_CALL_FD, &req, SW_MAX_FRAME_BYTES) != 0) {
            _exit(0);
        }
        type = json_string_value(json_object_get(req, "type"));
        if (type == NULL || strcmp(type, "warm") != 0) {
            break;
        }
        json_decref(req);
        sw_warm_more(z);
    }
    sw_child_run(z, req);       /* never returns */
}

/*
 * Once no call has been running for SW_REHEARSAL_IDLE_MS, each spare is
 * told (a "warm" frame ahead of any call on its pipe) to run the tool
 * set's other warm-up calls. Calls back to back leave the worker no such
 * pause, so these do not compete with them.
 */
int
sw_spare_warm_idle(sw_zygote_t *z)
{
    int64_t  now;
    json_t  *warm;
    int      i;

    if (z->nrehearsals < 2) {
        return -1;
    }
    if (sw_call_in_flight(z) || z->npending > 0) {
        z->idle_since_ms = 0;
        return -1;
    }
    now = sw_now_ms();
    if (z->idle_since_ms == 0) {
        z->idle_since_ms = now;
    }
    if (now - z->idle_since_ms < SW_REHEARSAL_IDLE_MS) {
        return (int) (z->idle_since_ms + SW_REHEARSAL_IDLE_MS - now);
    }
    warm = NULL;
    for (i = 0; i < z->nspares; i++) {
        if (z->spares[i].warm_sent) {
            continue;
        }
        if (warm == NULL) {
            warm = json_pack("{s:s}", "type", "warm");
            if (warm == NULL) {
                break;          /* out of memory: it is only a warm-up */
            }
        }
        /* a spare that died is noticed by its pidfd */
        (void) sw_frame_write(z->spares[i].call_fd, warm);
        z->spares[i].warm_sent = 1;
    }
    json_decref(warm);
    return -1;
}

/* Kills and reaps a spare that will not run a call. */
void
sw_spare_discard(sw_spare_t *s)
{
    (void) kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (s->pidfd >= 0) {
        close(s->pidfd);
    }
    close(s->out_fd);
    if (s->call_fd >= 0) {
        close(s->call_fd);
    }
    memset(s, 0, sizeof(*s));
}

/* Forks one spare child into *s; one forked for a call that is already
 * waiting skips the rehearsal. */
static int
sw_spare_fork(sw_zygote_t *z, sw_spare_t *s, int rehearse)
{
    int   out[2], call[2];
    pid_t pid, self = getpid();

    if (pipe2(out, O_CLOEXEC) != 0) {
        return -1;
    }
    if (pipe2(call, O_CLOEXEC) != 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    PyOS_BeforeFork();
    pid = fork();
    if (pid == 0) {
        close(out[0]);
        close(call[1]);
        sw_spare_main(z, out[1], call[0], self, rehearse);  /* no return */
        _exit(SW_EXIT_CONFINE_FAILED);
    }
    PyOS_AfterFork_Parent();
    close(out[1]);
    close(call[0]);
    if (pid < 0) {
        close(out[0]);
        close(call[1]);
        return -1;
    }
    (void) setpgid(pid, pid);   /* also done by the child; avoids a race */
    s->pid = pid;
    s->out_fd = out[0];
    s->call_fd = call[1];
    s->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
    if (s->pidfd < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) != 0) {
        sw_spare_discard(s);
        return -1;
    }
    return 0;
}

/* ---- the nursery ----
 *
 * Forking the zygote costs about a millisecond (its page tables), and a
 * fork in the zygote would hold up every call that arrives meanwhile. So
 * spares are forked by the nursery: a copy of the zygote made once, that
 * does nothing but fork. It uses clone(CLONE_PARENT): each spare is the
 * zygote's child all the same (wait4, rusage, process group, death
 * signal), and the nursery hands the spare's pipes over with SCM_RIGHTS.
 */

/* Nursery -> zygote: the new spare (its pipes travel as SCM_RIGHTS). */
typedef struct {
    pid_t  pid;                 /* 0: could not fork */
    int    err;
} sw_nursery_msg_t;

/* In the nursery: clone one spare and send it to the zygote. */
static void
sw_nursery_fork(sw_zygote_t *z, pid_t zygote_pid)
{
    union {
        char            buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr  align;
    }                   ctl;
    sw_nursery_msg_t    msg = { 0, 0 };
    struct iovec        iov = { &msg, sizeof(msg) };
    struct msghdr       mh;
    struct cmsghdr     *cm;
    int                 out[2] = { -1, -1 }, call[2] = { -1, -1 };
    pid_t               pid = -1;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (pipe2(out, O_CLOEXEC) == 0 && pipe2(call, O_CLOEXEC) == 0) {
        PyOS_BeforeFork();
        /* Like fork(), but the child's parent is the zygote. glibc's own
         * fork handlers do not run: safe because the nursery has a single
         * thread that holds no lock here (and glibc >= 2.34 asks the
         * kernel for the TID where it matters, e.g. raise()). */
        pid = (pid_t) syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL,
                              NULL, 0);
        if (pid == 0) {
            close(SW_NURSERY_FD);
            close(out[0]);
            close(call[1]);
            sw_spare_main(z, out[1], call[0], zygote_pid, 1);
        }
        PyOS_AfterFork_Parent();
    }
    msg.err = errno;
    if (pid > 0) {
        msg.pid = pid;
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
        memcpy(CMSG_DATA(cm), (int[2]) { out[0], call[1] }, 2 * sizeof(int));
    }
    /* If this fails the zygote is gone; the spare dies with it. */
    (void) sendmsg(SW_NURSERY_FD, &mh, MSG_NOSIGNAL);
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0) {
            close(out[i]);
        }
        if (call[i] >= 0) {
            close(call[i]);
        }
    }
}

/* The nursery: one spare per byte the zygote sends; ends with it. */
static void
sw_nursery_main(sw_zygote_t *z, pid_t zygote_pid)
{
    char    req;
    ssize_t n;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != zygote_pid
        || syscall(SYS_close_range, SW_NURSERY_FD + 1, ~0U, 0U) != 0)
    {
        _exit(1);
    }
    /* Forking and warming up spares is background work (limits.h; the
     * spares inherit it, the zygote changes it when one gets its call). */
    (void) sw_sched_slice(0, SCHED_BATCH, 0);
    for (;;) {
        n = read(SW_NURSERY_FD, &req, 1);
        if (n == 1) {
            sw_nursery_fork(z, zygote_pid);
        } else if (n == 0 || errno != EINTR) {
            _exit(0);
        }
    }
}

static void
sw_nursery_start(sw_zygote_t *z)
{
    pid_t pid, self = getpid();
    int   sv[2];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        sw_log("error", "nursery_failed",
               json_pack("{s:s}", "error", strerror(errno)));
        z->nursery_after_ms = sw_now_ms() + SW_PREFORK_RETRY_MS;
        return;
    }
    PyOS_BeforeFork();
    pid = fork();
    if (pid == 0) {
        PyOS_AfterFork_Child();
        /* fd 3 was the control socket: the nursery must not have it. */
        if (dup2(sv[1], SW_NURSERY_FD) < 0) {
            _exit(1);
        }
        sw_nursery_main(z, self);       /* never returns */
    }
    PyOS_AfterFork_Parent();
    close(sv[1]);
    if (pid < 0) {
        sw_log("error", "nursery_failed",
               json_pack("{s:s}", "error", strerror(errno)));
        close(sv[0]);
        z->nursery_after_ms = sw_now_ms() + SW_PREFORK_RETRY_MS;
        return;
    }
    z->nursery_fd = sv[0];
    z->nursery_pid = pid;
    z->requested = 0;
    z->nursery_on_path = 0;
}

/* The nursery died or failed: forget it, restart it later. */
static void
sw_nursery_lost(sw_zygote_t *z)
{
    sw_log("error", "nursery_lost", json_pack("{s:i}", "pid",
                                              (int) z->nursery_pid));
    close(z->nursery_fd);
    (void) kill(z->nursery_pid, SIGKILL);
    while (waitpid(z->nursery_pid, NULL, 0) < 0 && errno == EINTR) {
    }
    z->nursery_fd = -1;
    z->nursery_pid = 0;
    z->requested = 0;
    z->nursery_after_ms = sw_now_ms() + SW_PREFORK_RETRY_MS;
}

/* Whether a call is running and not yet answered. */
int
sw_call_in_flight(sw_zygote_t *z)
{
    int i;

    for (i = 0; i < SW_ZYGOTE_SLOTS; i++) {
        if (z->children[i].pid != 0 && !z->children[i].replied) {
            return 1;
        }
    }
    return 0;
}

/*
 * Whether the refill waits: a call that found the worker idle runs, or
 * its child is not yet torn down, and another spare is there for a call
 * that comes meanwhile. The fork would take a core from that call and
 * its answer; calls back to back (or a worker out of spares) do not wait,
 * nor does a nursery to restart (the loop wakes up for that).
 */
static int
sw_refill_waits(sw_zygote_t *z)
{
    int i;

    if (z->nspares == 0 || z->npending > 0 || z->nursery_fd < 0) {
        return 0;
    }
    for (i = 0; i < SW_ZYGOTE_SLOTS; i++) {
        if (z->children[i].pid != 0 && z->children[i].after_idle) {
            return 1;
        }
    }
    return 0;
}

/* Asks the nursery for as many spares as are missing. */
void
sw_spare_request(sw_zygote_t *z)
{
    if (sw_refill_waits(z)) {
        return;
    }
    if (z->nursery_fd < 0) {
        if (z->prefork == 0 || sw_now_ms() < z->nursery_after_ms) {
            return;
        }
        sw_nursery_start(z);
        if (z->nursery_fd < 0) {
            return;
        }
    }
    while (z->nspares + z->requested < z->prefork + z->npending) {
        if (send(z->nursery_fd, "F", 1, MSG_NOSIGNAL) != 1) {
            sw_nursery_lost(z);
            return;
        }
        z->requested++;
    }
}

/* A spare from the nursery: takes it into the list. */
void
sw_spare_receive(sw_zygote_t *z)
{
    union {
        char            buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr  align;
    }                   ctl;
    sw_nursery_msg_t    msg;
    struct iovec        iov = { &msg, sizeof(msg) };
    struct msghdr       mh;
    struct cmsghdr     *cm;
    sw_spare_t          s;
    int                 fds[2];
    ssize_t             n;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    n = recvmsg(z->nursery_fd, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) {
        return;
    }
    if (n != (ssize_t) sizeof(msg)) {
        sw_nursery_lost(z);
        return;
    }
    z->requested--;
    cm = CMSG_FIRSTHDR(&mh);
    if (msg.pid <= 0 || cm == NULL || cm->cmsg_type != SCM_RIGHTS
        || cm->cmsg_len != CMSG_LEN(2 * sizeof(int)))
    {
        sw_log("error", "spare_fork_failed",
               json_pack("{s:s}", "error", strerror(msg.err)));
        z->nursery_after_ms = sw_now_ms() + SW_PREFORK_RETRY_MS;
        return;
    }
    memcpy(fds, CMSG_DATA(cm), sizeof(fds));
    memset(&s, 0, sizeof(s));
    s.pid = msg.pid;
    s.out_fd = fds[0];
    s.call_fd = fds[1];
    (void) setpgid(s.pid, s.pid);   /* also done by the child */
    s.pidfd = (int) syscall(SYS_pidfd_open, s.pid, 0);
    if (s.pidfd < 0 || fcntl(s.out_fd, F_SETFL, O_NONBLOCK) != 0
        || z->nspares >= SW_MAX_PREFORK
        || z->nspares >= z->prefork + z->npending)
    {
        sw_spare_discard(&s);
        return;
    }
    z->spares[z->nspares++] = s;
}

/* A spare exited while waiting (it failed to confine itself, or was
 * killed): log its last words, reap it, and slow down refilling. */
void
sw_spare_died(sw_zygote_t *z, int i)
{
    char    buf[512];
    ssize_t n = read(z->spares[i].out_fd, buf, sizeof(buf) - 1);

    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    sw_log("error", "spare_child_died",
           json_pack("{s:i,s:s}", "pid", (int) z->spares[i].pid,
                     "output", buf));
    sw_spare_discard(&z->spares[i]);
    z->spares[i] = z->spares[--z->nspares];
    z->nursery_after_ms = sw_now_ms() + SW_PREFORK_RETRY_MS;
}

/* Takes the oldest spare, or forks one now when there is none. */
int
sw_spare_take(sw_zygote_t *z, sw_spare_t *out)
{
    if (z->nspares > 0) {
        *out = z->spares[0];
        memmove(&z->spares[0], &z->spares[1],
                (size_t) (z->nspares - 1) * sizeof(z->spares[0]));
        z->nspares--;
        return 0;
    }
    return sw_spare_fork(z, out, 0);
}
