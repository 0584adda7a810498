
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 */


#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_mcp_jsonrpc.h"


/* where a key puts the value that follows it */
typedef enum {
    NGX_HTTP_MCP_AT_OTHER = 0,
    NGX_HTTP_MCP_AT_JSONRPC,
    NGX_HTTP_MCP_AT_ID,
    NGX_HTTP_MCP_AT_METHOD,
    NGX_HTTP_MCP_AT_PARAMS,
    NGX_HTTP_MCP_AT_RESULT,
    NGX_HTTP_MCP_AT_ERROR,
    NGX_HTTP_MCP_AT_NAME,
    NGX_HTTP_MCP_AT_URI,
    NGX_HTTP_MCP_AT_ARGUMENTS,
    NGX_HTTP_MCP_AT_META,
    NGX_HTTP_MCP_AT_META_VERSION,
    NGX_HTTP_MCP_AT_LAST
} ngx_http_mcp_at_e;


typedef struct {
    yajl_handle              yajl;
    ngx_http_mcp_rpc_t      *rpc;
    const char              *body;
    int                      depth;        /* open containers */
    int                      at[4];        /* key kind per depth 1..3 */
    unsigned                 seen;         /* bit per ngx_http_mcp_at_e */
    unsigned                 not_object:1;
    unsigned                 batch:1;
    unsigned                 bad:1;        /* a field of the wrong type */
    unsigned                 version_ok:1;
    unsigned                 args_object:1;
    size_t                   args_start;
    size_t                   args_end;
    size_t                   name_key_end;
    const char              *reason;
} ngx_http_mcp_rpc_scan_t;


static int ngx_http_mcp_rpc_invalid(ngx_http_mcp_rpc_t *rpc, int code,
    const char *reason);
static int ngx_http_mcp_rpc_finish(ngx_http_mcp_rpc_scan_t *sc);
static void ngx_http_mcp_rpc_name_span(ngx_http_mcp_rpc_scan_t *sc);
static int ngx_http_mcp_rpc_value(ngx_http_mcp_rpc_scan_t *sc, int type,
    const unsigned char *value, size_t len);
static char *ngx_http_mcp_rpc_strdup(ngx_http_mcp_rpc_t *rpc,
    const unsigned char *s, size_t len);
static void ngx_http_mcp_rpc_release(ngx_http_mcp_rpc_t *rpc, void *p);


#define NGX_HTTP_MCP_V_STRING  1
#define NGX_HTTP_MCP_V_INTEGER 2
#define NGX_HTTP_MCP_V_OTHER   3


/* the kind of the value about to come at the current position */

static int
ngx_http_mcp_rpc_at(ngx_http_mcp_rpc_scan_t *sc)
{
    if (sc->depth < 1 || sc->depth > 3) {
        return NGX_HTTP_MCP_AT_OTHER;
    }

    return sc->at[sc->depth];
}


static int
ngx_http_mcp_rpc_null(void *ctx)
{
    return ngx_http_mcp_rpc_value(ctx, NGX_HTTP_MCP_V_OTHER, NULL, 0);
}


static int
ngx_http_mcp_rpc_boolean(void *ctx, int value)
{
    return ngx_http_mcp_rpc_value(ctx, NGX_HTTP_MCP_V_OTHER, NULL, 0);
}


static int
ngx_http_mcp_rpc_number(void *ctx, const char *value, size_t len)
{
    size_t  i;
    int     integer;

    integer = 1;

    for (i = 0; i < len; i++) {
        if (value[i] == '.' || value[i] == 'e' || value[i] == 'E') {
            integer = 0;
        }
    }

    return ngx_http_mcp_rpc_value(ctx, integer ? NGX_HTTP_MCP_V_INTEGER
                                               : NGX_HTTP_MCP_V_OTHER,
                                  (const unsigned char *) value, len);
}


static int
ngx_http_mcp_rpc_string(void *ctx, const unsigned char *value, size_t len)
{
    return ngx_http_mcp_rpc_value(ctx, NGX_HTTP_MCP_V_STRING, value, len);
}


/* where the string value of params.name starts (its quote) and ends */

