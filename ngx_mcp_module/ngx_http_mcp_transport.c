
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The Streamable HTTP rules an endpoint enforces before it looks at who
 * is calling: the HTTP method, the Origin of browser requests (against
 * DNS rebinding) and the MCP-Protocol-Version header.  A failure is only
 * recorded here; the access handler answers it once the body (and so the
 * JSON-RPC id) has been read.
 */


#include "ngx_http_mcp_module.h"


static ngx_table_elt_t *ngx_http_mcp_find_header(ngx_http_request_t *r,
    const char *name, size_t len);
static ngx_uint_t ngx_http_mcp_in_list(ngx_array_t *list, ngx_str_t *value);
static void ngx_http_mcp_transport_fail(ngx_http_mcp_ctx_t *ctx,
    ngx_uint_t status, int code, const char *reason, const char *message);


/* the protocol revisions served when mcp_protocol_versions is not set */
static ngx_str_t  ngx_http_mcp_default_versions[] = {
    ngx_string("2025-06-18"),
    ngx_string("2025-11-25"),
    ngx_string("2026-07-28"),
};


void
ngx_http_mcp_transport_check(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_uint_t        i, known;
    ngx_table_elt_t  *h;

    /* a browser page of another site must not reach a local server */
    h = ngx_http_mcp_find_header(r, "Origin", sizeof("Origin") - 1);

    if (h && !ngx_http_mcp_in_list(mlcf->allowed_origins, &h->value)) {
        ngx_http_mcp_transport_fail(ctx, NGX_HTTP_FORBIDDEN,
                                    NGX_HTTP_MCP_RPC_FORBIDDEN,
                                    "origin_not_allowed",
                                    "Origin not allowed");
        return;
    }

    h = ngx_http_mcp_find_header(r, "MCP-Protocol-Version",
                                 sizeof("MCP-Protocol-Version") - 1);
    if (h) {
        ctx->protocol_version = h->value;

        if (mlcf->protocol_versions) {
            known = ngx_http_mcp_in_list(mlcf->protocol_versions, &h->value);

        } else {
            known = 0;

            for (i = 0; i < sizeof(ngx_http_mcp_default_versions)
                            / sizeof(ngx_str_t); i++)
            {
                if (h->value.len == ngx_http_mcp_default_versions[i].len
                    && ngx_strncmp(h->value.data,
                                   ngx_http_mcp_default_versions[i].data,
                                   h->value.len) == 0)
                {
                    known = 1;
                    break;
                }
            }
        }

        if (!known) {
            ngx_http_mcp_transport_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "unsupported_protocol_version",
                                        "Unsupported MCP-Protocol-Version");
            return;
        }
    }

    if (r->method == NGX_HTTP_POST) {
        return;
    }

    if ((r->method & (NGX_HTTP_GET|NGX_HTTP_DELETE)) && mlcf->session_requests)
    {
        /* the SSE stream and the end of a session, for the sandbox */
        ctx->session_request = 1;
        return;
    }

    ngx_http_mcp_transport_fail(ctx, NGX_HTTP_NOT_ALLOWED,
                                NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                "method_not_allowed",
                                "this endpoint takes JSON-RPC messages by "
                                "POST only");
}


/* the Mcp-Session-Id a request carries, for the variable and the audit */

ngx_table_elt_t *
ngx_http_mcp_session_header(ngx_http_request_t *r)
{
    return ngx_http_mcp_find_header(r, "Mcp-Session-Id",
                                    sizeof("Mcp-Session-Id") - 1);
}


static ngx_table_elt_t *
ngx_http_mcp_find_header(ngx_http_request_t *r, const char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_uint_t
ngx_http_mcp_in_list(ngx_array_t *list, ngx_str_t *value)
{
    ngx_str_t   *item;
    ngx_uint_t   i;

    if (list == NULL) {
        return 0;
    }

    item = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (item[i].len == value->len
            && ngx_strncmp(item[i].data, value->data, value->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_mcp_transport_fail(ngx_http_mcp_ctx_t *ctx, ngx_uint_t status,
    int code, const char *reason, const char *message)
{
    ctx->transport_status = status;
    ctx->transport_code = code;
    ctx->transport_reason = reason;
    ctx->transport_message = message;
}
