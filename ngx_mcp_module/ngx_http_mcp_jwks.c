
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Bearer JWTs at an endpoint: where the keys come from and when they are
 * refreshed.  The verification itself is ngx_http_mcp_jwt.c.
 *
 * Keys come from a JWKS file (mcp_jwks_file, re-read when it changes) or
 * from the identity provider through an internal location (mcp_jwks_uri,
 * an in-memory subrequest).  A fetched JWKS is kept as text in the auth
 * cache zone, so one worker's fetch serves all; each worker parses it into
 * EVP_PKEYs once per change.  A fetch happens when the keys are older than
 * mcp_jwks_refresh, or when a token names an unknown kid (key rotation),
 * but at most once per mcp_jwks_retry across all workers.
 */


#include "ngx_http_mcp_module.h"


/* a JWKS file is stat()ed at most this often per worker */
#define NGX_HTTP_MCP_JWKS_FILE_CHECK  1

/*
 * Before a worker has any keys (at start), a token waits for a fetch
 * another request started, looking for its keys every POLL ms for at most
 * WAIT seconds, rather than failing while the keys are on their way.
 */
#define NGX_HTTP_MCP_JWKS_WAIT        5
#define NGX_HTTP_MCP_JWKS_POLL        10


static ngx_int_t ngx_http_mcp_jwks_refresh(ngx_http_request_t *r,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_uint_t *fetch_due);
static ngx_int_t ngx_http_mcp_jwks_from_file(ngx_log_t *log,
    ngx_http_mcp_loc_conf_t *mlcf);
static ngx_int_t ngx_http_mcp_jwks_from_zone(ngx_http_request_t *r,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_uint_t *fetch_due);
static ngx_int_t ngx_http_mcp_jwks_install(ngx_log_t *log,
    ngx_http_mcp_jwks_state_t *state, u_char *text, size_t len);
