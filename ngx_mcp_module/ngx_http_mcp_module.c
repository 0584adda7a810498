
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * ngx_http_mcp_module: configuration, directives and phase registration.
 * The request path lives in ngx_http_mcp_access.c; each other concern has
 * a file of its own (redis, identity, filter, audit).
 */


#include "ngx_http_mcp_module.h"

#if (__GLIBC__)
#include <malloc.h>
#endif


/*
 * glibc gives memory at the top of the heap back to the system once more
 * than 128 KiB of it is free.  A request's pool blocks, freed when it
 * ends, can leave just that much: the heap then shrinks after one request
 * and grows again, with fresh zeroed pages, for the next (measured: a brk
 * every 15 requests, 0.4 page faults a request, with an API key).  A
 * worker keeps this much free instead.
 */
#define NGX_HTTP_MCP_MALLOC_TRIM_THRESHOLD  (4 * 1024 * 1024)


static ngx_int_t ngx_http_mcp_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_mcp_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_mcp_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mcp_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_mcp_init_process(ngx_cycle_t *cycle);
static void ngx_http_mcp_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_mcp_redis_server(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_redis_password_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_mcp_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_allow_roles(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_tool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_methods(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_mcp_register_tenant(ngx_conf_t *cf,
    ngx_http_mcp_loc_conf_t *conf);
static ngx_int_t ngx_http_mcp_jwt_scope(ngx_conf_t *cf,
    ngx_http_mcp_loc_conf_t *conf);
static char *ngx_http_mcp_batch_max(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_session_requests(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_str_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_jwt_audience(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_protected_resource_metadata(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_mcp_merge_jwt(ngx_conf_t *cf,
    ngx_http_mcp_loc_conf_t *conf);

static ngx_array_t *ngx_http_mcp_patterns(ngx_conf_t *cf, ngx_str_t *names,
    ngx_uint_t n);
static void ngx_http_mcp_signer_cleanup(void *data);
static char *ngx_http_mcp_read_secret(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *secret);
static char *ngx_http_mcp_check_role(ngx_conf_t *cf, ngx_str_t *role);


#define NGX_HTTP_MCP_MIN_SECRET  32
#define NGX_HTTP_MCP_MAX_SECRET  4096


/* the methods an endpoint serves when mcp_methods is not set */
static ngx_str_t  ngx_http_mcp_default_methods[] = {
    ngx_string("initialize"),
    ngx_string("ping"),
    ngx_string("server/discover"),
    ngx_string("tools/list"),
    ngx_string("tools/call"),
    ngx_string("notifications/*")
};


static ngx_command_t  ngx_http_mcp_commands[] = {

    { ngx_string("mcp_redis_server"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_redis_server,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_redis_password_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_redis_password_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_redis_user"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_main_conf_t, redis_user),
      NULL },

    { ngx_string("mcp_redis_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_main_conf_t, redis_db),
      NULL },

    { ngx_string("mcp_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("mcp_apikey_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_main_conf_t, apikey_prefix),
      NULL },

    { ngx_string("mcp_auth_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_endpoint"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_allow_roles"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_allow_roles,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_tool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_mcp_tool,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_identity_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, identity_secret),
      NULL },

    { ngx_string("mcp_methods"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_methods,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_allowed_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, allowed_origins),
      NULL },

    { ngx_string("mcp_protocol_versions"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, protocol_versions),
      NULL },

    { ngx_string("mcp_session_requests"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_session_requests,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_batch_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_batch_max,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_aggregate"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, aggregate),
      NULL },

    { ngx_string("mcp_aggregate_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, aggregate_prefix),
      NULL },

    { ngx_string("mcp_aggregate_discovery"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, aggregate_discovery),
      NULL },

    { ngx_string("mcp_aggregate_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, aggregate_timeout),
      NULL },

    { ngx_string("mcp_description"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, description),
      NULL },

    { ngx_string("mcp_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, jwt_issuer),
      NULL },

    { ngx_string("mcp_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_jwt_audience,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_jwks_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, jwks_file),
      NULL },

    { ngx_string("mcp_jwks_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, jwks_uri),
      NULL },

    { ngx_string("mcp_jwks_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, jwks_refresh),
      NULL },

    { ngx_string("mcp_jwks_retry"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, jwks_retry),
      NULL },

    { ngx_string("mcp_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, jwt_leeway),
      NULL },

    { ngx_string("mcp_jwt_user_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, jwt_user_claim),
      NULL },

    { ngx_string("mcp_jwt_roles_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, jwt_roles_claim),
      NULL },

    { ngx_string("mcp_jwt_hmac_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, jwt_hmac_secret),
      NULL },

    { ngx_string("mcp_resource"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, resource),
      NULL },

    { ngx_string("mcp_resource_scopes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, resource_scopes),
      NULL },

    { ngx_string("mcp_protected_resource_metadata"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mcp_protected_resource_metadata,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("mcp_max_list_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, max_list_size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mcp_module_ctx = {
    ngx_http_mcp_preconfiguration,         /* preconfiguration */
    ngx_http_mcp_postconfiguration,        /* postconfiguration */

    ngx_http_mcp_create_main_conf,         /* create main configuration */
    ngx_http_mcp_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mcp_create_loc_conf,          /* create location configuration */
    ngx_http_mcp_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_mcp_module = {
    NGX_MODULE_V1,
    &ngx_http_mcp_module_ctx,              /* module context */
    ngx_http_mcp_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mcp_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mcp_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_mcp_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_mcp_add_variables(cf);
}


static ngx_int_t
ngx_http_mcp_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mcp_access_handler;

    if (ngx_http_mcp_aggregate_resolve(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_mcp_audit_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_mcp_filter_init(cf);
}


static void *
ngx_http_mcp_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mmcf->redis_host = { 0, NULL };
     *     mmcf->redis_unix = { 0, NULL };
     *     mmcf->redis_password = { 0, NULL };
     *     mmcf->redis_configured = 0;
     */

    mmcf->redis_db = NGX_CONF_UNSET;
    mmcf->redis_timeout = NGX_CONF_UNSET_MSEC;

    if (ngx_array_init(&mmcf->tenants, cf->pool, 4,
                       sizeof(ngx_http_mcp_loc_conf_t *))
        != NGX_OK
        || ngx_array_init(&mmcf->aggregates, cf->pool, 1,
                          sizeof(ngx_http_mcp_loc_conf_t *))
           != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&mmcf->endpoints, cf->pool, 4,
                       sizeof(ngx_http_mcp_loc_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return mmcf;
}


static char *
ngx_http_mcp_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mcp_main_conf_t *mmcf = conf;

    ngx_conf_init_value(mmcf->redis_db, 0);
    ngx_conf_init_msec_value(mmcf->redis_timeout, 500);

    if (mmcf->apikey_prefix.data == NULL) {
        ngx_str_set(&mmcf->apikey_prefix, "mcp:apikey:");
    }

    if (mmcf->redis_db < 0) {
        return "\"mcp_redis_db\" must be 0 or more";
    }

    if (mmcf->redis_user.len && mmcf->redis_password.len == 0) {
        return "\"mcp_redis_user\" needs \"mcp_redis_password_file\"";
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mcp_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->tenant = { 0, NULL };
     *     mlcf->identity_secret = { 0, NULL };
     */

    mlcf->allow_roles = NGX_CONF_UNSET_PTR;
    mlcf->tool_rules = NGX_CONF_UNSET_PTR;
    mlcf->max_body_size = NGX_CONF_UNSET_SIZE;
    mlcf->max_list_size = NGX_CONF_UNSET_SIZE;
    mlcf->methods = NGX_CONF_UNSET_PTR;
    mlcf->allowed_origins = NGX_CONF_UNSET_PTR;
    mlcf->protocol_versions = NGX_CONF_UNSET_PTR;
    mlcf->session_requests = NGX_CONF_UNSET;
    mlcf->batch_max = NGX_CONF_UNSET_UINT;
    mlcf->aggregate = NGX_CONF_UNSET_PTR;
    mlcf->aggregate_prefix = NGX_CONF_UNSET;
    mlcf->aggregate_discovery = NGX_CONF_UNSET;
    mlcf->aggregate_timeout = NGX_CONF_UNSET_MSEC;
    mlcf->jwt_audiences = NGX_CONF_UNSET_PTR;
    mlcf->jwks_refresh = NGX_CONF_UNSET;
    mlcf->jwks_retry = NGX_CONF_UNSET;
    mlcf->jwt_leeway = NGX_CONF_UNSET;
    mlcf->resource_scopes = NGX_CONF_UNSET_PTR;

    return mlcf;
}


static char *
ngx_http_mcp_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mcp_loc_conf_t *prev = parent;
    ngx_http_mcp_loc_conf_t *conf = child;

    ngx_pool_cleanup_t        *cln;
    ngx_http_mcp_main_conf_t  *mmcf;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_ptr_value(conf->allow_roles, prev->allow_roles, NULL);
    ngx_conf_merge_ptr_value(conf->tool_rules, prev->tool_rules, NULL);
    ngx_conf_merge_str_value(conf->identity_secret, prev->identity_secret,
                             "");
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              1024 * 1024);
    ngx_conf_merge_size_value(conf->max_list_size, prev->max_list_size,
                              8 * 1024 * 1024);

    ngx_conf_merge_ptr_value(conf->methods, prev->methods, NULL);
    ngx_conf_merge_ptr_value(conf->allowed_origins, prev->allowed_origins,
                             NULL);
    ngx_conf_merge_ptr_value(conf->protocol_versions,
                             prev->protocol_versions, NULL);
    ngx_conf_merge_value(conf->session_requests, prev->session_requests, 0);
    ngx_conf_merge_uint_value(conf->batch_max, prev->batch_max, 0);
    ngx_conf_merge_ptr_value(conf->aggregate, prev->aggregate, NULL);
    ngx_conf_merge_value(conf->aggregate_prefix, prev->aggregate_prefix, 1);
    ngx_conf_merge_value(conf->aggregate_discovery,
                         prev->aggregate_discovery, 0);
    ngx_conf_merge_msec_value(conf->aggregate_timeout,
                              prev->aggregate_timeout, 5000);

    if (conf->methods == NULL) {
        conf->methods = ngx_http_mcp_patterns(cf, ngx_http_mcp_default_methods,
                              sizeof(ngx_http_mcp_default_methods)
                              / sizeof(ngx_str_t));
        if (conf->methods == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_conf_merge_str_value(conf->jwt_issuer, prev->jwt_issuer, "");
    ngx_conf_merge_ptr_value(conf->jwt_audiences, prev->jwt_audiences, NULL);
    ngx_conf_merge_str_value(conf->jwks_file, prev->jwks_file, "");
    ngx_conf_merge_str_value(conf->jwks_uri, prev->jwks_uri, "");
    ngx_conf_merge_sec_value(conf->jwks_refresh, prev->jwks_refresh, 600);
    ngx_conf_merge_sec_value(conf->jwks_retry, prev->jwks_retry, 30);
    ngx_conf_merge_sec_value(conf->jwt_leeway, prev->jwt_leeway, 30);
    ngx_conf_merge_str_value(conf->jwt_user_claim, prev->jwt_user_claim,
                             "preferred_username");
    ngx_conf_merge_str_value(conf->jwt_roles_claim, prev->jwt_roles_claim,
                             "realm_access.roles");
    ngx_conf_merge_str_value(conf->jwt_hmac_secret, prev->jwt_hmac_secret,
                             "");
    ngx_conf_merge_ptr_value(conf->resource_scopes, prev->resource_scopes,
                             NULL);

    if (conf->tenant.len == 0) {
        return NGX_CONF_OK;
    }

    /* an endpoint must be complete: fail "nginx -t", not a request */

    if (conf->identity_secret.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_endpoint %V\" needs "
                           "\"mcp_identity_secret_file\"", &conf->tenant);
        return NGX_CONF_ERROR;
    }

    /* the HMAC key is prepared once; requests only duplicate it */
    conf->identity_signer = ngx_http_mcp_signer_create(
                                conf->identity_secret.data,
                                conf->identity_secret.len);
    if (conf->identity_signer == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_endpoint %V\": OpenSSL could not set up "
                           "HMAC-SHA256", &conf->tenant);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_mcp_signer_cleanup;
    cln->data = conf->identity_signer;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    if (!mmcf->redis_configured && conf->jwt_issuer.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_endpoint %V\" accepts no credentials: "
                           "set \"mcp_redis_server\" (API keys) or "
                           "\"mcp_jwt_issuer\" (bearer JWTs)",
                           &conf->tenant);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mcp_merge_jwt(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mcp_metadata_register(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mcp_register_tenant(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * The access phase parses the body from memory: make the core keep
     * any body this endpoint accepts in memory (the core merged first).
     */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->client_body_buffer_size < conf->max_body_size) {
        clcf->client_body_buffer_size = conf->max_body_size;
    }

    if (conf->allow_roles == NULL) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"mcp_endpoint %V\" has no \"mcp_allow_roles\": "
                           "every caller will be refused", &conf->tenant);
    }

    return NGX_CONF_OK;
}


/* JWT settings of an endpoint: complete, or "nginx -t" says what is missing */

static char *
ngx_http_mcp_merge_jwt(ngx_conf_t *cf, ngx_http_mcp_loc_conf_t *conf)
{
    const char                **aud;
    ngx_http_mcp_main_conf_t   *mmcf;

    if (conf->jwt_issuer.len == 0) {
        if (conf->jwks_file.len || conf->jwks_uri.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mcp_endpoint %V\": JWKS configured but no "
                               "\"mcp_jwt_issuer\"", &conf->tenant);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    /* RFC 8707: without an audience any token of the realm would do */
    if (conf->jwt_audiences == NULL && conf->resource.len) {
        conf->jwt_audiences = ngx_array_create(cf->pool, 1,
                                               sizeof(const char *));
        if (conf->jwt_audiences == NULL) {
            return NGX_CONF_ERROR;
        }

        aud = ngx_array_push(conf->jwt_audiences);
        if (aud == NULL) {
            return NGX_CONF_ERROR;
        }

        *aud = (const char *) conf->resource.data;
    }

    if (conf->jwt_audiences == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_endpoint %V\" takes JWTs but has no "
                           "\"mcp_jwt_audience\" or \"mcp_resource\"",
                           &conf->tenant);
        return NGX_CONF_ERROR;
    }

    if (conf->jwks_file.len && conf->jwks_uri.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_endpoint %V\": use \"mcp_jwks_file\" or "
                           "\"mcp_jwks_uri\", not both", &conf->tenant);
        return NGX_CONF_ERROR;
    }

    if (conf->jwks_file.len == 0 && conf->jwks_uri.len == 0
        && conf->jwt_hmac_secret.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_endpoint %V\" takes JWTs but has no keys: "
                           "set \"mcp_jwks_file\" or \"mcp_jwks_uri\"",
                           &conf->tenant);
        return NGX_CONF_ERROR;
    }

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    if (conf->jwks_uri.len && mmcf->cache.shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_jwks_uri\" needs \"mcp_auth_cache\" in "
                           "the http block (fetched keys are shared there)");
        return NGX_CONF_ERROR;
    }

    conf->jwks_state = ngx_pcalloc(cf->pool,
                                   sizeof(ngx_http_mcp_jwks_state_t));
    if (conf->jwks_state == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mcp_jwt_scope(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->jwks_file.len) {
        if (ngx_conf_full_name(cf->cycle, &conf->jwks_file, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_mcp_jwks_load_file(cf, conf) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mcp_jwks_file\" \"%V\" holds no usable "
                               "key (see the error above)", &conf->jwks_file);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * Every endpoint is known by name, so that an aggregate can reach it by
 * its location (resolved once all locations are merged).
 */

static ngx_int_t
ngx_http_mcp_register_tenant(ngx_conf_t *cf, ngx_http_mcp_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_mcp_main_conf_t   *mmcf;
    ngx_http_mcp_loc_conf_t   **slot;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    if (!clcf->named && !clcf->noname
#if (NGX_PCRE)
        && clcf->regex == NULL
#endif
       )
    {
        conf->location = clcf->name;
    }

    /* an aggregate reads each tool set's tools/list into memory */
    if (clcf->subrequest_output_buffer_size < NGX_HTTP_MCP_AGG_LIST_MAX) {
        clcf->subrequest_output_buffer_size = NGX_HTTP_MCP_AGG_LIST_MAX;
    }

    slot = ngx_array_push(&mmcf->tenants);
    if (slot == NULL) {
        return NGX_ERROR;
    }

    *slot = conf;

    if (conf->aggregate) {
        slot = ngx_array_push(&mmcf->aggregates);
        if (slot == NULL) {
            return NGX_ERROR;
        }

        *slot = conf;
    }

    return NGX_OK;
}


/*
 * A verified token is cached under a digest of the token and of what this
 * endpoint checks and reads in it (issuer, audiences, claims): a token
 * verified for one audience is no cache hit where another is required.
 */

static ngx_int_t
ngx_http_mcp_jwt_scope(ngx_conf_t *cf, ngx_http_mcp_loc_conf_t *conf)
{
    u_char       *p, secret_digest[32];
    size_t        len;
    ngx_str_t     text;
    ngx_uint_t    i;
    const char  **aud;

    aud = conf->jwt_audiences ? conf->jwt_audiences->elts : NULL;

    ngx_http_mcp_sha256(conf->jwt_hmac_secret.data, conf->jwt_hmac_secret.len,
                        secret_digest);

    len = conf->jwt_issuer.len + conf->jwt_user_claim.len
          + conf->jwt_roles_claim.len + sizeof(secret_digest) + 4;

    for (i = 0; aud && i < conf->jwt_audiences->nelts; i++) {
        len += ngx_strlen(aud[i]) + 1;
    }

    text.data = ngx_pnalloc(cf->temp_pool, len);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(text.data, conf->jwt_issuer.data, conf->jwt_issuer.len);
    *p++ = '\0';

    for (i = 0; aud && i < conf->jwt_audiences->nelts; i++) {
        p = ngx_cpymem(p, aud[i], ngx_strlen(aud[i]));
        *p++ = '\0';
    }

    *p++ = '\0';
    p = ngx_cpymem(p, conf->jwt_user_claim.data, conf->jwt_user_claim.len);
    *p++ = '\0';
    p = ngx_cpymem(p, conf->jwt_roles_claim.data, conf->jwt_roles_claim.len);
    *p++ = '\0';
    p = ngx_cpymem(p, secret_digest, sizeof(secret_digest));

    text.len = p - text.data;

    ngx_http_mcp_sha256(text.data, text.len, conf->jwt_scope);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_init_process(ngx_cycle_t *cycle)
{
#if (__GLIBC__)
    if (mallopt(M_TRIM_THRESHOLD, NGX_HTTP_MCP_MALLOC_TRIM_THRESHOLD) != 1) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "mcp: mallopt(M_TRIM_THRESHOLD) failed; the heap may "
                      "shrink and grow between requests");
    }
#endif

    if (ngx_http_mcp_audit_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_mcp_redis_init_process(cycle);
}


static void
ngx_http_mcp_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mcp_redis_exit_process(cycle);
}


static char *
ngx_http_mcp_redis_server(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_main_conf_t *mmcf = conf;

    u_char     *colon;
    ngx_int_t   port;
    ngx_str_t  *value;
    in_addr_t   addr;

    if (mmcf->redis_configured) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        mmcf->redis_unix.data = value[1].data + 5;
        mmcf->redis_unix.len = value[1].len - 5;
        mmcf->redis_configured = 1;
        return NGX_CONF_OK;
    }

    colon = ngx_strlchr(value[1].data, value[1].data + value[1].len, ':');
    if (colon == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_redis_server\" needs \"IP:PORT\" or "
                           "\"unix:/path\", not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* hiredis resolves names with a blocking call: accept IPs only */
    addr = ngx_inet_addr(value[1].data, colon - value[1].data);
    port = ngx_atoi(colon + 1, value[1].data + value[1].len - colon - 1);

    if (addr == INADDR_NONE || port < 1 || port > 65535) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_redis_server\" needs an IPv4 address and a "
                           "port (host names would block the event loop), "
                           "not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    mmcf->redis_host.len = colon - value[1].data;
    mmcf->redis_host.data = ngx_pnalloc(cf->pool, mmcf->redis_host.len + 1);
    if (mmcf->redis_host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(mmcf->redis_host.data, value[1].data, mmcf->redis_host.len);
    mmcf->redis_host.data[mmcf->redis_host.len] = '\0';

    mmcf->redis_port = (in_port_t) port;
    mmcf->redis_configured = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_redis_password_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mcp_main_conf_t *mmcf = conf;

    ngx_str_t  *value;

    if (mmcf->redis_password.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_http_mcp_read_secret(cf, &value[1], &mmcf->redis_password);
}


static char *
ngx_http_mcp_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_main_conf_t *mmcf = conf;

    if (mmcf->cache.shm_zone) {
        return "is duplicate";
    }

    return ngx_http_mcp_cache_zone(cf, &mmcf->cache, cf->args->elts,
                                   cf->args->nelts, &ngx_http_mcp_module);
}


static char *
ngx_http_mcp_endpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_str_t  *value;
    ngx_uint_t  i;

    if (mlcf->tenant.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        if (!(isalnum(value[1].data[i]) || value[1].data[i] == '-'
              || value[1].data[i] == '_' || value[1].data[i] == '.'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mcp_endpoint\" name \"%V\" may contain only "
                               "letters, digits, '-', '_' and '.'", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    mlcf->tenant = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_allow_roles(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_str_t            *value;
    ngx_uint_t            i;
    ngx_http_mcp_span_t  *role;

    if (mlcf->allow_roles != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    mlcf->allow_roles = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                         sizeof(ngx_http_mcp_span_t));
    if (mlcf->allow_roles == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_http_mcp_check_role(cf, &value[i]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        role = ngx_array_push(mlcf->allow_roles);
        if (role == NULL) {
            return NGX_CONF_ERROR;
        }

        role->data = value[i].data;
        role->len = value[i].len;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_tool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_mcp_tool_rule_t  *rule;

    if (mlcf->tool_rules == NGX_CONF_UNSET_PTR) {
        mlcf->tool_rules = ngx_array_create(cf->pool, 8,
                                            sizeof(ngx_http_mcp_tool_rule_t));
        if (mlcf->tool_rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    rule = ngx_array_push(mlcf->tool_rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    rule->pattern.data = value[1].data;
    rule->pattern.len = value[1].len;
    rule->is_prefix = 0;

    if (value[1].data[value[1].len - 1] == '*') {
        rule->pattern.len--;
        rule->is_prefix = 1;
    }

    if (ngx_strlchr(value[1].data, value[1].data + rule->pattern.len, '*')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_tool\" pattern \"%V\" may have '*' only at "
                           "its end", &value[1]);
        return NGX_CONF_ERROR;
    }

    rule->nroles = cf->args->nelts - 2;
    rule->roles = ngx_palloc(cf->pool,
                             rule->nroles * sizeof(ngx_http_mcp_span_t));
    if (rule->roles == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_http_mcp_check_role(cf, &value[i]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        rule->roles[i - 2].data = value[i].data;
        rule->roles[i - 2].len = value[i].len;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_methods(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (mlcf->methods != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strlchr(value[i].data, value[i].data + value[i].len - 1, '*'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mcp_methods\" pattern \"%V\" may have '*' "
                               "only at its end", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    mlcf->methods = ngx_http_mcp_patterns(cf, &value[1], cf->args->nelts - 1);

    return mlcf->methods ? NGX_CONF_OK : NGX_CONF_ERROR;
}


/* a batch is parsed message by message: keep the work per request bounded */
#define NGX_HTTP_MCP_BATCH_LIMIT  100


static char *
ngx_http_mcp_batch_max(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (mlcf->batch_max != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n > NGX_HTTP_MCP_BATCH_LIMIT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_batch_max\" takes a number of messages "
                           "from 0 (batches refused) to %d, not \"%V\"",
                           NGX_HTTP_MCP_BATCH_LIMIT, &value[1]);
        return NGX_CONF_ERROR;
    }

    mlcf->batch_max = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_session_requests(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_str_t  *value;

    if (mlcf->session_requests != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "pass") == 0) {
        mlcf->session_requests = 1;

    } else if (ngx_strcmp(value[1].data, "refuse") == 0) {
        mlcf->session_requests = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_session_requests\" takes \"pass\" or "
                           "\"refuse\", not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_array_t *
ngx_http_mcp_patterns(ngx_conf_t *cf, ngx_str_t *names, ngx_uint_t n)
{
    ngx_uint_t               i;
    ngx_array_t             *patterns;
    ngx_http_mcp_pattern_t  *p;

    patterns = ngx_array_create(cf->pool, n, sizeof(ngx_http_mcp_pattern_t));
    if (patterns == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        p = ngx_array_push(patterns);
        if (p == NULL) {
            return NULL;
        }

        p->pattern.data = names[i].data;
        p->pattern.len = names[i].len;
        p->is_prefix = (names[i].data[names[i].len - 1] == '*');

        if (p->is_prefix) {
            p->pattern.len--;
        }
    }

    return patterns;
}


static char *
ngx_http_mcp_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **list;

    list = (ngx_array_t **) (p + cmd->offset);

    if (*list != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *list = ngx_array_create(cf->pool, cf->args->nelts - 1,
                             sizeof(ngx_str_t));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(*list);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_jwt_audience(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_str_t    *value;
    ngx_uint_t    i;
    const char  **aud;

    if (mlcf->jwt_audiences != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    mlcf->jwt_audiences = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                           sizeof(const char *));
    if (mlcf->jwt_audiences == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        aud = ngx_array_push(mlcf->jwt_audiences);
        if (aud == NULL) {
            return NGX_CONF_ERROR;
        }

        /* configuration words are NUL-terminated */
        *aud = (const char *) value[i].data;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_protected_resource_metadata(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->metadata_handler) {
        return "is duplicate";
    }

    mlcf->metadata_handler = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mcp_metadata_handler;

    return NGX_CONF_OK;
}


static void
ngx_http_mcp_signer_cleanup(void *data)
{
    ngx_http_mcp_signer_free(data);
}


/*
 * mcp_identity_secret_file and mcp_jwt_hmac_secret_file: HMAC keys, at
 * least as long as the SHA-256 they key (RFC 7518 3.2).
 */

static char *
ngx_http_mcp_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char       *rv;
    ngx_str_t  *secret, *value;

    secret = (ngx_str_t *) (p + cmd->offset);

    if (secret->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rv = ngx_http_mcp_read_secret(cf, &value[1], secret);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (secret->len < NGX_HTTP_MCP_MIN_SECRET) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" \"%V\" holds fewer than %d bytes; use e.g. "
                           "\"openssl rand -hex 32\"", &cmd->name, &value[1],
                           NGX_HTTP_MCP_MIN_SECRET);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* reads a small secret file once, at configuration time, trimmed */

static char *
ngx_http_mcp_read_secret(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *secret)
{
    u_char           *p, *last;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         name, *directive;
    ngx_file_info_t   fi;

    directive = cf->args->elts;
    name = *path;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\": cannot open secret file \"%s\"",
                           &directive[0], name.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_MCP_MAX_SECRET)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": secret file \"%s\" is unreadable or "
                           "larger than %d bytes",
                           &directive[0], name.data,
                           NGX_HTTP_MCP_MAX_SECRET);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, NGX_HTTP_MCP_MAX_SECRET);
    if (p == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = read(fd, p, NGX_HTTP_MCP_MAX_SECRET);
    ngx_close_file(fd);

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\": cannot read secret file \"%s\"",
                           &directive[0], name.data);
        return NGX_CONF_ERROR;
    }

    last = p + n;

    while (p < last && isspace(*p)) {
        p++;
    }

    while (last > p && isspace(last[-1])) {
        last--;
    }

    if (last == p) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": secret file \"%s\" is empty",
                           &directive[0], name.data);
        return NGX_CONF_ERROR;
    }

    secret->data = p;
    secret->len = last - p;

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_check_role(ngx_conf_t *cf, ngx_str_t *role)
{
    ngx_uint_t  i;
    u_char      ch;

    for (i = 0; i < role->len; i++) {
        ch = role->data[i];

        if (!(isalnum(ch) || ch == '-' || ch == '_' || ch == '.'
              || ch == ':'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": invalid role name \"%V\" (letters, "
                               "digits, '-', '_', '.' and ':' only)",
                               &((ngx_str_t *) cf->args->elts)[0], role);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