static void
ngx_http_mcp_rpc_name_span(ngx_http_mcp_rpc_scan_t *sc)
{
    size_t  at;

    at = sc->name_key_end;

    /*
     * only ':' and white space come before the quote, and yajl counts
     * '\v' and '\f' as white space too: the first quote is the string's
     */
    while (sc->body[at] != '"') {
        at++;
    }

    sc->rpc->name_start = at;
    sc->rpc->name_end = yajl_get_bytes_consumed(sc->yajl);
}


/* a scalar: keep it if it is one of the fields the gateway decides on */

static int
ngx_http_mcp_rpc_value(ngx_http_mcp_rpc_scan_t *sc, int type,
    const unsigned char *value, size_t len)
{
    long long            n;
    ngx_http_mcp_rpc_t  *rpc;

    rpc = sc->rpc;

    if (sc->depth == 0) {
        sc->not_object = 1;        /* 42, "x", true at the top */
        return 1;
    }

    if (type == NGX_HTTP_MCP_V_STRING && memchr(value, '\0', len)) {
        sc->reason = "a string holds a NUL byte";
        return 0;                  /* could label one name, mean another */
    }

    switch (ngx_http_mcp_rpc_at(sc)) {

    case NGX_HTTP_MCP_AT_JSONRPC:
        sc->version_ok = (type == NGX_HTTP_MCP_V_STRING && len == 3
                          && memcmp(value, "2.0", 3) == 0);
        break;

    case NGX_HTTP_MCP_AT_ID:
        /* MCP: ids are strings or integers, never null */
        if (type == NGX_HTTP_MCP_V_STRING) {
            rpc->id = json_stringn((const char *) value, len);

            /* a string id is written out escaped, as JSON */
            rpc->id_text = json_dumps(rpc->id, JSON_COMPACT | JSON_ENCODE_ANY
                                               | JSON_ENSURE_ASCII);
            rpc->id_text_malloced = 1;

        } else if (type == NGX_HTTP_MCP_V_INTEGER) {
            /* an integer's text is its JSON: kept as it came */
            rpc->id_text = ngx_http_mcp_rpc_strdup(rpc, value, len);
            if (rpc->id_text == NULL) {
                return 0;
            }

            errno = 0;
            n = strtoll(rpc->id_text, NULL, 10);

            /*
             * wider than 64 bits: no answer could echo it (jansson, the
             * worker's parser, refuses it too), so it is no usable id
             */
            if (errno == ERANGE) {
                break;
            }

            rpc->id = json_integer(n);

        } else {
            sc->bad = 1;
        }

        break;

    case NGX_HTTP_MCP_AT_METHOD:
        if (type != NGX_HTTP_MCP_V_STRING || len == 0) {
            sc->bad = 1;
            break;
        }

        rpc->method = ngx_http_mcp_rpc_strdup(rpc, value, len);
        return rpc->method != NULL;

    case NGX_HTTP_MCP_AT_PARAMS:
        sc->reason = "\"params\" must be an object";
        sc->bad = 1;
        break;

    case NGX_HTTP_MCP_AT_NAME:
        if (type == NGX_HTTP_MCP_V_STRING) {
            ngx_http_mcp_rpc_name_span(sc);
            rpc->params_name = ngx_http_mcp_rpc_strdup(rpc, value, len);
            return rpc->params_name != NULL;
        }

        break;

    case NGX_HTTP_MCP_AT_URI:
        if (type == NGX_HTTP_MCP_V_STRING) {
            rpc->params_uri = ngx_http_mcp_rpc_strdup(rpc, value, len);
            return rpc->params_uri != NULL;
        }

        break;

    case NGX_HTTP_MCP_AT_ARGUMENTS:
        sc->args_object = 0;       /* null, a number...: not arguments */
        break;

    case NGX_HTTP_MCP_AT_META_VERSION:
        if (type == NGX_HTTP_MCP_V_STRING) {
            rpc->meta_version = ngx_http_mcp_rpc_strdup(rpc, value, len);
            return rpc->meta_version != NULL;
        }

        break;

    default:
        break;
    }

    return 1;
}


