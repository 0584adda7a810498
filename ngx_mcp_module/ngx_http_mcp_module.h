
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Shared declarations of ngx_http_mcp_module: configuration, per-request
 * context and the entry points of each concern's file.
 */


#ifndef _NGX_HTTP_MCP_MODULE_H_INCLUDED_
#define _NGX_HTTP_MCP_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mcp_jsonrpc.h"
#include "ngx_http_mcp_rbac.h"
#include "ngx_http_mcp_crypto.h"
#include "ngx_http_mcp_cache.h"
#include "ngx_http_mcp_jwt.h"
#include "ngx_http_mcp_json.h"


#define NGX_HTTP_MCP_MODULE_VERSION  "0.2.0"

#define NGX_HTTP_MCP_JWKS_MAX_SIZE  (256 * 1024)

/* the nginx variables the audit record reads (ngx_http_mcp_audit.c) */
#define NGX_HTTP_MCP_RECORD_VARIABLES  8

/* the largest tools/list an aggregate reads from one tool set */
#define NGX_HTTP_MCP_AGG_LIST_MAX   (256 * 1024)


/* a method or tool name, or a prefix when the configuration ended in '*' */
typedef struct {
    ngx_http_mcp_span_t        pattern;
    unsigned                   is_prefix;
} ngx_http_mcp_pattern_t;


/* a worker's parsed keys of one JWKS source */
typedef struct {
    ngx_http_mcp_jwks_t       *keys;
    ngx_uint_t                 generation;     /* of the zone's copy */
    time_t                     checked;        /* file: last stat() */
    time_t                     mtime;
    off_t                      size;
} ngx_http_mcp_jwks_state_t;


typedef struct {
    ngx_str_t                  redis_host;     /* IP literal: no DNS */
    in_port_t                  redis_port;
    ngx_str_t                  redis_unix;
    ngx_str_t                  redis_user;     /* ACL user, or none */
    ngx_str_t                  redis_password;
    ngx_int_t                  redis_db;
    ngx_msec_t                 redis_timeout;
    ngx_str_t                  apikey_prefix;  /* "mcp:apikey:" */
    ngx_flag_t                 redis_configured;
    ngx_http_mcp_cache_t       cache;          /* shm_zone NULL: none */
    ngx_array_t                endpoints;      /* of ngx_http_mcp_loc_conf_t *,
                                                  for resource metadata */
    ngx_array_t                tenants;        /* every mcp_endpoint */
    ngx_array_t                aggregates;     /* those with mcp_aggregate */
    ngx_int_t                  record_index[NGX_HTTP_MCP_RECORD_VARIABLES];
} ngx_http_mcp_main_conf_t;


typedef struct {
    ngx_str_t                  tenant;         /* empty: module is off */
    ngx_array_t               *allow_roles;    /* ngx_http_mcp_span_t */
    ngx_array_t               *tool_rules;     /* ngx_http_mcp_tool_rule_t */
    ngx_str_t                  identity_secret;
    ngx_http_mcp_signer_t     *identity_signer;
    size_t                     max_body_size;
    size_t                     max_list_size;  /* tools/list response */

    /* Streamable HTTP */
    ngx_array_t               *methods;        /* ngx_http_mcp_pattern_t */
    ngx_array_t               *allowed_origins;    /* ngx_str_t */
    ngx_array_t               *protocol_versions;  /* ngx_str_t */
    ngx_flag_t                 session_requests;   /* pass GET/DELETE */
    ngx_uint_t                 batch_max;      /* 0: batches refused */

    /* bearer JWTs: enabled by mcp_jwt_issuer */
    ngx_str_t                  jwt_issuer;
    ngx_array_t               *jwt_audiences;  /* const char * */
    ngx_str_t                  jwks_file;
    ngx_str_t                  jwks_uri;       /* internal location */
    time_t                     jwks_refresh;
    time_t                     jwks_retry;
    time_t                     jwt_leeway;
    ngx_str_t                  jwt_user_claim;
    ngx_str_t                  jwt_roles_claim;
    ngx_str_t                  jwt_hmac_secret;
    ngx_http_mcp_jwks_state_t *jwks_state;
    u_char                     jwt_scope[32];  /* of the checks: cache key */

    /* an aggregate endpoint (mcp_aggregate) and what it offers of others */
    ngx_array_t               *aggregate;      /* ngx_str_t tool set names */
    ngx_array_t               *toolsets;       /* ngx_http_mcp_toolset_t */
    ngx_flag_t                 aggregate_prefix;
    ngx_flag_t                 aggregate_discovery;
    ngx_msec_t                 aggregate_timeout;
    ngx_str_t                  description;    /* one line, for catalogues */
    ngx_str_t                  location;       /* where a redirect finds it */

    /* RFC 9728 protected resource metadata */
    ngx_str_t                  resource;       /* this endpoint's URL */
    ngx_str_t                  resource_metadata;  /* its metadata URL */
    ngx_array_t               *resource_scopes;    /* ngx_str_t */
    ngx_flag_t                 metadata_handler;
} ngx_http_mcp_loc_conf_t;


