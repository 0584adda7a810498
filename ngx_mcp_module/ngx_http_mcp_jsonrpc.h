
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * JSON-RPC 2.0 envelope of an MCP message: pure C, no nginx types, so the
 * unit tests link it without nginx.  The body is read with yajl's event
 * parser (no tree is built); only the fields the gateway decides on are
 * kept.  jansson serialises the rare error bodies.
 */


#ifndef _NGX_HTTP_MCP_JSONRPC_H_INCLUDED_
#define _NGX_HTTP_MCP_JSONRPC_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>
#include <yajl/yajl_common.h>


#define NGX_HTTP_MCP_RPC_PARSE_ERROR       -32700
#define NGX_HTTP_MCP_RPC_INVALID_REQUEST   -32600
#define NGX_HTTP_MCP_RPC_METHOD_NOT_FOUND  -32601
#define NGX_HTTP_MCP_RPC_INVALID_PARAMS    -32602
#define NGX_HTTP_MCP_RPC_INTERNAL_ERROR    -32603
#define NGX_HTTP_MCP_RPC_UNAUTHORIZED      -32001
#define NGX_HTTP_MCP_RPC_FORBIDDEN         -32003
#define NGX_HTTP_MCP_RPC_UNAVAILABLE       -32004
#define NGX_HTTP_MCP_RPC_HEADER_MISMATCH   -32020
#define NGX_HTTP_MCP_RPC_UNSUPPORTED_VERSION  -32022


typedef enum {
    NGX_HTTP_MCP_MSG_INVALID = 0,
    NGX_HTTP_MCP_MSG_REQUEST,
    NGX_HTTP_MCP_MSG_NOTIFICATION,
    NGX_HTTP_MCP_MSG_RESPONSE
} ngx_http_mcp_msg_kind_e;


typedef struct {
    ngx_http_mcp_msg_kind_e   kind;
    int                       error;      /* 0 or a JSON-RPC error code */
    const char               *reason;     /* why the message is invalid */

    /* owned; free with _rpc_free() */
    json_t                   *id;         /* NULL when absent or unusable */
    char                     *method;
    const char               *tool;       /* params.name of tools/call */
    const char               *name;       /* what Mcp-Name mirrors: tool or
                                             prompt name, resource URI */
    char                     *meta_version;  /* params._meta protocol
                                                version (2026-07-28) */

    /*
     * the tool arguments exactly as sent, inside the parsed buffer; hashed
     * only when something (the audit record) asks for their fingerprint
     */
    const char               *args;
    size_t                    args_size;

    /* params.name's JSON string in the body, quotes included */
    size_t                    name_start;
    size_t                    name_end;

    char                     *id_text;    /* the id as JSON text, or NULL */
    unsigned                  id_text_malloced:1;

    /* parser state, private to ngx_http_mcp_jsonrpc.c */
    char                     *params_name;
    char                     *params_uri;
    const yajl_alloc_funcs   *alloc;
} ngx_http_mcp_rpc_t;


/*
 * Parses one message.  Returns 0 when the message is a valid JSON-RPC 2.0
 * request, notification or response, else the JSON-RPC error code to send
 * (rpc->id is kept whenever the body had a usable one).  Memory comes
 * from alloc (e.g. the request's pool), or malloc() when it is NULL.
 */
int ngx_http_mcp_rpc_parse(const char *buf, size_t len,
    ngx_http_mcp_rpc_t *rpc, const yajl_alloc_funcs *alloc);
void ngx_http_mcp_rpc_free(ngx_http_mcp_rpc_t *rpc);

/* where one message of a batch is in the body */
typedef struct {
    size_t                    start;
    size_t                    end;
    unsigned                  object:1;   /* else a scalar or an array */
} ngx_http_mcp_rpc_span_t;


/*
 * A batch (a JSON array at the top of the body): finds the bytes of each
 * of its at most max elements, so each is parsed as one message.  Returns
 * 0, or the JSON-RPC error for the batch as a whole with *reason set: not
 * JSON, not an array, empty, or longer than max.
 */
int ngx_http_mcp_rpc_split_batch(const char *buf, size_t len,
    ngx_http_mcp_rpc_span_t *spans, size_t max, size_t *n,
    const char **reason, const yajl_alloc_funcs *alloc);

/*
 * {"jsonrpc":"2.0","id":<id>,"error":{"code":..,"message":..[,"data":..]}},
 * as a new object or malloc()ed text; id and data may be NULL
 */
json_t *ngx_http_mcp_rpc_error_object(const json_t *id, int code,
    const char *message, const json_t *data);
char *ngx_http_mcp_rpc_error_body(const json_t *id, int code,
    const char *message, const json_t *data);


#endif /* _NGX_HTTP_MCP_JSONRPC_H_INCLUDED_ */