static int
ngx_http_mcp_rpc_map_key(void *ctx, const unsigned char *key, size_t len)
{
    ngx_http_mcp_rpc_scan_t  *sc = ctx;

    int  at;

    at = NGX_HTTP_MCP_AT_OTHER;

#define ngx_http_mcp_rpc_key(k)                                               \
    (len == sizeof(k) - 1 && memcmp(key, k, len) == 0)

    if (sc->depth == 1) {
        at = ngx_http_mcp_rpc_key("jsonrpc") ? NGX_HTTP_MCP_AT_JSONRPC
             : ngx_http_mcp_rpc_key("id") ? NGX_HTTP_MCP_AT_ID
             : ngx_http_mcp_rpc_key("method") ? NGX_HTTP_MCP_AT_METHOD
             : ngx_http_mcp_rpc_key("params") ? NGX_HTTP_MCP_AT_PARAMS
             : ngx_http_mcp_rpc_key("result") ? NGX_HTTP_MCP_AT_RESULT
             : ngx_http_mcp_rpc_key("error") ? NGX_HTTP_MCP_AT_ERROR
             : NGX_HTTP_MCP_AT_OTHER;

    } else if (sc->depth == 2 && sc->at[1] == NGX_HTTP_MCP_AT_PARAMS) {
        at = ngx_http_mcp_rpc_key("name") ? NGX_HTTP_MCP_AT_NAME
             : ngx_http_mcp_rpc_key("uri") ? NGX_HTTP_MCP_AT_URI
             : ngx_http_mcp_rpc_key("arguments") ? NGX_HTTP_MCP_AT_ARGUMENTS
             : ngx_http_mcp_rpc_key("_meta") ? NGX_HTTP_MCP_AT_META
             : NGX_HTTP_MCP_AT_OTHER;

    } else if (sc->depth == 3 && sc->at[2] == NGX_HTTP_MCP_AT_META
               && ngx_http_mcp_rpc_key(
                      "io.modelcontextprotocol/protocolVersion"))
    {
        at = NGX_HTTP_MCP_AT_META_VERSION;
    }

#undef ngx_http_mcp_rpc_key

    if (at == NGX_HTTP_MCP_AT_NAME) {
        sc->name_key_end = yajl_get_bytes_consumed(sc->yajl);
    }

    if (at != NGX_HTTP_MCP_AT_OTHER) {
        /* a second "method" or "name" could make two readers disagree */
        if (sc->seen & (1u << at)) {
            sc->reason = "a key appears twice";
            return 0;
        }

        sc->seen |= 1u << at;
    }

    if (sc->depth >= 1 && sc->depth <= 3) {
        sc->at[sc->depth] = at;
    }

    return 1;
}


/* a container opens: its keys start unclassified */

static int
ngx_http_mcp_rpc_push(ngx_http_mcp_rpc_scan_t *sc)
{
    sc->depth++;

    if (sc->depth <= 3) {
        sc->at[sc->depth] = NGX_HTTP_MCP_AT_OTHER;
    }

    return 1;
}


static int
ngx_http_mcp_rpc_start_map(void *ctx)
{
    ngx_http_mcp_rpc_scan_t  *sc = ctx;

    switch (ngx_http_mcp_rpc_at(sc)) {

    case NGX_HTTP_MCP_AT_PARAMS:
    case NGX_HTTP_MCP_AT_META:
    case NGX_HTTP_MCP_AT_RESULT:
    case NGX_HTTP_MCP_AT_ERROR:
        break;                     /* objects, as they should be */

    case NGX_HTTP_MCP_AT_ARGUMENTS:
        if (sc->depth == 2) {
            sc->args_object = 1;
            sc->args_start = yajl_get_bytes_consumed(sc->yajl) - 1;
        }

        break;

    default:
        if (sc->depth > 0
            && !ngx_http_mcp_rpc_value(sc, NGX_HTTP_MCP_V_OTHER, NULL, 0))
        {
            return 0;
        }
    }

    return ngx_http_mcp_rpc_push(sc);
}


static int
ngx_http_mcp_rpc_end_map(void *ctx)
{
    ngx_http_mcp_rpc_scan_t  *sc = ctx;

    sc->depth--;

    if (sc->depth == 2 && sc->at[2] == NGX_HTTP_MCP_AT_ARGUMENTS
        && sc->args_object && sc->args_end == 0)
    {
        sc->args_end = yajl_get_bytes_consumed(sc->yajl);
    }

    return 1;
}


/* an array is a batch at the top, else a value like any scalar */