/* an endpoint as part of an aggregate */
typedef struct {
    ngx_str_t                  name;           /* its mcp_endpoint name */
    ngx_str_t                  prefix;         /* "log_analysis__", or "" */
    ngx_str_t                  location;
    ngx_http_mcp_loc_conf_t   *conf;
} ngx_http_mcp_toolset_t;


typedef enum {
    NGX_HTTP_MCP_STATE_START = 0,
    NGX_HTTP_MCP_STATE_READING_BODY,
    NGX_HTTP_MCP_STATE_BODY_READ,
    NGX_HTTP_MCP_STATE_LOOKUP,
    NGX_HTTP_MCP_STATE_LOOKUP_DONE,
    NGX_HTTP_MCP_STATE_JWKS,
    NGX_HTTP_MCP_STATE_JWKS_DONE,
    NGX_HTTP_MCP_STATE_AGGREGATE,
    NGX_HTTP_MCP_STATE_AGGREGATE_DONE,
    NGX_HTTP_MCP_STATE_DONE
} ngx_http_mcp_state_e;


typedef enum {
    NGX_HTTP_MCP_LOOKUP_PENDING = 0,
    NGX_HTTP_MCP_LOOKUP_FOUND,
    NGX_HTTP_MCP_LOOKUP_NOT_FOUND,
    NGX_HTTP_MCP_LOOKUP_UNAVAILABLE
} ngx_http_mcp_lookup_e;


typedef struct ngx_http_mcp_pending_s  ngx_http_mcp_pending_t;


typedef struct {
    ngx_http_mcp_state_e       state;
    ngx_int_t                  access_rc;      /* result once DONE */

    /* transport rules: a failure is answered once the id is known */
    ngx_uint_t                 transport_status;
    int                        transport_code;
    const char                *transport_reason;
    const char                *transport_message;
    json_t                    *error_data;     /* "data" of the error */
    ngx_str_t                  protocol_version;
    unsigned                   session_request:1;   /* a passed GET/DELETE */

    /* credentials as presented, and why they fail (NULL: not yet known) */
    ngx_str_t                  apikey;
    const char                *auth_error;
    ngx_str_t                  jwt;
    u_char                     digest[32];     /* SHA-256 of the credential */
    time_t                     jwt_exp;
    unsigned                   cached:1;
    unsigned                   jwks_fetched:1;
    ngx_uint_t                 jwks_polls;     /* waiting for keys, at start */

    /* the parsed message, or the messages of a batch */
    ngx_http_mcp_rpc_t         rpc;
    yajl_alloc_funcs           rpc_alloc;
    int                        rpc_error;
    ngx_http_mcp_rpc_t        *batch;
    ngx_uint_t                 nbatch;

    /* Redis lookup */
    ngx_http_mcp_pending_t    *pending;
    ngx_event_t                wake;           /* timeout and resume */
    ngx_http_mcp_lookup_e      lookup;
    ngx_str_t                  record_hash;
    ngx_str_t                  record_user;
    ngx_str_t                  record_roles;
    time_t                     record_expires;
    time_t                     record_revoked;

    /* what the audit record and the variables show */
    ngx_str_t                  user;
    ngx_str_t                  roles;
    ngx_str_t                  subject;
    ngx_str_t                  auth_method;
    ngx_str_t                  key_id;
    ngx_str_t                  method;
    ngx_str_t                  tool;
    ngx_str_t                  rpc_id;
    ngx_str_t                  decision;
    ngx_str_t                  reason;
    ngx_str_t                  args;           /* in the request body */
    ngx_str_t                  args_sha256;    /* of args, when asked */
    ngx_str_t                  args_size;

    ngx_http_mcp_roles_t       caller_roles;

    /* aggregates: the tool sets asked, and a call routed on */
    struct ngx_http_mcp_agg_s *agg;
    ngx_str_t                  toolsets;       /* "name:ok name:timeout" */
    ngx_str_t                  via;            /* the aggregate it came by */
    unsigned                   route_out:1;    /* redirected to a tool set */
    unsigned                   routed:1;       /* ... and arrived there */

    /* tools/list response filter */
    unsigned                   filter_tools_list:1;
    unsigned                   filter_active:1;
    ngx_chain_t               *filter_in;
    size_t                     filter_size;
    ngx_buf_t                 *error_body;     /* replaces nginx's 50x page */
} ngx_http_mcp_ctx_t;


