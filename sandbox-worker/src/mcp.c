/* mcp.c - JSON-RPC 2.0 and the MCP methods of the sandbox worker. */
#include "mcp.h"
#include "limits.h"
#include "schema.h"
#include "util.h"
#include "workspace.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SW_RPC_PARSE_ERROR      -32700
#define SW_RPC_INVALID_REQUEST  -32600
#define SW_RPC_METHOD_NOT_FOUND -32601
#define SW_RPC_INVALID_PARAMS   -32602
#define SW_RPC_INTERNAL         -32603
#define SW_RPC_SERVER_BUSY      -32000
#define SW_RPC_UNSUPPORTED_VERSION -32022

/* the session-based revisions, negotiated by initialize */
static const char *const sw_protocol_versions[] = {
    "2025-06-18", "2025-11-25"
};
#define SW_PROTOCOL_DEFAULT "2025-11-25"

/* the stateless revision: every request names it in _meta */
#define SW_PROTOCOL_STATELESS "2026-07-28"
#define SW_META_VERSION       "io.modelcontextprotocol/protocolVersion"
#define SW_META_CAPABILITIES  "io.modelcontextprotocol/clientCapabilities"
#define SW_META_SERVER_INFO   "io.modelcontextprotocol/serverInfo"

/* how long a client may keep tools/list and server/discover answers */
#define SW_LIST_TTL_MS        60000

int
sw_mcp_load_tools(sw_mcp_t *mcp, const char *toolset_dir, char *err,
    size_t err_size)
{
    char          path[SW_PATH_MAX], tmp[SW_PATH_MAX];
    json_error_t  jerr;
    json_t       *doc, *tool;
    size_t        i;

    snprintf(path, sizeof(path), "%s/tools.json", toolset_dir);
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        snprintf(err, err_size, "%s:%d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    if (!json_is_array(doc) || json_array_size(doc) == 0) {
        snprintf(err, err_size, "%s: expected a non-empty array of tools",
                 path);
        json_decref(doc);
        return -1;
    }
    json_array_foreach(doc, i, tool) {
        if (!json_is_string(json_object_get(tool, "name"))
            || !json_is_object(json_object_get(tool, "inputSchema")))
        {
            snprintf(err, err_size, "%s: tool %zu needs a name and an"
                     " inputSchema object", path, i);
            json_decref(doc);
            return -1;
        }
    }
    mcp->tools = doc;
    snprintf(tmp, sizeof(tmp), "%s", toolset_dir);
    snprintf(mcp->server_name, sizeof(mcp->server_name),
             "ngx-mcp-sandbox-%s", basename(tmp));
    return 0;
}

static char *
sw_dump(json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return s;
}

char *
sw_mcp_error_body(json_t *id, int code, const char *message)
{
    return sw_dump(json_pack("{s:s,s:O?,s:{s:i,s:s}}", "jsonrpc", "2.0",
                             "id", id, "error", "code", code,
                             "message", message));
}

static void
sw_reply_error(sw_reply_t *r, int status, json_t *id, int code,
    const char *message)
{
    r->status = status;
    r->body = sw_mcp_error_body(id, code, message);
}

static void
sw_reply_result(sw_reply_t *r, json_t *id, json_t *result /* stolen */)
{
    r->status = 200;
    r->body = sw_dump(json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0",
                                "id", id, "result", result));
}

static json_t *
sw_find_tool(sw_mcp_t *mcp, const char *name)
{
    json_t *t;
    size_t  i;

    json_array_foreach(mcp->tools, i, t) {
        if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0) {
            return t;
        }
    }
    return NULL;
}

static void
sw_initialize(json_t *id, json_t *params, sw_reply_t *r, sw_mcp_t *mcp)
{
    const char *want = json_string_value(json_object_get(params,
                                                         "protocolVersion"));
    const char *ver = SW_PROTOCOL_DEFAULT;
    size_t      i;

    for (i = 0; want != NULL && i < 2; i++) {
        if (strcmp(want, sw_protocol_versions[i]) == 0) {
            ver = sw_protocol_versions[i];
        }
    }
    sw_reply_result(r, id, json_pack("{s:s,s:{s:{s:b}},s:{s:s,s:s}}",
                                     "protocolVersion", ver,
                                     "capabilities", "tools", "listChanged", 0,
                                     "serverInfo", "name", mcp->server_name,
                                     "version", SW_VERSION));
}

/* every revision this server speaks, for server/discover and errors */
static json_t *
sw_supported_versions(void)
{
    return json_pack("[s,s,s]", sw_protocol_versions[0],
                     sw_protocol_versions[1], SW_PROTOCOL_STATELESS);
}

