
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 */


#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_mcp_tools_list.h"


typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
} ngx_http_mcp_out_t;


static char *ngx_http_mcp_filter_json(const char *body, size_t len,
    ngx_http_mcp_list_filter_t *f, size_t *out_len);
static char *ngx_http_mcp_filter_sse(const char *body, size_t len,
    ngx_http_mcp_list_filter_t *f, size_t *out_len);
static int ngx_http_mcp_filter_sse_event(const char *ev, size_t len,
    ngx_http_mcp_list_filter_t *f, ngx_http_mcp_out_t *out);
static int ngx_http_mcp_out_add(ngx_http_mcp_out_t *out, const char *data,
    size_t len);


char *
ngx_http_mcp_filter_tools_list(const char *body, size_t len, int sse,
    ngx_http_mcp_list_filter_t *f, size_t *out_len)
{
    f->removed = 0;

    return sse ? ngx_http_mcp_filter_sse(body, len, f, out_len)
               : ngx_http_mcp_filter_json(body, len, f, out_len);
}


/*
 * The JSON body is read by yajl's event parser, not into a tree: the tool
 * objects of result.tools are located by their byte offsets, each one's
 * "name" is checked, and the document is copied with only the allowed
 * objects in the array; everything else stays byte for byte.  (A tree
 * parse of a 500-tool list costs milliseconds; this, a fraction.)
 * Anything unusual -- invalid JSON, a tools member that is not an array of
 * objects, a second "result", "tools" or "name" -- fails closed.
 */

#define NGX_HTTP_MCP_KEY_OTHER   0
#define NGX_HTTP_MCP_KEY_RESULT  1
#define NGX_HTTP_MCP_KEY_TOOLS   2
#define NGX_HTTP_MCP_KEY_NAME    3
#define NGX_HTTP_MCP_KEY_SCOPE   4

#define NGX_HTTP_MCP_PRIVATE        "\"private\""
#define NGX_HTTP_MCP_PRIVATE_SCOPE  "\"cacheScope\":\"private\","


typedef struct {
    size_t                       start;
    size_t                       end;
} ngx_http_mcp_span_pos_t;


typedef struct {
    yajl_handle                  yajl;
    ngx_http_mcp_list_filter_t  *filter;
    int                          depth;         /* open containers */
    int                          key[4];        /* key kind per level */
    int                          results;
    int                          tools;         /* "tools" seen */
    unsigned                     in_tools:1;
    unsigned                     named:1;       /* this tool has a name */
    unsigned                     allowed:1;     /* ... that may be called */
    size_t                       array_start;   /* after '[' */
    size_t                       array_end;     /* at ']' */
    size_t                       tool_start;
    size_t                       result_open;   /* after the result's '{' */
    size_t                       scope_key_end; /* after "cacheScope" */
    ngx_http_mcp_span_pos_t      scope;         /* its value, if any */
    unsigned                     cacheable:1;   /* ttlMs or resultType */
    ngx_http_mcp_span_pos_t     *keep;
    size_t                       nkeep;
    size_t                       cap;
} ngx_http_mcp_scan_t;


/* the value of cacheScope: from after its key's ':' to the current token */

static void
ngx_http_mcp_scan_scope(ngx_http_mcp_scan_t *sc)
{
    const char  *p;

    p = sc->filter->body + sc->scope_key_end;

    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':') {
        p++;
    }

    sc->scope.start = p - sc->filter->body;
    sc->scope.end = yajl_get_bytes_consumed(sc->yajl);
}


static int
ngx_http_mcp_scan_scalar(ngx_http_mcp_scan_t *sc)
{
    if (sc->depth == 2 && sc->key[1] == NGX_HTTP_MCP_KEY_SCOPE) {
        ngx_http_mcp_scan_scope(sc);
    }

    /* a tool that is not an object, or a tools member that is no array */
    if ((sc->in_tools && sc->depth == 3)
        || (sc->depth == 2 && sc->key[1] == NGX_HTTP_MCP_KEY_TOOLS))
    {
        return 0;
    }

    return 1;
}


static int
ngx_http_mcp_scan_null(void *ctx)
{
    return ngx_http_mcp_scan_scalar(ctx);
}


static int
ngx_http_mcp_scan_boolean(void *ctx, int value)
{
    return ngx_http_mcp_scan_scalar(ctx);
}


static int
ngx_http_mcp_scan_number(void *ctx, const char *value, size_t len)
{
    ngx_http_mcp_scan_t  *sc = ctx;

    if (sc->in_tools && sc->depth == 4 && sc->key[3] == NGX_HTTP_MCP_KEY_NAME)
    {
        sc->named = 1;          /* a name that is no string: not allowed */
        sc->allowed = 0;
    }

    return ngx_http_mcp_scan_scalar(sc);
}


