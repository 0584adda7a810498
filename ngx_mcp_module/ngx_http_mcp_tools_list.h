
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Filtering a tools/list result down to the tools a caller may call, in
 * a JSON body or in a text/event-stream body: pure C + jansson.
 */


#ifndef _NGX_HTTP_MCP_TOOLS_LIST_H_INCLUDED_
#define _NGX_HTTP_MCP_TOOLS_LIST_H_INCLUDED_


#include <stddef.h>

#include "ngx_http_mcp_rbac.h"


typedef struct {
    const ngx_http_mcp_tool_rule_t  *rules;
    size_t                           nrules;
    const ngx_http_mcp_roles_t      *caller;
    size_t                           removed;   /* out: tools dropped */
    const char                      *body;      /* being filtered */
} ngx_http_mcp_list_filter_t;


/*
 * Returns a malloc()ed body holding only the allowed tools, with its
 * length in *out_len, or NULL when the body cannot be understood (the
 * caller then fails closed).
 */
char *ngx_http_mcp_filter_tools_list(const char *body, size_t len, int sse,
    ngx_http_mcp_list_filter_t *f, size_t *out_len);


#endif /* _NGX_HTTP_MCP_TOOLS_LIST_H_INCLUDED_ */
