/* libFuzzer harness: the tools/list filter, JSON and SSE. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_mcp_tools_list.h"


#define S(s)  { sizeof(s) - 1, (const unsigned char *) s }


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                          sse;
    char                        *out;
    size_t                       len;
    ngx_http_mcp_roles_t         caller;
    ngx_http_mcp_list_filter_t   f;

    static ngx_http_mcp_span_t       roles[] = { S("r") };
    static ngx_http_mcp_tool_rule_t  rules[] = { { S("a"), 1, roles, 1 } };

    ngx_http_mcp_roles_parse((const unsigned char *) "r", 1, &caller);

    for (sse = 0; sse < 2; sse++) {
        memset(&f, 0, sizeof(f));
        f.rules = rules;
        f.nrules = 1;
        f.caller = &caller;

        out = ngx_http_mcp_filter_tools_list((const char *) data, size, sse,
                                             &f, &len);
        if (out != NULL && len && out[len - 1] == '\0') {
            abort();            /* the length is the whole output */
        }

        free(out);
    }

    return 0;
}
