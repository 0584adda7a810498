
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 */


#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ngx_http_mcp_tools_list.h"


typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
} ngx_http_mcp_out_t;


static int ngx_http_mcp_filter_message(json_t *msg,
    ngx_http_mcp_list_filter_t *f);
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


/* 0: left as is or filtered; -1: a tools list we cannot vouch for */

static int
ngx_http_mcp_filter_message(json_t *msg, ngx_http_mcp_list_filter_t *f)
{
    size_t   i;
    json_t  *result, *tools, *tool, *name;

    result = json_object_get(msg, "result");
    if (!json_is_object(result)) {
        return 0;   /* an error response: nothing to hide */
    }

    tools = json_object_get(result, "tools");
    if (tools == NULL) {
        return 0;
    }

    if (!json_is_array(tools)) {
        return -1;
    }

    i = 0;

    while (i < json_array_size(tools)) {
        tool = json_array_get(tools, i);
        name = json_object_get(tool, "name");

        if (json_is_string(name)
            && ngx_http_mcp_tool_allowed(f->rules, f->nrules,
                   (const unsigned char *) json_string_value(name),
                   json_string_length(name), f->caller))
        {
            i++;
            continue;
        }

        json_array_remove(tools, i);
        f->removed++;
    }

    return 0;
}


static char *
ngx_http_mcp_filter_json(const char *body, size_t len,
    ngx_http_mcp_list_filter_t *f, size_t *out_len)
{
    char          *text;
    json_t        *msg;
    json_error_t   err;

    msg = json_loadb(body, len, 0, &err);
    if (!json_is_object(msg) || ngx_http_mcp_filter_message(msg, f) != 0) {
        json_decref(msg);
        return NULL;
    }

    text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);

    if (text) {
        *out_len = strlen(text);
    }

    return text;
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
    size_t              pos, eol, n;
    json_t             *msg;
    const char         *line;
    json_error_t        err;
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

    msg = json_loadb(data.data, data.len, 0, &err);

    if (!json_is_object(msg) || ngx_http_mcp_filter_message(msg, f) != 0) {
        json_decref(msg);
        goto done;
    }

    text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);

    if (text == NULL) {
        goto done;
    }

    rc = (ngx_http_mcp_out_add(out, "data: ", 6) != 0
          || ngx_http_mcp_out_add(out, text, strlen(text)) != 0
          || ngx_http_mcp_out_add(out, "\n\n", 2) != 0) ? -1 : 0;

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
