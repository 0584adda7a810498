
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Role-based decisions: pure C, no nginx types, unit-tested alone.
 * Deny by default: a tool that no rule names is refused.
 */


#ifndef _NGX_HTTP_MCP_RBAC_H_INCLUDED_
#define _NGX_HTTP_MCP_RBAC_H_INCLUDED_


#include <stddef.h>


#define NGX_HTTP_MCP_MAX_ROLES  64


typedef struct {
    size_t                len;
    const unsigned char  *data;
} ngx_http_mcp_span_t;


typedef struct {
    ngx_http_mcp_span_t   pattern;     /* name, or prefix without the '*' */
    unsigned              is_prefix;   /* pattern ended with '*' */
    ngx_http_mcp_span_t  *roles;
    size_t                nroles;
} ngx_http_mcp_tool_rule_t;


typedef struct {
    ngx_http_mcp_span_t   roles[NGX_HTTP_MCP_MAX_ROLES];
    size_t                nroles;
} ngx_http_mcp_roles_t;


/*
 * Splits "a,b,c" (spaces around names ignored, empty names skipped).
 * Returns -1 when there are more than NGX_HTTP_MCP_MAX_ROLES roles.
 */
int ngx_http_mcp_roles_parse(const unsigned char *csv, size_t len,
    ngx_http_mcp_roles_t *out);

/* 1 when the caller holds at least one of the allowed roles */
int ngx_http_mcp_roles_intersect(const ngx_http_mcp_roles_t *caller,
    const ngx_http_mcp_span_t *allowed, size_t nallowed);

/* 1 when name is the pattern, or starts with it for a prefix pattern */
int ngx_http_mcp_pattern_match(const ngx_http_mcp_span_t *pattern,
    unsigned is_prefix, const unsigned char *name, size_t len);

/* 1 when some rule matching the tool names one of the caller's roles */
int ngx_http_mcp_tool_allowed(const ngx_http_mcp_tool_rule_t *rules,
    size_t nrules, const unsigned char *tool, size_t tool_len,
    const ngx_http_mcp_roles_t *caller);


#endif /* _NGX_HTTP_MCP_RBAC_H_INCLUDED_ */
