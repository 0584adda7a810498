/* pool.c - the daemon's client of the zygote.
 *
 * MHD threads send call frames under write_lock and sleep on their own
 * condition variable; one reader thread reads result frames and wakes the
 * matching caller. When the zygote dies, every pending call is failed and
 * a new zygote is exec'd (fork+exec only, so it is safe from a threaded
 * process). */
#include "pool.h"
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
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Seconds the zygote may take to initialise Python and the tool set. */
#define SW_ZYGOTE_START_TIMEOUT_MS  30000
#define SW_ZYGOTE_FD                3

const char *const sw_outcome_names[SW_OUT_N] = {
    "ok", "error", "timeout", "cpu_limit", "memory_limit",
    "output_truncated", "crashed", "busy"
};

/* A decimal string, allocated (for argv, kept for the process's life). */
static char *
sw_ltoa(long v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%ld", v);
    return strdup(buf);
}

struct sw_call_s {
    json_int_t      id;
    pthread_cond_t  cond;
    int             done;
    json_t         *result;
    sw_call_t      *next;
};

sw_outcome_t
sw_outcome_from_name(const char *name)
{
    int i;

    for (i = 0; name != NULL && i < SW_OUT_N; i++) {
        if (strcmp(name, sw_outcome_names[i]) == 0) {
            return (sw_outcome_t) i;
        }
    }
    return SW_OUT_CRASHED;
}

/* Builds the argv that re-executes this binary as the zygote. */
static char **
sw_zygote_argv(const sw_config_t *cfg)
{
    char **argv = calloc(16, sizeof(char *));
    int    i = 0;

    if (argv == NULL) {
        return NULL;
    }
    argv[i++] = "mcp-sandbox-worker-zygote";
    argv[i++] = "--zygote-fd";
    argv[i++] = "3";
    argv[i++] = "--toolset";
    argv[i++] = (char *) cfg->toolset_dir;
    argv[i++] = "--data-dir";
    argv[i++] = (char *) cfg->data_dir;
    /* the limits its waiting children start with */
    argv[i++] = "--memory-mb";
    argv[i++] = sw_ltoa(cfg->limits.memory_mb);
    argv[i++] = "--cpu-ms";
    argv[i++] = sw_ltoa(cfg->limits.cpu_ms);
    argv[i++] = "--prefork";
    argv[i++] = sw_ltoa(cfg->prefork);
    if (cfg->allow_no_landlock) {
        argv[i++] = "--allow-no-landlock";
    }
    argv[i] = NULL;
    if (argv[8] == NULL || argv[10] == NULL || argv[12] == NULL) {
        return NULL;            /* start-up only: nothing to free */
    }
    return argv;
}

/* fork + exec; between them only async-signal-safe calls. */
static int
sw_zygote_spawn(sw_pool_t *pool)
{
    sigset_t none;
    int      sv[2];
    pid_t    pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        return -1;
    }
    sigemptyset(&none);
    pid = fork();
    if (pid == 0) {
        if (dup2(sv[1], SW_ZYGOTE_FD) < 0) {
            _exit(127);
        }
        /* Only stdio and the socket survive into the zygote. */
        if (syscall(SYS_close_range, SW_ZYGOTE_FD + 1, ~0U, 0U) != 0) {
            _exit(127);
        }
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        execv("/proc/self/exe", pool->zargv);
        _exit(127);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -1;
    }
    pool->zpid = pid;
    return sv[0];
}

/* Waits for the zygote's hello frame. */
static int
sw_zygote_hello(sw_pool_t *pool, int fd)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    json_t       *hello = NULL;
    int           rc;

    do {
        rc = poll(&pfd, 1, SW_ZYGOTE_START_TIMEOUT_MS);
    } while (rc < 0 && errno == EINTR);
    if (rc <= 0 || sw_frame_read(fd, &hello, SW_MAX_FRAME_BYTES) != 0) {
        return -1;
    }
    if (strcmp(json_string_value(json_object_get(hello, "type"))
               ? json_string_value(json_object_get(hello, "type")) : "",
               "hello") != 0)
    {
        json_decref(hello);
        return -1;
    }
    pool->landlock_abi =
        (int) json_integer_value(json_object_get(hello, "landlock_abi"));
    sw_log("info", "zygote_ready",
           json_pack("{s:i,s:i,s:O?,s:O?}", "pid", (int) pool->zpid,
                     "landlock_abi", pool->landlock_abi,
                     "python", json_object_get(hello, "python"),
                     "bpf_instructions",
                     json_object_get(hello, "bpf_instructions")));
    json_decref(hello);
    return 0;
}

