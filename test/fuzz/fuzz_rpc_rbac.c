/*
 * libFuzzer harness: the JSON-RPC envelope (ngx_http_mcp_jsonrpc.c: the
 * single-message parser, the batch splitter, the params.name span) and
 * the role decision on what it parsed (ngx_http_mcp_rbac.c), with
 * invariants checked on every input:
 *
 *   - the parser's verdict is coherent (0 and a kind, or the error code,
 *     kind INVALID and a reason);
 *   - a request has an id and its JSON text;
 *   - body[name_start, name_end) is a JSON string that decodes to
 *     rpc.tool, byte for byte (the aggregate endpoint rewrites exactly
 *     those bytes);
 *   - whatever the gateway accepts, jansson (the sandbox worker's parser)
 *     reads as the same method and the same tool, or refuses outright: a
 *     differential of the two readers the RBAC decision relies on;
 *   - a batch's spans are in the body, in order, and each object span is
 *     one {...} that parses on its own;
 *   - ngx_http_mcp_tool_allowed() agrees with an independent reference
 *     over a fixed rule set: an allowed tool always has a matching rule
 *     that names one of the caller's roles (deny by default);
 *   - ngx_http_mcp_roles_parse() yields trimmed, non-empty, comma-free
 *     roles inside the input.
 */

#define _GNU_SOURCE

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ngx_http_mcp_jsonrpc.h"
#include "ngx_http_mcp_rbac.h"
#include "fuzz_check.h"


#define S(s)  { sizeof(s) - 1, (const unsigned char *) s }


#define BATCH_MAX  4


static ngx_http_mcp_span_t  analyst_admin[] = {
    S("mcp-log-analyst"), S("mcp-admin")
};
static ngx_http_mcp_span_t  viewer_analyst[] = {
    S("mcp-viewer"), S("mcp-log-analyst")
};
static ngx_http_mcp_span_t  admin[] = { S("mcp-admin") };
static ngx_http_mcp_span_t  root[] = { S("root") };

/* "execute_code", "read_*", "admin_*", "*" */
static ngx_http_mcp_tool_rule_t  rules[] = {
    { S("execute_code"), 0, analyst_admin, 2 },
    { S("read_"), 1, viewer_analyst, 2 },
    { S("admin_"), 1, admin, 1 },
    { S(""), 1, root, 1 },
};

#define NRULES  (sizeof(rules) / sizeof(rules[0]))

static const char  *callers[] = {
    "",
    "mcp-viewer",
    " mcp-log-analyst , other",
    "mcp-admin",
    "root",
    "mcp-viewer,,mcp-admin",
    "mcp-viewer ",
    "MCP-ADMIN",
};


/* a yajl allocator as the module's request pool: counted, so leaks show */

static size_t  live;

static void *
fz_malloc(void *ctx, size_t n)
{
    live++;
    return malloc(n);
}


static void *
fz_realloc(void *ctx, void *p, size_t n)
{
    if (p == NULL) {
        live++;
    }

    return realloc(p, n);
}


static void
fz_free(void *ctx, void *p)
{
    if (p) {
        live--;
    }

    free(p);
}


static yajl_alloc_funcs  fz_alloc = { fz_malloc, fz_realloc, fz_free, NULL };


/* the caller's roles split independently of ngx_http_mcp_roles_parse() */

