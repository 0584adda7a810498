
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The access phase of an MCP endpoint, as a small state machine:
 *
 *   START         transport rules and credentials noted; read the body
 *   BODY_READ     parse the message; a cached verdict, a JWT, or start
 *                 the API-key lookup
 *   LOOKUP        waiting for Redis (resumed through ctx->wake)
 *   LOOKUP_DONE   judge the key, check roles, decide the message
 *   JWKS          waiting for the identity provider's keys (subrequest)
 *   JWKS_DONE     verify the JWT, check roles, decide the message
 *   DONE          allowed (NGX_OK) or answered here (NGX_DONE)
 *
 * Deny by default: every path that is not an explicit allow answers the
 * client itself and never reaches the sandbox.
 */


#include "ngx_http_mcp_module.h"


static ngx_http_mcp_ctx_t *ngx_http_mcp_create_ctx(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_start(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static void ngx_http_mcp_credentials(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static ngx_int_t ngx_http_mcp_jwt_step(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static void ngx_http_mcp_remember_jwt(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static void ngx_http_mcp_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_parse_body(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static void ngx_http_mcp_note_message(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_authenticate(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static ngx_int_t ngx_http_mcp_cached_identity(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf,
    ngx_http_mcp_cached_t *cached);
static ngx_int_t ngx_http_mcp_authorize(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static void ngx_http_mcp_remember(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, const char *reason, time_t valid_until);
static ngx_int_t ngx_http_mcp_admit(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static const char *ngx_http_mcp_check_apikey(ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_decide_message(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static const char *ngx_http_mcp_rpc_error_reason(int code);
static ngx_uint_t ngx_http_mcp_method_allowed(ngx_http_mcp_loc_conf_t *mlcf,
    const char *method);
static ngx_int_t ngx_http_mcp_deny_auth(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_uint_t status, const char *reason,
    const char *message);
static ngx_buf_t *ngx_http_mcp_text_buf(ngx_http_request_t *r, char *text);
static ngx_int_t ngx_http_mcp_set_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static void ngx_http_mcp_ctx_cleanup(void *data);
static void *ngx_http_mcp_pool_malloc(void *ctx, size_t size);
static void *ngx_http_mcp_pool_realloc(void *ctx, void *p, size_t size);
static void ngx_http_mcp_pool_free(void *ctx, void *p);


/* room before a pool block for its size, keeping the block aligned */
#define NGX_HTTP_MCP_ALLOC_HEADER  16


ngx_int_t
ngx_http_mcp_access_handler(ngx_http_request_t *r)
{
    ngx_http_mcp_ctx_t       *ctx;
    ngx_http_mcp_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    if (mlcf->tenant.len == 0) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL) {
        ctx = ngx_http_mcp_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mcp_start(r, ctx, mlcf);
    }

    switch (ctx->state) {

    case NGX_HTTP_MCP_STATE_READING_BODY:
    case NGX_HTTP_MCP_STATE_LOOKUP:
    case NGX_HTTP_MCP_STATE_JWKS:
    case NGX_HTTP_MCP_STATE_AGGREGATE:
        return NGX_AGAIN;

    case NGX_HTTP_MCP_STATE_AGGREGATE_DONE:
        return ngx_http_mcp_aggregate_answer(r, ctx, mlcf);

    case NGX_HTTP_MCP_STATE_JWKS_DONE:
        return ngx_http_mcp_jwt_step(r, ctx, mlcf);

    case NGX_HTTP_MCP_STATE_BODY_READ:
        return ngx_http_mcp_authenticate(r, ctx, mlcf);

    case NGX_HTTP_MCP_STATE_LOOKUP_DONE:
        return ngx_http_mcp_authorize(r, ctx, mlcf);

    case NGX_HTTP_MCP_STATE_DONE:
        return ctx->access_rc;

    default:
        return ngx_http_mcp_start(r, ctx, mlcf);
    }
}


/* a timer or an answer that came later resumes the access phase */

void
ngx_http_mcp_resume(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_state_e state)
{
    ngx_connection_t  *c;

    c = r->connection;
    ctx->state = state;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_http_mcp_ctx_t *
ngx_http_mcp_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;
    ngx_http_mcp_ctx_t  *ctx, *from;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /*
     * An internal redirect clears module contexts; one an aggregate routed
     * here is found by its pool cleanup (as the realip module finds its
     * own), and the identity it verified is the caller's here too.
     */
    for (cln = r->internal ? r->pool->cleanup : NULL; cln; cln = cln->next) {
        if (cln->handler != ngx_http_mcp_ctx_cleanup) {
            continue;
        }

        from = cln->data;

        if (from->route_out) {
            from->route_out = 0;
            ctx->routed = 1;
            ctx->user = from->user;
            ctx->roles = from->roles;
            ctx->subject = from->subject;
            ctx->auth_method = from->auth_method;
            ctx->key_id = from->key_id;
            ctx->cached = from->cached;
            ctx->via = from->via;
            break;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mcp_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_mcp_module);

    return ctx;
}


static ngx_int_t
ngx_http_mcp_start(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_int_t  rc;

    ngx_http_mcp_transport_check(r, ctx, mlcf);

    /* what was presented is judged once the body (and its id) is read */
    if (!ctx->routed) {
        ngx_http_mcp_credentials(r, ctx, mlcf);
    }

    if (r->method != NGX_HTTP_POST) {
        /* no JSON-RPC body: judge what the headers say now */
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->state = NGX_HTTP_MCP_STATE_BODY_READ;

        return ngx_http_mcp_authenticate(r, ctx, mlcf);
    }

    if (r->headers_in.content_length_n > (off_t) mlcf->max_body_size) {
        ngx_http_mcp_set_decision(ctx, "deny", "body_too_large");

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mcp_send_error(r, ctx,
                                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                       "request body exceeds "
                                       "mcp_max_body_size");
    }

    ctx->state = NGX_HTTP_MCP_STATE_READING_BODY;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_mcp_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_mcp_set_decision(ctx, "error", "body_read_failed");
        return rc;
    }

    /* drops the reference read_client_request_body() took */
    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_mcp_credentials(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_uint_t                 bearer;
    ngx_http_mcp_main_conf_t  *mmcf;

    ngx_str_t         token;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;

    ngx_str_null(&token);
    bearer = 0;

    if (r->headers_in.authorization) {
        bearer = 1;
        token = r->headers_in.authorization->value;

        /* RFC 6750: the scheme is case-insensitive */
        if (token.len < 7
            || ngx_strncasecmp(token.data, (u_char *) "Bearer ", 7) != 0)
        {
            ngx_str_set(&ctx->auth_method, "none");
            ctx->auth_error = "unsupported_auth_scheme";
            return;
        }

        token.data += 7;
        token.len -= 7;

        while (token.len && token.data[0] == ' ') {
            token.data++;
            token.len--;
        }

    } else {
        part = &r->headers_in.headers.part;
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

            if (h[i].key.len == sizeof("X-API-Key") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "X-API-Key",
                                   sizeof("X-API-Key") - 1) == 0)
            {
                token = h[i].value;
                break;
            }
        }
    }

    if (token.len == 0) {
        ngx_str_set(&ctx->auth_method, "none");
        ctx->auth_error = "missing_credentials";
        return;
    }

    /* API keys announce themselves; any other bearer token is a JWT */
    if (bearer && (token.len < 4 || ngx_strncmp(token.data, "mcp_", 4) != 0)
        && mlcf->jwt_issuer.len)
    {
        ngx_str_set(&ctx->auth_method, "jwt");
        ctx->jwt = token;
        return;
    }

    ngx_str_set(&ctx->auth_method, "apikey");

    if (!ngx_http_mcp_apikey_well_formed(token.data, token.len)) {
        ctx->auth_error = "malformed_credentials";
        return;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);

    if (!mmcf->redis_configured) {
        ctx->auth_error = "api_keys_not_accepted";
        return;
    }

    ctx->apikey = token;
    ctx->key_id.data = token.data + 4;
    ctx->key_id.len = NGX_HTTP_MCP_KEY_ID_LEN;
}


static void
ngx_http_mcp_body_handler(ngx_http_request_t *r)
{
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    ctx->state = NGX_HTTP_MCP_STATE_BODY_READ;

    /* the proxy sends the same body on to the sandbox */
    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_mcp_authenticate(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_int_t                  rc;
    ngx_http_mcp_cached_t      cached;
    ngx_http_mcp_main_conf_t  *mmcf;

    if (r->method == NGX_HTTP_POST) {
        rc = ngx_http_mcp_parse_body(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ctx->transport_status) {
        ngx_http_mcp_set_decision(ctx, "deny", ctx->transport_reason);
        return ngx_http_mcp_send_error(r, ctx, ctx->transport_status,
                                       ctx->transport_code,
                                       ctx->transport_message);
    }

    if (ctx->routed) {
        return ngx_http_mcp_admit(r, ctx, mlcf);
    }

    if (ctx->auth_error) {
        return ngx_http_mcp_deny_auth(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                      ctx->auth_error,
                                      ngx_strcmp(ctx->auth_error,
                                                 "missing_credentials") == 0
                                      ? "authentication required"
                                      : "invalid credentials");
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);

    if (ctx->jwt.len) {
        ngx_http_mcp_sha256_scoped(mlcf->jwt_scope, ctx->jwt.data,
                                   ctx->jwt.len, ctx->digest);

    } else {
        ngx_http_mcp_sha256(ctx->apikey.data, ctx->apikey.len, ctx->digest);
    }

    if (mmcf->cache.shm_zone) {
        rc = ngx_http_mcp_cache_get(&mmcf->cache, ctx->digest, r->pool,
                                    &cached);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            return ngx_http_mcp_cached_identity(r, ctx, mlcf, &cached);
        }
    }

    if (ctx->jwt.len) {
        return ngx_http_mcp_jwt_step(r, ctx, mlcf);
    }

    ctx->state = NGX_HTTP_MCP_STATE_LOOKUP;

    rc = ngx_http_mcp_apikey_lookup(r, ctx);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->state = NGX_HTTP_MCP_STATE_LOOKUP_DONE;

    return ngx_http_mcp_authorize(r, ctx, mlcf);
}


static ngx_int_t
ngx_http_mcp_parse_body(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_str_t                 body;
    ngx_http_mcp_loc_conf_t  *mlcf;

    rc = ngx_http_mcp_request_body(r, &body);
    if (rc != NGX_OK) {
        ngx_http_mcp_set_decision(ctx, "deny", "body_too_large");
        return ngx_http_mcp_send_error(r, ctx,
                                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                       "request body exceeds "
                                       "mcp_max_body_size");
    }

    /* the outcome is acted on after authentication: no parser oracle */
    /* the parser's memory comes from the request's pool */
    ctx->rpc_alloc.malloc = ngx_http_mcp_pool_malloc;
    ctx->rpc_alloc.realloc = ngx_http_mcp_pool_realloc;
    ctx->rpc_alloc.free = ngx_http_mcp_pool_free;
    ctx->rpc_alloc.ctx = r->pool;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    if (ngx_http_mcp_batch_body(mlcf, &body)) {
        if (ngx_http_mcp_batch_parse(r, ctx, mlcf, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_OK;
    }

    ctx->rpc_error = ngx_http_mcp_rpc_parse((const char *) body.data,
                                            body.len, &ctx->rpc,
                                            &ctx->rpc_alloc);

    ngx_http_mcp_note_message(r, ctx);

    return NGX_OK;
}


/* the whole body in one piece; it is always in memory (see merge conf) */

ngx_int_t
ngx_http_mcp_request_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char                   *p;
    size_t                    len;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_mcp_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    ngx_str_set(body, "");

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file || !ngx_buf_in_memory(b)) {
            return NGX_ERROR;
        }

        len += b->last - b->pos;
    }

    if (len > mlcf->max_body_size) {
        return NGX_ERROR;
    }

    if (r->request_body->bufs->next == NULL) {
        body->data = r->request_body->bufs->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    return NGX_OK;
}


/*
 * What the audit record needs of the parsed message.  The strings stay
 * the message's own: they live until the ctx cleanup, after the log phase.
 */

static void
ngx_http_mcp_note_message(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_http_mcp_rpc_t  *rpc;

    rpc = &ctx->rpc;

    if (rpc->method) {
        ctx->method.data = (u_char *) rpc->method;
        ctx->method.len = ngx_strlen(rpc->method);

    } else if (rpc->kind == NGX_HTTP_MCP_MSG_RESPONSE) {
        ngx_str_set(&ctx->method, "(response)");
    }

    if (rpc->id_text) {
        ctx->rpc_id.data = (u_char *) rpc->id_text;
        ctx->rpc_id.len = ngx_strlen(rpc->id_text);
    }

    if (rpc->tool == NULL) {
        return;
    }

    ctx->tool.data = (u_char *) rpc->tool;
    ctx->tool.len = ngx_strlen(rpc->tool);

    ctx->args.data = (u_char *) rpc->args;
    ctx->args.len = rpc->args_size;

    ctx->args_size.data = ngx_pnalloc(r->pool, NGX_SIZE_T_LEN);
    if (ctx->args_size.data) {
        ctx->args_size.len = ngx_sprintf(ctx->args_size.data, "%uz",
                                         rpc->args_size)
                             - ctx->args_size.data;
    }
}


/* a verdict from the shared cache: the same as a fresh one */

static ngx_int_t
ngx_http_mcp_cached_identity(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_http_mcp_cached_t *cached)
{
    ctx->cached = 1;

    /* said as it was the first time the token or key was refused */
    if (cached->refused) {
        return ngx_http_mcp_deny_auth(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                      (const char *) cached->reason.data,
                                      ctx->jwt.len ? "invalid token"
                                                   : "invalid credentials");
    }

    ctx->user = cached->user;
    ctx->roles = cached->roles;
    ctx->subject = cached->subject;

    return ngx_http_mcp_admit(r, ctx, mlcf);
}


/*
 * A bearer JWT, verified here once and then cached until it expires (the
 * signature is not checked again for every request).
 */

static ngx_int_t
ngx_http_mcp_jwt_step(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_int_t  rc;

    rc = ngx_http_mcp_jwt_check(r, ctx, mlcf);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_mcp_set_decision(ctx, "error", "jwks_unavailable");

        /* no keys to check the token with: fail closed */
        return ngx_http_mcp_send_error(r, ctx,
                                       NGX_HTTP_SERVICE_UNAVAILABLE,
                                       NGX_HTTP_MCP_RPC_UNAVAILABLE,
                                       "token keys unavailable; "
                                       "retry later");
    }

    ngx_http_mcp_remember_jwt(r, ctx);

    if (ctx->routed) {
        return ngx_http_mcp_admit(r, ctx, mlcf);
    }

    if (ctx->auth_error) {
        return ngx_http_mcp_deny_auth(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                      ctx->auth_error, "invalid token");
    }

    return ngx_http_mcp_admit(r, ctx, mlcf);
}


/*
 * Caches a token's verdict: a verified one until its exp, a refused one
 * briefly -- but not a refusal that time or a key refresh can undo (not
 * yet valid, unknown key), nor one caused by memory.
 */

static void
ngx_http_mcp_remember_jwt(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    const char  *reason;

    reason = ctx->auth_error;

    if (reason
        && (ngx_strcmp(reason, "unknown_kid") == 0
            || ngx_strcmp(reason, "not_yet_valid") == 0
            || ngx_strcmp(reason, "no_memory") == 0))
    {
        return;
    }

    ngx_http_mcp_remember(r, ctx, reason, ctx->jwt_exp);
}


/*
 * Puts a verdict in the shared cache: an identity (ctx->user, roles and
 * subject) until valid_until, a refusal for the cache's negative_ttl.
 */

static void
ngx_http_mcp_remember(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    const char *reason, time_t valid_until)
{
    time_t                     expires;
    ngx_http_mcp_cached_t      entry;
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);

    if (mmcf->cache.shm_zone == NULL) {
        return;
    }

    ngx_memzero(&entry, sizeof(ngx_http_mcp_cached_t));

    if (reason) {
        entry.refused = 1;
        entry.reason.data = (u_char *) reason;
        entry.reason.len = ngx_strlen(reason) + 1;   /* kept with its NUL */
        expires = ngx_time() + mmcf->cache.negative_ttl;

    } else {
        entry.user = ctx->user;
        entry.roles = ctx->roles;
        entry.subject = ctx->subject;
        expires = valid_until;
    }

    ngx_http_mcp_cache_put(&mmcf->cache, ctx->digest, &entry, expires,
                           r->connection->log);
}


static ngx_int_t
ngx_http_mcp_authorize(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    time_t                     valid_until;
    const char                *reason;
    ngx_http_mcp_main_conf_t  *mmcf;

    if (ctx->lookup == NGX_HTTP_MCP_LOOKUP_UNAVAILABLE) {
        ngx_http_mcp_set_decision(ctx, "error", "auth_backend_unavailable");

        /* fail closed: no lookup, no entry */
        return ngx_http_mcp_send_error(r, ctx,
                                       NGX_HTTP_SERVICE_UNAVAILABLE,
                                       NGX_HTTP_MCP_RPC_UNAVAILABLE,
                                       "authentication service unavailable; "
                                       "retry later");
    }

    reason = ngx_http_mcp_check_apikey(ctx);

    if (reason == NULL) {
        ctx->user = ctx->record_user;
        ctx->roles = ctx->record_roles;
    }

    /*
     * Redis's verdict is cached: a valid key for the cache's ttl (never
     * past the key's own expiry), so revocation takes effect within it; a
     * refused key briefly, so a flood of bad keys is not one of lookups.
     */
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);
    valid_until = ngx_time() + mmcf->cache.ttl;

    if (ctx->record_expires && ctx->record_expires < valid_until) {
        valid_until = ctx->record_expires;
    }

    ngx_http_mcp_remember(r, ctx, reason, valid_until);

    if (reason) {
        return ngx_http_mcp_deny_auth(r, ctx, NGX_HTTP_UNAUTHORIZED, reason,
                                      "invalid credentials");
    }

    return ngx_http_mcp_admit(r, ctx, mlcf);
}


/* an authenticated identity: may it use this endpoint, and this message? */

static ngx_int_t
ngx_http_mcp_admit(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_http_mcp_apikey_touch(r, ctx);

    if (ngx_http_mcp_roles_parse(ctx->roles.data, ctx->roles.len,
                                 &ctx->caller_roles)
        != 0)
    {
        return ngx_http_mcp_deny_auth(r, ctx, NGX_HTTP_FORBIDDEN,
                                      "too_many_roles",
                                      "too many roles on this identity");
    }

    if (mlcf->allow_roles == NULL
        || !ngx_http_mcp_roles_intersect(&ctx->caller_roles,
                                         mlcf->allow_roles->elts,
                                         mlcf->allow_roles->nelts))
    {
        return ngx_http_mcp_deny_auth(r, ctx, NGX_HTTP_FORBIDDEN,
                                      "role_not_allowed",
                                      "your roles do not allow this "
                                      "endpoint");
    }

    return ngx_http_mcp_decide_message(r, ctx, mlcf);
}


/* NULL when the presented key matches a live record, else why not */

static const char *
ngx_http_mcp_check_apikey(ngx_http_mcp_ctx_t *ctx)
{
    u_char  digest[NGX_HTTP_MCP_SHA256_HEX_LEN];

    if (ctx->lookup != NGX_HTTP_MCP_LOOKUP_FOUND) {
        return "unknown_api_key";
    }

    ngx_hex_dump(digest, ctx->digest, sizeof(ctx->digest));

    if (!ngx_http_mcp_equal_ct(digest, sizeof(digest), ctx->record_hash.data,
                               ctx->record_hash.len))
    {
        return "wrong_api_key_secret";
    }

    if (ctx->record_revoked) {
        return "revoked_api_key";
    }

    if (ctx->record_expires && ctx->record_expires <= ngx_time()) {
        return "expired_api_key";
    }

    return NULL;
}


static ngx_int_t
ngx_http_mcp_decide_message(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_int_t                rc;
    ngx_http_mcp_rpc_t      *rpc;
    ngx_http_mcp_verdict_t   verdict;

    rpc = &ctx->rpc;

    if (ctx->rpc_error) {
        ngx_http_mcp_set_decision(ctx, "deny",
            ngx_http_mcp_rpc_error_reason(ctx->rpc_error));
        return ngx_http_mcp_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       ctx->rpc_error, rpc->reason);
    }

    if (ctx->session_request) {
        ngx_str_set(&ctx->method, "(session)");
        goto allow;
    }

    if (ctx->batch) {
        rc = ngx_http_mcp_batch_decide(r, ctx, mlcf);
        if (rc != NGX_OK) {
            return rc;
        }

        goto allow;
    }

    /* a call labelled with one tool must not invoke another */
    rc = ngx_http_mcp_transport_mirrors(r, ctx);
    if (rc != NGX_OK) {
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_mcp_set_decision(ctx, "deny", "header_mismatch");
        return ngx_http_mcp_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_MCP_RPC_HEADER_MISMATCH,
                                       ctx->transport_message);
    }

    if (mlcf->toolsets) {
        return ngx_http_mcp_aggregate_handle(r, ctx, mlcf);
    }

    if (ngx_http_mcp_judge_message(r, ctx, mlcf, rpc, &verdict) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (verdict.reason) {
        ngx_http_mcp_set_decision(ctx, "deny", verdict.reason);
        return ngx_http_mcp_send_error(r, ctx, verdict.status, verdict.code,
                                       verdict.message);
    }

    if (rpc->method && ngx_strcmp(rpc->method, "tools/list") == 0) {
        ctx->filter_tools_list = 1;
    }

allow:

    rc = ngx_http_mcp_identity_forward(r, ctx, mlcf);
    if (rc != NGX_OK) {
        ngx_http_mcp_set_decision(ctx, "error", "identity_signing_failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mcp_set_decision(ctx, "allow", "ok");

    ctx->state = NGX_HTTP_MCP_STATE_DONE;
    ctx->access_rc = NGX_OK;

    return NGX_OK;
}


static const char *
ngx_http_mcp_rpc_error_reason(int code)
{
    return code == NGX_HTTP_MCP_RPC_PARSE_ERROR ? "parse_error"
           : code == NGX_HTTP_MCP_RPC_INVALID_PARAMS ? "invalid_params"
           : "invalid_request";
}


/*
 * The rules for one parsed message of an authenticated caller: is it
 * well-formed, may this endpoint serve its method, may the caller call
 * its tool?  A refusal fills the verdict; it is not sent from here.
 */

ngx_int_t
ngx_http_mcp_judge_message(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_http_mcp_rpc_t *rpc,
    ngx_http_mcp_verdict_t *verdict)
{
    ngx_memzero(verdict, sizeof(ngx_http_mcp_verdict_t));

    if (rpc->error) {
        verdict->reason = ngx_http_mcp_rpc_error_reason(rpc->error);
        verdict->status = NGX_HTTP_BAD_REQUEST;
        verdict->code = rpc->error;
        verdict->message = rpc->reason;
        return NGX_OK;
    }

    if (rpc->method && !ngx_http_mcp_method_allowed(mlcf, rpc->method)) {
        verdict->reason = "method_not_allowed";

        /*
         * A notification has no id to answer: only the status says no.
         * 2026-07-28 answers an unknown method with 404 (a session-era
         * client reads the JSON-RPC error of a 200).
         */
        verdict->status = (rpc->kind != NGX_HTTP_MCP_MSG_REQUEST)
                          ? NGX_HTTP_FORBIDDEN
                          : ngx_http_mcp_stateless(ctx) ? NGX_HTTP_NOT_FOUND
                          : NGX_HTTP_OK;
        verdict->code = NGX_HTTP_MCP_RPC_METHOD_NOT_FOUND;
        verdict->message = "Method not found";
        return NGX_OK;
    }

    if (rpc->tool == NULL
        || ngx_http_mcp_may_call(mlcf, ctx, (const u_char *) rpc->tool,
                                 ngx_strlen(rpc->tool)))
    {
        return NGX_OK;
    }

    verdict->message = ngx_http_mcp_unknown_tool(r, rpc->tool);
    if (verdict->message == NULL) {
        return NGX_ERROR;
    }

    verdict->reason = "tool_not_allowed";
    verdict->status = NGX_HTTP_OK;
    verdict->code = NGX_HTTP_MCP_RPC_INVALID_PARAMS;

    return NGX_OK;
}


/* the endpoint's mcp_tool rules let this caller call the tool (none: no) */

ngx_uint_t
ngx_http_mcp_may_call(ngx_http_mcp_loc_conf_t *mlcf, ngx_http_mcp_ctx_t *ctx,
    const u_char *tool, size_t len)
{
    return mlcf->tool_rules
           && ngx_http_mcp_tool_allowed(mlcf->tool_rules->elts,
                                        mlcf->tool_rules->nelts, tool, len,
                                        &ctx->caller_roles);
}


/* exactly what the sandbox says for a tool it does not have */

const char *
ngx_http_mcp_unknown_tool(ngx_http_request_t *r, const char *tool)
{
    u_char  *msg;

    msg = ngx_pnalloc(r->pool, sizeof("Unknown tool: ") + ngx_strlen(tool));
    if (msg == NULL) {
        return NULL;
    }

    ngx_sprintf(msg, "Unknown tool: %s%Z", tool);

    return (const char *) msg;
}


/* mcp_methods: the methods (and notifications) an endpoint serves */

static ngx_uint_t
ngx_http_mcp_method_allowed(ngx_http_mcp_loc_conf_t *mlcf, const char *method)
{
    size_t                   len;
    ngx_uint_t               i;
    ngx_http_mcp_pattern_t  *p;

    len = ngx_strlen(method);
    p = mlcf->methods->elts;

    for (i = 0; i < mlcf->methods->nelts; i++) {
        if (ngx_http_mcp_pattern_match(&p[i].pattern, p[i].is_prefix,
                                       (const u_char *) method, len))
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_mcp_deny_auth(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_uint_t status, const char *reason, const char *message)
{
    u_char                   *p;
    size_t                    len;
    ngx_str_t                 value;
    ngx_http_mcp_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    ngx_http_mcp_set_decision(ctx, "deny", reason);

    if (ctx->state < NGX_HTTP_MCP_STATE_BODY_READ
        && ngx_http_discard_request_body(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* RFC 6750 section 3: which error, for which realm; RFC 9728 5.1 */
    len = sizeof("Bearer realm=\"\", error=\"insufficient_scope\"")
          + mlcf->tenant.len
          + sizeof(", resource_metadata=\"\"") + mlcf->resource_metadata.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = p;

    if (status == NGX_HTTP_FORBIDDEN) {
        p = ngx_sprintf(p, "Bearer realm=\"%V\", error=\"insufficient_scope\"",
                        &mlcf->tenant);

    } else if (ngx_strcmp(reason, "missing_credentials") != 0) {
        p = ngx_sprintf(p, "Bearer realm=\"%V\", error=\"invalid_token\"",
                        &mlcf->tenant);

    } else {
        p = ngx_sprintf(p, "Bearer realm=\"%V\"", &mlcf->tenant);
    }

    if (mlcf->resource_metadata.len) {
        p = ngx_sprintf(p, ", resource_metadata=\"%V\"",
                        &mlcf->resource_metadata);
    }

    value.len = p - value.data;

    if (ngx_http_mcp_set_header(r, "WWW-Authenticate", &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mcp_send_error(r, ctx, status,
                                   status == NGX_HTTP_FORBIDDEN
                                   ? NGX_HTTP_MCP_RPC_FORBIDDEN
                                   : NGX_HTTP_MCP_RPC_UNAUTHORIZED,
                                   message);
}


/*
 * Answers the request here with a JSON-RPC error that keeps the request's
 * id, and finalises it: the sandbox never sees it.
 */

ngx_int_t
ngx_http_mcp_send_error(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_uint_t status, int code, const char *message)
{
    char  *text;

    text = ngx_http_mcp_rpc_error_body(ctx->rpc.id, code, message,
                                       ctx->error_data);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mcp_send_json(r, ctx, status, text);
}


/*
 * Answers the request here with a JSON body (malloc()ed text, freed here)
 * and finalises it.
 */

ngx_int_t
ngx_http_mcp_send_json(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_uint_t status, char *text)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_str_t     value;
    ngx_chain_t   out;

    b = ngx_http_mcp_text_buf(r, text);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        ngx_str_set(&value, "1");
        if (ngx_http_mcp_set_header(r, "Retry-After", &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (status == NGX_HTTP_NOT_ALLOWED) {
        ngx_str_set(&value, "POST");
        if (ngx_http_mcp_set_header(r, "Allow", &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ctx->state = NGX_HTTP_MCP_STATE_DONE;
    ctx->access_rc = NGX_DONE;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc != NGX_ERROR && rc <= NGX_OK && !r->header_only) {
        rc = ngx_http_output_filter(r, &out);
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/* a JSON-RPC error with the request's id, as the last buffer of a body */

ngx_buf_t *
ngx_http_mcp_error_buf(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    int code, const char *message)
{
    char  *text;

    text = ngx_http_mcp_rpc_error_body(ctx->rpc.id, code, message,
                                       ctx->error_data);
    if (text == NULL) {
        return NULL;
    }

    return ngx_http_mcp_text_buf(r, text);
}


/* malloc()ed text (freed here) as the last buffer of a body */

static ngx_buf_t *
ngx_http_mcp_text_buf(ngx_http_request_t *r, char *text)
{
    size_t      len;
    ngx_buf_t  *b;

    len = ngx_strlen(text);

    b = ngx_create_temp_buf(r->pool, len);
    if (b != NULL) {
        b->last = ngx_cpymem(b->last, text, len);
        b->last_buf = (r == r->main) ? 1 : 0;
        b->last_in_chain = 1;
    }

    free(text);

    return b;
}


static ngx_int_t
ngx_http_mcp_set_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * yajl's allocator on the request's pool: no malloc()/free() per message;
 * a block remembers its size for realloc(), and free() leaves the memory
 * to the pool.
 */

static void *
ngx_http_mcp_pool_malloc(void *ctx, size_t size)
{
    u_char  *p;

    p = ngx_palloc(ctx, NGX_HTTP_MCP_ALLOC_HEADER + size);
    if (p == NULL) {
        return NULL;
    }

    *(size_t *) p = size;

    return p + NGX_HTTP_MCP_ALLOC_HEADER;
}


static void *
ngx_http_mcp_pool_realloc(void *ctx, void *p, size_t size)
{
    size_t   old;
    u_char  *n;

    if (p == NULL) {
        return ngx_http_mcp_pool_malloc(ctx, size);
    }

    old = *(size_t *) ((u_char *) p - NGX_HTTP_MCP_ALLOC_HEADER);

    if (size <= old) {
        return p;
    }

    n = ngx_http_mcp_pool_malloc(ctx, size);
    if (n == NULL) {
        return NULL;
    }

    ngx_memcpy(n, p, old);

    return n;
}


static void
ngx_http_mcp_pool_free(void *ctx, void *p)
{
    /* the pool frees it with the request */
}


static void
ngx_http_mcp_ctx_cleanup(void *data)
{
    ngx_http_mcp_ctx_t  *ctx = data;

    ngx_http_mcp_rpc_free(&ctx->rpc);
    ngx_http_mcp_batch_free(ctx);

    if (ctx->error_data) {
        json_decref(ctx->error_data);
    }
}