static void
sw_zygote_reap(sw_pool_t *pool)
{
    int status = 0;

    if (pool->zpid > 0) {
        (void) kill(pool->zpid, SIGKILL);
        while (waitpid(pool->zpid, &status, 0) < 0 && errno == EINTR) {
        }
        pool->zpid = 0;
    }
}

static int
sw_zygote_start(sw_pool_t *pool)
{
    int fd = sw_zygote_spawn(pool);

    if (fd < 0) {
        sw_log("error", "zygote_spawn_failed",
               json_pack("{s:s}", "error", strerror(errno)));
        return -1;
    }
    if (sw_zygote_hello(pool, fd) != 0) {
        sw_log("error", "zygote_start_failed", NULL);
        close(fd);
        sw_zygote_reap(pool);
        return -1;
    }
    pthread_mutex_lock(&pool->write_lock);
    pthread_mutex_lock(&pool->lock);
    pool->fd = fd;
    pool->alive = 1;
    pthread_mutex_unlock(&pool->lock);
    pthread_mutex_unlock(&pool->write_lock);
    return 0;
}

int
sw_pool_start(sw_pool_t *pool, const sw_config_t *cfg)
{
    memset(pool, 0, sizeof(*pool));
    pool->fd = -1;
    pool->max_busy = cfg->max_concurrency;
    pool->max_queue = cfg->queue;
    pool->next_id = 1;
    if (pthread_mutex_init(&pool->lock, NULL) != 0
        || pthread_mutex_init(&pool->write_lock, NULL) != 0
        || pthread_cond_init(&pool->slot_cond, NULL) != 0)
    {
        return -1;
    }
    pool->zargv = sw_zygote_argv(cfg);
    if (pool->zargv == NULL) {
        return -1;
    }
    return sw_zygote_start(pool);
}

/* Zygote gone: fail every pending call, forget the fd. */
static void
sw_zygote_lost(sw_pool_t *pool)
{
    sw_call_t *c;

    pthread_mutex_lock(&pool->write_lock);
    pthread_mutex_lock(&pool->lock);
    pool->alive = 0;
    if (pool->fd >= 0) {
        close(pool->fd);
        pool->fd = -1;
    }
    for (c = pool->pending; c != NULL; c = c->next) {
        c->done = 1;
        pthread_cond_signal(&c->cond);
    }
    pool->pending = NULL;
    pthread_mutex_unlock(&pool->lock);
    pthread_mutex_unlock(&pool->write_lock);
    sw_zygote_reap(pool);
}

static void
sw_deliver(sw_pool_t *pool, json_t *frame)
{
    json_int_t  id = json_integer_value(json_object_get(frame, "id"));
    sw_call_t **pp, *c;

    pthread_mutex_lock(&pool->lock);
    for (pp = &pool->pending; *pp != NULL; pp = &(*pp)->next) {
        c = *pp;
        if (c->id == id) {
            *pp = c->next;
            c->result = json_incref(frame);
            c->done = 1;
            pthread_cond_signal(&c->cond);
            break;
        }
    }
    pthread_mutex_unlock(&pool->lock);
}

static void *
sw_reader(void *arg)
{
    sw_pool_t *pool = arg;
    json_t    *frame;
    int64_t    last_start = sw_now_ms();

    for (;;) {
        int fd, stopping;

        pthread_mutex_lock(&pool->lock);
        fd = pool->fd;
        stopping = pool->stopping;
        pthread_mutex_unlock(&pool->lock);
        if (stopping) {
            return NULL;
        }
        if (fd < 0) {
            int64_t wait = last_start + SW_ZYGOTE_RESTART_DELAY_MS
                           - sw_now_ms();
            if (wait > 0) {
                struct timespec ts = { wait / 1000, (wait % 1000) * 1000000 };
                nanosleep(&ts, NULL);
            }
            last_start = sw_now_ms();
            if (sw_zygote_start(pool) == 0) {
                pthread_mutex_lock(&pool->lock);
                pool->restarts++;
                pthread_mutex_unlock(&pool->lock);
            }
            continue;
        }
        if (sw_frame_read(fd, &frame, SW_MAX_FRAME_BYTES) != 0) {
            pthread_mutex_lock(&pool->lock);
            stopping = pool->stopping;
            pthread_mutex_unlock(&pool->lock);
            if (!stopping) {
                sw_log("error", "zygote_died",
                       json_pack("{s:i}", "pid", (int) pool->zpid));
            }
            sw_zygote_lost(pool);
            continue;
        }
        sw_deliver(pool, frame);
        json_decref(frame);
    }
}

int
sw_pool_run(sw_pool_t *pool)
{
    return pthread_create(&pool->reader, NULL, sw_reader, pool) == 0 ? 0 : -1;
}

