/*
 * libFuzzer harness: the sandbox worker's JSON-RPC handling
 * (sandbox-worker/src/mcp.c: sw_mcp_handle() and what it calls: the
 * tools.json input schemas of schema.c, the per-call limits of config.c,
 * the workspace and quota of workspace.c), linked without the daemon:
 * the zygote pool (pool.c) is replaced by stubs below, and the call's
 * result frame is made from the caller's own arguments, so the
 * fuzzer's data also reaches the result-to-text code.
 *
 * The input is a POST /mcp body; each is handled twice, as a session
 * request and as a stateless (2026-07-28) one.  Invariants: the status is
 * one the HTTP layer knows, and every answer with a body is one JSON-RPC
 * object carrying the request's id.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ftw.h>
#include <jansson.h>

#include "mcp.h"
#include "pool.h"
#include "fuzz_check.h"


/* the pool, without a zygote ------------------------------------------- */

const char *const sw_outcome_names[SW_OUT_N] = {
    "ok", "error", "timeout", "cpu_limit", "memory_limit",
    "output_truncated", "crashed", "busy"
};

static unsigned long  calls;


sw_outcome_t
sw_outcome_from_name(const char *name)
{
    int  i;

    for (i = 0; name != NULL && i < SW_OUT_N; i++) {
        if (strcmp(name, sw_outcome_names[i]) == 0) {
            return (sw_outcome_t) i;
        }
    }

    return SW_OUT_CRASHED;
}


sw_call_rc_t
sw_pool_call(sw_pool_t *pool, const char *tool, json_t *arguments,
    const sw_call_ws_t *ws, const sw_limits_t *lim, json_t **result)
{
    json_t      *code;
    const char  *outcome;

    check(tool != NULL && json_is_object(arguments) && ws->path != NULL);
    check(lim->wall_ms > 0 && lim->cpu_ms > 0);

    switch (calls++ % 5) {
    case 0:
        return SW_CALL_BUSY;
    case 1:
        return SW_CALL_LOST;
    default:
        break;
    }

    /* a result frame as the zygote sends it, from the caller's data */
    code = json_object_get(arguments, "code");
    outcome = (calls % 5 == 3) ? "ok" : (calls % 5 == 4) ? "error"
                                                         : "no-such";

    *result = json_pack("{s:s,s:b,s:O?,s:O,s:s,s:I,s:I,s:I}",
                        "outcome", outcome,
                        "is_error", calls % 2,
                        "output", json_is_string(code) ? code : NULL,
                        "result", arguments,
                        "error", tool,
                        "wall_ms", (json_int_t) 1,
                        "cpu_ms", (json_int_t) 1,
                        "maxrss_kb", (json_int_t) 1);

    return *result ? SW_CALL_DONE : SW_CALL_DOWN;
}


void
sw_pool_count(sw_pool_t *pool, sw_outcome_t outcome)
{
    check(outcome < SW_OUT_N);
    pool->outcomes[outcome]++;
}


void
sw_pool_stats(sw_pool_t *pool, sw_pool_stats_t *st)
{
    memset(st, 0, sizeof(sw_pool_stats_t));
    st->alive = 1;
    st->max_busy = pool->max_busy;
    st->max_queue = pool->max_queue;
    memcpy(st->outcomes, pool->outcomes, sizeof(st->outcomes));
}


/* the harness --------------------------------------------------------- */

static sw_mcp_t   mcp;
static sw_pool_t  pool;


static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}


static void
rm_workspaces(void)
{
    nftw(mcp.workspace_root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char   err[512];
    char  *root;
    static char  tmpl[] = "/tmp/fuzz-worker-ws-XXXXXX";

    if (sw_mcp_load_tools(&mcp, FUZZ_TOOLSET_DIR, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_worker_mcp: %s\n", err);
        exit(1);
    }

    root = mkdtemp(tmpl);
    check(root != NULL);
    atexit(rm_workspaces);

    pool.max_busy = 4;
    pool.max_queue = 8;

    mcp.workspace_root = root;
    mcp.limits.wall_ms = 5000;
    mcp.limits.cpu_ms = 5000;
    mcp.limits.memory_mb = 256;
    mcp.limits.output_bytes = 65536;
    mcp.quota_mb = 1;
    mcp.pool = &pool;

    return 0;
}


static void
handle(const char *body, size_t len, const char *version)
{
    json_t      *req, *rep, *rid, *id;
    sw_reply_t   r;

    sw_mcp_handle(&mcp, body, len, "fuzz@example.com", version, &r);

    check(r.status == 200 || r.status == 202 || r.status == 400
          || r.status == 404 || r.status == 500 || r.status == 503);

    if (r.status == 202) {
        check(r.body == NULL);
        return;
    }

    check(r.body != NULL);

    rep = json_loads(r.body, 0, NULL);
    check(json_is_object(rep));
    check(json_is_string(json_object_get(rep, "jsonrpc")));
    check((json_object_get(rep, "result") == NULL)
          != (json_object_get(rep, "error") == NULL));

    /* the answer carries the id the request had (when it was usable) */
    req = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    id = json_object_get(req, "id");
    rid = json_object_get(rep, "id");

    if (json_is_string(id) || json_is_integer(id)) {
        check(json_equal(id, rid));
    }

    if (r.exec) {
        check(r.outcome != NULL);
    }

    json_decref(req);
    json_decref(rep);
    free(r.body);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char  *buf;

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    handle(buf, size, NULL);
    handle(buf, size, "2026-07-28");

    free(buf);

    return 0;
}
