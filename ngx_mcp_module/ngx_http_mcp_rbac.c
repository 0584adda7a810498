
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 */


#include <string.h>

#include "ngx_http_mcp_rbac.h"


static int ngx_http_mcp_span_eq(const ngx_http_mcp_span_t *a,
    const unsigned char *data, size_t len);


int
ngx_http_mcp_roles_parse(const unsigned char *csv, size_t len,
    ngx_http_mcp_roles_t *out)
{
    size_t                i, start, end;
    ngx_http_mcp_span_t  *role;

    out->nroles = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && csv[i] != ',') {
            continue;
        }

        end = i;

        while (start < end && csv[start] == ' ') {
            start++;
        }

        while (end > start && csv[end - 1] == ' ') {
            end--;
        }

        if (end > start) {
            if (out->nroles == NGX_HTTP_MCP_MAX_ROLES) {
                return -1;
            }

            role = &out->roles[out->nroles++];
            role->data = csv + start;
            role->len = end - start;
        }

        start = i + 1;
    }

    return 0;
}


int
ngx_http_mcp_roles_intersect(const ngx_http_mcp_roles_t *caller,
    const ngx_http_mcp_span_t *allowed, size_t nallowed)
{
    size_t  i, j;

    for (i = 0; i < nallowed; i++) {
        for (j = 0; j < caller->nroles; j++) {
            if (ngx_http_mcp_span_eq(&allowed[i], caller->roles[j].data,
                                     caller->roles[j].len))
            {
                return 1;
            }
        }
    }

    return 0;
}


int
ngx_http_mcp_tool_allowed(const ngx_http_mcp_tool_rule_t *rules,
    size_t nrules, const unsigned char *tool, size_t tool_len,
    const ngx_http_mcp_roles_t *caller)
{
    size_t  i;

    for (i = 0; i < nrules; i++) {
        if (ngx_http_mcp_pattern_match(&rules[i].pattern, rules[i].is_prefix,
                                       tool, tool_len)
            && ngx_http_mcp_roles_intersect(caller, rules[i].roles,
                                            rules[i].nroles))
        {
            return 1;
        }
    }

    return 0;
}


int
ngx_http_mcp_pattern_match(const ngx_http_mcp_span_t *pattern,
    unsigned is_prefix, const unsigned char *name, size_t len)
{
    if (is_prefix) {
        return len >= pattern->len
               && memcmp(name, pattern->data, pattern->len) == 0;
    }

    return ngx_http_mcp_span_eq(pattern, name, len);
}


static int
ngx_http_mcp_span_eq(const ngx_http_mcp_span_t *a, const unsigned char *data,
    size_t len)
{
    return a->len == len && memcmp(a->data, data, len) == 0;
}
