
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 */


#include <string.h>
#include <stdlib.h>
#include "ngx_http_mcp_jsonrpc.h"
#include "ngx_http_mcp_crypto.h"


static int ngx_http_mcp_rpc_invalid(ngx_http_mcp_rpc_t *rpc, int code,
    const char *reason);
static int ngx_http_mcp_rpc_valid_id(const json_t *id);
static int ngx_http_mcp_rpc_parse_tool_call(ngx_http_mcp_rpc_t *rpc,
    json_t *params);
static int ngx_http_mcp_rpc_hash_arguments(ngx_http_mcp_rpc_t *rpc);
static void ngx_http_mcp_rpc_parse_mirrored(ngx_http_mcp_rpc_t *rpc,
    json_t *params);


int
ngx_http_mcp_rpc_parse(const char *buf, size_t len, ngx_http_mcp_rpc_t *rpc)
{
    json_t        *version, *method, *id, *params;
    json_error_t   err;

    memset(rpc, 0, sizeof(ngx_http_mcp_rpc_t));

    /*
     * Duplicate keys could make the gateway and the sandbox disagree on
     * the tool; jansson also refuses "\u0000" in strings (no JSON_ALLOW_NUL),
     * so a name cannot be cut short by a NUL.
     */
    rpc->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                           &err);
    if (rpc->root == NULL) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_PARSE_ERROR,
                                        "body is not valid JSON");
    }

    if (json_is_array(rpc->root)) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                   "JSON-RPC batches are not supported by MCP; "
                   "send one message per request");
    }

    if (!json_is_object(rpc->root)) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "message is not a JSON object");
    }

    id = json_object_get(rpc->root, "id");
    if (id != NULL && ngx_http_mcp_rpc_valid_id(id)) {
        rpc->id = id;
    }

    version = json_object_get(rpc->root, "jsonrpc");
    if (!json_is_string(version)
        || strcmp(json_string_value(version), "2.0") != 0)
    {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "\"jsonrpc\" must be \"2.0\"");
    }

    if (id != NULL && rpc->id == NULL) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "\"id\" must be a string or an "
                                        "integer");
    }

    method = json_object_get(rpc->root, "method");

    if (method == NULL) {
        if (rpc->id != NULL
            && (json_object_get(rpc->root, "result") != NULL
                || json_object_get(rpc->root, "error") != NULL))
        {
            rpc->kind = NGX_HTTP_MCP_MSG_RESPONSE;
            return 0;
        }

        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "message has no \"method\"");
    }

    if (!json_is_string(method) || json_string_length(method) == 0) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_REQUEST,
                                        "\"method\" must be a non-empty "
                                        "string");
    }

    rpc->method = json_string_value(method);
    rpc->kind = rpc->id ? NGX_HTTP_MCP_MSG_REQUEST
                        : NGX_HTTP_MCP_MSG_NOTIFICATION;

    params = json_object_get(rpc->root, "params");
    if (params != NULL && !json_is_object(params)) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_PARAMS,
                                        "\"params\" must be an object");
    }

    ngx_http_mcp_rpc_parse_mirrored(rpc, params);

    if (strcmp(rpc->method, "tools/call") == 0) {
        return ngx_http_mcp_rpc_parse_tool_call(rpc, params);
    }

    return 0;
}


/* the body fields that 2026-07-28 mirrors into HTTP headers */

static void
ngx_http_mcp_rpc_parse_mirrored(ngx_http_mcp_rpc_t *rpc, json_t *params)
{
    json_t  *meta, *name;

    meta = params ? json_object_get(params, "_meta") : NULL;
    rpc->meta_version = json_string_value(
        json_object_get(meta, "io.modelcontextprotocol/protocolVersion"));

    if (params == NULL) {
        return;
    }

    if (strcmp(rpc->method, "tools/call") == 0
        || strcmp(rpc->method, "prompts/get") == 0)
    {
        name = json_object_get(params, "name");

    } else if (strcmp(rpc->method, "resources/read") == 0) {
        name = json_object_get(params, "uri");

    } else {
        return;
    }

    rpc->name = json_string_value(name);
}


static int
ngx_http_mcp_rpc_parse_tool_call(ngx_http_mcp_rpc_t *rpc, json_t *params)
{
    json_t  *name, *arguments;

    name = params ? json_object_get(params, "name") : NULL;
    if (!json_is_string(name) || json_string_length(name) == 0) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_PARAMS,
                                        "tools/call needs \"params.name\"");
    }

    rpc->tool = json_string_value(name);

    arguments = json_object_get(params, "arguments");
    if (arguments != NULL && !json_is_object(arguments)) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INVALID_PARAMS,
                                        "\"params.arguments\" must be an "
                                        "object");
    }

    rpc->arguments = arguments;

    return ngx_http_mcp_rpc_hash_arguments(rpc);
}


static int
ngx_http_mcp_rpc_hash_arguments(ngx_http_mcp_rpc_t *rpc)
{
    char  *text;

    if (rpc->arguments == NULL) {
        rpc->args_size = 0;
        ngx_http_mcp_sha256((const unsigned char *) "", 0, rpc->args_sha256);
        return 0;
    }

    text = json_dumps(rpc->arguments,
                      JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    if (text == NULL) {
        return ngx_http_mcp_rpc_invalid(rpc, NGX_HTTP_MCP_RPC_INTERNAL_ERROR,
                                        "arguments could not be serialised");
    }

    rpc->args_size = strlen(text);
    ngx_http_mcp_sha256((const unsigned char *) text, rpc->args_size,
                        rpc->args_sha256);
    free(text);

    return 0;
}


static int
ngx_http_mcp_rpc_valid_id(const json_t *id)
{
    /* MCP: ids are strings or integers, never null */
    return json_is_string(id) || json_is_integer(id);
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
    if (rpc->root) {
        json_decref(rpc->root);
    }

    memset(rpc, 0, sizeof(ngx_http_mcp_rpc_t));
}


char *
ngx_http_mcp_rpc_id_text(const ngx_http_mcp_rpc_t *rpc)
{
    if (rpc->id == NULL) {
        return strdup("null");
    }

    return json_dumps(rpc->id, JSON_COMPACT | JSON_ENCODE_ANY
                               | JSON_ENSURE_ASCII);
}


char *
ngx_http_mcp_rpc_error_body(const json_t *id, int code, const char *message,
    const json_t *data)
{
    char    *text;
    json_t  *body;

    body = json_pack("{s:s, s:O?, s:{s:i, s:s, s:O*}}",
                     "jsonrpc", "2.0",
                     "id", id,
                     "error", "code", code, "message", message,
                     "data", data);
    if (body == NULL) {
        return NULL;
    }

    text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(body);

    return text;
}