static json_t *
sw_server_info(sw_mcp_t *mcp)
{
    return json_pack("{s:s,s:s}", "name", mcp->server_name,
                     "version", SW_VERSION);
}

/*
 * A stateless (2026-07-28) request must say which revision it speaks and
 * what the client can do, in params._meta.  Returns 0, or -1 with the
 * error already in r.
 */
static int
sw_check_meta(json_t *id, json_t *params, sw_reply_t *r)
{
    json_t     *meta = json_object_get(params, "_meta");
    const char *ver = json_string_value(json_object_get(meta,
                                                        SW_META_VERSION));

    if (ver == NULL
        || !json_is_object(json_object_get(meta, SW_META_CAPABILITIES)))
    {
        sw_reply_error(r, 400, id, SW_RPC_INVALID_PARAMS,
                       "Invalid params: _meta needs " SW_META_VERSION
                       " and " SW_META_CAPABILITIES);
        return -1;
    }
    if (strcmp(ver, SW_PROTOCOL_STATELESS) != 0) {
        r->status = 400;
        r->body = sw_dump(json_pack("{s:s,s:O?,s:{s:i,s:s,s:{s:o,s:s}}}",
                                    "jsonrpc", "2.0", "id", id, "error",
                                    "code", SW_RPC_UNSUPPORTED_VERSION,
                                    "message", "Unsupported protocol version",
                                    "data", "supported",
                                    sw_supported_versions(),
                                    "requested", ver));
        return -1;
    }
    return 0;
}

static void
sw_discover(json_t *id, sw_reply_t *r, sw_mcp_t *mcp)
{
    sw_reply_result(r, id, json_pack("{s:s,s:o,s:{s:{s:b}},s:i,s:s,s:{s:o}}",
                                     "resultType", "complete",
                                     "supportedVersions",
                                     sw_supported_versions(),
                                     "capabilities", "tools", "listChanged", 0,
                                     "ttlMs", SW_LIST_TTL_MS,
                                     "cacheScope", "public",
                                     "_meta", SW_META_SERVER_INFO,
                                     sw_server_info(mcp)));
}

/* Text shown to the model: output, then the tool's error or result, then
 * the limit message, then what the quota says about the workspace. */
static char *
sw_result_text(json_t *res)
{
    const char *out = json_string_value(json_object_get(res, "output"));
    const char *err = json_string_value(json_object_get(res, "error"));
    const char *msg = json_string_value(json_object_get(res, "message"));
    const char *quota = json_string_value(json_object_get(res, "quota"));
    json_t     *val = json_object_get(res, "result");
    char       *valtxt = NULL, *text;
    size_t      len;

    if (val != NULL && !json_is_null(val)) {
        valtxt = json_is_string(val) ? strdup(json_string_value(val))
                 : json_dumps(val, JSON_INDENT(2) | JSON_ENCODE_ANY);
    }
    out = out ? out : "";
    len = strlen(out) + (err ? strlen(err) : 0) + (msg ? strlen(msg) : 0)
          + (valtxt ? strlen(valtxt) : 0) + (quota ? strlen(quota) : 0) + 5;
    text = malloc(len);
    if (text != NULL) {
        size_t n = 0;
        const char *parts[4] = { valtxt, err, msg, quota };
        int         i;
        n += (size_t) snprintf(text, len, "%s", out);
        for (i = 0; i < 4; i++) {
            if (parts[i] == NULL || parts[i][0] == '\0') {
                continue;
            }
            if (n > 0 && text[n - 1] != '\n') {
                text[n++] = '\n';
            }
            n += (size_t) snprintf(text + n, len - n, "%s", parts[i]);
        }
    }
    free(valtxt);
    return text;
}

static void
sw_exec_figures(sw_reply_t *r, const char *outcome, json_t *res)
{
    r->exec = 1;
    r->outcome = outcome;
    r->wall_ms = (long) json_integer_value(json_object_get(res, "wall_ms"));
    r->cpu_ms = (long) json_integer_value(json_object_get(res, "cpu_ms"));
    r->rss_kb = (long) json_integer_value(json_object_get(res, "maxrss_kb"));
}

/*
 * sandbox_status is answered by the daemon itself: it reports on the
 * sandbox, so it needs no sandboxed child (and works while it is busy).
 */