static int
ngx_http_mcp_scan_string(void *ctx, const unsigned char *value, size_t len)
{
    ngx_http_mcp_scan_t  *sc = ctx;

    if (sc->in_tools && sc->depth == 4 && sc->key[3] == NGX_HTTP_MCP_KEY_NAME)
    {
        /* yajl hands over the name unescaped, as the client will see it */
        sc->named = 1;
        sc->allowed = ngx_http_mcp_tool_allowed(sc->filter->rules,
                                                sc->filter->nrules, value, len,
                                                sc->filter->caller);
    }

    return ngx_http_mcp_scan_scalar(sc);
}


static int
ngx_http_mcp_scan_map_key(void *ctx, const unsigned char *key, size_t len)
{
    ngx_http_mcp_scan_t  *sc = ctx;

    int  kind;

    kind = NGX_HTTP_MCP_KEY_OTHER;

#define ngx_http_mcp_key_is(k)                                                \
    (len == sizeof(k) - 1 && memcmp(key, k, len) == 0)

    if (sc->depth == 1 && ngx_http_mcp_key_is("result")) {
        kind = NGX_HTTP_MCP_KEY_RESULT;

        if (++sc->results > 1) {
            return 0;
        }

    } else if (sc->depth == 2 && sc->key[0] == NGX_HTTP_MCP_KEY_RESULT
               && ngx_http_mcp_key_is("tools"))
    {
        kind = NGX_HTTP_MCP_KEY_TOOLS;

        if (++sc->tools > 1) {
            return 0;
        }

    } else if (sc->depth == 2 && sc->key[0] == NGX_HTTP_MCP_KEY_RESULT
               && ngx_http_mcp_key_is("cacheScope"))
    {
        kind = NGX_HTTP_MCP_KEY_SCOPE;
        sc->scope_key_end = yajl_get_bytes_consumed(sc->yajl);

        if (sc->scope.end) {
            return 0;           /* two scopes */
        }

    } else if (sc->depth == 2 && sc->key[0] == NGX_HTTP_MCP_KEY_RESULT
               && (ngx_http_mcp_key_is("ttlMs")
                   || ngx_http_mcp_key_is("resultType")))
    {
        sc->cacheable = 1;

    } else if (sc->in_tools && sc->depth == 4
               && ngx_http_mcp_key_is("name"))
    {
        if (sc->named) {
            return 0;           /* two names: which would the client use? */
        }

        kind = NGX_HTTP_MCP_KEY_NAME;
    }

#undef ngx_http_mcp_key_is

    if (sc->depth >= 1 && sc->depth <= 4) {
        sc->key[sc->depth - 1] = kind;
    }

    return 1;
}


static int
ngx_http_mcp_scan_start_map(void *ctx)
{
    ngx_http_mcp_scan_t  *sc = ctx;

    if (sc->depth == 2 && (sc->key[1] == NGX_HTTP_MCP_KEY_TOOLS
                           || sc->key[1] == NGX_HTTP_MCP_KEY_SCOPE))
    {
        return 0;               /* "tools" must be an array; a scope, a word */
    }

    if (sc->depth == 1 && sc->key[0] == NGX_HTTP_MCP_KEY_RESULT) {
        sc->result_open = yajl_get_bytes_consumed(sc->yajl);
    }

    if (sc->in_tools && sc->depth == 3) {
        sc->tool_start = yajl_get_bytes_consumed(sc->yajl) - 1;
        sc->named = 0;
        sc->allowed = 0;
    }

    if (sc->depth < 4) {
        sc->key[sc->depth] = NGX_HTTP_MCP_KEY_OTHER;
    }

    sc->depth++;

    return 1;
}


static int
ngx_http_mcp_scan_end_map(void *ctx)
{
    ngx_http_mcp_scan_t  *sc = ctx;

    ngx_http_mcp_span_pos_t  *keep;

    sc->depth--;

    if (!(sc->in_tools && sc->depth == 3)) {
        return 1;
    }

    if (!sc->allowed) {
        sc->filter->removed++;
        return 1;
    }

    if (sc->nkeep == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 64;
        keep = realloc(sc->keep, sc->cap * sizeof(ngx_http_mcp_span_pos_t));
        if (keep == NULL) {
            return 0;
        }

        sc->keep = keep;
    }

    sc->keep[sc->nkeep].start = sc->tool_start;
    sc->keep[sc->nkeep].end = yajl_get_bytes_consumed(sc->yajl);
    sc->nkeep++;

    return 1;
}


