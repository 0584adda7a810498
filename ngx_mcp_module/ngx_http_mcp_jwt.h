
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * JWT (compact JWS) verification against a JWKS: pure C + OpenSSL +
 * jansson, no nginx types, unit-tested alone.
 *
 * Keys are parsed once into EVP_PKEYs by ngx_http_mcp_jwks_parse(); a
 * verification is one base64url decode, two small JSON parses and one
 * EVP_DigestVerify.  The token's "alg" is never trusted on its own: it
 * must be one the selected key allows, HS* needs a configured secret, and
 * "none" is always refused.  "jku", "x5u" and "jwk" headers are ignored:
 * keys only ever come from the configured JWKS.
 */


#ifndef _NGX_HTTP_MCP_JWT_H_INCLUDED_
#define _NGX_HTTP_MCP_JWT_H_INCLUDED_


#include <stddef.h>
#include <time.h>


#define NGX_HTTP_MCP_JWT_MAX_LEN_DEFAULT  16384
#define NGX_HTTP_MCP_JWT_MAX_USER_LEN     256


/* opaque: the usable keys of one JWKS document, parsed once */
typedef struct ngx_http_mcp_jwks_s  ngx_http_mcp_jwks_t;


typedef struct {
    /* required: exact match of "iss"; NULL refuses every token */
    const char           *issuer;

    /*
     * "aud" (a string or an array of strings) must hold one of these;
     * none configured refuses every token (MCP requires audience binding)
     */
    const char *const    *audiences;
    size_t                naudiences;

    long                  leeway;         /* clock skew for exp/nbf/iat, s */
    time_t                now;

    /*
     * Claim names: tried first as a whole top-level name (namespaced
     * claims such as "https://example.com/roles" contain dots), then as a
     * dotted path ("realm_access.roles",
     * "resource_access.<client>.roles").
     */
    const char           *user_claim;     /* NULL or absent: "sub" */
    const char           *roles_claim;    /* NULL: no roles */

    /* NULL: every HS* token is refused (blocks RS256 -> HS256 confusion) */
    const unsigned char  *hmac_secret;
    size_t                hmac_secret_len;

    /* longer tokens are refused before any parsing; 0: 16 KiB */
    size_t                max_token_len;
} ngx_http_mcp_jwt_policy_t;


typedef struct {
    /*
     * NULL on success, else a static machine word: "malformed",
     * "too_long", "unsupported_crit", "alg_not_allowed", "unknown_kid",
     * "bad_signature", "no_expiry", "expired", "not_yet_valid",
     * "wrong_issuer", "wrong_audience", "no_user", "bad_user",
     * "bad_claims", "no_memory"
     */
    const char   *reason;

    /* set once the header is read, on failure too (for the log) */
    const char   *alg;       /* static, e.g. "RS256" */
    char         *kid;       /* malloc()ed; on "unknown_kid" the caller
                                may refresh its keys */

    /* malloc()ed, set on success only */
    char         *user;      /* user claim, else "sub" */
    char         *subject;   /* "sub", may be NULL */
    char         *roles;     /* "a,b,c", "" when none; names not matching
                                [A-Za-z0-9._:-]+ are dropped */
    size_t        nroles;
    unsigned      roles_truncated:1;  /* more than NGX_HTTP_MCP_MAX_ROLES;
                                         the rest were dropped */

    time_t        exp;       /* set once read, also on "expired" */
} ngx_http_mcp_jwt_result_t;


/*
 * Parses a JWKS document ({"keys":[...]}).  Supported: RSA (n, e; 2048 to
 * 16384 bits), EC P-256/P-384/P-521 (x, y), OKP Ed25519/Ed448 (x).  Keys
 * that cannot be used are skipped, not fatal: other kty or crv, "use"
 * other than "sig", "key_ops" without "verify", an "alg" that does not
 * fit the key, a non-string "kid", and keys without "kid" when there are
 * several usable keys (a token could not select them).
 *
 * A key's algorithms are its "alg" member when present, else by type:
 * RSA -> RS256/384/512 + PS256/384/512, P-256 -> ES256, P-384 -> ES384,
 * P-521 -> ES512, Ed25519/Ed448 -> EdDSA.
 *
 * Returns NULL with a sentence in err when the document is not a JWKS or
 * no key is usable; on success err holds "" or a note on skipped keys.
 */
ngx_http_mcp_jwks_t *ngx_http_mcp_jwks_parse(const char *json, size_t len,
    char *err, size_t errlen);
void ngx_http_mcp_jwks_free(ngx_http_mcp_jwks_t *jwks);
size_t ngx_http_mcp_jwks_size(const ngx_http_mcp_jwks_t *jwks);

/*
 * 0 when the token is valid, else -1 with result->reason set.  jwks may be
 * NULL (HS* only).  The key is chosen by "kid", compared exactly as an
 * opaque string; a token without "kid" is accepted only when the JWKS has
 * exactly one key.  The signature is checked before the payload is
 * parsed.  "exp" is required; "crit" is refused (no extension is
 * understood).  Call ngx_http_mcp_jwt_result_free() in every case.
 */
int ngx_http_mcp_jwt_verify(const char *token, size_t len,
    const ngx_http_mcp_jwks_t *jwks, const ngx_http_mcp_jwt_policy_t *policy,
    ngx_http_mcp_jwt_result_t *result);
void ngx_http_mcp_jwt_result_free(ngx_http_mcp_jwt_result_t *result);


#endif /* _NGX_HTTP_MCP_JWT_H_INCLUDED_ */
