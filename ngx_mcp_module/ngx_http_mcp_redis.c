
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * API-key records from Redis, looked up with hiredis's asynchronous API
 * driven by nginx's own event loop: one persistent connection per worker
 * process, nginx timers for timeouts, reconnection with backoff.  Nothing
 * here blocks.
 *
 * Ownership rules that keep late replies harmless:
 * - each command carries a heap cell (ngx_http_mcp_pending_t) that only
 *   the reply callback frees; a request that goes away, or times out,
 *   only clears the cell's ctx pointer;
 * - the reply callback never resumes the request inline: it posts the
 *   request's wake event, so finalisation never runs inside hiredis;
 * - hiredis closes the socket itself, so the adapter frees the nginx
 *   connection with fd = -1 instead of closing it twice.
 */


#include "ngx_http_mcp_module.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_MCP_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_MCP_REDIS_BACKOFF_MAX  5000


struct ngx_http_mcp_pending_s {
    ngx_http_mcp_ctx_t        *ctx;       /* NULL once the request left */
    ngx_http_request_t        *r;
};


typedef struct {
    redisAsyncContext         *ac;
    ngx_http_mcp_main_conf_t  *mmcf;
    ngx_msec_t                 retry_at;  /* no connect attempt before */
    ngx_msec_t                 backoff;
} ngx_http_mcp_redis_t;


static redisAsyncContext *ngx_http_mcp_redis_get(ngx_log_t *log);
static redisAsyncContext *ngx_http_mcp_redis_connect(ngx_log_t *log);
static ngx_int_t ngx_http_mcp_redis_attach(redisAsyncContext *ac,
    ngx_log_t *log);
static void ngx_http_mcp_redis_fail(ngx_log_t *log);
static void ngx_http_mcp_redis_reset(void);
static void ngx_http_mcp_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_mcp_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_mcp_redis_setup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);

static void ngx_http_mcp_redis_add_read(void *privdata);
static void ngx_http_mcp_redis_del_read(void *privdata);
static void ngx_http_mcp_redis_add_write(void *privdata);
static void ngx_http_mcp_redis_del_write(void *privdata);
static void ngx_http_mcp_redis_cleanup(void *privdata);
static void ngx_http_mcp_redis_read_handler(ngx_event_t *ev);
static void ngx_http_mcp_redis_write_handler(ngx_event_t *ev);

static void ngx_http_mcp_apikey_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static ngx_http_mcp_lookup_e ngx_http_mcp_apikey_record(
    ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_mcp_copy_element(ngx_http_request_t *r,
    redisReply *element, ngx_str_t *out);
static time_t ngx_http_mcp_element_time(redisReply *element);
static void ngx_http_mcp_lookup_cleanup(void *data);
static void ngx_http_mcp_wake_handler(ngx_event_t *ev);


/* per worker process: each worker owns one connection */
static ngx_http_mcp_redis_t  ngx_http_mcp_redis;


ngx_int_t
ngx_http_mcp_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mcp_module);
    if (mmcf == NULL || !mmcf->redis_configured) {
        return NGX_OK;
    }

    ngx_memzero(&ngx_http_mcp_redis, sizeof(ngx_http_mcp_redis_t));
    ngx_http_mcp_redis.mmcf = mmcf;
    ngx_http_mcp_redis.backoff = NGX_HTTP_MCP_REDIS_BACKOFF_MIN;

    /* connect now so that the first request does not pay for it */
    (void) ngx_http_mcp_redis_get(cycle->log);

    return NGX_OK;
}


void
ngx_http_mcp_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mcp_redis_reset();
}


static redisAsyncContext *
ngx_http_mcp_redis_get(ngx_log_t *log)
{
    if (ngx_http_mcp_redis.ac) {
        return ngx_http_mcp_redis.ac;
    }

    if (ngx_http_mcp_redis.mmcf == NULL) {
        return NULL;
    }

    if ((ngx_msec_int_t) (ngx_current_msec - ngx_http_mcp_redis.retry_at)
        < 0)
    {
        return NULL;
    }

    return ngx_http_mcp_redis_connect(log);
}


