
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * API key format and identity signature (docs/internals.md): pure C +
 * OpenSSL, no nginx types.
 */


#ifndef _NGX_HTTP_MCP_CRYPTO_H_INCLUDED_
#define _NGX_HTTP_MCP_CRYPTO_H_INCLUDED_


#include <stddef.h>


#define NGX_HTTP_MCP_KEY_ID_LEN      16
#define NGX_HTTP_MCP_KEY_SECRET_LEN  64
#define NGX_HTTP_MCP_KEY_LEN         (4 + NGX_HTTP_MCP_KEY_ID_LEN + 1         \
                                      + NGX_HTTP_MCP_KEY_SECRET_LEN)
#define NGX_HTTP_MCP_SHA256_HEX_LEN  64


/* 1 when key looks like mcp_<16 hex>_<64 hex> */
int ngx_http_mcp_apikey_well_formed(const unsigned char *key, size_t len);

/* an HMAC-SHA256 key made ready once, at configuration time */
typedef struct ngx_http_mcp_signer_s  ngx_http_mcp_signer_t;


/* SHA-256 into out[32]; the digest is fetched once per process */
void ngx_http_mcp_sha256(const unsigned char *data, size_t len,
    unsigned char *out);

/* SHA-256 of scope (32 bytes) followed by data, into out[32] */
void ngx_http_mcp_sha256_scoped(const unsigned char *scope,
    const unsigned char *data, size_t len, unsigned char *out);

/* constant-time equality of two byte strings */
int ngx_http_mcp_equal_ct(const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen);

ngx_http_mcp_signer_t *ngx_http_mcp_signer_create(
    const unsigned char *secret, size_t secret_len);
void ngx_http_mcp_signer_free(ngx_http_mcp_signer_t *signer);

/*
 * The X-MCP-Identity value of docs/internals.md: base64url(message) "."
 * base64url(HMAC-SHA256(secret, message)), unpadded, where message is
 * "v1" followed by each field after a "\n".  out has room for
 * ngx_http_mcp_identity_size(lens, n) bytes.  Returns the length written,
 * or 0 on failure.
 */
size_t ngx_http_mcp_identity_size(const size_t *lens, size_t n);
size_t ngx_http_mcp_identity_sign(ngx_http_mcp_signer_t *signer,
    const unsigned char *const *fields, const size_t *lens, size_t n,
    unsigned char *out);


#endif /* _NGX_HTTP_MCP_CRYPTO_H_INCLUDED_ */
