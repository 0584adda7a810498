
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Response filters of an MCP endpoint:
 * - tools/list: a caller sees exactly the tools its roles let it call.
 *   The sandbox's answer is buffered whole (bounded by mcp_max_list_size),
 *   filtered, and sent on as one buffer.  Anything the filter cannot
 *   understand is replaced by a JSON-RPC error: fail closed.
 * - a sandbox that cannot be reached (nginx's own 502/503/504 page) is
 *   answered as a JSON-RPC error with the request's id, which an MCP
 *   client can show, instead of an HTML page it cannot.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_tools_list.h"


static ngx_int_t ngx_http_mcp_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_mcp_buffer_body(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_chain_t *in, ngx_uint_t *last);
static ngx_int_t ngx_http_mcp_send_filtered(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static ngx_uint_t ngx_http_mcp_is_sse(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_upstream_error_header(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_upstream_error_body(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_mcp_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mcp_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mcp_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_header_filter(ngx_http_request_t *r)
{
    ngx_http_mcp_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL || ctx->state != NGX_HTTP_MCP_STATE_DONE
        || ctx->access_rc != NGX_OK)
    {
        return ngx_http_next_header_filter(r);
    }

    if (r->err_status >= NGX_HTTP_BAD_GATEWAY
        && r->err_status <= NGX_HTTP_GATEWAY_TIME_OUT)
    {
        return ngx_http_mcp_upstream_error_header(r, ctx);
    }

    if (!ctx->filter_tools_list || r->headers_out.status != NGX_HTTP_OK) {
        return ngx_http_next_header_filter(r);
    }

    ctx->filter_active = 1;

    /* the length changes; ranges and validators no longer apply */
    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);

    r->filter_need_in_memory = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_mcp_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t            rc;
    ngx_uint_t           last;
    ngx_http_mcp_ctx_t  *ctx;

    if (r != r->main || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx && ctx->error_body) {
        return ngx_http_mcp_upstream_error_body(r, ctx, in);
    }

    if (ctx == NULL || !ctx->filter_active) {
        return ngx_http_next_body_filter(r, in);
    }

    last = 0;

    rc = ngx_http_mcp_buffer_body(r, ctx, in, &last);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->filter_active = 0;

    return ngx_http_mcp_send_filtered(r, ctx);
}


static ngx_int_t
ngx_http_mcp_buffer_body(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_chain_t *in, ngx_uint_t *last)
{
    size_t                    size;
    ngx_buf_t                *b;
    ngx_chain_t              *cl, **ll;
    ngx_http_mcp_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    for (ll = &ctx->filter_in; *ll; ll = &(*ll)->next) { /* void */ }

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;
        size = ngx_buf_size(b);

        if (size) {
            if (ctx->filter_size + size > mlcf->max_list_size) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "mcp: tools/list response exceeds "
                              "mcp_max_list_size (%uz)", mlcf->max_list_size);
                return NGX_ERROR;
            }

            /* copied: the upstream reuses its buffers */
            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = ngx_create_temp_buf(r->pool, size);
            if (cl->buf == NULL) {
                return NGX_ERROR;
            }

            cl->buf->last = ngx_cpymem(cl->buf->pos, b->pos, size);
            cl->next = NULL;

            *ll = cl;
            ll = &cl->next;

            ctx->filter_size += size;
        }

        b->pos = b->last;

        if (b->last_buf || b->last_in_chain) {
            *last = 1;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_send_filtered(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    u_char                      *body, *p;
    char                        *text;
    size_t                       len;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl, out;
    ngx_http_mcp_loc_conf_t     *mlcf;
    ngx_http_mcp_list_filter_t   f;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    body = ngx_pnalloc(r->pool, ctx->filter_size + 1);
    if (body == NULL) {
        return NGX_ERROR;
    }

    p = body;

    for (cl = ctx->filter_in; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    f.rules = mlcf->tool_rules ? mlcf->tool_rules->elts : NULL;
    f.nrules = mlcf->tool_rules ? mlcf->tool_rules->nelts : 0;
    f.caller = &ctx->caller_roles;

    text = ngx_http_mcp_filter_tools_list((const char *) body,
                                          ctx->filter_size,
                                          ngx_http_mcp_is_sse(r), &f, &len);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp tools/list: %uz tools hidden", f.removed);

    if (text == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp: tools/list response from the sandbox is not a "
                      "JSON-RPC message; refusing to pass it on");

        ngx_http_mcp_set_decision(ctx, "error", "bad_tools_list");

        b = ngx_http_mcp_error_buf(r, ctx, NGX_HTTP_MCP_RPC_INTERNAL_ERROR,
                                   "the tool set returned an invalid tools "
                                   "list");
        if (b == NULL) {
            return NGX_ERROR;
        }

    } else {
        b = ngx_create_temp_buf(r->pool, len ? len : 1);
        if (b == NULL) {
            free(text);
            return NGX_ERROR;
        }

        b->last = ngx_cpymem(b->pos, text, len);
        b->last_buf = 1;
        b->last_in_chain = 1;
        free(text);
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_int_t
ngx_http_mcp_upstream_error_header(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx)
{
    ngx_http_mcp_set_decision(ctx, "error", "sandbox_unavailable");

    ctx->error_body = ngx_http_mcp_error_buf(r, ctx,
                                             NGX_HTTP_MCP_RPC_UNAVAILABLE,
                                             "the tool set is unavailable; "
                                             "retry later");
    if (ctx->error_body == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.content_length_n = ctx->error_body->last
                                      - ctx->error_body->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    return ngx_http_next_header_filter(r);
}


/* nginx's HTML page is dropped; the JSON-RPC error goes out at its end */

static ngx_int_t
ngx_http_mcp_upstream_error_body(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_uint_t   last;
    ngx_chain_t  out;

    last = 0;

    for ( /* void */ ; in; in = in->next) {
        in->buf->pos = in->buf->last;

        if (in->buf->last_buf || in->buf->last_in_chain) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    out.buf = ctx->error_body;
    out.next = NULL;
    ctx->error_body = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_uint_t
ngx_http_mcp_is_sse(ngx_http_request_t *r)
{
    ngx_str_t  *type;

    type = &r->headers_out.content_type;

    return type->len >= sizeof("text/event-stream") - 1
           && ngx_strncasecmp(type->data, (u_char *) "text/event-stream",
                              sizeof("text/event-stream") - 1) == 0;
}
