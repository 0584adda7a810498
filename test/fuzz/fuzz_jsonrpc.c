/* libFuzzer harness: the JSON-RPC envelope parser (ngx_http_mcp_jsonrpc.c). */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_mcp_jsonrpc.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                *body;
    ngx_http_mcp_rpc_t   rpc;

    ngx_http_mcp_rpc_parse((const char *) data, size, &rpc, NULL);

    /* what the gateway reads afterwards must be usable */
    if (rpc.tool != NULL && strlen(rpc.tool) == 0) {
        abort();
    }

    body = ngx_http_mcp_rpc_error_body(rpc.id, -32600, "fuzz", NULL);
    free(body);

    ngx_http_mcp_rpc_free(&rpc);

    return 0;
}