static redisAsyncContext *
ngx_http_mcp_redis_connect(ngx_log_t *log)
{
    redisAsyncContext         *ac;
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_mcp_redis.mmcf;

    if (mmcf->redis_unix.len) {
        ac = redisAsyncConnectUnix((char *) mmcf->redis_unix.data);

    } else {
        ac = redisAsyncConnect((char *) mmcf->redis_host.data,
                               mmcf->redis_port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "mcp redis: out of memory");
        ngx_http_mcp_redis_fail(log);
        return NULL;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "mcp redis: connect failed: %s",
                      ac->errstr);
        redisAsyncFree(ac);
        ngx_http_mcp_redis_fail(log);
        return NULL;
    }

    if (ngx_http_mcp_redis_attach(ac, log) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_mcp_redis_fail(log);
        return NULL;
    }

    ngx_http_mcp_redis.ac = ac;

    redisAsyncSetConnectCallback(ac, ngx_http_mcp_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_mcp_redis_disconnected);

    /* hiredis queues these before any lookup, in order */

    if (mmcf->redis_user.len) {
        /* Redis 6 ACL: a user that may read key records and note use */
        (void) redisAsyncCommand(ac, ngx_http_mcp_redis_setup_reply, "AUTH",
                                 "AUTH %b %b", mmcf->redis_user.data,
                                 mmcf->redis_user.len,
                                 mmcf->redis_password.data,
                                 mmcf->redis_password.len);

    } else if (mmcf->redis_password.len) {
        (void) redisAsyncCommand(ac, ngx_http_mcp_redis_setup_reply, "AUTH",
                                 "AUTH %b", mmcf->redis_password.data,
                                 mmcf->redis_password.len);
    }

    if (mmcf->redis_db) {
        (void) redisAsyncCommand(ac, ngx_http_mcp_redis_setup_reply, "SELECT",
                                 "SELECT %d", (int) mmcf->redis_db);

    } else {
        /* any command makes hiredis watch for the connect to finish */
        (void) redisAsyncCommand(ac, ngx_http_mcp_redis_setup_reply, "PING",
                                 "PING");
    }

    return ac;
}


static ngx_int_t
ngx_http_mcp_redis_attach(redisAsyncContext *ac, ngx_log_t *log)
{
    ngx_connection_t  *c;

    /* the cycle's log: a request's log dies with the request */
    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->log = c->log;
    c->write->log = c->log;
    c->read->handler = ngx_http_mcp_redis_read_handler;
    c->write->handler = ngx_http_mcp_redis_write_handler;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_mcp_redis_add_read;
    ac->ev.delRead = ngx_http_mcp_redis_del_read;
    ac->ev.addWrite = ngx_http_mcp_redis_add_write;
    ac->ev.delWrite = ngx_http_mcp_redis_del_write;
    ac->ev.cleanup = ngx_http_mcp_redis_cleanup;

    return NGX_OK;
}


static void
ngx_http_mcp_redis_fail(ngx_log_t *log)
{
    ngx_http_mcp_redis.retry_at = ngx_current_msec
                                  + ngx_http_mcp_redis.backoff;

    ngx_http_mcp_redis.backoff = ngx_min(ngx_http_mcp_redis.backoff * 2,
                                         NGX_HTTP_MCP_REDIS_BACKOFF_MAX);
}


static void
ngx_http_mcp_redis_reset(void)
{
    redisAsyncContext  *ac;

    ac = ngx_http_mcp_redis.ac;
    if (ac == NULL) {
        return;
    }

    /* pending callbacks run with a NULL reply, then cleanup runs */
    ngx_http_mcp_redis.ac = NULL;
    redisAsyncFree(ac);
}


static void
ngx_http_mcp_redis_connected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mcp redis: connect failed: %s", ac->errstr);
        ngx_http_mcp_redis_fail(ngx_cycle->log);
        return;
    }

    ngx_http_mcp_redis.backoff = NGX_HTTP_MCP_REDIS_BACKOFF_MIN;

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0, "mcp redis: connected");
}


static void
ngx_http_mcp_redis_disconnected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mcp redis: connection lost: %s", ac->errstr);
        ngx_http_mcp_redis_fail(ngx_cycle->log);
    }
}


