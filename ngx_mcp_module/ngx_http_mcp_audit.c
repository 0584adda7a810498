
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
static ngx_int_t ngx_http_mcp_record_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_args_sha256_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_mcp_args_digest(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static void ngx_http_mcp_exec_figures(ngx_http_request_t *r, ngx_str_t *exec);
static u_char *ngx_http_mcp_format_time(u_char *p);
static ngx_uint_t ngx_http_mcp_is_number(ngx_str_t *s);


/*
 * $mcp_request_id: 32 hex digits, a random half drawn once per worker
 * process and that worker's request count.  Unique like $request_id, but
 * without a call into OpenSSL's random generator for every request (that
 * call was about a third of what an audit record cost).
 */
static uint64_t  ngx_http_mcp_request_id_base;
static uint64_t  ngx_http_mcp_request_count;


/*
 * $mcp_audit_record: the whole record as one JSON object, written in one
 * pass (log_format mcp_audit escape=none '$mcp_audit_record').  Reading
 * the module's own fields directly, rather than through some thirty
 * variables each escaped by the log module, costs about a fifth less;
 * and every string goes through ngx_http_mcp_json_escape(), which also
 * replaces invalid UTF-8 (escape=json passes it on, and a client's
 * Mcp-Session-Id of bytes 0xff 0xfe made the line invalid JSON).
 */

typedef enum {
    NGX_HTTP_MCP_FIELD_CTX = 0,       /* a string of the request's ctx */
    NGX_HTTP_MCP_FIELD_STRING,        /* an nginx variable, as a string */
    NGX_HTTP_MCP_FIELD_NUMBER,        /* an nginx variable, as a number */
    NGX_HTTP_MCP_FIELD_TIME,
    NGX_HTTP_MCP_FIELD_TENANT,
    NGX_HTTP_MCP_FIELD_SESSION,
    NGX_HTTP_MCP_FIELD_EXEC           /* an X-MCP-Exec-* answer header */
} ngx_http_mcp_field_e;


typedef struct {
    ngx_str_t                  key;       /* "\"name\":" as written */
    ngx_http_mcp_field_e       type;
    uintptr_t                  data;      /* ctx offset or variable slot */
    ngx_str_t                  variable;  /* STRING, NUMBER: its name */
} ngx_http_mcp_field_t;


#define ngx_http_mcp_field(name, field)                                       \
    { ngx_string("\"" name "\":"), NGX_HTTP_MCP_FIELD_CTX,                    \
      offsetof(ngx_http_mcp_ctx_t, field), ngx_null_string }

#define ngx_http_mcp_field_var(name, type, slot, variable)                   \
    { ngx_string("\"" name "\":"), type, slot, ngx_string(variable) }


/* the fields of the shipped format, in its order */
static ngx_http_mcp_field_t  ngx_http_mcp_record_fields[] = {
    { ngx_string("\"time\":"), NGX_HTTP_MCP_FIELD_TIME, 0, ngx_null_string },
    ngx_http_mcp_field_var("request_id", NGX_HTTP_MCP_FIELD_STRING, 0,
                           "mcp_request_id"),
    ngx_http_mcp_field_var("client", NGX_HTTP_MCP_FIELD_STRING, 1,
                           "remote_addr"),
    { ngx_string("\"tenant\":"), NGX_HTTP_MCP_FIELD_TENANT, 0,
      ngx_null_string },
    ngx_http_mcp_field("via", via),
    ngx_http_mcp_field("toolsets", toolsets),
    ngx_http_mcp_field("user", user),
    ngx_http_mcp_field("subject", subject),
    ngx_http_mcp_field("auth", auth_method),
    ngx_http_mcp_field("key_id", key_id),
    ngx_http_mcp_field("roles", roles),
    ngx_http_mcp_field("method", method),
    ngx_http_mcp_field("tool", tool),
    ngx_http_mcp_field("rpc_id", rpc_id),
    { ngx_string("\"session\":"), NGX_HTTP_MCP_FIELD_SESSION, 0,
      ngx_null_string },
    ngx_http_mcp_field("decision", decision),
    ngx_http_mcp_field("reason", reason),
    ngx_http_mcp_field_var("status", NGX_HTTP_MCP_FIELD_NUMBER, 2, "status"),
    ngx_http_mcp_field_var("upstream_status", NGX_HTTP_MCP_FIELD_STRING, 3,
                           "upstream_status"),
    ngx_http_mcp_field_var("upstream_time", NGX_HTTP_MCP_FIELD_STRING, 4,
                           "upstream_response_time"),
    ngx_http_mcp_field_var("request_time", NGX_HTTP_MCP_FIELD_NUMBER, 5,
                           "request_time"),
    ngx_http_mcp_field_var("bytes_in", NGX_HTTP_MCP_FIELD_NUMBER, 6,
                           "request_length"),
    ngx_http_mcp_field_var("bytes_out", NGX_HTTP_MCP_FIELD_NUMBER, 7,
                           "bytes_sent"),
    ngx_http_mcp_field("args_sha256", args_sha256),
    ngx_http_mcp_field("args_size", args_size),
    ngx_http_mcp_field_var("exec_outcome", NGX_HTTP_MCP_FIELD_EXEC, 0,
                           "x-mcp-exec-outcome"),
    ngx_http_mcp_field_var("exec_wall_ms", NGX_HTTP_MCP_FIELD_EXEC, 1,
                           "x-mcp-exec-wall-ms"),
    ngx_http_mcp_field_var("exec_cpu_ms", NGX_HTTP_MCP_FIELD_EXEC, 2,
                           "x-mcp-exec-cpu-ms"),
    ngx_http_mcp_field_var("exec_peak_rss_kb", NGX_HTTP_MCP_FIELD_EXEC, 3,
                           "x-mcp-exec-peak-rss-kb"),
};

/* the sandbox's figures (docs/internals.md), in the order of the fields */
#define NGX_HTTP_MCP_EXEC_HEADERS  4

#define NGX_HTTP_MCP_RECORD_FIELDS                                            \
    (sizeof(ngx_http_mcp_record_fields) / sizeof(ngx_http_mcp_field_t))

#define NGX_HTTP_MCP_TIME_LEN  (sizeof("1970-01-01T00:00:00.000Z") - 1)


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

    { ngx_string("mcp_args_sha256"), NULL, ngx_http_mcp_args_sha256_variable,
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

    { ngx_string("mcp_audit_record"), NULL, ngx_http_mcp_record_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

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


/*
 * The nginx variables of the record get indexes only when a log_format
 * uses $mcp_audit_record: an index costs every request a slot.
 */

ngx_int_t
ngx_http_mcp_audit_init(ngx_conf_t *cf)
{
    ngx_uint_t                  i, used;
    ngx_http_variable_t        *var;
    ngx_http_mcp_field_t       *f;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_mcp_main_conf_t   *mmcf;

    static ngx_str_t  record = ngx_string("mcp_audit_record");

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    used = 0;
    var = cmcf->variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        if (var[i].name.len == record.len
            && ngx_strncmp(var[i].name.data, record.data, record.len) == 0)
        {
            used = 1;
            break;
        }
    }

    for (i = 0; i < NGX_HTTP_MCP_RECORD_VARIABLES; i++) {
        mmcf->record_index[i] = NGX_ERROR;
    }

    if (!used) {
        return NGX_OK;
    }

    for (i = 0; i < NGX_HTTP_MCP_RECORD_FIELDS; i++) {
        f = &ngx_http_mcp_record_fields[i];

        if (f->type != NGX_HTTP_MCP_FIELD_STRING
            && f->type != NGX_HTTP_MCP_FIELD_NUMBER)
        {
            continue;
        }

        if (f->data >= NGX_HTTP_MCP_RECORD_VARIABLES) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mcp: audit record field %V has no slot",
                               &f->key);
            return NGX_ERROR;
        }

        mmcf->record_index[f->data] = ngx_http_get_variable_index(cf,
                                                                 &f->variable);
        if (mmcf->record_index[f->data] == NGX_ERROR) {
            return NGX_ERROR;
        }
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
ngx_http_mcp_args_sha256_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_module);

    if (ctx) {
        ngx_http_mcp_args_digest(r, ctx);
    }

    return ngx_http_mcp_ctx_variable(r, v, data);
}


