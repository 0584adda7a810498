
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What the sandbox learns about the caller.  MCP forbids passing the
 * client's token on, and a sandbox must not trust a header a client could
 * have sent itself: the request headers are rebuilt without any
 * credential or identity header, then the gateway's own identity is added
 * with an HMAC the worker verifies (docs/internals.md).
 */


#include "ngx_http_mcp_module.h"


/* a client's X-MCP-Identity, or any X-MCP-Identity-* header, is dropped */
#define NGX_HTTP_MCP_IDENTITY_PREFIX  "x-mcp-identity"


/* the one header of docs/internals.md; its hash is computed once */
static ngx_str_t   ngx_http_mcp_identity_name = ngx_string("X-MCP-Identity");
static ngx_str_t   ngx_http_mcp_identity_lowcase =
    ngx_string("x-mcp-identity");
static ngx_uint_t  ngx_http_mcp_identity_hash;


static ngx_uint_t ngx_http_mcp_is_client_credential(ngx_table_elt_t *h);
static ngx_uint_t ngx_http_mcp_header_safe(ngx_str_t *value);


ngx_int_t
ngx_http_mcp_identity_forward(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_uint_t         i;
    ngx_list_t         old, *headers;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h, *copy;

    /*
     * The first list part lives inside the list head, so the old head is
     * copied for reading and the request's own head is re-initialised in
     * place (a copied head would point at a stack variable).
     */
    old = r->headers_in.headers;

    if (ngx_list_init(&r->headers_in.headers, r->pool, old.nalloc + 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    headers = &r->headers_in.headers;
    part = &old.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_mcp_is_client_credential(&h[i])) {
            continue;
        }

        copy = ngx_list_push(headers);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    r->headers_in.authorization = NULL;

    return ngx_http_mcp_identity_add(r, headers, ctx, mlcf);
}


/* the signed identity header of docs/internals.md, added to headers */

ngx_int_t
ngx_http_mcp_identity_add(ngx_http_request_t *r, ngx_list_t *headers,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf)
{
    u_char            now[NGX_TIME_T_LEN];
    size_t            lens[6];
    ngx_str_t         none, value;
    const u_char     *data[6];
    ngx_table_elt_t  *h;

    /* a value with CR, LF or NUL could forge a second field */
    if (!ngx_http_mcp_header_safe(&ctx->user)
        || !ngx_http_mcp_header_safe(&ctx->roles))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp: identity of key id \"%V\" has control "
                      "characters; refusing to forward it", &ctx->key_id);
        return NGX_ERROR;
    }

    ngx_str_set(&none, "-");

    data[0] = now;
    lens[0] = ngx_sprintf(now, "%T", ngx_time()) - now;
    data[1] = ctx->user.data;
    lens[1] = ctx->user.len;
    data[2] = ctx->roles.data;
    lens[2] = ctx->roles.len;
    data[3] = ctx->auth_method.data;
    lens[3] = ctx->auth_method.len;
    data[4] = ctx->key_id.len ? ctx->key_id.data : none.data;
    lens[4] = ctx->key_id.len ? ctx->key_id.len : none.len;
    data[5] = mlcf->tenant.data;
    lens[5] = mlcf->tenant.len;

    value.data = ngx_pnalloc(r->pool, ngx_http_mcp_identity_size(lens, 6));
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    value.len = ngx_http_mcp_identity_sign(mlcf->identity_signer, data, lens,
                                           6, value.data);
    if (value.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp: HMAC of the identity failed");
        return NGX_ERROR;
    }

    /* the proxy looks headers up by lower-case name and hash */
    if (ngx_http_mcp_identity_hash == 0) {
        ngx_http_mcp_identity_hash = ngx_hash_key(
                                        ngx_http_mcp_identity_lowcase.data,
                                        ngx_http_mcp_identity_lowcase.len);
    }

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = ngx_http_mcp_identity_name;
    h->lowcase_key = ngx_http_mcp_identity_lowcase.data;
    h->hash = ngx_http_mcp_identity_hash;
    h->value = value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static ngx_uint_t
ngx_http_mcp_is_client_credential(ngx_table_elt_t *h)
{
    if (h->key.len == sizeof("Authorization") - 1
        && ngx_strncasecmp(h->key.data, (u_char *) "Authorization",
                           h->key.len) == 0)
    {
        return 1;
    }

    if (h->key.len == sizeof("X-API-Key") - 1
        && ngx_strncasecmp(h->key.data, (u_char *) "X-API-Key",
                           h->key.len) == 0)
    {
        return 1;
    }

    return h->key.len >= sizeof(NGX_HTTP_MCP_IDENTITY_PREFIX) - 1
           && ngx_strncasecmp(h->key.data,
                              (u_char *) NGX_HTTP_MCP_IDENTITY_PREFIX,
                              sizeof(NGX_HTTP_MCP_IDENTITY_PREFIX) - 1) == 0;
}


static ngx_uint_t
ngx_http_mcp_header_safe(ngx_str_t *value)
{
    ngx_uint_t  i;

    for (i = 0; i < value->len; i++) {
        if (value->data[i] < 0x20 || value->data[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}
