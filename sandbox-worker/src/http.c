/* http.c - routes, body limit, identity check, response headers. */
#include "http.h"
#include "identity.h"
#include "limits.h"
#include "util.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Per-request state: the body collected so far. */
typedef struct {
    char   *body;
    size_t  len;
    int     too_large;
} sw_req_t;

static enum MHD_Result
sw_send(struct MHD_Connection *conn, unsigned int status, const char *ctype,
    char *body /* malloc'd or NULL */, const sw_reply_t *exec)
{
    struct MHD_Response *resp;
    enum MHD_Result      ret;
    char                 num[32];

    resp = MHD_create_response_from_buffer(body ? strlen(body) : 0,
                                           body ? body : (void *) "",
                                           body ? MHD_RESPMEM_MUST_FREE
                                                : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    if (body != NULL && ctype != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (exec != NULL && exec->exec) {
        MHD_add_response_header(resp, "X-MCP-Exec-Outcome", exec->outcome);
        snprintf(num, sizeof(num), "%ld", exec->wall_ms);
        MHD_add_response_header(resp, "X-MCP-Exec-Wall-Ms", num);
        snprintf(num, sizeof(num), "%ld", exec->cpu_ms);
        MHD_add_response_header(resp, "X-MCP-Exec-Cpu-Ms", num);
        snprintf(num, sizeof(num), "%ld", exec->rss_kb);
        MHD_add_response_header(resp, "X-MCP-Exec-Peak-Rss-Kb", num);
    }
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
    }
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result
sw_send_json(struct MHD_Connection *conn, unsigned int status,
    const char *literal)
{
    return sw_send(conn, status, "application/json", strdup(literal), NULL);
}

static enum MHD_Result
sw_readyz(sw_http_t *h, struct MHD_Connection *conn)
{
    sw_pool_stats_t st;
    json_t         *j;
    char           *body;

    sw_pool_stats(h->pool, &st);
    j = json_pack("{s:s,s:i}", "status", st.alive ? "ready" : "unavailable",
                  "landlock_abi", st.landlock_abi);
    if (j != NULL && st.landlock_abi == 0) {
        json_object_set_new(j, "landlock", json_string(
            "disabled (--allow-no-landlock): workspaces are not isolated"));
    }
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return sw_send(conn, st.alive ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                   "application/json", body, NULL);
}

static enum MHD_Result
sw_metrics(sw_http_t *h, struct MHD_Connection *conn)
{
    sw_pool_stats_t st;
    char           *buf;
    size_t          cap = 4096, n = 0;
    int             i;

    sw_pool_stats(h->pool, &st);
    buf = malloc(cap);
    if (buf == NULL) {
        return MHD_NO;
    }
#define SW_PUT(...) \
    n += (size_t) snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__)
    SW_PUT("# HELP mcp_worker_calls_total Tool calls by outcome.\n"
           "# TYPE mcp_worker_calls_total counter\n");
    for (i = 0; i < SW_OUT_N; i++) {
        SW_PUT("mcp_worker_calls_total{outcome=\"%s\"} %lu\n",
               sw_outcome_names[i], st.outcomes[i]);
    }
    SW_PUT("# HELP mcp_worker_busy Calls running now.\n"
           "# TYPE mcp_worker_busy gauge\nmcp_worker_busy %ld\n"
           "# HELP mcp_worker_queued Calls waiting for a slot.\n"
           "# TYPE mcp_worker_queued gauge\nmcp_worker_queued %ld\n"
           "# HELP mcp_worker_max_concurrency Configured slots.\n"
           "# TYPE mcp_worker_max_concurrency gauge\n"
           "mcp_worker_max_concurrency %ld\n"
           "# HELP mcp_worker_queue_capacity Configured queue places.\n"
           "# TYPE mcp_worker_queue_capacity gauge\n"
           "mcp_worker_queue_capacity %ld\n"
           "# HELP mcp_worker_zygote_up 1 when the zygote is serving.\n"
           "# TYPE mcp_worker_zygote_up gauge\nmcp_worker_zygote_up %d\n"
           "# HELP mcp_worker_zygote_restarts_total Zygote restarts.\n"
           "# TYPE mcp_worker_zygote_restarts_total counter\n"
           "mcp_worker_zygote_restarts_total %lu\n"
           "# HELP mcp_worker_landlock_abi Landlock ABI in use (0: none).\n"
           "# TYPE mcp_worker_landlock_abi gauge\nmcp_worker_landlock_abi %d\n",
           st.busy, st.queued, st.max_busy, st.max_queue, st.alive,
           st.restarts, st.landlock_abi);
#undef SW_PUT
    if (n >= cap) {
        free(buf);
        return MHD_NO;
    }
    return sw_send(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, NULL);
}

static const char *
sw_hdr(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result
sw_mcp_post(sw_http_t *h, struct MHD_Connection *conn, sw_req_t *req)
{
    sw_identity_t    id;
    sw_identity_rc_t irc;
    sw_reply_t       reply;
    unsigned int     status;

    if (req->too_large) {
        return sw_send(conn, MHD_HTTP_CONTENT_TOO_LARGE, "application/json",
                       sw_mcp_error_body(NULL, -32600,
                                         "Request body too large"), NULL);
    }
    irc = sw_identity_verify(sw_hdr(conn, "X-MCP-Identity"), h->secret,
                             h->secret_len, time(NULL),
                             SW_IDENTITY_MAX_SKEW_S, &id);
    if (irc != SW_ID_OK) {
        json_t *msg = req->body
                      ? json_loadb(req->body, req->len, 0, NULL) : NULL;
        json_t *rid = json_is_object(msg) ? json_object_get(msg, "id") : NULL;
        char   *body;
        sw_log("warn", "identity_rejected",
               json_pack("{s:s}", "reason", sw_identity_reason(irc)));
        body = sw_mcp_error_body(rid, -32001,
                                 "Unauthorized: missing or invalid signed"
                                 " identity");
        json_decref(msg);
        return sw_send(conn, MHD_HTTP_UNAUTHORIZED, "application/json", body,
                       NULL);
    }

    sw_mcp_handle(h->mcp, req->body ? req->body : "", req->len, id.user,
                  sw_hdr(conn, "MCP-Protocol-Version"), &reply);
    status = (unsigned int) reply.status;
    return sw_send(conn, status, "application/json", reply.body, &reply);
}

static enum MHD_Result
sw_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    sw_http_t *h = cls;
    sw_req_t  *req = *con_cls;
    int        is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    int        is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;

    (void) version;
    if (req == NULL) {
        const char *cl;
        req = calloc(1, sizeof(*req));
        if (req == NULL) {
            return MHD_NO;
        }
        cl = sw_hdr(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > SW_MAX_BODY_BYTES) {
            req->too_large = 1;
        }
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!req->too_large && is_post
            && req->len + *upload_data_size <= SW_MAX_BODY_BYTES)
        {
            char *nb = realloc(req->body, req->len + *upload_data_size + 1);
            if (nb == NULL) {
                return MHD_NO;
            }
            req->body = nb;
            memcpy(req->body + req->len, upload_data, *upload_data_size);
            req->len += *upload_data_size;
            req->body[req->len] = '\0';
        } else {
            req->too_large = 1;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (strcmp(url, "/mcp") == 0) {
        if (!is_post) {
            return sw_send(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                           "application/json",
                           sw_mcp_error_body(NULL, -32600,
                                             "Method not allowed: use POST"),
                           NULL);
        }
        return sw_mcp_post(h, conn, req);
    }
    if (strcmp(url, "/healthz") == 0 && is_get) {
        return sw_send_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
    }
    if (strcmp(url, "/readyz") == 0 && is_get) {
        return sw_readyz(h, conn);
    }
    if (strcmp(url, "/metrics") == 0 && is_get) {
        return sw_metrics(h, conn);
    }
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0
        || strcmp(url, "/metrics") == 0)
    {
        return sw_send_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "{\"error\":\"method not allowed\"}");
    }
    return sw_send_json(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
}

static void
sw_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    sw_req_t *req = *con_cls;

    (void) cls;
    (void) conn;
    (void) toe;
    if (req != NULL) {
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

static void
sw_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void) cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    sw_log("warn", "http", json_pack("{s:s}", "message", msg));
}

int
sw_http_start(sw_http_t *h, int listen_fd)
{
    /* One thread per connection: a tools/call blocks its thread until the
     * child is done, and the pool's queue (not MHD) bounds the work. */
    h->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
        | MHD_USE_POLL | MHD_USE_ERROR_LOG,
        0, NULL, NULL, sw_access, h,
        MHD_OPTION_EXTERNAL_LOGGER, sw_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) SW_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) SW_HTTP_CONN_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, sw_completed, NULL,
        MHD_OPTION_END);
    return h->daemon != NULL ? 0 : -1;
}

void
sw_http_stop(sw_http_t *h)
{
    if (h->daemon != NULL) {
        MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
    }
}