/* the arguments' SHA-256 in hex, made on first use: not every request logs */

static void
ngx_http_mcp_args_digest(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    u_char  digest[32];

    if (ctx->args.data == NULL || ctx->args_sha256.len) {
        return;
    }

    ctx->args_sha256.data = ngx_pnalloc(r->pool, NGX_HTTP_MCP_SHA256_HEX_LEN);
    if (ctx->args_sha256.data == NULL) {
        return;
    }

    ngx_http_mcp_sha256(ctx->args.data, ctx->args.len, digest);
    ngx_hex_dump(ctx->args_sha256.data, digest, 32);
    ctx->args_sha256.len = NGX_HTTP_MCP_SHA256_HEX_LEN;
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


static ngx_int_t
ngx_http_mcp_time_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_HTTP_MCP_TIME_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_http_mcp_format_time(p) - p;
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * RFC 3339 in UTC with milliseconds: 2026-11-25T16:02:08.123Z.  The part
 * up to the seconds is made once a second (per worker, as nginx caches
 * its own log times).
 */

static u_char *
ngx_http_mcp_format_time(u_char *p)
{
    ngx_tm_t       tm;
    ngx_uint_t     ms;
    ngx_time_t    *tp;

    static time_t  second = -1;
    static u_char  prefix[sizeof("1970-01-01T00:00:00") - 1];

    tp = ngx_timeofday();

    if (tp->sec != second) {
        ngx_gmtime(tp->sec, &tm);

        (void) ngx_sprintf(prefix, "%4d-%02d-%02dT%02d:%02d:%02d",
                           tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                           tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
        second = tp->sec;
    }

    p = ngx_cpymem(p, prefix, sizeof(prefix));

    ms = tp->msec;
    *p++ = '.';
    *p++ = (u_char) ('0' + ms / 100);
    *p++ = (u_char) ('0' + ms / 10 % 10);
    *p++ = (u_char) ('0' + ms % 10);
    *p++ = 'Z';

    return p;
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


static ngx_int_t
ngx_http_mcp_record_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                     *p, time[NGX_HTTP_MCP_TIME_LEN];
    size_t                      len, escaped[NGX_HTTP_MCP_RECORD_FIELDS];
    ngx_str_t                   value[NGX_HTTP_MCP_RECORD_FIELDS];
    ngx_str_t                   exec[NGX_HTTP_MCP_EXEC_HEADERS];
    ngx_uint_t                  i, raw[NGX_HTTP_MCP_RECORD_FIELDS];
    ngx_table_elt_t            *h;
    ngx_http_mcp_ctx_t         *ctx;
    ngx_http_mcp_field_t       *f;
    ngx_http_mcp_loc_conf_t    *mlcf;
    ngx_http_mcp_main_conf_t   *mmcf;
    ngx_http_variable_value_t  *vv;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_module);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);

    if (ctx) {
        ngx_http_mcp_args_digest(r, ctx);
    }

    ngx_http_mcp_exec_figures(r, exec);

    /* the values first: they size the record */
    len = sizeof("{}") - 1;

    for (i = 0; i < NGX_HTTP_MCP_RECORD_FIELDS; i++) {
        f = &ngx_http_mcp_record_fields[i];

        ngx_str_null(&value[i]);
        raw[i] = 0;

        switch (f->type) {

        case NGX_HTTP_MCP_FIELD_CTX:
            if (ctx) {
                value[i] = *(ngx_str_t *) ((char *) ctx + f->data);
            }
            break;

        case NGX_HTTP_MCP_FIELD_TIME:
            value[i].data = time;
            value[i].len = ngx_http_mcp_format_time(time) - time;
            break;

        case NGX_HTTP_MCP_FIELD_TENANT:
            value[i] = mlcf->tenant;
            break;

        case NGX_HTTP_MCP_FIELD_SESSION:
            h = ngx_http_mcp_session_header(r);
            if (h) {
                value[i] = h->value;
            }
            break;

        case NGX_HTTP_MCP_FIELD_EXEC:
            value[i] = exec[f->data];
            break;

        default: /* STRING, NUMBER */
            if (mmcf->record_index[f->data] == NGX_ERROR) {
                break;
            }

            vv = ngx_http_get_indexed_variable(r,
                                               mmcf->record_index[f->data]);
            if (vv && !vv->not_found) {
                value[i].data = vv->data;
                value[i].len = vv->len;
            }

            if (f->type == NGX_HTTP_MCP_FIELD_NUMBER) {
                /* written as it is, or null when it is no number */
                if (!ngx_http_mcp_is_number(&value[i])) {
                    ngx_str_set(&value[i], "null");
                }

                raw[i] = 1;
            }
        }

        len += f->key.len + 1;                          /* key and ',' */

        if (raw[i]) {
            len += value[i].len;

        } else {
            escaped[i] = ngx_http_mcp_json_escaped_len(value[i].data,
                                                       value[i].len);
            len += 2 + escaped[i];
        }
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    *p++ = '{';

    for (i = 0; i < NGX_HTTP_MCP_RECORD_FIELDS; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, ngx_http_mcp_record_fields[i].key.data,
                       ngx_http_mcp_record_fields[i].key.len);

        if (raw[i]) {
            p = ngx_cpymem(p, value[i].data, value[i].len);

        } else if (escaped[i] == value[i].len) {
            /* nothing in it to escape: every escape makes it longer */
            *p++ = '"';
            p = ngx_cpymem(p, value[i].data, value[i].len);
            *p++ = '"';

        } else {
            *p++ = '"';
            p = ngx_http_mcp_json_escape(p, value[i].data, value[i].len);
            *p++ = '"';
        }
    }

    *p++ = '}';

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* the X-MCP-Exec-* headers of the sandbox's answer, read directly (the
 * $upstream_http_ variables cost several times more) */

