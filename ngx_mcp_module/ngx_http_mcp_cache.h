
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The authentication cache, in shared memory for all worker processes:
 * verified identities (and recent refusals) keyed by the SHA-256 of the
 * presented credential, plus the JWKS documents fetched from identity
 * providers, so that one worker's fetch serves every worker.
 */


#ifndef _NGX_HTTP_MCP_CACHE_H_INCLUDED_
#define _NGX_HTTP_MCP_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_MCP_JWKS_SLOTS  8


typedef struct ngx_http_mcp_cache_sh_s  ngx_http_mcp_cache_sh_t;


typedef struct {
    ngx_http_mcp_cache_sh_t   *sh;
    ngx_slab_pool_t           *shpool;
    ngx_shm_zone_t            *shm_zone;
    time_t                     ttl;            /* positive API-key entries */
    time_t                     negative_ttl;   /* refused credentials */
    time_t                     last_used_interval;
} ngx_http_mcp_cache_t;


/* what a cache entry remembers of a credential */
typedef struct {
    ngx_uint_t                 refused;        /* 1: reason says why */
    ngx_str_t                  reason;
    ngx_str_t                  user;
    ngx_str_t                  roles;
    ngx_str_t                  subject;
} ngx_http_mcp_cached_t;


char *ngx_http_mcp_cache_zone(ngx_conf_t *cf, ngx_http_mcp_cache_t *cache,
    ngx_str_t *value, ngx_uint_t n, void *tag);

/* NGX_OK: found (copied into pool), NGX_DECLINED: absent or expired */
ngx_int_t ngx_http_mcp_cache_get(ngx_http_mcp_cache_t *cache,
    u_char *digest, ngx_pool_t *pool, ngx_http_mcp_cached_t *out);

/* stores an entry that expires at "expires" (absolute, seconds) */
void ngx_http_mcp_cache_put(ngx_http_mcp_cache_t *cache, u_char *digest,
    ngx_http_mcp_cached_t *entry, time_t expires, ngx_log_t *log);

/* 1 when the caller should record a use now (at most once an interval) */
ngx_uint_t ngx_http_mcp_cache_use_due(ngx_http_mcp_cache_t *cache,
    u_char *digest);

/*
 * JWKS documents by source (a file path or an internal URI).  get copies
 * the text into pool when its generation differs from *generation.
 */
ngx_int_t ngx_http_mcp_cache_jwks_get(ngx_http_mcp_cache_t *cache,
    ngx_str_t *source, ngx_uint_t *generation, ngx_pool_t *pool,
    ngx_str_t *text, time_t *fetched);
ngx_int_t ngx_http_mcp_cache_jwks_put(ngx_http_mcp_cache_t *cache,
    ngx_str_t *source, ngx_str_t *text, ngx_log_t *log);

/* 1 when no fetch of this source started within "interval" (and claims it) */
ngx_uint_t ngx_http_mcp_cache_jwks_claim_fetch(ngx_http_mcp_cache_t *cache,
    ngx_str_t *source, time_t interval);

/*
 * The claimed fetch ended, either way; 1 while one claimed at most max_age
 * seconds ago is under way (a fetch whose request went away never ends).
 */
void ngx_http_mcp_cache_jwks_fetch_done(ngx_http_mcp_cache_t *cache,
    ngx_str_t *source);
ngx_uint_t ngx_http_mcp_cache_jwks_fetching(ngx_http_mcp_cache_t *cache,
    ngx_str_t *source, time_t max_age);


#endif /* _NGX_HTTP_MCP_CACHE_H_INCLUDED_ */
