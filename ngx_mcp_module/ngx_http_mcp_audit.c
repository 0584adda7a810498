
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The audit trail uses nginx's own logging: these variables feed a
 * log_format with escape=json (see docs/configuration.md), so buffering,
 * syslog:, reopening on USR1 and valid JSON for hostile input all come
 * from nginx.  Secrets never reach a variable: only the key id does.
 */


#include <openssl/rand.h>

#include "ngx_http_mcp_module.h"


static ngx_int_t ngx_http_mcp_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_tenant_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_session_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/*
 * $mcp_request_id: 32 hex digits, a random half drawn once per worker
 * process and that worker's request count.  Unique like $request_id, but
 * without a call into OpenSSL's random generator for every request (that
 * call cost the audited request as much as the rest of the record).
 */
static uint64_t  ngx_http_mcp_request_id_base;
static uint64_t  ngx_http_mcp_request_count;


#define ngx_http_mcp_ctx_field(field)                                         \
    offsetof(ngx_http_mcp_ctx_t, field)


static ngx_http_variable_t  ngx_http_mcp_vars[] = {

    { ngx_string("mcp_user"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(user), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_roles"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(roles), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_subject"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(subject), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_auth_method"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(auth_method), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_key_id"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(key_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_method"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(method), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_tool"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(tool), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_rpc_id"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(rpc_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_decision"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(decision), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_reason"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(reason), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_args_sha256"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(args_sha256), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_args_size"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(args_size), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_toolsets"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(toolsets), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_via"), NULL, ngx_http_mcp_ctx_variable,
      ngx_http_mcp_ctx_field(via), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_tenant"), NULL, ngx_http_mcp_tenant_variable,
      0, 0, 0 },

    { ngx_string("mcp_session_id"), NULL, ngx_http_mcp_session_variable,
      0, 0, 0 },

    { ngx_string("mcp_time"), NULL, ngx_http_mcp_time_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_request_id"), NULL, ngx_http_mcp_request_id_variable,
      0, 0, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_mcp_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_mcp_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mcp_audit_init_process(ngx_cycle_t *cycle)
{
    if (RAND_bytes((u_char *) &ngx_http_mcp_request_id_base,
                   sizeof(uint64_t))
        != 1)
    {
        /* as nginx's own $request_id does without OpenSSL */
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "mcp: RAND_bytes() failed, $mcp_request_id is "
                      "seeded with random() instead");

        ngx_http_mcp_request_id_base = ((uint64_t) ngx_random() << 32)
                                       ^ (uint64_t) ngx_random()
                                       ^ ((uint64_t) ngx_pid << 16)
                                       ^ (uint64_t) ngx_time();
    }

    ngx_http_mcp_request_count = 0;

    return NGX_OK;
}


void
ngx_http_mcp_set_decision(ngx_http_mcp_ctx_t *ctx, const char *decision,
    const char *reason)
{
    ctx->decision.data = (u_char *) decision;
    ctx->decision.len = ngx_strlen(decision);

    ctx->reason.data = (u_char *) (reason ? reason : "");
    ctx->reason.len = ngx_strlen(ctx->reason.data);
}


static ngx_int_t
ngx_http_mcp_ctx_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t           *s;
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_tenant_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_mcp_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    if (mlcf->tenant.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = mlcf->tenant.len;
    v->data = mlcf->tenant.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* $mcp_session_id: for "hash $mcp_session_id consistent" and the audit */

static ngx_int_t
ngx_http_mcp_session_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_table_elt_t  *h;

    h = ngx_http_mcp_session_header(r);

    if (h == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = h->value.len;
    v->data = h->value.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* RFC 3339 in UTC with milliseconds: 2026-11-25T16:02:08.123Z */

static ngx_int_t
ngx_http_mcp_time_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char      *p;
    ngx_tm_t     tm;
    ngx_time_t  *tp;

    p = ngx_pnalloc(r->pool, sizeof("1970-01-01T00:00:00.000Z") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    v->len = ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d.%03MZ",
                         tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                         tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                         tp->msec)
             - p;
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "%016uxL%016uxL", ngx_http_mcp_request_id_base,
                ++ngx_http_mcp_request_count);

    v->len = 32;
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