/* what the rules say of one message: reason NULL when it may pass */
typedef struct {
    const char                *reason;     /* for the audit record */
    ngx_uint_t                 status;     /* HTTP status of a lone one */
    int                        code;       /* JSON-RPC error */
    const char                *message;
} ngx_http_mcp_verdict_t;


extern ngx_module_t  ngx_http_mcp_module;


/* ngx_http_mcp_access.c */
ngx_int_t ngx_http_mcp_access_handler(ngx_http_request_t *r);
void ngx_http_mcp_resume(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_state_e state);
ngx_int_t ngx_http_mcp_send_error(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_uint_t status, int code,
    const char *message);
ngx_int_t ngx_http_mcp_send_json(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_uint_t status, char *text);
ngx_buf_t *ngx_http_mcp_error_buf(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, int code, const char *message);
ngx_int_t ngx_http_mcp_request_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_uint_t ngx_http_mcp_may_call(ngx_http_mcp_loc_conf_t *mlcf,
    ngx_http_mcp_ctx_t *ctx, const u_char *tool, size_t len);
const char *ngx_http_mcp_unknown_tool(ngx_http_request_t *r,
    const char *tool);
ngx_int_t ngx_http_mcp_judge_message(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf,
    ngx_http_mcp_rpc_t *rpc, ngx_http_mcp_verdict_t *verdict);

/* ngx_http_mcp_aggregate.c */
ngx_int_t ngx_http_mcp_aggregate_handle(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
ngx_int_t ngx_http_mcp_aggregate_answer(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
ngx_int_t ngx_http_mcp_aggregate_resolve(ngx_conf_t *cf);

/* ngx_http_mcp_batch.c */
ngx_uint_t ngx_http_mcp_batch_body(ngx_http_mcp_loc_conf_t *mlcf,
    ngx_str_t *body);
ngx_int_t ngx_http_mcp_batch_parse(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf, ngx_str_t *body);
ngx_int_t ngx_http_mcp_batch_decide(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
void ngx_http_mcp_batch_free(ngx_http_mcp_ctx_t *ctx);

/* ngx_http_mcp_redis.c */
ngx_int_t ngx_http_mcp_redis_init_process(ngx_cycle_t *cycle);
void ngx_http_mcp_redis_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_mcp_apikey_lookup(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
void ngx_http_mcp_apikey_touch(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);

/* ngx_http_mcp_transport.c */
void ngx_http_mcp_transport_check(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
ngx_int_t ngx_http_mcp_transport_mirrors(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
ngx_uint_t ngx_http_mcp_transport_mirrored(ngx_http_request_t *r);
ngx_table_elt_t *ngx_http_mcp_transport_header(ngx_http_request_t *r,
    const char *name);
ngx_int_t ngx_http_mcp_transport_encode(ngx_http_request_t *r,
    ngx_str_t *value, ngx_str_t *out);
ngx_uint_t ngx_http_mcp_stateless(ngx_http_mcp_ctx_t *ctx);
ngx_table_elt_t *ngx_http_mcp_session_header(ngx_http_request_t *r);
ngx_table_elt_t *ngx_http_mcp_list_header(ngx_list_t *headers,
    const char *name, size_t len);

/* ngx_http_mcp_jwks.c */
ngx_int_t ngx_http_mcp_jwt_check(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
ngx_int_t ngx_http_mcp_jwks_load_file(ngx_conf_t *cf,
    ngx_http_mcp_loc_conf_t *mlcf);

/* ngx_http_mcp_metadata.c */
ngx_int_t ngx_http_mcp_metadata_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mcp_metadata_register(ngx_conf_t *cf,
    ngx_http_mcp_loc_conf_t *mlcf);

/* ngx_http_mcp_identity.c */
ngx_int_t ngx_http_mcp_identity_forward(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_loc_conf_t *mlcf);
ngx_int_t ngx_http_mcp_identity_add(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_loc_conf_t *mlcf);

/* ngx_http_mcp_filter.c */
ngx_int_t ngx_http_mcp_filter_init(ngx_conf_t *cf);

/* ngx_http_mcp_audit.c */
ngx_int_t ngx_http_mcp_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_mcp_audit_init(ngx_conf_t *cf);
ngx_int_t ngx_http_mcp_audit_init_process(ngx_cycle_t *cycle);
void ngx_http_mcp_set_decision(ngx_http_mcp_ctx_t *ctx, const char *decision,
    const char *reason);


#endif /* _NGX_HTTP_MCP_MODULE_H_INCLUDED_ */