static void
ngx_http_mcp_exec_figures(ngx_http_request_t *r, ngx_str_t *exec)
{
    ngx_uint_t             i;
    ngx_table_elt_t       *h;
    ngx_http_mcp_field_t  *f;

    ngx_memzero(exec, NGX_HTTP_MCP_EXEC_HEADERS * sizeof(ngx_str_t));

    if (r->upstream == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_MCP_RECORD_FIELDS; i++) {
        f = &ngx_http_mcp_record_fields[i];

        if (f->type != NGX_HTTP_MCP_FIELD_EXEC) {
            continue;
        }

        h = ngx_http_mcp_list_header(&r->upstream->headers_in.headers,
                                     (const char *) f->variable.data,
                                     f->variable.len);
        if (h) {
            exec[f->data] = h->value;
        }
    }
}


/* what nginx gives as $status or $request_time is a JSON number as it is */

static ngx_uint_t
ngx_http_mcp_is_number(ngx_str_t *s)
{
    ngx_uint_t  i, dots;

    /* digits, at most one '.' between digits, no leading zero */
    if (s->len == 0 || s->data[0] == '.' || s->data[s->len - 1] == '.'
        || (s->data[0] == '0' && s->len > 1 && s->data[1] != '.'))
    {
        return 0;
    }

    dots = 0;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '.') {
            dots++;

        } else if (s->data[i] < '0' || s->data[i] > '9') {
            return 0;
        }
    }

    return dots <= 1;
}