static int
ngx_http_mcp_scan_start_array(void *ctx)
{
    ngx_http_mcp_scan_t  *sc = ctx;

    if ((sc->in_tools && sc->depth == 3)
        || (sc->depth == 2 && sc->key[1] == NGX_HTTP_MCP_KEY_SCOPE))
    {
        return 0;               /* a tool must be an object; a scope, a word */
    }

    if (sc->depth == 2 && sc->key[1] == NGX_HTTP_MCP_KEY_TOOLS) {
        sc->in_tools = 1;
        sc->array_start = yajl_get_bytes_consumed(sc->yajl);
    }

    sc->depth++;

    return 1;
}


static int
ngx_http_mcp_scan_end_array(void *ctx)
{
    ngx_http_mcp_scan_t  *sc = ctx;

    sc->depth--;

    if (sc->in_tools && sc->depth == 2) {
        sc->in_tools = 0;
        sc->array_end = yajl_get_bytes_consumed(sc->yajl) - 1;
    }

    return 1;
}


static yajl_callbacks  ngx_http_mcp_scan_callbacks = {
    ngx_http_mcp_scan_null,
    ngx_http_mcp_scan_boolean,
    NULL,
    NULL,
    ngx_http_mcp_scan_number,
    ngx_http_mcp_scan_string,
    ngx_http_mcp_scan_start_map,
    ngx_http_mcp_scan_map_key,
    ngx_http_mcp_scan_end_map,
    ngx_http_mcp_scan_start_array,
    ngx_http_mcp_scan_end_array
};


static char *
ngx_http_mcp_filter_json(const char *body, size_t len,
    ngx_http_mcp_list_filter_t *f, size_t *out_len)
{
    char                *out;
    size_t               i, pos;
    yajl_status          rc;
    ngx_http_mcp_out_t   o;
    ngx_http_mcp_scan_t  sc;

    memset(&sc, 0, sizeof(sc));
    sc.filter = f;
    f->body = body;

    sc.yajl = yajl_alloc(&ngx_http_mcp_scan_callbacks, NULL, &sc);
    if (sc.yajl == NULL) {
        return NULL;
    }

    rc = yajl_parse(sc.yajl, (const unsigned char *) body, len);
    if (rc == yajl_status_ok) {
        rc = yajl_complete_parse(sc.yajl);
    }

    yajl_free(sc.yajl);

    out = NULL;
    memset(&o, 0, sizeof(o));

    if (rc != yajl_status_ok) {
        goto done;
    }

    if (sc.tools == 0) {
        /* no tools list (an error response): passed on as it is */
        if (ngx_http_mcp_out_add(&o, body, len) == 0) {
            out = o.data;
            *out_len = o.len;
        }

        goto done;
    }

    /*
     * The edits, in the order they stand in the body: the tools array
     * cut to the allowed tools, and the list made private to this caller
     * (cacheScope "public" would let a shared cache hand one user's list
     * to another; 2026-07-28 caching rules).
     */
    pos = 0;

    if (sc.scope.end == 0 && sc.cacheable) {
        if (ngx_http_mcp_out_add(&o, body, sc.result_open) != 0
            || ngx_http_mcp_out_add(&o, NGX_HTTP_MCP_PRIVATE_SCOPE,
                                    sizeof(NGX_HTTP_MCP_PRIVATE_SCOPE) - 1)
               != 0)
        {
            goto done;
        }

        pos = sc.result_open;
    }

    if (sc.scope.end && sc.scope.end <= sc.array_start) {
        if (ngx_http_mcp_out_add(&o, body, sc.scope.start) != 0
            || ngx_http_mcp_out_add(&o, NGX_HTTP_MCP_PRIVATE,
                                    sizeof(NGX_HTTP_MCP_PRIVATE) - 1) != 0)
        {
            goto done;
        }

        pos = sc.scope.end;
    }

    if (ngx_http_mcp_out_add(&o, body + pos, sc.array_start - pos) != 0) {
        goto done;
    }

    for (i = 0; i < sc.nkeep; i++) {
        if ((i && ngx_http_mcp_out_add(&o, ",", 1) != 0)
            || ngx_http_mcp_out_add(&o, body + sc.keep[i].start,
                                    sc.keep[i].end - sc.keep[i].start) != 0)
        {
            goto done;
        }
    }

    pos = sc.array_end;

    if (sc.scope.end > sc.array_end) {
        if (ngx_http_mcp_out_add(&o, body + pos, sc.scope.start - pos) != 0
            || ngx_http_mcp_out_add(&o, NGX_HTTP_MCP_PRIVATE,
                                    sizeof(NGX_HTTP_MCP_PRIVATE) - 1) != 0)
        {
            goto done;
        }

        pos = sc.scope.end;
    }

    if (ngx_http_mcp_out_add(&o, body + pos, len - pos) != 0) {
        goto done;
    }

    out = o.data;
    *out_len = o.len;

done:

    if (out == NULL) {
        free(o.data);
    }

    free(sc.keep);

    return out;
}