/* Admission: a running slot, else a queue place, else busy. */
static int
sw_slot_acquire(sw_pool_t *pool)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->busy >= pool->max_busy) {
        if (pool->queued >= pool->max_queue) {
            pthread_mutex_unlock(&pool->lock);
            return -1;
        }
        pool->queued++;
        while (pool->busy >= pool->max_busy) {
            pthread_cond_wait(&pool->slot_cond, &pool->lock);
        }
        pool->queued--;
    }
    pool->busy++;
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

static void
sw_slot_release(sw_pool_t *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->busy--;
    pthread_cond_signal(&pool->slot_cond);
    pthread_mutex_unlock(&pool->lock);
}

static void
sw_unlink_call(sw_pool_t *pool, sw_call_t *call)
{
    sw_call_t **pp;

    for (pp = &pool->pending; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == call) {
            *pp = call->next;
            return;
        }
    }
}

sw_call_rc_t
sw_pool_call(sw_pool_t *pool, const char *tool, json_t *arguments,
    const sw_call_ws_t *ws, const sw_limits_t *lim, json_t **result)
{
    pthread_condattr_t ca;
    sw_call_t          call;
    struct timespec    deadline;
    json_t            *frame;
    sw_call_rc_t       rc;
    int                wrc, fd;

    *result = NULL;
    if (sw_slot_acquire(pool) != 0) {
        return SW_CALL_BUSY;
    }

    memset(&call, 0, sizeof(call));
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&call.cond, &ca);
    pthread_condattr_destroy(&ca);

    pthread_mutex_lock(&pool->lock);
    if (!pool->alive) {
        pthread_mutex_unlock(&pool->lock);
        rc = SW_CALL_DOWN;
        goto out;
    }
    call.id = pool->next_id++;
    call.next = pool->pending;
    pool->pending = &call;
    pthread_mutex_unlock(&pool->lock);

    frame = json_pack("{s:s,s:I,s:s,s:O,s:s,s:b,s:{s:I,s:I,s:I,s:I,s:I}}",
                      "type", "call", "id", call.id, "tool", tool,
                      "arguments", arguments, "workspace", ws->path,
                      "workspace_writable", ws->writable,
                      "limits", "wall_ms", (json_int_t) lim->wall_ms,
                      "cpu_ms", (json_int_t) lim->cpu_ms,
                      "memory_mb", (json_int_t) lim->memory_mb,
                      "output_bytes", (json_int_t) lim->output_bytes,
                      "fsize_bytes", (json_int_t) ws->fsize_bytes);
    pthread_mutex_lock(&pool->write_lock);
    fd = pool->fd;
    wrc = (frame != NULL && fd >= 0) ? sw_frame_write(fd, frame) : -1;
    if (wrc != 0) {
        sw_log("error", "zygote_write_failed",
               json_pack("{s:i,s:s}", "fd", fd, "error", strerror(errno)));
    }
    pthread_mutex_unlock(&pool->write_lock);
    json_decref(frame);

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (lim->wall_ms + SW_RESULT_GRACE_MS) / 1000;
    pthread_mutex_lock(&pool->lock);
    if (wrc != 0) {
        sw_unlink_call(pool, &call);
        call.done = 1;
    }
    while (!call.done) {
        if (pthread_cond_timedwait(&call.cond, &pool->lock, &deadline)
            == ETIMEDOUT && !call.done)
        {
            sw_unlink_call(pool, &call);
            break;
        }
    }
    pthread_mutex_unlock(&pool->lock);

    if (call.result != NULL) {
        *result = call.result;
        rc = SW_CALL_DONE;
    } else {
        rc = wrc != 0 ? SW_CALL_DOWN : SW_CALL_LOST;
    }

out:
    pthread_cond_destroy(&call.cond);
    sw_slot_release(pool);
    return rc;
}

void
sw_pool_count(sw_pool_t *pool, sw_outcome_t outcome)
{
    pthread_mutex_lock(&pool->lock);
    pool->outcomes[outcome]++;
    pthread_mutex_unlock(&pool->lock);
}

void
sw_pool_stats(sw_pool_t *pool, sw_pool_stats_t *st)
{
    pthread_mutex_lock(&pool->lock);
    st->alive = pool->alive;
    st->landlock_abi = pool->landlock_abi;
    st->busy = pool->busy;
    st->queued = pool->queued;
    st->max_busy = pool->max_busy;
    st->max_queue = pool->max_queue;
    memcpy(st->outcomes, pool->outcomes, sizeof(st->outcomes));
    st->restarts = pool->restarts;
    pthread_mutex_unlock(&pool->lock);
}

void
sw_pool_stop(sw_pool_t *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_mutex_unlock(&pool->lock);
    if (pool->zpid > 0) {
        (void) kill(pool->zpid, SIGKILL);   /* reader sees EOF and exits */
    }
    pthread_join(pool->reader, NULL);
}