static ngx_int_t ngx_http_mcp_jwks_fetch(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static void ngx_http_mcp_jwks_store(ngx_http_request_t *sr,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_int_t rc);
static ngx_int_t ngx_http_mcp_jwks_fetched(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_mcp_jwt_result(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_jwt_result_t *res);
static ngx_int_t ngx_http_mcp_pool_strdup(ngx_pool_t *pool, const char *s,
    ngx_str_t *out);
static void ngx_http_mcp_jwks_cleanup(void *data);
static ngx_int_t ngx_http_mcp_jwks_wait(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
static void ngx_http_mcp_jwks_poll(ngx_event_t *ev);
static void ngx_http_mcp_jwks_wait_cleanup(void *data);


#define ngx_http_mcp_jwks_zone(r)                                             \
    (&((ngx_http_mcp_main_conf_t *)                                           \
       ngx_http_get_module_main_conf(r, ngx_http_mcp_module))->cache)


/*
 * Verifies ctx->jwt.  NGX_OK: ctx->user/roles are set, or ctx->auth_error
 * says why the token is refused; NGX_AGAIN: keys are being fetched (the
 * request resumes in state JWKS_DONE); NGX_DECLINED: no keys to verify
 * with and none on their way (fail closed); NGX_ERROR.
 */

ngx_int_t
ngx_http_mcp_jwt_check(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    int                         rc;
    ngx_int_t                   ret;
    ngx_uint_t                  fetch_due;
    ngx_http_mcp_jwks_state_t  *state;
    ngx_http_mcp_jwt_policy_t   policy;
    ngx_http_mcp_jwt_result_t   res;

    state = mlcf->jwks_state;

    if (ngx_http_mcp_jwks_refresh(r, mlcf, &fetch_due) != NGX_OK) {
        return NGX_ERROR;
    }

    if (fetch_due && !ctx->jwks_fetched) {
        return ngx_http_mcp_jwks_fetch(r, ctx, mlcf);
    }

    if (state->keys == NULL && mlcf->jwt_hmac_secret.len == 0) {
        return ngx_http_mcp_jwks_wait(r, ctx, mlcf);
    }

    ngx_memzero(&policy, sizeof(ngx_http_mcp_jwt_policy_t));

    policy.issuer = (const char *) mlcf->jwt_issuer.data;
    policy.audiences = mlcf->jwt_audiences->elts;
    policy.naudiences = mlcf->jwt_audiences->nelts;
    policy.leeway = (long) mlcf->jwt_leeway;
    policy.now = ngx_time();
    policy.user_claim = (const char *) mlcf->jwt_user_claim.data;
    policy.roles_claim = (const char *) mlcf->jwt_roles_claim.data;

    if (mlcf->jwt_hmac_secret.len) {
        policy.hmac_secret = mlcf->jwt_hmac_secret.data;
        policy.hmac_secret_len = mlcf->jwt_hmac_secret.len;
    }

    ngx_memzero(&res, sizeof(ngx_http_mcp_jwt_result_t));

    rc = ngx_http_mcp_jwt_verify((const char *) ctx->jwt.data, ctx->jwt.len,
                                 state->keys, &policy, &res);

    /* a kid we do not know may be a rotated key: look once more */
    if (rc != 0 && ngx_strcmp(res.reason, "unknown_kid") == 0
        && mlcf->jwks_uri.len && !ctx->jwks_fetched
        && ngx_http_mcp_cache_jwks_claim_fetch(ngx_http_mcp_jwks_zone(r),
                                               &mlcf->jwks_uri,
                                               mlcf->jwks_retry))
    {
        ngx_http_mcp_jwt_result_free(&res);
        return ngx_http_mcp_jwks_fetch(r, ctx, mlcf);
    }

    ret = ngx_http_mcp_jwt_result(r, ctx, &res);

    ngx_http_mcp_jwt_result_free(&res);

    return ret;
}


static ngx_int_t
ngx_http_mcp_jwt_result(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_jwt_result_t *res)
{
    if (res->reason) {
        ctx->auth_error = res->reason;    /* static strings */
        return NGX_OK;
    }

    if (ngx_http_mcp_pool_strdup(r->pool, res->user, &ctx->user) != NGX_OK
        || ngx_http_mcp_pool_strdup(r->pool, res->roles, &ctx->roles)
           != NGX_OK
        || ngx_http_mcp_pool_strdup(r->pool, res->subject, &ctx->subject)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (res->roles_truncated) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mcp: token of \"%V\" has more than %d roles; "
                      "the rest are ignored", &ctx->user,
                      NGX_HTTP_MCP_MAX_ROLES);
    }

    ctx->jwt_exp = res->exp;

    return NGX_OK;
}


/* brings the worker's parsed keys up to date; says if a fetch is due */

static ngx_int_t
ngx_http_mcp_jwks_refresh(ngx_http_request_t *r,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_uint_t *fetch_due)
{
    ngx_http_mcp_jwks_state_t  *state;

    *fetch_due = 0;
    state = mlcf->jwks_state;

    if (mlcf->jwks_file.len) {
        if (ngx_time() - state->checked < NGX_HTTP_MCP_JWKS_FILE_CHECK) {
            return NGX_OK;
        }

        state->checked = ngx_time();

        /* a bad new file keeps the old keys: logged, not fatal */
        (void) ngx_http_mcp_jwks_from_file(r->connection->log, mlcf);
        return NGX_OK;
    }

    if (mlcf->jwks_uri.len) {
        return ngx_http_mcp_jwks_from_zone(r, mlcf, fetch_due);
    }

    return NGX_OK;
}


/* also called at configuration time, so "nginx -t" checks the file */

ngx_int_t
ngx_http_mcp_jwks_load_file(ngx_conf_t *cf, ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mcp_jwks_cleanup;
    cln->data = mlcf->jwks_state;

    mlcf->jwks_state->checked = ngx_time();

    return ngx_http_mcp_jwks_from_file(cf->log, mlcf);
}


static ngx_int_t
ngx_http_mcp_jwks_from_file(ngx_log_t *log, ngx_http_mcp_loc_conf_t *mlcf)
{
    u_char                     *text;
    ssize_t                     n;
    ngx_int_t                   rc;
    ngx_fd_t                    fd;
    ngx_file_info_t             fi;
    ngx_http_mcp_jwks_state_t  *state;

    state = mlcf->jwks_state;

    if (ngx_file_info(mlcf->jwks_file.data, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "mcp: mcp_jwks_file \"%V\" is not readable",
                      &mlcf->jwks_file);
        return NGX_ERROR;
    }

    if (state->keys && ngx_file_mtime(&fi) == state->mtime
        && ngx_file_size(&fi) == state->size)
    {
        return NGX_OK;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_MCP_JWKS_MAX_SIZE) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mcp: mcp_jwks_file \"%V\" is larger than %d bytes",
                      &mlcf->jwks_file, NGX_HTTP_MCP_JWKS_MAX_SIZE);
        return NGX_ERROR;
    }

    fd = ngx_open_file(mlcf->jwks_file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN,
                       0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "mcp: cannot open mcp_jwks_file \"%V\"",
                      &mlcf->jwks_file);
        return NGX_ERROR;
    }

    text = ngx_alloc(NGX_HTTP_MCP_JWKS_MAX_SIZE, log);
    if (text == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    /* small and local: read once per change, like nginx reads certs */
    n = ngx_read_fd(fd, text, NGX_HTTP_MCP_JWKS_MAX_SIZE);
    ngx_close_file(fd);

    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "mcp: cannot read mcp_jwks_file \"%V\"",
                      &mlcf->jwks_file);
        ngx_free(text);
        return NGX_ERROR;
    }

    rc = ngx_http_mcp_jwks_install(log, state, text, n);
    ngx_free(text);

    if (rc == NGX_OK) {
        state->mtime = ngx_file_mtime(&fi);
        state->size = ngx_file_size(&fi);
    }

    return rc;
}