static void
sw_sandbox_status(sw_mcp_t *mcp, json_t *id, sw_reply_t *r)
{
    sw_pool_stats_t  st;
    json_t          *status, *outcomes;
    char            *text;
    int              i;

    sw_pool_stats(mcp->pool, &st);

    outcomes = json_object();
    for (i = 0; i < SW_OUT_N; i++) {
        json_object_set_new(outcomes, sw_outcome_names[i],
                            json_integer((json_int_t) st.outcomes[i]));
    }

    status = json_pack("{s:s,s:b,s:i,s:{s:I,s:I,s:I,s:I,s:I},"
                       "s:{s:I,s:I,s:I,s:I},s:o,s:I}",
                       "server", mcp->server_name,
                       "ready", st.alive,
                       "landlock_abi", st.landlock_abi,
                       "limits", "wall_ms", (json_int_t) mcp->limits.wall_ms,
                       "cpu_ms", (json_int_t) mcp->limits.cpu_ms,
                       "memory_mb", (json_int_t) mcp->limits.memory_mb,
                       "output_bytes", (json_int_t) mcp->limits.output_bytes,
                       "workspace_quota_mb", (json_int_t) mcp->quota_mb,
                       "load", "busy", (json_int_t) st.busy,
                       "queued", (json_int_t) st.queued,
                       "max_busy", (json_int_t) st.max_busy,
                       "max_queue", (json_int_t) st.max_queue,
                       "calls", outcomes,
                       "zygote_restarts", (json_int_t) st.restarts);
    if (status == NULL) {
        sw_reply_error(r, 500, id, SW_RPC_INTERNAL, "Internal error");
        return;
    }
    text = json_dumps(status, JSON_INDENT(2));
    sw_reply_result(r, id, json_pack("{s:[{s:s,s:s}],s:o,s:b}",
                                     "content", "type", "text",
                                     "text", text ? text : "",
                                     "structuredContent", status,
                                     "isError", 0));
    free(text);
}

#define SW_MIB  (1024.0 * 1024.0)

/*
 * Applies the workspace quota to a call: what is left of it becomes the
 * call's largest file; an over-quota workspace is read+remove only, and
 * note gets a sentence saying so. Returns -1 if usage cannot be measured.
 */
static int
sw_quota_before(sw_mcp_t *mcp, sw_call_ws_t *ws, char *note, size_t size)
{
    unsigned long long used = 0, quota = (unsigned long long) mcp->quota_mb
                                         * 1024 * 1024;

    ws->writable = 1;
    ws->fsize_bytes = SW_CHILD_FSIZE_BYTES;
    note[0] = '\0';
    if (sw_workspace_usage(ws->path, SW_WORKSPACE_MAX_ENTRIES,
                           SW_WORKSPACE_MAX_DEPTH, &used) != 0)
    {
        if (errno != E2BIG) {
            return -1;
        }
        snprintf(note, size, "workspace over quota: more than %d files and"
                 " directories, or nested deeper than %d; files can be read"
                 " and deleted but not written until some are deleted",
                 SW_WORKSPACE_MAX_ENTRIES, SW_WORKSPACE_MAX_DEPTH);
        ws->writable = 0;
        ws->fsize_bytes = 0;
        return 0;
    }
    if (used >= quota) {
        snprintf(note, size, "workspace over quota: %.1f MiB used of %ld MiB;"
                 " files can be read and deleted but not written until usage"
                 " is below the quota", (double) used / SW_MIB,
                 mcp->quota_mb);
        ws->writable = 0;
        ws->fsize_bytes = 0;
    } else if (quota - used < (unsigned long long) ws->fsize_bytes) {
        ws->fsize_bytes = (long) (quota - used);
    }
    return 0;
}

/* After a call that could reach the quota: says so if it did. */
static void
sw_quota_after(sw_mcp_t *mcp, const sw_call_ws_t *ws, json_t *res)
{
    unsigned long long used = 0, quota = (unsigned long long) mcp->quota_mb
                                         * 1024 * 1024;
    char               note[300];

    if (!ws->writable || ws->fsize_bytes >= SW_CHILD_FSIZE_BYTES) {
        return;                 /* not near the quota: nothing to measure */
    }
    if (sw_workspace_usage(ws->path, SW_WORKSPACE_MAX_ENTRIES,
                           SW_WORKSPACE_MAX_DEPTH, &used) == 0
        && used < quota)
    {
        return;
    }
    snprintf(note, sizeof(note), "workspace quota of %ld MiB reached; from"
             " the next call on, files can be read and deleted but not"
             " written until usage is below the quota", mcp->quota_mb);
    json_object_set_new(res, "quota", json_string(note));
}

