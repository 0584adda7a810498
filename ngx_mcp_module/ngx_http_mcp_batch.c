
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * JSON-RPC batches, for endpoints that allow them (mcp_batch_max).  MCP
 * removed batching in 2025-06-18, so they are refused unless configured.
 * Each message of a batch is parsed and decided exactly as if it came
 * alone; the batch goes upstream only if every one of them is allowed.
 * Otherwise the answer is one error per request (the refused ones say
 * why, the others that they were not run) and the sandbox sees nothing.
 */


#include "ngx_http_mcp_module.h"


static ngx_int_t ngx_http_mcp_batch_note(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_batch_refuse(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_verdict_t *verdicts);


/* a body that is a JSON array, on an endpoint that allows batches */

ngx_uint_t
ngx_http_mcp_batch_body(ngx_http_mcp_loc_conf_t *mlcf, ngx_str_t *body)
{
    u_char  *p, *last;

    if (mlcf->batch_max == 0) {
        return 0;
    }

    last = body->data + body->len;

    for (p = body->data; p < last; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            return *p == '[';
        }
    }

    return 0;
}


/*
 * Parses each message of the batch.  A batch that cannot be split (not
 * JSON, empty, too long) is an error of the batch as a whole, in
 * ctx->rpc_error with the null id; a bad message is one refusal of many.
 */

ngx_int_t
ngx_http_mcp_batch_parse(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_str_t *body)
{
    int                       code;
    size_t                    n, i;
    const char               *reason;
    ngx_http_mcp_rpc_span_t  *spans;

    spans = ngx_palloc(r->pool, mlcf->batch_max
                                * sizeof(ngx_http_mcp_rpc_span_t));
    if (spans == NULL) {
        return NGX_ERROR;
    }

    code = ngx_http_mcp_rpc_split_batch((const char *) body->data, body->len,
                                        spans, mlcf->batch_max, &n, &reason,
                                        &ctx->rpc_alloc);
    if (code) {
        ctx->rpc_error = code;
        ctx->rpc.reason = reason;
        ngx_str_set(&ctx->method, "(batch)");
        return NGX_OK;
    }

    ctx->batch = ngx_pcalloc(r->pool, n * sizeof(ngx_http_mcp_rpc_t));
    if (ctx->batch == NULL) {
        return NGX_ERROR;
    }

    ctx->nbatch = n;

    for (i = 0; i < n; i++) {
        if (!spans[i].object) {
            ctx->batch[i].kind = NGX_HTTP_MCP_MSG_INVALID;
            ctx->batch[i].error = NGX_HTTP_MCP_RPC_INVALID_REQUEST;
            ctx->batch[i].reason = "message is not a JSON object";
            continue;
        }

        ctx->batch[i].error = ngx_http_mcp_rpc_parse(
                                  (const char *) body->data + spans[i].start,
                                  spans[i].end - spans[i].start,
                                  &ctx->batch[i], &ctx->rpc_alloc);
    }

    return ngx_http_mcp_batch_note(r, ctx);
}


/* the audit record of a batch: its methods, tools and ids, comma-joined */

static ngx_int_t
ngx_http_mcp_batch_note(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    u_char              *tools, *ids;
    size_t               tools_len, ids_len;
    ngx_uint_t           i;
    ngx_http_mcp_rpc_t  *rpc;

    ngx_str_set(&ctx->method, "(batch)");

    tools_len = 0;
    ids_len = 0;

    for (i = 0; i < ctx->nbatch; i++) {
        rpc = &ctx->batch[i];
        tools_len += (rpc->tool ? ngx_strlen(rpc->tool) : 0) + 1;
        ids_len += (rpc->id_text ? ngx_strlen(rpc->id_text) : 0) + 1;
    }

    tools = ngx_pnalloc(r->pool, tools_len);
    ids = ngx_pnalloc(r->pool, ids_len);
    if (tools == NULL || ids == NULL) {
        return NGX_ERROR;
    }

    ctx->tool.data = tools;
    ctx->rpc_id.data = ids;

    for (i = 0; i < ctx->nbatch; i++) {
        rpc = &ctx->batch[i];

        if (rpc->tool) {
            if (tools != ctx->tool.data) {
                *tools++ = ',';
            }

            tools = ngx_cpymem(tools, rpc->tool, ngx_strlen(rpc->tool));
        }

        if (rpc->id_text) {
            if (ids != ctx->rpc_id.data) {
                *ids++ = ',';
            }

            ids = ngx_cpymem(ids, rpc->id_text, ngx_strlen(rpc->id_text));
        }
    }

    ctx->tool.len = tools - ctx->tool.data;
    ctx->rpc_id.len = ids - ctx->rpc_id.data;

    return NGX_OK;
}