static int
ngx_http_mcp_rpc_start_array(void *ctx)
{
    ngx_http_mcp_rpc_scan_t  *sc = ctx;

    if (sc->depth == 0) {
        sc->batch = 1;

    } else if (!ngx_http_mcp_rpc_value(sc, NGX_HTTP_MCP_V_OTHER, NULL, 0)) {
        return 0;
    }

    return ngx_http_mcp_rpc_push(sc);
}


static int
ngx_http_mcp_rpc_end_array(void *ctx)
{
    ngx_http_mcp_rpc_scan_t  *sc = ctx;

    sc->depth--;

    return 1;
}


static yajl_callbacks  ngx_http_mcp_rpc_callbacks = {
    ngx_http_mcp_rpc_null,
    ngx_http_mcp_rpc_boolean,
    NULL,
    NULL,
    ngx_http_mcp_rpc_number,
    ngx_http_mcp_rpc_string,
    ngx_http_mcp_rpc_start_map,
    ngx_http_mcp_rpc_map_key,
    ngx_http_mcp_rpc_end_map,
    ngx_http_mcp_rpc_start_array,
    ngx_http_mcp_rpc_end_array
};


int
ngx_http_mcp_rpc_parse(const char *buf, size_t len, ngx_http_mcp_rpc_t *rpc,
    const yajl_alloc_funcs *alloc)
{
    yajl_status               rc;
    ngx_http_mcp_rpc_scan_t   sc;

    memset(rpc, 0, sizeof(ngx_http_mcp_rpc_t));
    memset(&sc, 0, sizeof(ngx_http_mcp_rpc_scan_t));

    rpc->alloc = alloc;
    sc.rpc = rpc;
    sc.body = buf;

    sc.yajl = yajl_alloc(&ngx_http_mcp_rpc_callbacks,
                         (yajl_alloc_funcs *) alloc, &sc);
    if (sc.yajl == NULL) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INTERNAL_ERROR,
                                        "out of memory");
    }

    rc = yajl_parse(sc.yajl, (const unsigned char *) buf, len);
    if (rc == yajl_status_ok) {
        rc = yajl_complete_parse(sc.yajl);
    }

    yajl_free(sc.yajl);

    if (rc != yajl_status_ok) {
        /* a half-read id is no id to answer with */
        if (rpc->id) {
            json_decref(rpc->id);
            rpc->id = NULL;
        }

        if (rpc->id_text_malloced) {
            free(rpc->id_text);

        } else {
            ngx_http_mcp_rpc_release(rpc, rpc->id_text);
        }

        rpc->id_text = NULL;
        rpc->id_text_malloced = 0;

        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_PARSE_ERROR,
                                        sc.reason ? sc.reason
                                                  : "body is not valid JSON");
    }

    return ngx_http_mcp_rpc_finish(&sc);
}


/* the whole message is read: is it a JSON-RPC 2.0 message MCP accepts? */

static int
ngx_http_mcp_rpc_finish(ngx_http_mcp_rpc_scan_t *sc)
{
    ngx_http_mcp_rpc_t  *rpc;

    rpc = sc->rpc;

    if (sc->batch) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                   "JSON-RPC batches are not supported by MCP; "
                   "send one message per request");
    }

    if (sc->not_object) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "message is not a JSON object");
    }

    if (!sc->version_ok) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "\"jsonrpc\" must be \"2.0\"");
    }

    if ((sc->seen & (1u << NGX_HTTP_MCP_AT_ID)) && rpc->id == NULL) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "\"id\" must be a string or an "
                                        "integer");
    }

    if (!(sc->seen & (1u << NGX_HTTP_MCP_AT_METHOD))) {
        if (rpc->id != NULL
            && (sc->seen & ((1u << NGX_HTTP_MCP_AT_RESULT)
                            | (1u << NGX_HTTP_MCP_AT_ERROR))))
        {
            rpc->kind = NGX_HTTP_MCP_MSG_RESPONSE;
            return 0;
        }

        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "message has no \"method\"");
    }

    if (rpc->method == NULL) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "\"method\" must be a non-empty "
                                        "string");
    }

    rpc->kind = rpc->id ? NGX_HTTP_MCP_MSG_REQUEST
                        : NGX_HTTP_MCP_MSG_NOTIFICATION;


    if (sc->bad) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_PARAMS,
                                        sc->reason ? sc->reason
                                                   : "a field has the wrong "
                                                     "type");
    }

    if (strcmp(rpc->method, "tools/call") == 0
        || strcmp(rpc->method, "prompts/get") == 0)
    {
        rpc->name = rpc->params_name;

    } else if (strcmp(rpc->method, "resources/read") == 0) {
        rpc->name = rpc->params_uri;
    }

    if (strcmp(rpc->method, "tools/call") != 0) {
        return 0;
    }

    if (rpc->params_name == NULL || rpc->params_name[0] == '\0') {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_PARAMS,
                                        "tools/call needs \"params.name\"");
    }

    rpc->tool = rpc->params_name;

    if ((sc->seen & (1u << NGX_HTTP_MCP_AT_ARGUMENTS)) && !sc->args_object) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_PARAMS,
                                        "\"params.arguments\" must be an "
                                        "object");
    }

    /* the arguments exactly as the sandbox will receive them */
    rpc->args = sc->body + sc->args_start;
    rpc->args_size = sc->args_end - sc->args_start;

    return 0;
}


