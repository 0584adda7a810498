
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * A red-black tree of entries keyed by a 32-byte digest, with an LRU queue
 * for eviction when the zone is full (the idiom of nginx's limit_req and
 * njs's shared dictionaries).  Entries carry their own expiry; an expired
 * entry is never returned and is freed when met.
 */


#include "ngx_http_mcp_cache.h"


typedef struct {
    ngx_rbtree_node_t          node;        /* node.key: digest's prefix */
    ngx_queue_t                queue;
    u_char                     digest[32];
    time_t                     expires;
    time_t                     used_at;     /* last "use" written out */
    u_char                     refused;
    u_short                    len[4];      /* reason, user, roles, subject */
    u_char                     data[1];
} ngx_http_mcp_cache_node_t;


typedef struct {
    uint32_t                   source_hash;
    ngx_uint_t                 generation;
    time_t                     fetched;
    time_t                     fetch_claimed;
    ngx_uint_t                 fetching;    /* claimed, not yet done */
    u_char                    *text;
    size_t                     len;
} ngx_http_mcp_jwks_slot_t;


struct ngx_http_mcp_cache_sh_s {
    ngx_rbtree_t               rbtree;
    ngx_rbtree_node_t          sentinel;
    ngx_queue_t                queue;
    ngx_http_mcp_jwks_slot_t   jwks[NGX_HTTP_MCP_JWKS_SLOTS];
};


static ngx_int_t ngx_http_mcp_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_mcp_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_mcp_cache_node_t *ngx_http_mcp_cache_find(
    ngx_http_mcp_cache_t *cache, u_char *digest);
static void ngx_http_mcp_cache_delete(ngx_http_mcp_cache_t *cache,
    ngx_http_mcp_cache_node_t *cn);
static void *ngx_http_mcp_cache_alloc(ngx_http_mcp_cache_t *cache,
    size_t size);
static ngx_int_t ngx_http_mcp_cache_copy(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_str_t *out);
static ngx_http_mcp_jwks_slot_t *ngx_http_mcp_cache_jwks_slot(
    ngx_http_mcp_cache_t *cache, ngx_str_t *source, ngx_uint_t create);


/* mcp_auth_cache zone=NAME:SIZE [ttl=T] [negative_ttl=T] [last_used=T] */

char *
ngx_http_mcp_cache_zone(ngx_conf_t *cf, ngx_http_mcp_cache_t *cache,
    ngx_str_t *value, ngx_uint_t n, void *tag)
{
    u_char      *p;
    time_t      *target;
    ssize_t      size;
    ngx_str_t    name, s;
    ngx_uint_t   i;

    ngx_str_null(&name);
    size = 0;

    cache->ttl = 30;
    cache->negative_ttl = 5;
    cache->last_used_interval = 60;

    for (i = 1; i < n; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                goto invalid;
            }

            name.len = p - name.data;
            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"mcp_auth_cache\" zone \"%V\" is too "
                                   "small (at least %uz bytes)", &name,
                                   8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            target = &cache->ttl;
            s.data = value[i].data + 4;

        } else if (ngx_strncmp(value[i].data, "negative_ttl=", 13) == 0) {
            target = &cache->negative_ttl;
            s.data = value[i].data + 13;

        } else if (ngx_strncmp(value[i].data, "last_used=", 10) == 0) {
            target = &cache->last_used_interval;
            s.data = value[i].data + 10;

        } else {
            goto invalid;
        }

        s.len = value[i].data + value[i].len - s.data;

        *target = ngx_parse_time(&s, 1);
        if (*target == (time_t) NGX_ERROR) {
            goto invalid;
        }
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_auth_cache\" needs \"zone=NAME:SIZE\"");
        return NGX_CONF_ERROR;
    }

    cache->shm_zone = ngx_shared_memory_add(cf, &name, size, tag);
    if (cache->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cache->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_auth_cache\" zone \"%V\" is duplicate",
                           &name);
        return NGX_CONF_ERROR;
    }

    cache->shm_zone->init = ngx_http_mcp_cache_init_zone;
    cache->shm_zone->data = cache;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"mcp_auth_cache\": invalid parameter \"%V\"",
                       &value[i]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_mcp_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mcp_cache_t  *ocache = data;

    size_t                 len;
    ngx_http_mcp_cache_t  *cache;

    cache = shm_zone->data;
    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ocache) {
        /* a reload keeps what the old cycle learned */
        cache->sh = ocache->sh;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               sizeof(ngx_http_mcp_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(cache->sh, sizeof(ngx_http_mcp_cache_sh_t));

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_mcp_cache_insert);
    ngx_queue_init(&cache->sh->queue);

    len = sizeof(" in mcp_auth_cache zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in mcp_auth_cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_mcp_cache_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_mcp_cache_node_t  *cn, *cnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            cn = (ngx_http_mcp_cache_node_t *) node;
            cnt = (ngx_http_mcp_cache_node_t *) temp;

            p = (ngx_memcmp(cn->digest, cnt->digest, 32) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* with the zone locked */

static ngx_http_mcp_cache_node_t *
ngx_http_mcp_cache_find(ngx_http_mcp_cache_t *cache, u_char *digest)
{
    ngx_int_t                   rc;
    ngx_rbtree_key_t            key;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_http_mcp_cache_node_t  *cn;

    ngx_memcpy(&key, digest, sizeof(ngx_rbtree_key_t));

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        cn = (ngx_http_mcp_cache_node_t *) node;

        rc = ngx_memcmp(digest, cn->digest, 32);

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


ngx_int_t
ngx_http_mcp_cache_get(ngx_http_mcp_cache_t *cache, u_char *digest,
    ngx_pool_t *pool, ngx_http_mcp_cached_t *out)
{
    u_char                     *p;
    ngx_int_t                   rc;
    ngx_http_mcp_cache_node_t  *cn;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_mcp_cache_find(cache, digest);

    if (cn == NULL) {
        goto done;
    }

    if (cn->expires <= ngx_time()) {
        ngx_http_mcp_cache_delete(cache, cn);
        goto done;
    }

    ngx_queue_remove(&cn->queue);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    out->refused = cn->refused;
    p = cn->data;

    if (ngx_http_mcp_cache_copy(pool, p, cn->len[0], &out->reason) != NGX_OK
        || ngx_http_mcp_cache_copy(pool, p += cn->len[0], cn->len[1],
                                   &out->user) != NGX_OK
        || ngx_http_mcp_cache_copy(pool, p += cn->len[1], cn->len[2],
                                   &out->roles) != NGX_OK
        || ngx_http_mcp_cache_copy(pool, p += cn->len[2], cn->len[3],
                                   &out->subject) != NGX_OK)
    {
        rc = NGX_ERROR;
        goto done;
    }

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


void
ngx_http_mcp_cache_put(ngx_http_mcp_cache_t *cache, u_char *digest,
    ngx_http_mcp_cached_t *entry, time_t expires, ngx_log_t *log)
{
    u_char                     *p;
    size_t                      size;
    ngx_str_t                  *f[4];
    ngx_uint_t                  i;
    ngx_http_mcp_cache_node_t  *cn;

    f[0] = &entry->reason;
    f[1] = &entry->user;
    f[2] = &entry->roles;
    f[3] = &entry->subject;

    size = offsetof(ngx_http_mcp_cache_node_t, data);

    for (i = 0; i < 4; i++) {
        if (f[i]->len > 0xffff) {
            return;   /* not worth caching; the next request looks again */
        }

        size += f[i]->len;
    }

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_mcp_cache_find(cache, digest);
    if (cn) {
        ngx_http_mcp_cache_delete(cache, cn);
    }

    cn = ngx_http_mcp_cache_alloc(cache, size);
    if (cn == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "mcp: could not cache an identity: zone \"%V\" is "
                      "full", &cache->shm_zone->shm.name);
        return;
    }

    ngx_memcpy(cn->digest, digest, 32);
    ngx_memcpy(&cn->node.key, digest, sizeof(ngx_rbtree_key_t));
    cn->expires = expires;
    cn->used_at = 0;
    cn->refused = (u_char) entry->refused;

    p = cn->data;

    for (i = 0; i < 4; i++) {
        cn->len[i] = (u_short) f[i]->len;
        p = ngx_cpymem(p, f[i]->data, f[i]->len);
    }

    ngx_rbtree_insert(&cache->sh->rbtree, &cn->node);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


ngx_uint_t
ngx_http_mcp_cache_use_due(ngx_http_mcp_cache_t *cache, u_char *digest)
{
    time_t                      now;
    ngx_uint_t                  due;
    ngx_http_mcp_cache_node_t  *cn;

    now = ngx_time();
    due = 1;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_mcp_cache_find(cache, digest);

    if (cn) {
        due = (now - cn->used_at >= cache->last_used_interval);

        if (due) {
            cn->used_at = now;
        }
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return due;
}


static void
ngx_http_mcp_cache_delete(ngx_http_mcp_cache_t *cache,
    ngx_http_mcp_cache_node_t *cn)
{
    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, &cn->node);
    ngx_slab_free_locked(cache->shpool, cn);
}


/* allocates, evicting expired entries and then the least recently used */

static void *
ngx_http_mcp_cache_alloc(ngx_http_mcp_cache_t *cache, size_t size)
{
    void                       *p;
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    ngx_http_mcp_cache_node_t  *cn;

    p = ngx_slab_alloc_locked(cache->shpool, size);

    for (i = 0; p == NULL && i < 16; i++) {

        if (ngx_queue_empty(&cache->sh->queue)) {
            return NULL;
        }

        q = ngx_queue_last(&cache->sh->queue);
        cn = ngx_queue_data(q, ngx_http_mcp_cache_node_t, queue);

        ngx_http_mcp_cache_delete(cache, cn);

        p = ngx_slab_alloc_locked(cache->shpool, size);
    }

    return p;
}


static ngx_int_t
ngx_http_mcp_cache_copy(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *out)
{
    out->len = len;

    if (len == 0) {
        out->data = (u_char *) "";
        return NGX_OK;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, p, len);

    return NGX_OK;
}


/* JWKS documents -------------------------------------------------------- */

static ngx_http_mcp_jwks_slot_t *
ngx_http_mcp_cache_jwks_slot(ngx_http_mcp_cache_t *cache, ngx_str_t *source,
    ngx_uint_t create)
{
    uint32_t                   hash;
    ngx_uint_t                 i;
    ngx_http_mcp_jwks_slot_t  *slot;

    hash = ngx_crc32_short(source->data, source->len) | 1;

    for (i = 0; i < NGX_HTTP_MCP_JWKS_SLOTS; i++) {
        slot = &cache->sh->jwks[i];

        if (slot->source_hash == hash) {
            return slot;
        }

        if (slot->source_hash == 0 && create) {
            slot->source_hash = hash;
            return slot;
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_mcp_cache_jwks_get(ngx_http_mcp_cache_t *cache, ngx_str_t *source,
    ngx_uint_t *generation, ngx_pool_t *pool, ngx_str_t *text,
    time_t *fetched)
{
    ngx_int_t                  rc;
    ngx_http_mcp_jwks_slot_t  *slot;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    slot = ngx_http_mcp_cache_jwks_slot(cache, source, 0);

    if (slot == NULL || slot->text == NULL) {
        goto done;
    }

    *fetched = slot->fetched;

    if (slot->generation == *generation) {
        rc = NGX_OK;
        text->len = 0;
        goto done;
    }

    text->data = ngx_pnalloc(pool, slot->len);
    if (text->data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(text->data, slot->text, slot->len);
    text->len = slot->len;
    *generation = slot->generation;
    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_http_mcp_cache_jwks_put(ngx_http_mcp_cache_t *cache, ngx_str_t *source,
    ngx_str_t *text, ngx_log_t *log)
{
    u_char                    *copy;
    ngx_http_mcp_jwks_slot_t  *slot;

    ngx_shmtx_lock(&cache->shpool->mutex);

    slot = ngx_http_mcp_cache_jwks_slot(cache, source, 1);
    if (slot == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mcp: more than %d JWKS sources share a cache zone",
                      NGX_HTTP_MCP_JWKS_SLOTS);
        return NGX_ERROR;
    }

    slot->fetched = ngx_time();

    if (slot->text && slot->len == text->len
        && ngx_memcmp(slot->text, text->data, text->len) == 0)
    {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_OK;   /* unchanged: workers keep their parsed keys */
    }

    copy = ngx_http_mcp_cache_alloc(cache, text->len);
    if (copy == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "mcp: no room for a JWKS in zone \"%V\"",
                      &cache->shm_zone->shm.name);
        return NGX_ERROR;
    }

    ngx_memcpy(copy, text->data, text->len);

    if (slot->text) {
        ngx_slab_free_locked(cache->shpool, slot->text);
    }

    slot->text = copy;
    slot->len = text->len;
    slot->generation++;

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return NGX_OK;
}


ngx_uint_t
ngx_http_mcp_cache_jwks_claim_fetch(ngx_http_mcp_cache_t *cache,
    ngx_str_t *source, time_t interval)
{
    time_t                     now;
    ngx_uint_t                 claimed;
    ngx_http_mcp_jwks_slot_t  *slot;

    now = ngx_time();
    claimed = 0;

    ngx_shmtx_lock(&cache->shpool->mutex);

    slot = ngx_http_mcp_cache_jwks_slot(cache, source, 1);

    if (slot && now - slot->fetch_claimed >= interval) {
        slot->fetch_claimed = now;
        slot->fetching = 1;
        claimed = 1;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return claimed;
}


void
ngx_http_mcp_cache_jwks_fetch_done(ngx_http_mcp_cache_t *cache,
    ngx_str_t *source)
{
    ngx_http_mcp_jwks_slot_t  *slot;

    ngx_shmtx_lock(&cache->shpool->mutex);

    slot = ngx_http_mcp_cache_jwks_slot(cache, source, 0);

    if (slot) {
        slot->fetching = 0;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


ngx_uint_t
ngx_http_mcp_cache_jwks_fetching(ngx_http_mcp_cache_t *cache,
    ngx_str_t *source, time_t max_age)
{
    ngx_uint_t                 fetching;
    ngx_http_mcp_jwks_slot_t  *slot;

    ngx_shmtx_lock(&cache->shpool->mutex);

    slot = ngx_http_mcp_cache_jwks_slot(cache, source, 0);
    fetching = slot && slot->fetching
               && ngx_time() - slot->fetch_claimed <= max_age;

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return fetching;
}