/*
 * Decides every message of an authenticated batch.  Returns NGX_OK when
 * all are allowed (the caller forwards the batch), else answers the
 * request itself.
 */

ngx_int_t
ngx_http_mcp_batch_decide(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_uint_t               i, refused;
    ngx_http_mcp_verdict_t  *verdicts;

    /* 2026-07-28 mirrors one message in its headers: a batch cannot */
    if (ngx_http_mcp_stateless(ctx) || ngx_http_mcp_transport_mirrored(r)) {
        ngx_http_mcp_set_decision(ctx, "deny", "batch_not_allowed");
        return ngx_http_mcp_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                       "JSON-RPC batches are not part of "
                                       "MCP 2026-07-28");
    }

    verdicts = ngx_pcalloc(r->pool,
                           ctx->nbatch * sizeof(ngx_http_mcp_verdict_t));
    if (verdicts == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    refused = 0;

    for (i = 0; i < ctx->nbatch; i++) {
        if (ngx_http_mcp_judge_message(r, ctx, mlcf, &ctx->batch[i],
                                       &verdicts[i])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (verdicts[i].reason == NULL
            && ctx->batch[i].method
            && ngx_strcmp(ctx->batch[i].method, "tools/list") == 0)
        {
            /* the list filter reads one answer, not an array of them */
            verdicts[i].reason = "tools_list_in_batch";
            verdicts[i].code = NGX_HTTP_MCP_RPC_INVALID_REQUEST;
            verdicts[i].message = "tools/list must be sent on its own, "
                                  "not in a batch";
        }

        if (verdicts[i].reason == NULL) {
            continue;
        }

        if (refused++ == 0) {
            ngx_http_mcp_set_decision(ctx, "deny", verdicts[i].reason);
        }
    }

    if (refused) {
        return ngx_http_mcp_batch_refuse(r, ctx, verdicts);
    }

    return NGX_OK;
}


/*
 * The answer to a refused batch: an array with an error for each request
 * (and for each message too broken to be one).  A batch of notifications
 * only has nobody to answer: its status says no, as for one notification.
 */

static ngx_int_t
ngx_http_mcp_batch_refuse(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_verdict_t *verdicts)
{
    char                *text;
    json_t              *answer, *error;
    ngx_uint_t           i, first;
    ngx_http_mcp_rpc_t  *rpc;

    answer = json_array();
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    first = ctx->nbatch;

    for (i = 0; i < ctx->nbatch; i++) {
        rpc = &ctx->batch[i];

        if (verdicts[i].reason && first == ctx->nbatch) {
            first = i;
        }

        if (rpc->kind != NGX_HTTP_MCP_MSG_REQUEST
            && rpc->kind != NGX_HTTP_MCP_MSG_INVALID)
        {
            continue;
        }

        error = verdicts[i].reason
                ? ngx_http_mcp_rpc_error_object(rpc->id, verdicts[i].code,
                                                verdicts[i].message, NULL)
                : ngx_http_mcp_rpc_error_object(rpc->id,
                                     NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                     "not run: another message of this "
                                     "batch was refused", NULL);

        if (error == NULL || json_array_append_new(answer, error) != 0) {
            json_decref(answer);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (json_array_size(answer) == 0) {
        json_decref(answer);
        return ngx_http_mcp_send_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                       verdicts[first].code,
                                       verdicts[first].message);
    }

    text = json_dumps(answer, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(answer);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mcp_send_json(r, ctx, NGX_HTTP_OK, text);
}


void
ngx_http_mcp_batch_free(ngx_http_mcp_ctx_t *ctx)
{
    ngx_uint_t  i;

    for (i = 0; i < ctx->nbatch; i++) {
        ngx_http_mcp_rpc_free(&ctx->batch[i]);
    }

    ctx->nbatch = 0;
}
