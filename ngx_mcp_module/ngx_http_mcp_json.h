
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Bytes of any origin written as the inside of a JSON string (the audit
 * record): pure C, so the unit tests and the fuzzer link it alone.
 */


#ifndef _NGX_HTTP_MCP_JSON_H_INCLUDED_
#define _NGX_HTTP_MCP_JSON_H_INCLUDED_


#include <stddef.h>


/* the most one input byte can become: an invalid byte is "\ufffd" */
#define NGX_HTTP_MCP_JSON_ESCAPE_MAX  6


/*
 * Writes s[0..n) to dst as JSON string content and returns the end:
 * '"', '\' and control bytes escaped, valid UTF-8 copied as it is, each
 * byte of an invalid sequence replaced by U+FFFD, so the record stays
 * valid JSON (and valid UTF-8) whatever a client sent.  dst holds at
 * least ngx_http_mcp_json_escaped_len(s, n) bytes.
 */
unsigned char *ngx_http_mcp_json_escape(unsigned char *dst,
    const unsigned char *s, size_t n);
size_t ngx_http_mcp_json_escaped_len(const unsigned char *s, size_t n);


#endif /* _NGX_HTTP_MCP_JSON_H_INCLUDED_ */
