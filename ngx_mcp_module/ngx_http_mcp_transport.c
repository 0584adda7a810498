
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
static json_t *ngx_http_mcp_versions_data(ngx_http_mcp_loc_conf_t *mlcf,
    ngx_str_t *requested);
static ngx_int_t ngx_http_mcp_mirror_matches(ngx_http_request_t *r,
    ngx_table_elt_t *h, const char *body_value);


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
                                        NGX_HTTP_MCP_RPC_UNSUPPORTED_VERSION,
                                        "unsupported_protocol_version",
                                        "Unsupported protocol version "
                                        "(MCP-Protocol-Version)");
            ctx->error_data = ngx_http_mcp_versions_data(mlcf, &h->value);
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


/*
 * 2026-07-28 mirrors the method (Mcp-Method) and the tool, prompt or
 * resource (Mcp-Name) in headers, so that they can route without reading
 * the body.  Whatever a header says must be what the body says: a header
 * that disagrees is refused (-32020), as is a stateless request without
 * them.  Returns NGX_OK, NGX_DECLINED (refused, message in ctx), or
 * NGX_ERROR.
 */

ngx_int_t
ngx_http_mcp_transport_mirrors(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_uint_t           stateless, named;
    ngx_table_elt_t     *method, *name;
    ngx_http_mcp_rpc_t  *rpc;

    rpc = &ctx->rpc;
    stateless = ngx_http_mcp_stateless(ctx);

    method = ngx_http_mcp_find_header(r, "Mcp-Method",
                                      sizeof("Mcp-Method") - 1);
    name = ngx_http_mcp_find_header(r, "Mcp-Name", sizeof("Mcp-Name") - 1);

    named = rpc->method
            && (ngx_strcmp(rpc->method, "tools/call") == 0
                || ngx_strcmp(rpc->method, "prompts/get") == 0
                || ngx_strcmp(rpc->method, "resources/read") == 0);

    if (stateless && rpc->kind == NGX_HTTP_MCP_MSG_REQUEST) {
        if (method == NULL) {
            ctx->transport_message = "Header mismatch: Mcp-Method is "
                                     "missing";
            return NGX_DECLINED;
        }

        if (named && name == NULL) {
            ctx->transport_message = "Header mismatch: Mcp-Name is missing";
            return NGX_DECLINED;
        }

        if (rpc->meta_version
            && ngx_strcmp(rpc->meta_version, "2026-07-28") != 0)
        {
            ctx->transport_message = "Header mismatch: MCP-Protocol-Version "
                                     "differs from _meta";
            return NGX_DECLINED;
        }
    }

    if (method) {
        rc = ngx_http_mcp_mirror_matches(r, method, rpc->method);
        if (rc != NGX_OK) {
            ctx->transport_message = "Header mismatch: Mcp-Method differs "
                                     "from the request body";
            return rc;
        }
    }

    if (name) {
        rc = ngx_http_mcp_mirror_matches(r, name, named ? rpc->name : NULL);
        if (rc != NGX_OK) {
            ctx->transport_message = "Header mismatch: Mcp-Name differs "
                                     "from the request body";
            return rc;
        }
    }

    return NGX_OK;
}


/* Mcp-Method or Mcp-Name came: they describe a single message */

ngx_uint_t
ngx_http_mcp_transport_mirrored(ngx_http_request_t *r)
{
    return ngx_http_mcp_find_header(r, "Mcp-Method",
                                    sizeof("Mcp-Method") - 1) != NULL
           || ngx_http_mcp_find_header(r, "Mcp-Name",
                                       sizeof("Mcp-Name") - 1) != NULL;
}


/* the request speaks the stateless revision (it says so in its header) */

ngx_uint_t
ngx_http_mcp_stateless(ngx_http_mcp_ctx_t *ctx)
{
    return ctx->protocol_version.len == sizeof("2026-07-28") - 1
           && ngx_strncmp(ctx->protocol_version.data, "2026-07-28",
                          ctx->protocol_version.len) == 0;
}


ngx_table_elt_t *
ngx_http_mcp_transport_header(ngx_http_request_t *r, const char *name)
{
    return ngx_http_mcp_find_header(r, name, ngx_strlen(name));
}


/* a mirrored value as a header carries it: raw, or =?base64?...?= */

ngx_int_t
ngx_http_mcp_transport_encode(ngx_http_request_t *r, ngx_str_t *value,
    ngx_str_t *out)
{
    u_char      *p;
    ngx_str_t    encoded;
    ngx_uint_t   i;

    for (i = 0; i < value->len; i++) {
        if (value->data[i] <= 0x20 || value->data[i] >= 0x7f) {
            break;
        }
    }

    if (i == value->len) {
        *out = *value;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, sizeof("=?base64?") - 1 + sizeof("?=") - 1
                             + ngx_base64_encoded_length(value->len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_cpymem(p, "=?base64?", sizeof("=?base64?") - 1);

    encoded.data = p;
    ngx_encode_base64(&encoded, value);

    p = ngx_cpymem(p + encoded.len, "?=", 2);
    out->len = p - out->data;

    return NGX_OK;
}


/* values outside visible ASCII travel as =?base64?...?= (2026-07-28) */

static ngx_int_t
ngx_http_mcp_mirror_matches(ngx_http_request_t *r, ngx_table_elt_t *h,
    const char *body_value)
{
    ngx_str_t  value, encoded;

    if (body_value == NULL) {
        return NGX_DECLINED;
    }

    value = h->value;

    /* the shortest wrapped value: "=?base64?" + "?=" */
    if (value.len >= 11
        && ngx_strncmp(value.data, "=?base64?", 9) == 0
        && ngx_strncmp(value.data + value.len - 2, "?=", 2) == 0)
    {
        encoded.data = value.data + 9;
        encoded.len = value.len - 11;

        value.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(
                                              encoded.len));
        if (value.data == NULL) {
            return NGX_ERROR;
        }

        if (encoded.len % 4 || ngx_decode_base64(&value, &encoded) != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    if (value.len != ngx_strlen(body_value)
        || ngx_strncmp(value.data, body_value, value.len) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static json_t *
ngx_http_mcp_versions_data(ngx_http_mcp_loc_conf_t *mlcf, ngx_str_t *requested)
{
    ngx_str_t   *v;
    json_t      *data, *supported;
    ngx_uint_t   i, n;

    if (mlcf->protocol_versions) {
        v = mlcf->protocol_versions->elts;
        n = mlcf->protocol_versions->nelts;

    } else {
        v = ngx_http_mcp_default_versions;
        n = sizeof(ngx_http_mcp_default_versions) / sizeof(ngx_str_t);
    }

    supported = json_array();

    for (i = 0; i < n; i++) {
        json_array_append_new(supported,
                              json_stringn((const char *) v[i].data,
                                           v[i].len));
    }

    data = json_pack("{s:o, s:s%}", "supported", supported,
                     "requested", (const char *) requested->data,
                     requested->len);

    return data;
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
    return ngx_http_mcp_list_header(&r->headers_in.headers, name, len);
}


/* the first header of a list by name, any case; NULL when there is none */

ngx_table_elt_t *
ngx_http_mcp_list_header(ngx_list_t *headers, const char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &headers->part;
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
