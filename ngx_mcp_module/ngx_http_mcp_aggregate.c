
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * One MCP endpoint for several tool sets (mcp_aggregate).  The aggregate
 * authenticates the caller once, answers initialize, ping and
 * server/discover itself, and builds tools/list from the tool sets the
 * caller's roles open: one in-memory background subrequest per tool set,
 * all in flight at once, each filtered by that tool set's own rules; what
 * has not answered by mcp_aggregate_timeout is left out (a partial list,
 * said in $mcp_toolsets).  A tool set that pages its list (nextCursor) is
 * asked for each next page, up to a limit.  A tools/call is routed by its
 * tool name's prefix: the body (and Mcp-Name) get the tool set's own name
 * back and the request is redirected to the tool set's location, whose
 * roles, tool rules, limits and audit record apply unchanged; the identity
 * the aggregate verified travels with it.
 */


#include "ngx_http_mcp_module.h"


#define NGX_HTTP_MCP_AGG_LIST_BODY                                            \
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"tools/list\"}"
#define NGX_HTTP_MCP_AGG_VERSION     "2025-11-25"     /* to the tool sets */
#define NGX_HTTP_MCP_LIST_TOOLSETS   "list_toolsets"
#define NGX_HTTP_MCP_LOAD_TOOLSET    "load_toolset"

/* pages of one tool set's tools/list followed, at most */
#define NGX_HTTP_MCP_AGG_MAX_PAGES   32


typedef struct ngx_http_mcp_agg_s  ngx_http_mcp_agg_t;


/* one tool set's part of a tools/list */
typedef struct {
    ngx_http_mcp_agg_t        *agg;
    ngx_http_mcp_toolset_t    *toolset;
    ngx_http_request_t        *sr;        /* asking for the latest page */
    json_t                    *tools;     /* of the pages read so far */
    ngx_uint_t                 pages;
    unsigned                   done:1;
    unsigned                   failed:1;
} ngx_http_mcp_agg_part_t;


struct ngx_http_mcp_agg_s {
    ngx_http_request_t        *request;
    ngx_event_t                deadline;
    ngx_http_mcp_agg_part_t   *parts;
    ngx_uint_t                 nparts;
    ngx_uint_t                 pending;
    unsigned                   answered:1;
    unsigned                   load:1;      /* load_toolset, not tools/list */
};