static void
sw_tools_call(sw_mcp_t *mcp, json_t *id, json_t *params, const char *user,
    sw_reply_t *r)
{
    const char   *name = json_string_value(json_object_get(params, "name"));
    json_t       *args = json_object_get(params, "arguments");
    json_t       *tool, *res = NULL, *timeout, *result;
    sw_limits_t   lim;
    sw_call_rc_t  crc;
    sw_outcome_t  oc;
    char          err[256], path[SW_PATH_MAX], note[300], *text;
    sw_call_ws_t  ws;
    int           owned_args = 0;

    if (name == NULL) {
        sw_reply_error(r, 200, id, SW_RPC_INVALID_PARAMS,
                       "Invalid params: \"name\" must be a string");
        return;
    }
    tool = sw_find_tool(mcp, name);
    if (tool == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "Unknown tool: %.200s", name);
        sw_reply_error(r, 200, id, SW_RPC_INVALID_PARAMS, msg);
        return;
    }
    if (args == NULL || json_is_null(args)) {
        args = json_object();
        owned_args = 1;
    }
    if (!json_is_object(args)) {
        sw_reply_error(r, 200, id, SW_RPC_INVALID_PARAMS,
                       "Invalid params: \"arguments\" must be an object");
        goto done;
    }
    if (sw_schema_check(json_object_get(tool, "inputSchema"), args, err,
                        sizeof(err)) != 0)
    {
        char msg[400];
        snprintf(msg, sizeof(msg), "Invalid params for %s: %s", name, err);
        sw_reply_error(r, 200, id, SW_RPC_INVALID_PARAMS, msg);
        goto done;
    }
    if (strcmp(name, "sandbox_status") == 0) {
        sw_sandbox_status(mcp, id, r);
        goto done;
    }
    timeout = json_object_get(args, "timeout");
    if (sw_limits_for_call(&mcp->limits, json_is_number(timeout),
                           json_number_value(timeout), &lim) != 0)
    {
        sw_reply_error(r, 200, id, SW_RPC_INVALID_PARAMS,
                       "Invalid params: \"timeout\" must be a positive number"
                       " of seconds");
        goto done;
    }
    ws.path = path;
    if (sw_workspace_ensure(mcp->workspace_root, user, path, sizeof(path))
        != 0 || sw_quota_before(mcp, &ws, note, sizeof(note)) != 0)
    {
        sw_log("error", "workspace_failed",
               json_pack("{s:s}", "error", strerror(errno)));
        sw_reply_error(r, 500, id, SW_RPC_INTERNAL,
                       "Internal error: workspace unavailable");
        goto done;
    }

    crc = sw_pool_call(mcp->pool, name, args, &ws, &lim, &res);
    if (crc == SW_CALL_BUSY || crc == SW_CALL_DOWN) {
        char msg[200];
        if (crc == SW_CALL_BUSY) {
            snprintf(msg, sizeof(msg), "busy: all %ld sandbox slots and %ld"
                     " queue places are taken; retry later",
                     mcp->pool->max_busy, mcp->pool->max_queue);
        } else {
            snprintf(msg, sizeof(msg), "busy: the sandbox is restarting;"
                     " retry later");
        }
        sw_pool_count(mcp->pool, SW_OUT_BUSY);
        sw_reply_error(r, 503, id, SW_RPC_SERVER_BUSY, msg);
        sw_exec_figures(r, "busy", NULL);
        goto done;
    }
    if (crc == SW_CALL_LOST) {
        res = json_pack("{s:s,s:b,s:s,s:s}", "outcome", "crashed", "is_error",
                        1, "output", "", "message",
                        "crashed: the sandbox process was lost");
    }
    if (res == NULL) {
        sw_reply_error(r, 500, id, SW_RPC_INTERNAL, "Internal error");
        goto done;
    }

    if (note[0] != '\0') {
        json_object_set_new(res, "quota", json_string(note));
    } else {
        sw_quota_after(mcp, &ws, res);
    }
    oc = sw_outcome_from_name(json_string_value(json_object_get(res,
                                                                "outcome")));
    sw_pool_count(mcp->pool, oc);
    text = sw_result_text(res);
    result = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text",
                       "text", text ? text : "", "isError",
                       json_is_true(json_object_get(res, "is_error")));
    free(text);
    if (result != NULL && oc == SW_OUT_OK
        && json_is_object(json_object_get(res, "result")))
    {
        json_object_set(result, "structuredContent",
                        json_object_get(res, "result"));
    }
    sw_exec_figures(r, sw_outcome_names[oc], res);
    if (result == NULL) {
        sw_reply_error(r, 500, id, SW_RPC_INTERNAL, "Internal error");
    } else {
        sw_reply_result(r, id, result);
    }
    sw_log("info", "tool_call",
           json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "user", user, "tool", name,
                     "outcome", sw_outcome_names[oc],
                     "wall_ms", (json_int_t) r->wall_ms,
                     "cpu_ms", (json_int_t) r->cpu_ms,
                     "maxrss_kb", (json_int_t) r->rss_kb));
    json_decref(res);

