/* zygote_int.h - the zygote's state, shared by zygote.c (the zygote's
 * own loop: calls in, results out) and spare.c (the children: forked
 * ahead of time by the nursery, confined, run one call each). */
#ifndef SW_ZYGOTE_INT_H
#define SW_ZYGOTE_INT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "confine.h"
#include "limits.h"

/* Children being supervised: the running calls, plus those already
 * answered whose exit is not yet reaped. */
#define SW_ZYGOTE_SLOTS  (2 * SW_MAX_CONCURRENCY)

/* A warm-up call (runner.REHEARSALS): tool name and arguments JSON. */
typedef struct {
    char        *tool;
    char        *args;
} sw_rehearsal_t;

/* A child forked ahead of time, waiting for its call. */
typedef struct {
    pid_t        pid;
    int          pidfd;
    int          out_fd;        /* read end of its stdout/stderr */
    int          call_fd;       /* write end of its call pipe */
    int          warm_sent;     /* told to run the idle warm-up calls */
} sw_spare_t;

/* One running tool call. */
typedef struct {
    pid_t        pid;           /* 0: free slot */
    int          pidfd;         /* readable once the child has exited */
    int          out_fd;        /* read end of stdout/stderr; -1 at EOF */
    json_int_t   id;
    int64_t      start_ms;
    int64_t      deadline_ms;
    long         cpu_base_ms;   /* CPU it used before its call (warm-up) */
    sw_limits_t  lim;
    char        *buf;
    size_t       len;
    size_t       hard_cap;      /* output cap + trailer reserve */
    int          wall_killed;
    int          cap_killed;
    int          replied;       /* result sent; only the reaping is left */
    int64_t      kill_at_ms;    /* answered, alive: when it is killed */
    int          after_idle;    /* came when the worker was idle */
} sw_child_t;

typedef struct {
    int           ctl_fd;
    sw_confine_t  confine;
    sw_limits_t   base;         /* the spares' limits (the configured ones) */
    PyObject     *run_fn;       /* runner.run */
    sw_rehearsal_t rehearsals[SW_MAX_REHEARSALS];
    int           nrehearsals;
    sw_child_t    children[SW_ZYGOTE_SLOTS];
    int           nchildren;
    sw_spare_t    spares[SW_MAX_PREFORK];
    int           nspares;
    int           prefork;      /* how many spares to keep */
    int           nursery_fd;   /* -1 while there is no nursery */
    pid_t         nursery_pid;
    int           requested;    /* spares asked of the nursery, not yet in */
    int           nursery_on_path;  /* has the call scheduling (limits.h) */
    json_t       *pending[SW_ZYGOTE_SLOTS];  /* calls waiting for a spare */
    int           npending;
    int64_t       nursery_after_ms;  /* no nursery restart before this */
    int64_t       idle_since_ms;     /* no call running since; 0: busy */
    int64_t       answered_ms;       /* when the last answer was sent */
} sw_zygote_t;

/* spare.c: the spares and the nursery that forks them */

/* Whether a call is running and not yet answered. */
int sw_call_in_flight(sw_zygote_t *z);
/* Asks the nursery for as many spares as are missing. */
void sw_spare_request(sw_zygote_t *z);
/* A spare from the nursery: takes it into the list. */
void sw_spare_receive(sw_zygote_t *z);
/* Spare i exited while waiting: logs why, reaps it. */
void sw_spare_died(sw_zygote_t *z, int i);
/* Takes the oldest spare, or forks one now when there is none. */
int sw_spare_take(sw_zygote_t *z, sw_spare_t *out);
/* Kills and reaps a spare that will not run a call. */
void sw_spare_discard(sw_spare_t *s);
/* Tells idle spares to warm up further; returns the poll timeout (ms)
 * until that is due, -1 for none. */
int sw_spare_warm_idle(sw_zygote_t *z);

#endif /* SW_ZYGOTE_INT_H */