static char *
ngx_http_mcp_rpc_strdup(ngx_http_mcp_rpc_t *rpc, const unsigned char *s,
    size_t len)
{
    char  *copy;

    copy = rpc->alloc ? rpc->alloc->malloc(rpc->alloc->ctx, len + 1)
                      : malloc(len + 1);
    if (copy == NULL) {
        return NULL;
    }

    memcpy(copy, s, len);
    copy[len] = '\0';

    return copy;
}


static int
ngx_http_mcp_rpc_invalid(ngx_http_mcp_rpc_t *rpc, int code,
    const char *reason)
{
    rpc->kind = NGX_HTTP_MCP_MSG_INVALID;
    rpc->error = code;
    rpc->reason = reason;

    return code;
}


void
ngx_http_mcp_rpc_free(ngx_http_mcp_rpc_t *rpc)
{
    if (rpc->id) {
        json_decref(rpc->id);
    }

    if (rpc->id_text_malloced) {
        free(rpc->id_text);

    } else {
        ngx_http_mcp_rpc_release(rpc, rpc->id_text);
    }

    ngx_http_mcp_rpc_release(rpc, rpc->method);
    ngx_http_mcp_rpc_release(rpc, rpc->params_name);
    ngx_http_mcp_rpc_release(rpc, rpc->params_uri);
    ngx_http_mcp_rpc_release(rpc, rpc->meta_version);

    memset(rpc, 0, sizeof(ngx_http_mcp_rpc_t));
}


static void
ngx_http_mcp_rpc_release(ngx_http_mcp_rpc_t *rpc, void *p)
{
    if (p == NULL) {
        return;
    }

    if (rpc->alloc) {
        rpc->alloc->free(rpc->alloc->ctx, p);

    } else {
        free(p);
    }
}


json_t *
ngx_http_mcp_rpc_error_object(const json_t *id, int code, const char *message,
    const json_t *data)
{
    return json_pack("{s:s, s:O?, s:{s:i, s:s, s:O*}}",
                     "jsonrpc", "2.0",
                     "id", id,
                     "error", "code", code, "message", message,
                     "data", data);
}


char *
ngx_http_mcp_rpc_error_body(const json_t *id, int code, const char *message,
    const json_t *data)
{
    char    *text;
    json_t  *body;

    body = ngx_http_mcp_rpc_error_object(id, code, message, data);
    if (body == NULL) {
        return NULL;
    }

    text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(body);

    return text;
}


/*
 * Batches: only the top array's elements are located here (by the byte
 * offsets yajl reports after each token); each is then parsed on its own
 * by ngx_http_mcp_rpc_parse(), exactly as a single message would be.
 */

typedef struct {
    yajl_handle               yajl;
    int                       depth;
    int                       not_array;
    size_t                    n;
    size_t                    max;
    ngx_http_mcp_rpc_span_t  *spans;
} ngx_http_mcp_batch_scan_t;


/* a value at depth 1 starts an element; one at depth 0 is no batch */

static int
ngx_http_mcp_batch_element(ngx_http_mcp_batch_scan_t *sc, int object,
    int container)
{
    size_t  at;

    if (sc->depth == 0 && !container) {
        sc->not_array = 1;
        return 0;
    }

    if (sc->depth != 1) {
        return 1;
    }

    if (sc->n == sc->max) {
        sc->n++;                    /* one too many: the batch is refused */
        return 0;
    }

    at = yajl_get_bytes_consumed(sc->yajl);

    sc->spans[sc->n].start = container ? at - 1 : at;
    sc->spans[sc->n].end = at;
    sc->spans[sc->n].object = object;

    if (!container) {
        sc->n++;
    }

    return 1;
}