done:
    if (owned_args) {
        json_decref(args);
    }
}

void
sw_mcp_handle(sw_mcp_t *mcp, const char *body, size_t len, const char *user,
    const char *protocol_version, sw_reply_t *r)
{
    int           stateless;
    json_error_t  jerr;
    json_t       *msg, *id, *method, *params;
    const char   *m;

    memset(r, 0, sizeof(*r));
    msg = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (msg == NULL) {
        sw_reply_error(r, 400, NULL, SW_RPC_PARSE_ERROR, "Parse error");
        return;
    }
    id = json_object_get(msg, "id");
    /* MCP: a string or an integer (a fraction, boolean or object is not
     * an id this server could answer with) */
    if (id != NULL && !json_is_string(id) && !json_is_integer(id)
        && !json_is_null(id))
    {
        sw_reply_error(r, 400, NULL, SW_RPC_INVALID_REQUEST,
                       "Invalid Request: id must be a string or an integer");
        goto done;
    }
    method = json_object_get(msg, "method");
    params = json_object_get(msg, "params");

    if (!json_is_object(msg)
        || !json_is_string(json_object_get(msg, "jsonrpc"))
        || strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0")
        || (params != NULL && !json_is_object(params)
            && !json_is_array(params)))
    {
        sw_reply_error(r, 400, id, SW_RPC_INVALID_REQUEST, "Invalid Request");
        goto done;
    }
    if (!json_is_string(method)) {
        /* A response or error from the client: nothing to answer. */
        if (json_object_get(msg, "result") || json_object_get(msg, "error")) {
            r->status = 202;
        } else {
            sw_reply_error(r, 400, id, SW_RPC_INVALID_REQUEST,
                           "Invalid Request");
        }
        goto done;
    }
    m = json_string_value(method);
    if (json_object_get(msg, "id") == NULL) {
        r->status = 202;        /* notification: accepted, no body */
        goto done;
    }

    stateless = protocol_version != NULL
                && strcmp(protocol_version, SW_PROTOCOL_STATELESS) == 0;

    if (stateless && sw_check_meta(id, params, r) != 0) {
        goto done;
    }

    if (strcmp(m, "server/discover") == 0) {
        sw_discover(id, r, mcp);
    } else if (stateless && (strcmp(m, "initialize") == 0
                             || strcmp(m, "ping") == 0))
    {
        /* removed in the stateless revision */
        sw_reply_error(r, 404, id, SW_RPC_METHOD_NOT_FOUND,
                       "Method not found");
    } else if (strcmp(m, "initialize") == 0) {
        sw_initialize(id, params, r, mcp);
    } else if (strcmp(m, "ping") == 0) {
        sw_reply_result(r, id, json_object());
    } else if (strcmp(m, "tools/list") == 0) {
        sw_reply_result(r, id, stateless
                        ? json_pack("{s:s,s:O,s:i,s:s}", "resultType",
                                    "complete", "tools", mcp->tools,
                                    "ttlMs", SW_LIST_TTL_MS,
                                    "cacheScope", "public")
                        : json_pack("{s:O}", "tools", mcp->tools));
    } else if (strcmp(m, "tools/call") == 0) {
        if (!json_is_object(params)) {
            sw_reply_error(r, 200, id, SW_RPC_INVALID_PARAMS,
                           "Invalid params: expected an object");
        } else {
            sw_tools_call(mcp, id, params, user, r);
        }
    } else {
        sw_reply_error(r, stateless ? 404 : 200, id, SW_RPC_METHOD_NOT_FOUND,
                       "Method not found");
    }

    /* every stateless result says it is complete (no input required) */
    if (stateless && r->status == 200 && r->body != NULL) {
        json_t *reply = json_loads(r->body, 0, NULL);
        json_t *result = json_object_get(reply, "result");

        if (json_is_object(result)
            && json_object_get(result, "resultType") == NULL)
        {
            json_object_set_new(result, "resultType",
                                json_string("complete"));
            free(r->body);
            r->body = json_dumps(reply, JSON_COMPACT);
        }
        json_decref(reply);
    }

done:
    json_decref(msg);
}