static ngx_int_t ngx_http_mcp_agg_initialize(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static ngx_int_t ngx_http_mcp_agg_discover(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static ngx_int_t ngx_http_mcp_agg_catalogue(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static ngx_int_t ngx_http_mcp_agg_list_toolsets(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static ngx_int_t ngx_http_mcp_agg_load_toolset(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static ngx_int_t ngx_http_mcp_agg_fetch(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf,
    ngx_http_mcp_toolset_t **sets, ngx_uint_t n, ngx_uint_t load);
static ngx_int_t ngx_http_mcp_agg_subrequest(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_agg_part_t *part, json_t *cursor);
static ngx_int_t ngx_http_mcp_agg_page(ngx_http_request_t *sr,
    ngx_buf_t *b, ngx_http_mcp_agg_part_t *part);
static ngx_int_t ngx_http_mcp_agg_fetched(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_mcp_agg_wake(ngx_event_t *ev);
static void ngx_http_mcp_agg_cleanup(void *data);
static json_t *ngx_http_mcp_agg_tools(ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_agg_part_t *part, ngx_uint_t prefixed, json_t *seen);
static void ngx_http_mcp_agg_rename(json_t *tool, ngx_str_t *prefix);
static json_t *ngx_http_mcp_agg_result_of(u_char *body, size_t len,
    ngx_uint_t sse);
static ngx_int_t ngx_http_mcp_agg_route(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static ngx_http_mcp_toolset_t *ngx_http_mcp_agg_owner(
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf,
    const char *tool, ngx_str_t *own_name);
static ngx_uint_t ngx_http_mcp_agg_may_use(ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_toolset_t *set);
static ngx_int_t ngx_http_mcp_agg_rewrite(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_str_t *own_name);
static ngx_int_t ngx_http_mcp_agg_result(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, json_t *result);
static ngx_int_t ngx_http_mcp_agg_accepted(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_agg_push_headers(ngx_list_t *headers);
static ngx_int_t ngx_http_mcp_agg_toolset(ngx_conf_t *cf,
    ngx_http_mcp_loc_conf_t *agg, ngx_str_t *name,
    ngx_http_mcp_toolset_t *set);


/*
 * The aggregate's answer to an authenticated message that passed the
 * transport rules; NGX_OK is never returned (the request is answered,
 * waits for its tool sets, or is redirected).
 */

ngx_int_t
ngx_http_mcp_aggregate_handle(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_uint_t           stateless;
    const char          *method;
    ngx_http_mcp_rpc_t  *rpc;

    rpc = &ctx->rpc;
    method = rpc->method;
    stateless = ngx_http_mcp_stateless(ctx);

    if (rpc->kind != NGX_HTTP_MCP_MSG_REQUEST) {
        /* notifications and answers from the client: nothing to do here */
        return ngx_http_mcp_agg_accepted(r, ctx);
    }

    if (ngx_strcmp(method, "tools/call") == 0) {
        if (mlcf->aggregate_discovery
            && ngx_strcmp(rpc->tool, NGX_HTTP_MCP_LIST_TOOLSETS) == 0)
        {
            return ngx_http_mcp_agg_list_toolsets(r, ctx, mlcf);
        }

        if (mlcf->aggregate_discovery
            && ngx_strcmp(rpc->tool, NGX_HTTP_MCP_LOAD_TOOLSET) == 0)
        {
            return ngx_http_mcp_agg_load_toolset(r, ctx, mlcf);
        }

        return ngx_http_mcp_agg_route(r, ctx, mlcf);
    }

    if (ngx_strcmp(method, "tools/list") == 0) {
        if (mlcf->aggregate_discovery) {
            return ngx_http_mcp_agg_catalogue(r, ctx, mlcf);
        }

        return ngx_http_mcp_agg_fetch(r, ctx, mlcf, NULL, 0, 0);
    }

    if (ngx_strcmp(method, "server/discover") == 0) {
        return ngx_http_mcp_agg_discover(r, ctx, mlcf);
    }

    if (!stateless && ngx_strcmp(method, "initialize") == 0) {
        return ngx_http_mcp_agg_initialize(r, ctx, mlcf);
    }

    if (!stateless && ngx_strcmp(method, "ping") == 0) {
        return ngx_http_mcp_agg_result(r, ctx, json_object());
    }

    ngx_http_mcp_set_decision(ctx, "deny", "method_not_allowed");

    return ngx_http_mcp_send_error(r, ctx,
                                   stateless ? NGX_HTTP_NOT_FOUND : NGX_HTTP_OK,
                                   NGX_HTTP_MCP_RPC_METHOD_NOT_FOUND,
                                   "Method not found");
}


/* the session-era handshake: the client's revision if served, else ours */

static ngx_int_t
ngx_http_mcp_agg_initialize(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    json_t      *body, *result;
    ngx_str_t    text;
    const char  *wanted, *version;

    version = "2025-11-25";

    if (ngx_http_mcp_request_body(r, &text) == NGX_OK) {
        body = json_loadb((const char *) text.data, text.len, 0, NULL);
        wanted = json_string_value(json_object_get(
                     json_object_get(body, "params"), "protocolVersion"));

        if (wanted && ngx_strcmp(wanted, "2025-06-18") == 0) {
            version = "2025-06-18";
        }

        json_decref(body);
    }

    result = json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s#}}",
                       "protocolVersion", version,
                       "capabilities", "tools", "listChanged", 0,
                       "serverInfo", "name", "ngx_mcp",
                       "version", NGX_HTTP_MCP_MODULE_VERSION,
                       "title", mlcf->tenant.data, mlcf->tenant.len);

    return ngx_http_mcp_agg_result(r, ctx, result);
}


static ngx_int_t
ngx_http_mcp_agg_discover(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    json_t  *result;

    result = json_pack("{s:s, s:[s,s,s], s:{s:{s:b}}, s:{s:{s:s, s:s, s:s#}}}",
                       "resultType", "complete",
                       "supportedVersions", "2025-06-18", "2025-11-25",
                       "2026-07-28",
                       "capabilities", "tools", "listChanged", 0,
                       "_meta", "io.modelcontextprotocol/serverInfo",
                       "name", "ngx_mcp",
                       "version", NGX_HTTP_MCP_MODULE_VERSION,
                       "title", mlcf->tenant.data, mlcf->tenant.len);

    return ngx_http_mcp_agg_result(r, ctx, result);
}


/*
 * Progressive discovery: instead of every tool set's schemas, two small
 * tools -- what tool sets there are, and one tool set's tools on demand.
 */

static ngx_int_t
ngx_http_mcp_agg_catalogue(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    json_t  *result;

    result = json_pack(
        "{s:[{s:s, s:s, s:{s:s, s:{}, s:b}, s:{s:b}},"
        "    {s:s, s:s, s:{s:s, s:{s:{s:s, s:s}}, s:[s], s:b}, s:{s:b}}]}",
        "tools",
        "name", NGX_HTTP_MCP_LIST_TOOLSETS,
        "description", "List the tool sets you may use, one line each.",
        "inputSchema", "type", "object", "properties",
        "additionalProperties", 0,
        "annotations", "readOnlyHint", 1,
        "name", NGX_HTTP_MCP_LOAD_TOOLSET,
        "description", "Get one tool set's tools (names to call, input "
                       "schemas). Call them by these names.",
        "inputSchema", "type", "object", "properties", "name",
        "type", "string", "description", "A name from list_toolsets.",
        "required", "name", "additionalProperties", 0,
        "annotations", "readOnlyHint", 1);

    return ngx_http_mcp_agg_result(r, ctx, result);
}


static ngx_int_t
ngx_http_mcp_agg_list_toolsets(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    char                    *text;
    json_t                  *sets, *set, *result;
    ngx_uint_t               i;
    ngx_http_mcp_toolset_t  *ts;

    sets = json_array();
    if (sets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ts = mlcf->toolsets->elts;

    for (i = 0; i < mlcf->toolsets->nelts; i++) {
        if (!ngx_http_mcp_agg_may_use(ctx, &ts[i])) {
            continue;
        }

        set = json_pack("{s:s#, s:s#, s:s#}",
                        "name", ts[i].name.data, ts[i].name.len,
                        "description", ts[i].conf->description.data,
                        ts[i].conf->description.len,
                        "prefix", ts[i].prefix.data, ts[i].prefix.len);

        if (set == NULL || json_array_append_new(sets, set) != 0) {
            json_decref(sets);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* text only: the model reads it, and it is all the context pays for */
    text = json_dumps(sets, JSON_COMPACT);
    json_decref(sets);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    result = json_pack("{s:[{s:s, s:s}]}",
                       "content", "type", "text", "text", text);
    free(text);

    return ngx_http_mcp_agg_result(r, ctx, result);
}


static ngx_int_t
ngx_http_mcp_agg_load_toolset(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    json_t                   *body;
    ngx_str_t                 text;
    ngx_uint_t                i;
    const char               *name;
    ngx_http_mcp_toolset_t   *ts, *set;

    set = NULL;

    if (ngx_http_mcp_request_body(r, &text) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = json_loadb((const char *) text.data, text.len, 0, NULL);
    name = json_string_value(json_object_get(json_object_get(
               json_object_get(body, "params"), "arguments"), "name"));

    ts = mlcf->toolsets->elts;

    for (i = 0; name && i < mlcf->toolsets->nelts; i++) {
        if (ts[i].name.len == ngx_strlen(name)
            && ngx_strncmp(ts[i].name.data, name, ts[i].name.len) == 0
            && ngx_http_mcp_agg_may_use(ctx, &ts[i]))
        {
            set = &ts[i];
        }
    }

    json_decref(body);

    if (set == NULL) {
        /* unknown and forbidden look the same */
        ngx_http_mcp_set_decision(ctx, "deny", "toolset_not_allowed");
        return ngx_http_mcp_agg_result(r, ctx,
                   json_pack("{s:[{s:s, s:s}], s:b}",
                             "content", "type", "text", "text",
                             "Unknown tool set: see list_toolsets.",
                             "isError", 1));
    }

    return ngx_http_mcp_agg_fetch(r, ctx, mlcf, &set, 1, 1);
}


/*
 * Asks the tool sets (all the caller may use, or the n given) for their
 * tools, in parallel; the answer is made once all have answered or the
 * deadline has passed (ngx_http_mcp_aggregate_answer()).
 */

static ngx_int_t
ngx_http_mcp_agg_fetch(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_http_mcp_toolset_t **sets,
    ngx_uint_t n, ngx_uint_t load)
{
    ngx_uint_t                i;
    ngx_pool_cleanup_t       *cln;
    ngx_http_mcp_agg_t       *agg;
    ngx_http_mcp_toolset_t   *ts;

    agg = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_agg_t));
    if (agg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    agg->parts = ngx_pcalloc(r->pool, mlcf->toolsets->nelts
                                      * sizeof(ngx_http_mcp_agg_part_t));
    if (agg->parts == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    agg->request = r;
    agg->load = load;

    if (sets) {
        for (i = 0; i < n; i++) {
            agg->parts[agg->nparts++].toolset = sets[i];
        }

    } else {
        ts = mlcf->toolsets->elts;

        for (i = 0; i < mlcf->toolsets->nelts; i++) {
            if (ngx_http_mcp_agg_may_use(ctx, &ts[i])) {
                agg->parts[agg->nparts++].toolset = &ts[i];
            }
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mcp_agg_cleanup;
    cln->data = agg;

    agg->deadline.handler = ngx_http_mcp_agg_wake;
    agg->deadline.data = r;
    agg->deadline.log = r->connection->log;

    ctx->agg = agg;
    ctx->state = NGX_HTTP_MCP_STATE_AGGREGATE;

    for (i = 0; i < agg->nparts; i++) {
        agg->parts[i].agg = agg;

        if (ngx_http_mcp_agg_subrequest(r, ctx, &agg->parts[i], NULL)
            != NGX_OK)
        {
            agg->parts[i].done = 1;
            agg->parts[i].failed = 1;
            continue;
        }

        agg->pending++;
    }

    if (agg->pending == 0) {
        ngx_post_event(&agg->deadline, &ngx_posted_events);

    } else {
        ngx_add_timer(&agg->deadline, mlcf->aggregate_timeout);
    }

    return NGX_AGAIN;
}


/*
 * A POST of tools/list (from cursor on, when not NULL) to the tool set's
 * location, as a session-era client would send it, with the identity
 * signed for that tool set; in the background, so a slow tool set never
 * holds the answer back.
 */

static ngx_int_t
ngx_http_mcp_agg_subrequest(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_agg_part_t *part, json_t *cursor)
{
    char                        *text;
    ngx_buf_t                   *b;
    ngx_list_t                  *headers;
    ngx_chain_t                 *cl;
    ngx_http_request_t          *sr;
    ngx_http_request_body_t     *rb;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    if (ps == NULL || rb == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_mcp_agg_fetched;
    ps->data = part;

    if (ngx_http_subrequest(r, &part->toolset->location, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part->sr = sr;

    if (cursor == NULL) {
        b->pos = (u_char *) NGX_HTTP_MCP_AGG_LIST_BODY;
        b->last = b->pos + sizeof(NGX_HTTP_MCP_AGG_LIST_BODY) - 1;

    } else {
        text = json_dumps(cursor, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL) {
            return NGX_ERROR;
        }

        b->pos = ngx_pnalloc(r->pool, ngx_strlen(text)
                                      + sizeof(NGX_HTTP_MCP_AGG_LIST_BODY)
                                      + sizeof(",\"params\":{\"cursor\":}"));
        if (b->pos == NULL) {
            free(text);
            return NGX_ERROR;
        }

        /* the first body, its closing brace replaced by the params */
        b->last = ngx_cpymem(b->pos, NGX_HTTP_MCP_AGG_LIST_BODY,
                             sizeof(NGX_HTTP_MCP_AGG_LIST_BODY) - 2);
        b->last = ngx_sprintf(b->last, ",\"params\":{\"cursor\":%s}}", text);
        free(text);
    }

    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;
    rb->bufs = cl;

    sr->request_body = rb;
    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");
    sr->headers_in.content_length_n = b->last - b->pos;
    sr->headers_in.chunked = 0;

    /* a fresh header list: nothing of the client's but who it is */
    headers = &sr->headers_in.headers;

    if (ngx_list_init(headers, r->pool, 12, sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_http_mcp_agg_push_headers(headers) != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.authorization = NULL;

    return ngx_http_mcp_identity_add(sr, headers, ctx, part->toolset->conf);
}


static ngx_int_t
ngx_http_mcp_agg_fetched(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_mcp_agg_part_t *part = data;

    ngx_buf_t           *b;
    ngx_http_mcp_agg_t  *agg;

    agg = part->agg;

    /* once per page: a subrequest may be finalised more than once */
    if (part->done || sr != part->sr) {
        return rc;
    }

    part->done = 1;

    b = sr->out ? sr->out->buf : NULL;

    if (rc != NGX_OK || sr->headers_out.status != NGX_HTTP_OK || b == NULL) {
        part->failed = 1;
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "mcp aggregate: tool set \"%V\" answered tools/list "
                      "with status %ui", &part->toolset->name,
                      sr->headers_out.status);

    } else if (ngx_http_mcp_agg_page(sr, b, part) == NGX_AGAIN) {
        part->done = 0;
        return rc;          /* the next page is on its way */
    }

    if (--agg->pending == 0 && !agg->answered) {
        /* answer outside this subrequest's finalisation */
        if (agg->deadline.timer_set) {
            ngx_del_timer(&agg->deadline);
        }

        ngx_post_event(&agg->deadline, &ngx_posted_events);
    }

    return rc;
}


/*
 * Adds a page of a tool set's tools/list to its part; NGX_AGAIN when the
 * page names a next one and that is asked for, else the part is complete
 * (or failed: unreadable, or more pages than NGX_HTTP_MCP_AGG_MAX_PAGES).
 */

static ngx_int_t
ngx_http_mcp_agg_page(ngx_http_request_t *sr, ngx_buf_t *b,
    ngx_http_mcp_agg_part_t *part)
{
    json_t              *result, *tools, *cursor;
    ngx_uint_t           sse;
    ngx_http_request_t  *r;
    ngx_http_mcp_ctx_t  *ctx;

    sse = sr->headers_out.content_type.len >= sizeof("text/event-stream") - 1
          && ngx_strncasecmp(sr->headers_out.content_type.data,
                             (u_char *) "text/event-stream",
                             sizeof("text/event-stream") - 1) == 0;

    result = ngx_http_mcp_agg_result_of(b->pos, b->last - b->pos, sse);
    tools = json_object_get(result, "tools");

    if (!json_is_array(tools)
        || (part->tools == NULL && (part->tools = json_array()) == NULL)
        || json_array_extend(part->tools, tools) != 0)
    {
        json_decref(result);
        part->failed = 1;
        return NGX_OK;
    }

    part->pages++;
    cursor = json_object_get(result, "nextCursor");

    if (!json_is_string(cursor) || part->agg->answered) {
        json_decref(result);
        return NGX_OK;
    }

    r = part->agg->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (part->pages >= NGX_HTTP_MCP_AGG_MAX_PAGES
        || ctx == NULL
        || ngx_http_mcp_agg_subrequest(r, ctx, part, cursor) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "mcp aggregate: tool set \"%V\": next page of "
                      "tools/list not fetched (page %ui)",
                      &part->toolset->name, part->pages + 1);
        json_decref(result);
        part->failed = 1;
        return NGX_OK;
    }

    json_decref(result);

    return NGX_AGAIN;
}


static void
ngx_http_mcp_agg_wake(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
    ngx_http_mcp_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    ngx_http_set_log_request(c->log, r);

    if (ctx == NULL || ctx->agg == NULL || ctx->agg->answered) {
        return;
    }

    ev->timedout = 0;
    ngx_http_mcp_resume(r, ctx, NGX_HTTP_MCP_STATE_AGGREGATE_DONE);
}


static void
ngx_http_mcp_agg_cleanup(void *data)
{
    ngx_http_mcp_agg_t  *agg = data;

    ngx_uint_t  i;

    agg->answered = 1;

    for (i = 0; i < agg->nparts; i++) {
        json_decref(agg->parts[i].tools);
        agg->parts[i].tools = NULL;
    }

    if (agg->deadline.timer_set) {
        ngx_del_timer(&agg->deadline);
    }

    if (agg->deadline.posted) {
        ngx_delete_posted_event(&agg->deadline);
    }
}


/* the merged list (or one tool set's tools), from what has come back */

ngx_int_t
ngx_http_mcp_aggregate_answer(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    u_char                   *p;
    char                     *text;
    json_t                   *all, *seen, *tools, *result;
    size_t                    len;
    ngx_uint_t                i, partial;
    const char               *outcome;
    ngx_http_mcp_agg_t       *agg;
    ngx_http_mcp_agg_part_t  *part;

    agg = ctx->agg;
    agg->answered = 1;

    all = json_array();
    seen = json_object();
    if (all == NULL || seen == NULL) {
        json_decref(all);
        json_decref(seen);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (i = 0; i < agg->nparts; i++) {
        len += agg->parts[i].toolset->name.len + sizeof(":timeout ");
    }

    ctx->toolsets.data = ngx_pnalloc(r->pool, len);
    if (ctx->toolsets.data == NULL) {
        json_decref(all);
        json_decref(seen);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ctx->toolsets.data;
    partial = 0;

    for (i = 0; i < agg->nparts; i++) {
        part = &agg->parts[i];
        tools = NULL;

        if (!part->done) {
            outcome = "timeout";

            /*
             * The late subrequest keeps this request open until it ends:
             * the client is told not to wait for this connection.
             */
            r->keepalive = 0;

        } else if (part->failed) {
            outcome = "error";

        } else {
            tools = ngx_http_mcp_agg_tools(ctx, part, !agg->load, seen);
            outcome = tools ? "ok" : "error";
        }

        if (tools) {
            json_array_extend(all, tools);
            json_decref(tools);

        } else {
            partial = 1;
        }

        p = ngx_sprintf(p, "%s%V:%s", i ? " " : "", &part->toolset->name,
                        outcome);
    }

    ctx->toolsets.len = p - ctx->toolsets.data;
    json_decref(seen);

    ngx_http_mcp_set_decision(ctx, "allow", partial ? "partial" : "ok");

    if (!agg->load) {
        result = ngx_http_mcp_stateless(ctx)
                 ? json_pack("{s:s, s:o}", "resultType", "complete",
                             "tools", all)
                 : json_pack("{s:o}", "tools", all);

        return ngx_http_mcp_agg_result(r, ctx, result);
    }

    if (partial) {
        json_decref(all);
        return ngx_http_mcp_agg_result(r, ctx,
                   json_pack("{s:[{s:s, s:s}], s:b}",
                             "content", "type", "text", "text",
                             "The tool set did not answer; try again later.",
                             "isError", 1));
    }

    /* the tools under the names to call them by */
    for (i = 0; i < json_array_size(all); i++) {
        ngx_http_mcp_agg_rename(json_array_get(all, i),
                                &agg->parts[0].toolset->prefix);
    }

    text = json_dumps(all, JSON_COMPACT);
    json_decref(all);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    result = json_pack("{s:[{s:s, s:s}]}",
                       "content", "type", "text", "text", text);
    free(text);

    return ngx_http_mcp_agg_result(r, ctx, result);
}


/*
 * One tool set's tools the caller may call, by that tool set's own rules,
 * under the aggregate's names (when prefixed), each name once (without
 * prefixes the first tool set to list a name owns it); NULL if its answer
 * cannot be read.
 */

static json_t *
ngx_http_mcp_agg_tools(ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_agg_part_t *part,
    ngx_uint_t prefixed, json_t *seen)
{
    json_t      *tools, *kept, *tool;
    size_t       i;
    const char  *name;

    tools = part->tools;

    if (!json_is_array(tools)) {
        return NULL;
    }

    kept = json_array();
    if (kept == NULL) {
        return NULL;
    }

    json_array_foreach(tools, i, tool) {
        name = json_string_value(json_object_get(tool, "name"));

        if (name == NULL
            || !ngx_http_mcp_may_call(part->toolset->conf, ctx,
                                      (const u_char *) name, ngx_strlen(name)))
        {
            continue;
        }

        if (prefixed) {
            ngx_http_mcp_agg_rename(tool, &part->toolset->prefix);
            name = json_string_value(json_object_get(tool, "name"));
        }

        if (json_object_get(seen, name)) {
            continue;
        }

        json_object_set_new(seen, name, json_true());
        json_array_append(kept, tool);
    }

    return kept;
}


/* prefix + name, as the aggregate's callers see and call it */

static void
ngx_http_mcp_agg_rename(json_t *tool, ngx_str_t *prefix)
{
    char        *joined;
    size_t       len;
    const char  *name;

    name = json_string_value(json_object_get(tool, "name"));

    if (name == NULL || prefix->len == 0) {
        return;
    }

    len = prefix->len + ngx_strlen(name);

    joined = malloc(len + 1);
    if (joined == NULL) {
        return;
    }

    ngx_memcpy(joined, prefix->data, prefix->len);
    ngx_memcpy(joined + prefix->len, name, len - prefix->len + 1);

    json_object_set_new(tool, "name", json_stringn(joined, len));

    free(joined);
}


/* the "result" of a tool set's answer, as JSON or in an SSE data line */

static json_t *
ngx_http_mcp_agg_result_of(u_char *body, size_t len, ngx_uint_t sse)
{
    json_t  *message, *result;
    u_char  *p, *last, *line, *eol;

    if (!sse) {
        message = json_loadb((const char *) body, len,
                             JSON_REJECT_DUPLICATES, NULL);
        result = json_incref(json_object_get(message, "result"));
        json_decref(message);
        return result;
    }

    p = body;
    last = p + len;

    for (line = p; line < last; line = eol + 1) {
        eol = ngx_strlchr(line, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (eol - line < 5 || ngx_strncmp(line, "data:", 5) != 0) {
            continue;
        }

        message = json_loadb((const char *) line + 5, eol - line - 5,
                             JSON_REJECT_DUPLICATES, NULL);
        result = json_incref(json_object_get(message, "result"));
        json_decref(message);

        if (result) {
            return result;
        }
    }

    return NULL;
}


/*
 * A tools/call goes to the tool set that owns the tool, under the tool
 * set's own name for it; a tool no usable tool set owns is unknown.
 */

static ngx_int_t
ngx_http_mcp_agg_route(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_int_t                rc;
    ngx_str_t                own_name;
    const char              *msg;
    ngx_http_mcp_toolset_t  *set;

    set = ngx_http_mcp_agg_owner(ctx, mlcf, ctx->rpc.tool, &own_name);

    if (set == NULL) {
        ngx_http_mcp_set_decision(ctx, "deny", "tool_not_allowed");

        msg = ngx_http_mcp_unknown_tool(r, ctx->rpc.tool);
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mcp_send_error(r, ctx, NGX_HTTP_OK,
                                       NGX_HTTP_MCP_RPC_INVALID_PARAMS, msg);
    }

    if (own_name.len != ngx_strlen(ctx->rpc.tool)
        && ngx_http_mcp_agg_rewrite(r, ctx, &own_name) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the tool set's location admits the identity verified here */
    ctx->route_out = 1;
    ctx->via = mlcf->tenant;
    ctx->state = NGX_HTTP_MCP_STATE_DONE;
    ctx->access_rc = NGX_DONE;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp aggregate: \"%s\" to \"%V\"", ctx->rpc.tool,
                   &set->location);

    rc = ngx_http_internal_redirect(r, &set->location, &r->args);

    /* drops the reference the redirect took */
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_http_mcp_toolset_t *
ngx_http_mcp_agg_owner(ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf,
    const char *tool, ngx_str_t *own_name)
{
    size_t                   len;
    ngx_uint_t               i;
    ngx_http_mcp_toolset_t  *ts;

    len = ngx_strlen(tool);
    ts = mlcf->toolsets->elts;

    for (i = 0; i < mlcf->toolsets->nelts; i++) {
        if (!ngx_http_mcp_agg_may_use(ctx, &ts[i])
            || len <= ts[i].prefix.len
            || ngx_strncmp(tool, ts[i].prefix.data, ts[i].prefix.len) != 0)
        {
            continue;
        }

        own_name->data = (u_char *) tool + ts[i].prefix.len;
        own_name->len = len - ts[i].prefix.len;

        /*
         * The tool set's rules decide here, so that a refusal names the
         * tool as it was called; without prefixes they also pick the owner.
         */
        if (!ngx_http_mcp_may_call(ts[i].conf, ctx, own_name->data,
                                   own_name->len))
        {
            continue;
        }

        return &ts[i];
    }

    return NULL;
}


static ngx_uint_t
ngx_http_mcp_agg_may_use(ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_toolset_t *set)
{
    return set->conf->allow_roles
           && ngx_http_mcp_roles_intersect(&ctx->caller_roles,
                                           set->conf->allow_roles->elts,
                                           set->conf->allow_roles->nelts);
}


/*
 * The body with params.name replaced by the tool set's own name (the rest
 * byte for byte, so the arguments' digest stays the same), and Mcp-Name
 * to match.
 */

static ngx_int_t
ngx_http_mcp_agg_rewrite(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_str_t *own_name)
{
    char             *quoted;
    size_t            qlen;
    json_t           *name;
    ngx_str_t         body;
    ngx_buf_t        *b;
    ngx_chain_t      *cl;
    ngx_table_elt_t  *h;

    if (ngx_http_mcp_request_body(r, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    name = json_stringn((const char *) own_name->data, own_name->len);
    quoted = json_dumps(name, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
    json_decref(name);

    if (quoted == NULL) {
        return NGX_ERROR;
    }

    qlen = ngx_strlen(quoted);

    b = ngx_create_temp_buf(r->pool, body.len - (ctx->rpc.name_end
                                                 - ctx->rpc.name_start)
                                     + qlen);
    cl = ngx_alloc_chain_link(r->pool);
    if (b == NULL || cl == NULL) {
        free(quoted);
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, body.data, ctx->rpc.name_start);
    b->last = ngx_cpymem(b->last, quoted, qlen);
    b->last = ngx_cpymem(b->last, body.data + ctx->rpc.name_end,
                         body.len - ctx->rpc.name_end);
    b->last_buf = 1;

    free(quoted);

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->request_body->buf = b;
    r->headers_in.content_length_n = b->last - b->pos;

    /* the mirror header checked above now names the tool set's tool */
    h = ngx_http_mcp_transport_header(r, "Mcp-Name");
    if (h) {
        return ngx_http_mcp_transport_encode(r, own_name, &h->value);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_agg_result(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    json_t *result)
{
    char    *text;
    json_t  *answer;

    if (result == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = json_pack("{s:s, s:O?, s:o}", "jsonrpc", "2.0",
                       "id", ctx->rpc.id, "result", result);
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(answer, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(answer);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->decision.len == 0) {
        ngx_http_mcp_set_decision(ctx, "allow", "ok");
    }

    return ngx_http_mcp_send_json(r, ctx, NGX_HTTP_OK, text);
}


static ngx_int_t
ngx_http_mcp_agg_accepted(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_int_t  rc;

    ngx_http_mcp_set_decision(ctx, "allow", "ok");

    ctx->state = NGX_HTTP_MCP_STATE_DONE;
    ctx->access_rc = NGX_DONE;

    r->headers_out.status = NGX_HTTP_ACCEPTED;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/* what a session-era client sends with tools/list: made once, not per call */

static ngx_int_t
ngx_http_mcp_agg_push_headers(ngx_list_t *headers)
{
    ngx_uint_t         i;
    ngx_table_elt_t   *h;

    static ngx_table_elt_t  fixed[] = {
        { 0, ngx_string("Content-Type"), ngx_string("application/json"),
          (u_char *) "content-type" },
        { 0, ngx_string("Accept"),
          ngx_string("application/json, text/event-stream"),
          (u_char *) "accept" },
        { 0, ngx_string("MCP-Protocol-Version"),
          ngx_string(NGX_HTTP_MCP_AGG_VERSION),
          (u_char *) "mcp-protocol-version" }
    };

    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (fixed[i].hash == 0) {
            fixed[i].hash = ngx_hash_key(fixed[i].lowcase_key,
                                         fixed[i].key.len);
        }

        h = ngx_list_push(headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = fixed[i];
    }

    return NGX_OK;
}


/*
 * After every location is merged: each aggregate's names become the
 * endpoints they name, with the prefixes their tools get.
 */

ngx_int_t
ngx_http_mcp_aggregate_resolve(ngx_conf_t *cf)
{
    ngx_uint_t                  i, j;
    ngx_str_t                  *names;
    ngx_http_mcp_loc_conf_t   **aggs, *agg;
    ngx_http_mcp_main_conf_t   *mmcf;
    ngx_http_mcp_toolset_t     *set;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);
    aggs = mmcf->aggregates.elts;

    for (i = 0; i < mmcf->aggregates.nelts; i++) {
        agg = aggs[i];

        if (agg->batch_max || agg->session_requests) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mcp_aggregate\" of \"mcp_endpoint %V\" "
                               "takes neither \"mcp_batch_max\" nor "
                               "\"mcp_session_requests pass\"", &agg->tenant);
            return NGX_ERROR;
        }

        agg->toolsets = ngx_array_create(cf->pool, agg->aggregate->nelts,
                                         sizeof(ngx_http_mcp_toolset_t));
        if (agg->toolsets == NULL) {
            return NGX_ERROR;
        }

        names = agg->aggregate->elts;

        for (j = 0; j < agg->aggregate->nelts; j++) {
            set = ngx_array_push(agg->toolsets);
            if (set == NULL) {
                return NGX_ERROR;
            }

            if (ngx_http_mcp_agg_toolset(cf, agg, &names[j], set) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_agg_toolset(ngx_conf_t *cf, ngx_http_mcp_loc_conf_t *agg,
    ngx_str_t *name, ngx_http_mcp_toolset_t *set)
{
    u_char                     *p;
    ngx_uint_t                  i, found;
    ngx_http_mcp_toolset_t     *other;
    ngx_http_mcp_loc_conf_t   **tenants;
    ngx_http_mcp_main_conf_t   *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);
    tenants = mmcf->tenants.elts;

    ngx_memzero(set, sizeof(ngx_http_mcp_toolset_t));
    found = 0;

    for (i = 0; i < mmcf->tenants.nelts; i++) {
        if (tenants[i]->aggregate == NULL
            && tenants[i]->tenant.len == name->len
            && ngx_strncmp(tenants[i]->tenant.data, name->data, name->len)
               == 0)
        {
            set->conf = tenants[i];
            found++;
        }
    }

    if (found != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_aggregate\" of \"mcp_endpoint %V\" names "
                           "\"%V\", which %s", &agg->tenant, name,
                           found ? "more than one location declares"
                                 : "no other \"mcp_endpoint\" declares");
        return NGX_ERROR;
    }

    if (set->conf->location.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_aggregate\" cannot reach \"mcp_endpoint "
                           "%V\" in a regex or named location", name);
        return NGX_ERROR;
    }

    set->name = *name;
    set->location = set->conf->location;

    if (!agg->aggregate_prefix) {
        return NGX_OK;
    }

    /* "log-analysis" -> "log_analysis__": a valid part of any tool name */
    set->prefix.len = name->len + 2;
    set->prefix.data = ngx_pnalloc(cf->pool, set->prefix.len);
    if (set->prefix.data == NULL) {
        return NGX_ERROR;
    }

    p = set->prefix.data;

    for (i = 0; i < name->len; i++) {
        *p++ = (isalnum(name->data[i])) ? name->data[i] : '_';
    }

    *p++ = '_';
    *p = '_';

    other = agg->toolsets->elts;

    for (i = 0; &other[i] != set; i++) {
        if (other[i].prefix.len == set->prefix.len
            && ngx_strncmp(other[i].prefix.data, set->prefix.data,
                           set->prefix.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mcp_aggregate\" tool sets \"%V\" and "
                               "\"%V\" would share the prefix \"%V\"",
                               &other[i].name, name, &set->prefix);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