static ngx_int_t
ngx_http_mcp_jwks_from_zone(ngx_http_request_t *r,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_uint_t *fetch_due)
{
    time_t                      fetched;
    ngx_int_t                   rc;
    ngx_str_t                   text;
    ngx_http_mcp_cache_t       *cache;
    ngx_http_mcp_jwks_state_t  *state;

    state = mlcf->jwks_state;
    cache = ngx_http_mcp_jwks_zone(r);
    fetched = 0;

    rc = ngx_http_mcp_cache_jwks_get(cache, &mlcf->jwks_uri,
                                     &state->generation, r->pool, &text,
                                     &fetched);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && text.len) {
        /* another worker (or this one) fetched a new document */
        if (ngx_http_mcp_jwks_install(r->connection->log, state, text.data,
                                      text.len)
            != NGX_OK)
        {
            state->generation = 0;
        }
    }

    if ((rc == NGX_DECLINED || state->keys == NULL
         || ngx_time() - fetched >= mlcf->jwks_refresh)
        && ngx_http_mcp_cache_jwks_claim_fetch(cache, &mlcf->jwks_uri,
                                               mlcf->jwks_retry))
    {
        *fetch_due = 1;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_jwks_install(ngx_log_t *log, ngx_http_mcp_jwks_state_t *state,
    u_char *text, size_t len)
{
    char                  err[256];
    ngx_http_mcp_jwks_t  *keys;

    keys = ngx_http_mcp_jwks_parse((const char *) text, len, err,
                                   sizeof(err));
    if (keys == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mcp: JWKS not usable, keeping the previous keys: %s",
                      err);
        return NGX_ERROR;
    }

    if (err[0]) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0, "mcp: JWKS: %s", err);
    }

    if (state->keys) {
        ngx_http_mcp_jwks_free(state->keys);
    }

    state->keys = keys;

    ngx_log_error(NGX_LOG_INFO, log, 0, "mcp: JWKS loaded, %uz keys",
                  ngx_http_mcp_jwks_size(keys));

    return NGX_OK;
}


/* an in-memory subrequest to the internal location that reaches the IdP */

static ngx_int_t
ngx_http_mcp_jwks_fetch(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_mcp_jwks_fetched;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &mlcf->jwks_uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED
                            |NGX_HTTP_SUBREQUEST_IN_MEMORY)
        != NGX_OK)
    {
        ngx_http_mcp_cache_jwks_fetch_done(ngx_http_mcp_jwks_zone(r),
                                           &mlcf->jwks_uri);
        return NGX_ERROR;
    }

    /* the client's JSON-RPC body is not for the identity provider */
    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    ctx->jwks_fetched = 1;
    ctx->state = NGX_HTTP_MCP_STATE_JWKS;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_mcp_jwks_fetched(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_mcp_ctx_t *ctx = data;

    ngx_http_mcp_loc_conf_t    *mlcf;

    ctx->state = NGX_HTTP_MCP_STATE_JWKS_DONE;

    mlcf = ngx_http_get_module_loc_conf(sr->parent, ngx_http_mcp_module);

    /* put before done: a request waiting for keys finds them when it looks */
    ngx_http_mcp_jwks_store(sr, mlcf, rc);

    ngx_http_mcp_cache_jwks_fetch_done(ngx_http_mcp_jwks_zone(sr),
                                       &mlcf->jwks_uri);

    return rc;
}


