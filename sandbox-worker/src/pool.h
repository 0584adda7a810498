/* pool.h - daemon side of the zygote: spawning/restarting it, admission
 * (concurrency cap + bounded queue) and request/result demultiplexing. */
#ifndef SW_POOL_H
#define SW_POOL_H

#include <pthread.h>
#include <sys/types.h>
#include <jansson.h>
#include "config.h"

typedef enum {
    SW_OUT_OK = 0, SW_OUT_ERROR, SW_OUT_TIMEOUT, SW_OUT_CPU, SW_OUT_MEMORY,
    SW_OUT_TRUNCATED, SW_OUT_CRASHED, SW_OUT_BUSY, SW_OUT_N
} sw_outcome_t;

/* Names as in docs/internals.md (X-MCP-Exec-Outcome). */
extern const char *const sw_outcome_names[SW_OUT_N];
sw_outcome_t sw_outcome_from_name(const char *name);

typedef enum {
    SW_CALL_DONE = 0,   /* *result holds the zygote's result frame */
    SW_CALL_BUSY,       /* no slot and no queue place */
    SW_CALL_DOWN,       /* zygote not ready */
    SW_CALL_LOST        /* zygote died or never answered */
} sw_call_rc_t;

typedef struct sw_call_s sw_call_t;

typedef struct {
    pthread_mutex_t  lock;
    pthread_cond_t   slot_cond;
    pthread_mutex_t  write_lock;    /* one frame at a time on fd */
    int              fd;            /* -1 while the zygote is down */
    pid_t            zpid;
    int              alive;
    int              stopping;
    int              landlock_abi;
    sw_call_t       *pending;
    json_int_t       next_id;
    long             busy;
    long             queued;
    long             max_busy;
    long             max_queue;
    unsigned long    outcomes[SW_OUT_N];
    unsigned long    restarts;
    char           **zargv;         /* argv for exec'ing the zygote */
    pthread_t        reader;
} sw_pool_t;

/* Starts the first zygote and waits for it to be ready. Call before any
 * other thread exists. Returns 0 on success. */
int sw_pool_start(sw_pool_t *pool, const sw_config_t *cfg);

/* Starts the thread that reads results and restarts a dead zygote. */
int sw_pool_run(sw_pool_t *pool);

/* The workspace a call runs in, as the quota leaves it. */
typedef struct {
    const char  *path;
    int          writable;      /* 0: over quota, read+remove only */
    long         fsize_bytes;   /* largest file it may write */
} sw_call_ws_t;

/* Runs one call; on SW_CALL_DONE, *result is a new reference. */
sw_call_rc_t sw_pool_call(sw_pool_t *pool, const char *tool,
    json_t *arguments, const sw_call_ws_t *ws, const sw_limits_t *lim,
    json_t **result);

void sw_pool_count(sw_pool_t *pool, sw_outcome_t outcome);

/* Snapshot for /readyz and /metrics. */
typedef struct {
    int           alive;
    int           landlock_abi;
    long          busy;
    long          queued;
    long          max_busy;
    long          max_queue;
    unsigned long outcomes[SW_OUT_N];
    unsigned long restarts;
} sw_pool_stats_t;

void sw_pool_stats(sw_pool_t *pool, sw_pool_stats_t *st);

/* Kills the zygote and stops the reader thread. */
void sw_pool_stop(sw_pool_t *pool);

#endif /* SW_POOL_H */