static void
ngx_http_mcp_redis_setup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply  *rr = reply;

    if (rr != NULL && rr->type == REDIS_REPLY_ERROR) {
        /* a wrong password or db must not look like a missing key */
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mcp redis: %s failed: %s", (char *) privdata, rr->str);
        ngx_http_mcp_redis_fail(ngx_cycle->log);
        redisAsyncDisconnect(ac);
    }
}


/* the adapter: level-triggered, as hiredis reads at most 16 KiB a time */

static void
ngx_http_mcp_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_mcp_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_mcp_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_mcp_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_http_mcp_redis_cleanup(void *privdata)
{
    ngx_connection_t   *c = privdata;
    redisAsyncContext  *ac;

    ac = c->data;

    /* also reached for a refused connect, where onDisconnect is not */
    if (ngx_http_mcp_redis.ac == ac) {
        ngx_http_mcp_redis.ac = NULL;
    }

    ngx_http_mcp_redis_del_read(c);
    ngx_http_mcp_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static void
ngx_http_mcp_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_mcp_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


/*
 * Starts the lookup of ctx->apikey's record.  NGX_AGAIN: the request is
 * resumed through ctx->wake; NGX_OK: ctx->lookup already holds the answer.
 */

ngx_int_t
ngx_http_mcp_apikey_lookup(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    redisAsyncContext         *ac;
    ngx_pool_cleanup_t        *cln;
    ngx_http_mcp_pending_t    *pending;
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);

    ac = ngx_http_mcp_redis_get(r->connection->log);
    if (ac == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mcp redis: not connected, refusing api key "
                      "\"%V\" (fail closed)", &ctx->key_id);
        ctx->lookup = NGX_HTTP_MCP_LOOKUP_UNAVAILABLE;
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    pending = ngx_alloc(sizeof(ngx_http_mcp_pending_t), r->connection->log);
    if (pending == NULL) {
        return NGX_ERROR;
    }

    pending->ctx = ctx;
    pending->r = r;

    /* only the public id travels to Redis, never the secret */
    if (redisAsyncCommand(ac, ngx_http_mcp_apikey_reply, pending,
                          "HMGET %b%b hash user roles expires revoked",
                          mmcf->apikey_prefix.data, mmcf->apikey_prefix.len,
                          ctx->apikey.data + 4, (size_t) NGX_HTTP_MCP_KEY_ID_LEN)
        != REDIS_OK)
    {
        ngx_free(pending);
        ctx->lookup = NGX_HTTP_MCP_LOOKUP_UNAVAILABLE;
        return NGX_OK;
    }

    ctx->pending = pending;
    ctx->lookup = NGX_HTTP_MCP_LOOKUP_PENDING;

    cln->handler = ngx_http_mcp_lookup_cleanup;
    cln->data = ctx;

    ctx->wake.handler = ngx_http_mcp_wake_handler;
    ctx->wake.data = r;
    ctx->wake.log = r->connection->log;

    ngx_add_timer(&ctx->wake, mmcf->redis_timeout);

    return NGX_AGAIN;
}


/*
 * Records when a key was last used: fire and forget, at most once per
 * interval per key across all workers (the shared cache keeps the time).
 * Without an auth cache there is no cross-worker clock, so no record.
 */

void
ngx_http_mcp_apikey_touch(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    redisAsyncContext         *ac;
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);

    if (ctx->apikey.len == 0 || mmcf->cache.shm_zone == NULL
        || !ngx_http_mcp_cache_use_due(&mmcf->cache, ctx->digest))
    {
        return;
    }

    ac = ngx_http_mcp_redis_get(r->connection->log);
    if (ac == NULL) {
        return;
    }

    (void) redisAsyncCommand(ac, NULL, NULL, "HSET %b%b last_used %lld",
                             mmcf->apikey_prefix.data,
                             mmcf->apikey_prefix.len,
                             ctx->key_id.data, ctx->key_id.len,
                             (long long) ngx_time());
}