static void
ngx_http_mcp_jwks_store(ngx_http_request_t *sr, ngx_http_mcp_loc_conf_t *mlcf,
    ngx_int_t rc)
{
    ngx_str_t   text;
    ngx_buf_t  *b;

    b = sr->out ? sr->out->buf : NULL;

    if (rc != NGX_OK || sr->headers_out.status != NGX_HTTP_OK || b == NULL
        || b->last == b->pos)
    {
        /* the old keys, if any, stay in use until the next attempt */
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "mcp: JWKS fetch from \"%V\" failed (status %ui)",
                      &mlcf->jwks_uri, sr->headers_out.status);
        return;
    }

    text.data = b->pos;
    text.len = b->last - b->pos;

    /* validated before it is shared with the other workers */
    if (ngx_http_mcp_jwks_install(sr->connection->log, mlcf->jwks_state,
                                  text.data, text.len)
        == NGX_OK)
    {
        (void) ngx_http_mcp_cache_jwks_put(ngx_http_mcp_jwks_zone(sr),
                                           &mlcf->jwks_uri, &text,
                                           sr->connection->log);
    }
}


/*
 * No keys yet and another request's fetch (perhaps in another worker)
 * under way: look again in NGX_HTTP_MCP_JWKS_POLL ms, through ctx->wake.
 * NGX_DECLINED when none is under way or the wait is over (fail closed).
 */

static ngx_int_t
ngx_http_mcp_jwks_wait(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf)
{
    ngx_pool_cleanup_t  *cln;

    if (mlcf->jwks_uri.len == 0
        || ctx->jwks_polls >= NGX_HTTP_MCP_JWKS_WAIT * 1000
                              / NGX_HTTP_MCP_JWKS_POLL
        || !ngx_http_mcp_cache_jwks_fetching(ngx_http_mcp_jwks_zone(r),
                                             &mlcf->jwks_uri,
                                             NGX_HTTP_MCP_JWKS_WAIT))
    {
        return NGX_DECLINED;
    }

    if (ctx->jwks_polls++ == 0) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_mcp_jwks_wait_cleanup;
        cln->data = ctx;

        ctx->wake.handler = ngx_http_mcp_jwks_poll;
        ctx->wake.data = r;
        ctx->wake.log = r->connection->log;
    }

    ngx_add_timer(&ctx->wake, NGX_HTTP_MCP_JWKS_POLL);

    ctx->state = NGX_HTTP_MCP_STATE_JWKS;

    return NGX_AGAIN;
}


static void
ngx_http_mcp_jwks_poll(ngx_event_t *ev)
{
    ngx_http_request_t  *r;
    ngx_http_mcp_ctx_t  *ctx;

    r = ev->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    ngx_http_set_log_request(r->connection->log, r);

    ev->timedout = 0;
    ngx_http_mcp_resume(r, ctx, NGX_HTTP_MCP_STATE_JWKS_DONE);
}


static void
ngx_http_mcp_jwks_wait_cleanup(void *data)
{
    ngx_http_mcp_ctx_t  *ctx = data;

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }
}


static ngx_int_t
ngx_http_mcp_pool_strdup(ngx_pool_t *pool, const char *s, ngx_str_t *out)
{
    size_t  len;

    if (s == NULL) {
        ngx_str_set(out, "");
        return NGX_OK;
    }

    len = ngx_strlen(s);

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, s, len + 1);
    out->len = len;

    return NGX_OK;
}


static void
ngx_http_mcp_jwks_cleanup(void *data)
{
    ngx_http_mcp_jwks_state_t  *state = data;

    if (state->keys) {
        ngx_http_mcp_jwks_free(state->keys);
        state->keys = NULL;
    }
}
