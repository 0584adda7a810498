
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


#define NGX_HTTP_MCP_IDENTITY_PREFIX  "x-mcp-identity-"
#define NGX_HTTP_MCP_IDENTITY_HEADERS  7


typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  lowcase;
    ngx_uint_t                 hash;      /* of lowcase, computed once */
} ngx_http_mcp_identity_header_t;


/* the headers of docs/internals.md, in the order their values are made */
static ngx_http_mcp_identity_header_t  ngx_http_mcp_identity_headers[] = {
    { ngx_string("X-MCP-Identity-Time"),
      ngx_string("x-mcp-identity-time"), 0 },
    { ngx_string("X-MCP-Identity-User"),
      ngx_string("x-mcp-identity-user"), 0 },
    { ngx_string("X-MCP-Identity-Roles"),
      ngx_string("x-mcp-identity-roles"), 0 },
    { ngx_string("X-MCP-Identity-Auth"),
      ngx_string("x-mcp-identity-auth"), 0 },
    { ngx_string("X-MCP-Identity-Key-Id"),
      ngx_string("x-mcp-identity-key-id"), 0 },
    { ngx_string("X-MCP-Identity-Tenant"),
      ngx_string("x-mcp-identity-tenant"), 0 },
    { ngx_string("X-MCP-Identity-Signature"),
      ngx_string("x-mcp-identity-signature"), 0 }
};


static ngx_uint_t ngx_http_mcp_is_client_credential(ngx_table_elt_t *h);
static ngx_int_t ngx_http_mcp_push_header(ngx_list_t *headers, ngx_uint_t n,
    ngx_str_t *value);
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


/* the signed identity headers of docs/internals.md, added to headers */

ngx_int_t
ngx_http_mcp_identity_add(ngx_http_request_t *r, ngx_list_t *headers,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf)
{
    size_t             lens[6];
    ngx_str_t          now, signature, none;
    ngx_str_t         *fields[NGX_HTTP_MCP_IDENTITY_HEADERS];
    ngx_uint_t         i;
    const u_char      *data[6];

    /* a value with CR, LF or NUL could forge a second header */
    if (!ngx_http_mcp_header_safe(&ctx->user)
        || !ngx_http_mcp_header_safe(&ctx->roles))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp: identity of key id \"%V\" has control "
                      "characters; refusing to forward it", &ctx->key_id);
        return NGX_ERROR;
    }

    now.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (now.data == NULL) {
        return NGX_ERROR;
    }

    now.len = ngx_sprintf(now.data, "%T", ngx_time()) - now.data;

    ngx_str_set(&none, "-");

    fields[0] = &now;
    fields[1] = &ctx->user;
    fields[2] = &ctx->roles;
    fields[3] = &ctx->auth_method;
    fields[4] = ctx->key_id.len ? &ctx->key_id : &none;
    fields[5] = &mlcf->tenant;

    for (i = 0; i < 6; i++) {
        data[i] = fields[i]->data;
        lens[i] = fields[i]->len;
    }

    signature.data = ngx_pnalloc(r->pool, NGX_HTTP_MCP_SIGNATURE_LEN);
    if (signature.data == NULL) {
        return NGX_ERROR;
    }

    signature.len = NGX_HTTP_MCP_SIGNATURE_LEN;

    if (ngx_http_mcp_identity_sign(mlcf->identity_signer, data, lens, 6,
                                   signature.data)
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp: HMAC of the identity failed");
        return NGX_ERROR;
    }

    fields[6] = &signature;

    /* in the order of ngx_http_mcp_identity_headers[] */
    for (i = 0; i < NGX_HTTP_MCP_IDENTITY_HEADERS; i++) {
        if (ngx_http_mcp_push_header(headers, i, fields[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

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


static ngx_int_t
ngx_http_mcp_push_header(ngx_list_t *headers, ngx_uint_t n, ngx_str_t *value)
{
    ngx_table_elt_t                 *h;
    ngx_http_mcp_identity_header_t  *ih;

    ih = &ngx_http_mcp_identity_headers[n];

    /* the proxy looks headers up by lower-case name and hash: made once */
    if (ih->hash == 0) {
        ih->hash = ngx_hash_key(ih->lowcase.data, ih->lowcase.len);
    }

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = ih->name;
    h->lowcase_key = ih->lowcase.data;
    h->hash = ih->hash;
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
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