static int
ref_holds(const char *csv, const ngx_http_mcp_span_t *role)
{
    const char  *p, *e, *next;

    for (p = csv; *p; p = next) {
        next = strchr(p, ',');
        next = next ? next + 1 : p + strlen(p);
        e = next;

        if (e > p && e[-1] == ',') {
            e--;
        }

        while (p < e && *p == ' ') {
            p++;
        }

        while (e > p && e[-1] == ' ') {
            e--;
        }

        if ((size_t) (e - p) == role->len
            && memcmp(p, role->data, role->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static int
ref_allowed(const char *csv, const char *tool, size_t len)
{
    size_t  i, j;

    for (i = 0; i < NRULES; i++) {
        if (rules[i].is_prefix
            ? len < rules[i].pattern.len
              || memcmp(tool, rules[i].pattern.data, rules[i].pattern.len)
            : len != rules[i].pattern.len
              || memcmp(tool, rules[i].pattern.data, len))
        {
            continue;
        }

        for (j = 0; j < rules[i].nroles; j++) {
            if (ref_holds(csv, &rules[i].roles[j])) {
                return 1;
            }
        }
    }

    return 0;
}


static void
judge(const char *tool)
{
    int                    allowed;
    size_t                 i, len;
    ngx_http_mcp_roles_t   caller;

    len = strlen(tool);

    for (i = 0; i < sizeof(callers) / sizeof(callers[0]); i++) {
        check(ngx_http_mcp_roles_parse((const unsigned char *) callers[i],
                                       strlen(callers[i]), &caller) == 0);

        allowed = ngx_http_mcp_tool_allowed(rules, NRULES,
                                            (const unsigned char *) tool, len,
                                            &caller);

        check(allowed == ref_allowed(callers[i], tool, len));

        /* deny by default: nobody without a role gets anything */
        if (callers[i][0] == '\0') {
            check(!allowed);
        }
    }
}


static void
check_roles(const uint8_t *data, size_t size)
{
    size_t                i, j;
    ngx_http_mcp_roles_t  out;

    if (ngx_http_mcp_roles_parse(data, size, &out) != 0) {
        check(out.nroles == NGX_HTTP_MCP_MAX_ROLES);
        return;
    }

    check(out.nroles <= NGX_HTTP_MCP_MAX_ROLES);

    for (i = 0; i < out.nroles; i++) {
        check(out.roles[i].len > 0);
        check(out.roles[i].data >= data
              && out.roles[i].data + out.roles[i].len <= data + size);
        check(out.roles[i].data[0] != ' ');
        check(out.roles[i].data[out.roles[i].len - 1] != ' ');

        for (j = 0; j < out.roles[i].len; j++) {
            check(out.roles[i].data[j] != ',');
        }

        check(ngx_http_mcp_roles_intersect(&out, &out.roles[i], 1));
    }
}


/* what jansson, the worker's reader, makes of a message the gateway took */

static void
differential(const char *buf, size_t len, const ngx_http_mcp_rpc_t *rpc)
{
    json_t      *msg, *method, *params, *name;
    const char  *s;

    msg = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (msg == NULL) {
        return;                 /* refused by the worker: fails closed */
    }

    check(json_is_object(msg));

    method = json_object_get(msg, "method");

    if (rpc->method) {
        check(json_is_string(method));
        check(json_string_length(method) == strlen(rpc->method));
        check(strcmp(json_string_value(method), rpc->method) == 0);

    } else {
        check(method == NULL);
    }

    if (rpc->tool) {
        params = json_object_get(msg, "params");
        name = json_object_get(params, "name");
        check(json_is_string(name));
        s = json_string_value(name);
        check(json_string_length(name) == strlen(rpc->tool));
        check(strcmp(s, rpc->tool) == 0);
    }

    json_decref(msg);
}


static void
one(const char *buf, size_t len, const yajl_alloc_funcs *alloc)
{
    int                  rc;
    char                *body, num[32];
    json_t              *name;
    ngx_http_mcp_rpc_t   rpc;

    rc = ngx_http_mcp_rpc_parse(buf, len, &rpc, alloc);

    check(rc == rpc.error || (rc == 0 && rpc.error == 0));

    if (rc) {
        check(rpc.kind == NGX_HTTP_MCP_MSG_INVALID);
        check(rpc.reason != NULL);

    } else {
        check(rpc.kind != NGX_HTTP_MCP_MSG_INVALID);
    }

    if (rc == 0 && rpc.kind == NGX_HTTP_MCP_MSG_REQUEST) {
        check(rpc.id != NULL && rpc.id_text != NULL && rpc.method != NULL);
    }

    if (rc == 0 && rpc.kind == NGX_HTTP_MCP_MSG_NOTIFICATION) {
        check(rpc.id == NULL && rpc.method != NULL);
    }

    if (rpc.tool != NULL) {
        /* set also when only "arguments" is wrong: kept for the audit */
        check(strcmp(rpc.method, "tools/call") == 0);
        check(rpc.tool[0] != '\0');
        check(rpc.name == rpc.tool);
        check(rpc.args_size <= len);

        /* the span is exactly params.name's JSON string */
        check(rpc.name_start < rpc.name_end && rpc.name_end <= len);
        check(buf[rpc.name_start] == '"' && buf[rpc.name_end - 1] == '"');

        name = json_loadb(buf + rpc.name_start,
                          rpc.name_end - rpc.name_start,
                          JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (name == NULL) {
            /*
             * jansson refuses what yajl reads as '?': a lone surrogate
             * escape (the worker then refuses the whole body)
             */
            check(memmem(buf + rpc.name_start, rpc.name_end - rpc.name_start,
                         "\\u", 2) != NULL);
            goto judged;
        }

        check(json_is_string(name));
        check(json_string_length(name) == strlen(rpc.tool));
        check(memcmp(json_string_value(name), rpc.tool,
                     strlen(rpc.tool)) == 0);
        json_decref(name);

    judged:

        judge(rpc.tool);
    }

    /* an integer id is echoed as the very number that came */
    if (rpc.id != NULL && json_is_integer(rpc.id)) {
        check(rpc.id_text != NULL);
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(rpc.id));
        check(strcmp(num, rpc.id_text) == 0
              || strcmp(rpc.id_text, "-0") == 0);
    }

    if (rc == 0) {
        differential(buf, len, &rpc);
    }

    body = ngx_http_mcp_rpc_error_body(rpc.id, rc ? rc : -32603, "fuzz",
                                       NULL);
    check(body != NULL);
    free(body);

    ngx_http_mcp_rpc_free(&rpc);
}


static void
batch(const char *buf, size_t len)
{
    int                      rc;
    size_t                   n, i;
    const char              *reason;
    ngx_http_mcp_rpc_span_t  spans[BATCH_MAX];

    reason = NULL;

    rc = ngx_http_mcp_rpc_split_batch(buf, len, spans, BATCH_MAX, &n,
                                      &reason, NULL);
    if (rc) {
        check(reason != NULL && n == 0);
        return;
    }

    check(n >= 1 && n <= BATCH_MAX);

    for (i = 0; i < n; i++) {
        check(spans[i].start <= spans[i].end && spans[i].end <= len);

        if (i > 0) {
            check(spans[i - 1].end <= spans[i].start);
        }

        if (spans[i].object) {
            check(spans[i].end - spans[i].start >= 2);
            check(buf[spans[i].start] == '{' && buf[spans[i].end - 1] == '}');

            one(buf + spans[i].start, spans[i].end - spans[i].start, NULL);

        } else if (spans[i].start != spans[i].end) {
            check(buf[spans[i].start] == '[' && buf[spans[i].end - 1] == ']');
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char  *buf;

    /* an exact-size copy, so a read past the body is caught */
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    one(buf, size, NULL);

    live = 0;
    one(buf, size, &fz_alloc);
    check(live == 0);

    batch(buf, size);

    check_roles(data, size > 512 ? 512 : size);

    free(buf);

    return 0;
}