/*
 * An SSE body is events separated by blank lines; each event's "data:"
 * lines join into one JSON-RPC message.  Events are copied through, but
 * a message carrying a tools list is rewritten as one "data:" line.
 */

static char *
ngx_http_mcp_filter_sse(const char *body, size_t len,
    ngx_http_mcp_list_filter_t *f, size_t *out_len)
{
    size_t              pos, end, next;
    ngx_http_mcp_out_t  out;

    memset(&out, 0, sizeof(out));
    pos = 0;

    while (pos < len) {
        /* the event ends at "\n\n" (CRs are tolerated line by line) */
        for (end = pos; end < len; end++) {
            if (body[end] == '\n'
                && ((end + 1 < len && body[end + 1] == '\n')
                    || (end + 2 < len && body[end + 1] == '\r'
                        && body[end + 2] == '\n')))
            {
                break;
            }
        }

        next = end < len ? end + (body[end + 1] == '\r' ? 3 : 2) : len;

        if (ngx_http_mcp_filter_sse_event(body + pos, end - pos, f, &out)
            != 0)
        {
            free(out.data);
            return NULL;
        }

        pos = next;
    }

    if (ngx_http_mcp_out_add(&out, "", 0) != 0) {
        free(out.data);
        return NULL;
    }

    *out_len = out.len;

    return out.data;
}


static int
ngx_http_mcp_filter_sse_event(const char *ev, size_t len,
    ngx_http_mcp_list_filter_t *f, ngx_http_mcp_out_t *out)
{
    int                 rc;
    char               *text;
    size_t              pos, eol, n, tlen;
    const char         *line;
    ngx_http_mcp_out_t  other, data;

    memset(&other, 0, sizeof(other));
    memset(&data, 0, sizeof(data));
    rc = -1;

    for (pos = 0; pos < len; pos = eol + 1) {
        for (eol = pos; eol < len && ev[eol] != '\n'; eol++) { /* void */ }

        line = ev + pos;
        n = eol - pos;

        if (n && line[n - 1] == '\r') {
            n--;
        }

        if (n >= 5 && memcmp(line, "data:", 5) == 0) {
            line += 5;
            n -= 5;

            if (n && line[0] == ' ') {
                line++;
                n--;
            }

            if ((data.len && ngx_http_mcp_out_add(&data, "\n", 1) != 0)
                || ngx_http_mcp_out_add(&data, line, n) != 0)
            {
                goto done;
            }

        } else if (ngx_http_mcp_out_add(&other, line, n) != 0
                   || ngx_http_mcp_out_add(&other, "\n", 1) != 0)
        {
            goto done;
        }
    }

    if (ngx_http_mcp_out_add(out, other.data ? other.data : "", other.len)
        != 0)
    {
        goto done;
    }

    if (data.len == 0) {
        rc = other.len ? ngx_http_mcp_out_add(out, "\n", 1) : 0;
        goto done;
    }

    text = ngx_http_mcp_filter_json(data.data, data.len, f, &tlen);
    if (text == NULL) {
        goto done;
    }

    /* one "data:" line per line of the message, as it came */
    rc = 0;

    for (pos = 0; rc == 0 && pos <= tlen; pos = eol + 1) {
        for (eol = pos; eol < tlen && text[eol] != '\n'; eol++) { /* void */ }

        rc = (ngx_http_mcp_out_add(out, "data: ", 6) != 0
              || ngx_http_mcp_out_add(out, text + pos, eol - pos) != 0
              || ngx_http_mcp_out_add(out, "\n", 1) != 0) ? -1 : 0;
    }

    if (rc == 0) {
        rc = ngx_http_mcp_out_add(out, "\n", 1);
    }

    free(text);

done:

    free(other.data);
    free(data.data);

    return rc;
}


static int
ngx_http_mcp_out_add(ngx_http_mcp_out_t *out, const char *data, size_t len)
{
    char    *p;
    size_t   cap;

    if (out->len + len + 1 > out->cap) {
        cap = out->cap ? out->cap : 256;

        while (cap < out->len + len + 1) {
            cap *= 2;
        }

        p = realloc(out->data, cap);
        if (p == NULL) {
            return -1;
        }

        out->data = p;
        out->cap = cap;
    }

    memcpy(out->data + out->len, data, len);
    out->len += len;
    out->data[out->len] = '\0';

    return 0;
}
