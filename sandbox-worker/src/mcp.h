/* mcp.h - JSON-RPC 2.0 / MCP method handling (no HTTP here). */
#ifndef SW_MCP_H
#define SW_MCP_H

#include <stddef.h>
#include <jansson.h>
#include "config.h"
#include "pool.h"

typedef struct {
    json_t      *tools;             /* array from tools.json */
    char         server_name[128];  /* "ngx-mcp-sandbox-<toolset>" */
    const char  *workspace_root;
    sw_limits_t  limits;
    long         quota_mb;          /* per-user workspace quota */
    sw_pool_t   *pool;
} sw_mcp_t;

/* What the HTTP layer sends back. */
typedef struct {
    int          status;            /* HTTP status */
    char        *body;              /* malloc'd JSON, NULL for no body */
    int          exec;              /* 1: add X-MCP-Exec-* headers */
    const char  *outcome;
    long         wall_ms;
    long         cpu_ms;
    long         rss_kb;
} sw_reply_t;

/* Loads and checks <toolset>/tools.json. Returns 0 or -1 with err. */
int sw_mcp_load_tools(sw_mcp_t *mcp, const char *toolset_dir, char *err,
    size_t err_size);

/*
 * Handles one POST /mcp body for an authenticated user.  protocol_version
 * is the MCP-Protocol-Version header, or NULL: "2026-07-28" selects the
 * stateless revision (per-request _meta, server/discover, resultType).
 */
void sw_mcp_handle(sw_mcp_t *mcp, const char *body, size_t len,
    const char *user, const char *protocol_version, sw_reply_t *reply);

/* JSON-RPC error body with the given id (may be NULL -> null). */
char *sw_mcp_error_body(json_t *id, int code, const char *message);

#endif /* SW_MCP_H */