static int
ngx_http_mcp_batch_scalar(void *ctx)
{
    return ngx_http_mcp_batch_element(ctx, 0, 0);
}


static int
ngx_http_mcp_batch_boolean(void *ctx, int value)
{
    return ngx_http_mcp_batch_element(ctx, 0, 0);
}


static int
ngx_http_mcp_batch_number(void *ctx, const char *value, size_t len)
{
    return ngx_http_mcp_batch_element(ctx, 0, 0);
}


static int
ngx_http_mcp_batch_string(void *ctx, const unsigned char *value, size_t len)
{
    return ngx_http_mcp_batch_element(ctx, 0, 0);
}


static int
ngx_http_mcp_batch_key(void *ctx, const unsigned char *key, size_t len)
{
    return 1;
}


static int
ngx_http_mcp_batch_open(ngx_http_mcp_batch_scan_t *sc, int object)
{
    if (sc->depth == 0 && object) {
        sc->not_array = 1;
        return 0;
    }

    if (!ngx_http_mcp_batch_element(sc, object, 1)) {
        return 0;
    }

    sc->depth++;

    return 1;
}


static int
ngx_http_mcp_batch_close(ngx_http_mcp_batch_scan_t *sc)
{
    sc->depth--;

    if (sc->depth == 1) {
        sc->spans[sc->n].end = yajl_get_bytes_consumed(sc->yajl);
        sc->n++;
    }

    return 1;
}


static int
ngx_http_mcp_batch_start_map(void *ctx)
{
    return ngx_http_mcp_batch_open(ctx, 1);
}


static int
ngx_http_mcp_batch_start_array(void *ctx)
{
    return ngx_http_mcp_batch_open(ctx, 0);
}


static int
ngx_http_mcp_batch_end(void *ctx)
{
    return ngx_http_mcp_batch_close(ctx);
}


static yajl_callbacks  ngx_http_mcp_batch_callbacks = {
    ngx_http_mcp_batch_scalar,
    ngx_http_mcp_batch_boolean,
    NULL,
    NULL,
    ngx_http_mcp_batch_number,
    ngx_http_mcp_batch_string,
    ngx_http_mcp_batch_start_map,
    ngx_http_mcp_batch_key,
    ngx_http_mcp_batch_end,
    ngx_http_mcp_batch_start_array,
    ngx_http_mcp_batch_end
};


int
ngx_http_mcp_rpc_split_batch(const char *buf, size_t len,
    ngx_http_mcp_rpc_span_t *spans, size_t max, size_t *n,
    const char **reason, const yajl_alloc_funcs *alloc)
{
    yajl_status                 rc;
    ngx_http_mcp_batch_scan_t   sc;

    memset(&sc, 0, sizeof(ngx_http_mcp_batch_scan_t));

    sc.spans = spans;
    sc.max = max;
    *n = 0;

    sc.yajl = yajl_alloc(&ngx_http_mcp_batch_callbacks,
                         (yajl_alloc_funcs *) alloc, &sc);
    if (sc.yajl == NULL) {
        *reason = "out of memory";
        return NGX_HTTP_MCP_RPC_INTERNAL_ERROR;
    }

    rc = yajl_parse(sc.yajl, (const unsigned char *) buf, len);
    if (rc == yajl_status_ok) {
        rc = yajl_complete_parse(sc.yajl);
    }

    yajl_free(sc.yajl);

    if (sc.n > max) {
        *reason = "batch has too many messages";
        return NGX_HTTP_MCP_RPC_INVALID_REQUEST;
    }

    if (sc.not_array) {
        *reason = "a batch must be a JSON array";
        return NGX_HTTP_MCP_RPC_INVALID_REQUEST;
    }

    if (rc != yajl_status_ok) {
        *reason = "body is not valid JSON";
        return NGX_HTTP_MCP_RPC_PARSE_ERROR;
    }

    if (sc.n == 0) {
        *reason = "batch is empty";
        return NGX_HTTP_MCP_RPC_INVALID_REQUEST;
    }

    *n = sc.n;

    return 0;
}