static void
ngx_http_mcp_apikey_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_http_mcp_pending_t  *pending = privdata;

    ngx_http_request_t  *r;
    ngx_http_mcp_ctx_t  *ctx;

    ctx = pending->ctx;
    r = pending->r;
    ngx_free(pending);

    if (ctx == NULL) {
        return;   /* the request timed out or is gone */
    }

    ctx->pending = NULL;
    ctx->lookup = ngx_http_mcp_apikey_record(r, ctx, reply);

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }

    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


static ngx_http_mcp_lookup_e
ngx_http_mcp_apikey_record(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    redisReply *reply)
{
    redisReply  **e;

    if (reply == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp redis: no reply (connection closed)");
        return NGX_HTTP_MCP_LOOKUP_UNAVAILABLE;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp redis: HMGET failed: %s", reply->str);
        return NGX_HTTP_MCP_LOOKUP_UNAVAILABLE;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp redis: unexpected HMGET reply type %d",
                      reply->type);
        return NGX_HTTP_MCP_LOOKUP_UNAVAILABLE;
    }

    e = reply->element;

    if (e[0]->type == REDIS_REPLY_NIL) {
        return NGX_HTTP_MCP_LOOKUP_NOT_FOUND;
    }

    if (ngx_http_mcp_copy_element(r, e[0], &ctx->record_hash) != NGX_OK
        || ngx_http_mcp_copy_element(r, e[1], &ctx->record_user) != NGX_OK
        || ngx_http_mcp_copy_element(r, e[2], &ctx->record_roles) != NGX_OK
        || ctx->record_user.len == 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mcp redis: incomplete record for api key id \"%*s\"",
                      (size_t) NGX_HTTP_MCP_KEY_ID_LEN, ctx->apikey.data + 4);
        return NGX_HTTP_MCP_LOOKUP_NOT_FOUND;
    }

    ctx->record_expires = ngx_http_mcp_element_time(e[3]);
    ctx->record_revoked = ngx_http_mcp_element_time(e[4]);

    if (ctx->record_expires == NGX_ERROR || ctx->record_revoked == NGX_ERROR) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mcp redis: bad expires/revoked for api key id \"%*s\"",
                      (size_t) NGX_HTTP_MCP_KEY_ID_LEN, ctx->apikey.data + 4);
        return NGX_HTTP_MCP_LOOKUP_NOT_FOUND;
    }

    return NGX_HTTP_MCP_LOOKUP_FOUND;
}


static ngx_int_t
ngx_http_mcp_copy_element(ngx_http_request_t *r, redisReply *element,
    ngx_str_t *out)
{
    if (element->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    out->len = element->len;
    out->data = ngx_pnalloc(r->pool, element->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, element->str, element->len);
    out->data[out->len] = '\0';

    return NGX_OK;
}


static time_t
ngx_http_mcp_element_time(redisReply *element)
{
    if (element->type == REDIS_REPLY_NIL) {
        return 0;
    }

    if (element->type != REDIS_REPLY_STRING || element->len == 0) {
        return NGX_ERROR;
    }

    return ngx_atotm((u_char *) element->str, element->len);
}


static void
ngx_http_mcp_lookup_cleanup(void *data)
{
    ngx_http_mcp_ctx_t  *ctx = data;

    if (ctx->pending) {
        ctx->pending->ctx = NULL;
        ctx->pending = NULL;
    }

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }
}


static void
ngx_http_mcp_wake_handler(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
    ngx_http_mcp_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    ngx_http_set_log_request(c->log, r);

    if (ev->timedout) {
        ev->timedout = 0;

        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "mcp redis: lookup timed out after %M ms",
                      ((ngx_http_mcp_main_conf_t *)
                       ngx_http_get_module_main_conf(r, ngx_http_mcp_module))
                      ->redis_timeout);

        if (ctx->pending) {
            ctx->pending->ctx = NULL;
            ctx->pending = NULL;
        }

        ctx->lookup = NGX_HTTP_MCP_LOOKUP_UNAVAILABLE;

        /* a stalled connection would stall every later lookup too */
        ngx_http_mcp_redis_reset();
        ngx_http_mcp_redis_fail(c->log);
    }

    ngx_http_mcp_resume(r, ctx, NGX_HTTP_MCP_STATE_LOOKUP_DONE);
}
