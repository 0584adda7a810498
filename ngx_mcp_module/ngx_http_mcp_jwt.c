
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "ngx_http_mcp_rbac.h"
#include "ngx_http_mcp_jwt.h"


#define NGX_HTTP_MCP_JWT_RSA      1
#define NGX_HTTP_MCP_JWT_PSS      2
#define NGX_HTTP_MCP_JWT_EC       3
#define NGX_HTTP_MCP_JWT_EDDSA    4
#define NGX_HTTP_MCP_JWT_HMAC     5

#define NGX_HTTP_MCP_JWK_RSA_MAX  2048    /* bytes of n: 16384 bits */
#define NGX_HTTP_MCP_JWK_EC_MAX   66      /* bytes of a P-521 coordinate */

/* a NumericDate beyond this is no date (and would overflow time_t) */
#define NGX_HTTP_MCP_JWT_DATE_MAX  1e15


typedef struct {
    const char  *name;
    int          family;
    int          bits;        /* SHA-2 size; 0 for EdDSA */
    size_t       coord;       /* ES*: bytes per coordinate */
} ngx_http_mcp_jwt_alg_t;


typedef struct {
    char        *kid;         /* NULL when the JWK has none */
    EVP_PKEY    *pkey;
    unsigned     algs;        /* bit i: ngx_http_mcp_jwt_algs[i] allowed */
} ngx_http_mcp_jwk_t;


struct ngx_http_mcp_jwks_s {
    ngx_http_mcp_jwk_t  *keys;
    size_t               nkeys;
};


static const ngx_http_mcp_jwt_alg_t  ngx_http_mcp_jwt_algs[] = {
    { "RS256", NGX_HTTP_MCP_JWT_RSA,   256, 0 },
    { "RS384", NGX_HTTP_MCP_JWT_RSA,   384, 0 },
    { "RS512", NGX_HTTP_MCP_JWT_RSA,   512, 0 },
    { "PS256", NGX_HTTP_MCP_JWT_PSS,   256, 0 },
    { "PS384", NGX_HTTP_MCP_JWT_PSS,   384, 0 },
    { "PS512", NGX_HTTP_MCP_JWT_PSS,   512, 0 },
    { "ES256", NGX_HTTP_MCP_JWT_EC,    256, 32 },
    { "ES384", NGX_HTTP_MCP_JWT_EC,    384, 48 },
    { "ES512", NGX_HTTP_MCP_JWT_EC,    512, 66 },
    { "EdDSA", NGX_HTTP_MCP_JWT_EDDSA, 0,   0 },
    { "HS256", NGX_HTTP_MCP_JWT_HMAC,  256, 0 },
    { "HS384", NGX_HTTP_MCP_JWT_HMAC,  384, 0 },
    { "HS512", NGX_HTTP_MCP_JWT_HMAC,  512, 0 }
};

#define NGX_HTTP_MCP_JWT_NALGS                                                \
    (sizeof(ngx_http_mcp_jwt_algs) / sizeof(ngx_http_mcp_jwt_algs[0]))

/* bits of the table above */
#define NGX_HTTP_MCP_JWT_ALGS_RSA   0x3f     /* RS* and PS* */
#define NGX_HTTP_MCP_JWT_ALG_EDDSA  (1u << 9)


static void ngx_http_mcp_jwt_err(char *err, size_t errlen,
    const char *fmt, ...);
static int ngx_http_mcp_jwt_b64_value(unsigned char c);
static int ngx_http_mcp_jwt_b64_decode(const char *in, size_t len,
    unsigned char *out, size_t *outlen);
static int ngx_http_mcp_jwk_member(json_t *jwk, const char *name,
    unsigned char *out, size_t size, size_t *outlen);
static const char *ngx_http_mcp_jwk_parse(json_t *jwk,
    ngx_http_mcp_jwk_t *key);
static const char *ngx_http_mcp_jwk_usable(json_t *jwk);
static const char *ngx_http_mcp_jwk_rsa(json_t *jwk, ngx_http_mcp_jwk_t *key);
static const char *ngx_http_mcp_jwk_ec(json_t *jwk, ngx_http_mcp_jwk_t *key);
static const char *ngx_http_mcp_jwk_okp(json_t *jwk, ngx_http_mcp_jwk_t *key);
static EVP_PKEY *ngx_http_mcp_jwk_fromdata(const char *type,
    OSSL_PARAM_BLD *bld);
static const char *ngx_http_mcp_jwk_alg(json_t *jwk, ngx_http_mcp_jwk_t *key);
static void ngx_http_mcp_jwk_clear(ngx_http_mcp_jwk_t *key);
static size_t ngx_http_mcp_jwks_drop_kidless(ngx_http_mcp_jwks_t *jwks);

static const ngx_http_mcp_jwt_alg_t *ngx_http_mcp_jwt_alg(const char *name,
    size_t *index);
static const EVP_MD *ngx_http_mcp_jwt_md(int bits);
static int ngx_http_mcp_jwt_split(const char *token, size_t len,
    size_t *dot1, size_t *dot2);
static const char *ngx_http_mcp_jwt_header(const unsigned char *buf,
    size_t len, ngx_http_mcp_jwt_result_t *result, size_t *alg_index);
static const char *ngx_http_mcp_jwt_select(const ngx_http_mcp_jwks_t *jwks,
    const char *kid, size_t alg_index, EVP_PKEY **pkey);
static int ngx_http_mcp_jwt_verify_pkey(const ngx_http_mcp_jwt_alg_t *alg,
    EVP_PKEY *pkey, const unsigned char *msg, size_t mlen,
    const unsigned char *sig, size_t slen);
static int ngx_http_mcp_jwt_ecdsa_der(const unsigned char *sig, size_t slen,
    size_t coord, unsigned char **der, size_t *derlen);
static int ngx_http_mcp_jwt_verify_hmac(const ngx_http_mcp_jwt_alg_t *alg,
    const ngx_http_mcp_jwt_policy_t *policy, const unsigned char *msg,
    size_t mlen, const unsigned char *sig, size_t slen);
static const char *ngx_http_mcp_jwt_claims(json_t *claims,
    const ngx_http_mcp_jwt_policy_t *policy,
    ngx_http_mcp_jwt_result_t *result);
static const char *ngx_http_mcp_jwt_times(json_t *claims,
    const ngx_http_mcp_jwt_policy_t *policy,
    ngx_http_mcp_jwt_result_t *result);
static int ngx_http_mcp_jwt_date(json_t *claims, const char *name,
    double *out);
static const char *ngx_http_mcp_jwt_audience(json_t *claims,
    const ngx_http_mcp_jwt_policy_t *policy);
static const char *ngx_http_mcp_jwt_user(json_t *claims,
    const ngx_http_mcp_jwt_policy_t *policy,
    ngx_http_mcp_jwt_result_t *result);
static const char *ngx_http_mcp_jwt_roles(json_t *claims, const char *path,
    ngx_http_mcp_jwt_result_t *result);
static void ngx_http_mcp_jwt_add_role(ngx_http_mcp_jwt_result_t *result,
    size_t *pos, const char *name, size_t len);
static json_t *ngx_http_mcp_jwt_claim(json_t *claims, const char *path);
static int ngx_http_mcp_jwt_fail(ngx_http_mcp_jwt_result_t *result,
    const char *reason);


/* JWKS */


ngx_http_mcp_jwks_t *
ngx_http_mcp_jwks_parse(const char *json, size_t len, char *err,
    size_t errlen)
{
    size_t                i, nkeys, skipped, first;
    json_t               *root, *keys, *jwk;
    const char           *reason, *first_reason;
    json_error_t          jerr;
    ngx_http_mcp_jwks_t  *jwks;

    ngx_http_mcp_jwt_err(err, errlen, "");

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        ngx_http_mcp_jwt_err(err, errlen, "JWKS is not valid JSON: %s",
                             jerr.text);
        return NULL;
    }

    keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        ngx_http_mcp_jwt_err(err, errlen,
                             "not a JWKS: no \"keys\" array");
        json_decref(root);
        return NULL;
    }

    nkeys = json_array_size(keys);

    jwks = calloc(1, sizeof(ngx_http_mcp_jwks_t));
    if (jwks == NULL) {
        goto nomem;
    }

    jwks->keys = calloc(nkeys ? nkeys : 1, sizeof(ngx_http_mcp_jwk_t));
    if (jwks->keys == NULL) {
        goto nomem;
    }

    skipped = 0;
    first = 0;
    first_reason = NULL;

    json_array_foreach(keys, i, jwk) {
        reason = ngx_http_mcp_jwk_parse(jwk, &jwks->keys[jwks->nkeys]);

        if (reason == NULL) {
            jwks->nkeys++;
            continue;
        }

        ngx_http_mcp_jwk_clear(&jwks->keys[jwks->nkeys]);

        if (skipped++ == 0) {
            first = i;
            first_reason = reason;
        }
    }

    json_decref(root);
    root = NULL;

    /* a skipped key must not leave errors for the worker's next SSL call */
    ERR_clear_error();

    if (jwks->nkeys > 1) {
        i = ngx_http_mcp_jwks_drop_kidless(jwks);

        if (i && skipped == 0) {
            first_reason = "no \"kid\" although the JWKS has several keys";
            first = 0;
        }

        skipped += i;
    }

    if (jwks->nkeys == 0) {
        if (nkeys == 0) {
            ngx_http_mcp_jwt_err(err, errlen, "the JWKS has no keys");

        } else {
            ngx_http_mcp_jwt_err(err, errlen, "no usable key in the JWKS "
                                 "(key %zu: %s)", first, first_reason);
        }

        ngx_http_mcp_jwks_free(jwks);
        return NULL;
    }

    if (skipped) {
        ngx_http_mcp_jwt_err(err, errlen, "%zu of %zu keys skipped "
                             "(key %zu: %s)", skipped, nkeys, first,
                             first_reason);
    }

    return jwks;

nomem:

    ngx_http_mcp_jwt_err(err, errlen, "out of memory");
    ngx_http_mcp_jwks_free(jwks);
    json_decref(root);

    return NULL;
}


void
ngx_http_mcp_jwks_free(ngx_http_mcp_jwks_t *jwks)
{
    size_t  i;

    if (jwks == NULL) {
        return;
    }

    for (i = 0; i < jwks->nkeys; i++) {
        ngx_http_mcp_jwk_clear(&jwks->keys[i]);
    }

    free(jwks->keys);
    free(jwks);
}


size_t
ngx_http_mcp_jwks_size(const ngx_http_mcp_jwks_t *jwks)
{
    return jwks ? jwks->nkeys : 0;
}


static const char *
ngx_http_mcp_jwk_parse(json_t *jwk, ngx_http_mcp_jwk_t *key)
{
    json_t        *kty, *kid;
    const char    *type, *reason;
    EVP_PKEY_CTX  *ctx;

    reason = ngx_http_mcp_jwk_usable(jwk);
    if (reason != NULL) {
        return reason;
    }

    kty = json_object_get(jwk, "kty");
    type = json_string_value(kty);

    if (strcmp(type, "RSA") == 0) {
        reason = ngx_http_mcp_jwk_rsa(jwk, key);

    } else if (strcmp(type, "EC") == 0) {
        reason = ngx_http_mcp_jwk_ec(jwk, key);

    } else if (strcmp(type, "OKP") == 0) {
        reason = ngx_http_mcp_jwk_okp(jwk, key);

    } else {
        /* "oct" too: shared secrets do not belong in a published JWKS */
        return "unsupported \"kty\"";
    }

    if (reason != NULL) {
        return reason;
    }

    /* once here, so that verification never meets an invalid key */
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return "the public key is invalid";
    }

    EVP_PKEY_CTX_free(ctx);

    reason = ngx_http_mcp_jwk_alg(jwk, key);
    if (reason != NULL) {
        return reason;
    }

    kid = json_object_get(jwk, "kid");
    if (kid != NULL) {
        key->kid = strdup(json_string_value(kid));
        if (key->kid == NULL) {
            return "out of memory";
        }
    }

    return NULL;
}


static const char *
ngx_http_mcp_jwk_usable(json_t *jwk)
{
    size_t   i;
    json_t  *v, *op;

    if (!json_is_object(jwk)) {
        return "not a JSON object";
    }

    if (!json_is_string(json_object_get(jwk, "kty"))) {
        return "no \"kty\"";
    }

    v = json_object_get(jwk, "use");
    if (v != NULL
        && !(json_is_string(v) && strcmp(json_string_value(v), "sig") == 0))
    {
        return "\"use\" is not \"sig\"";
    }

    v = json_object_get(jwk, "key_ops");
    if (v != NULL) {
        json_array_foreach(v, i, op) {
            if (json_is_string(op)
                && strcmp(json_string_value(op), "verify") == 0)
            {
                break;
            }
        }

        if (!json_is_array(v) || i == json_array_size(v)) {
            return "\"key_ops\" lacks \"verify\"";
        }
    }

    v = json_object_get(jwk, "kid");
    if (v != NULL && !json_is_string(v)) {
        return "\"kid\" is not a string";
    }

    return NULL;
}


static const char *
ngx_http_mcp_jwk_rsa(json_t *jwk, ngx_http_mcp_jwk_t *key)
{
    size_t           nlen, elen;
    BIGNUM          *n, *e;
    const char      *reason;
    OSSL_PARAM_BLD  *bld;
    unsigned char    nbuf[NGX_HTTP_MCP_JWK_RSA_MAX], ebuf[8];

    if (ngx_http_mcp_jwk_member(jwk, "n", nbuf, sizeof(nbuf), &nlen) != 0
        || ngx_http_mcp_jwk_member(jwk, "e", ebuf, sizeof(ebuf), &elen) != 0)
    {
        return "bad RSA \"n\" or \"e\"";
    }

    n = BN_bin2bn(nbuf, nlen, NULL);
    e = BN_bin2bn(ebuf, elen, NULL);
    bld = OSSL_PARAM_BLD_new();

    reason = "RSA key rejected by OpenSSL";

    if (n != NULL && BN_num_bits(n) < 2048) {
        reason = "RSA key shorter than 2048 bits";

    } else if (n != NULL && e != NULL && bld != NULL
               && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
               && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
    {
        key->pkey = ngx_http_mcp_jwk_fromdata("RSA", bld);
    }

    OSSL_PARAM_BLD_free(bld);
    BN_free(e);
    BN_free(n);

    if (key->pkey == NULL) {
        return reason;
    }

    key->algs = NGX_HTTP_MCP_JWT_ALGS_RSA;

    return NULL;
}


static const char *
ngx_http_mcp_jwk_ec(json_t *jwk, ngx_http_mcp_jwk_t *key)
{
    size_t           xlen, ylen, coord, i;
    json_t          *crv;
    const char      *group, *name, *alg;
    OSSL_PARAM_BLD  *bld;
    unsigned char    pub[1 + 2 * NGX_HTTP_MCP_JWK_EC_MAX];

    crv = json_object_get(jwk, "crv");
    name = json_is_string(crv) ? json_string_value(crv) : "";

    if (strcmp(name, "P-256") == 0) {
        group = "prime256v1";
        alg = "ES256";

    } else if (strcmp(name, "P-384") == 0) {
        group = "secp384r1";
        alg = "ES384";

    } else if (strcmp(name, "P-521") == 0) {
        group = "secp521r1";
        alg = "ES512";

    } else {
        return "unsupported EC \"crv\"";
    }

    coord = ngx_http_mcp_jwt_alg(alg, &i)->coord;

    /* uncompressed point: 04 || x || y, each exactly one coordinate */
    pub[0] = 0x04;

    if (ngx_http_mcp_jwk_member(jwk, "x", pub + 1, coord, &xlen) != 0
        || ngx_http_mcp_jwk_member(jwk, "y", pub + 1 + coord, coord, &ylen)
           != 0
        || xlen != coord || ylen != coord)
    {
        return "bad EC \"x\" or \"y\"";
    }

    bld = OSSL_PARAM_BLD_new();

    if (bld != NULL
        && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, 0)
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            pub, 1 + 2 * coord))
    {
        key->pkey = ngx_http_mcp_jwk_fromdata("EC", bld);
    }

    OSSL_PARAM_BLD_free(bld);

    if (key->pkey == NULL) {
        return "EC key rejected by OpenSSL";
    }

    key->algs = 1u << i;

    return NULL;
}


static const char *
ngx_http_mcp_jwk_okp(json_t *jwk, ngx_http_mcp_jwk_t *key)
{
    int             type;
    size_t          xlen, want;
    json_t         *crv;
    const char     *name;
    unsigned char   x[57];

    crv = json_object_get(jwk, "crv");
    name = json_is_string(crv) ? json_string_value(crv) : "";

    if (strcmp(name, "Ed25519") == 0) {
        type = EVP_PKEY_ED25519;
        want = 32;

    } else if (strcmp(name, "Ed448") == 0) {
        type = EVP_PKEY_ED448;
        want = 57;

    } else {
        /* X25519/X448 are for key agreement, not signatures */
        return "unsupported OKP \"crv\"";
    }

    if (ngx_http_mcp_jwk_member(jwk, "x", x, want, &xlen) != 0
        || xlen != want)
    {
        return "bad OKP \"x\"";
    }

    key->pkey = EVP_PKEY_new_raw_public_key(type, NULL, x, xlen);
    if (key->pkey == NULL) {
        return "OKP key rejected by OpenSSL";
    }

    key->algs = NGX_HTTP_MCP_JWT_ALG_EDDSA;

    return NULL;
}


static EVP_PKEY *
ngx_http_mcp_jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx;

    pkey = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);

    return pkey;
}


static const char *
ngx_http_mcp_jwk_alg(json_t *jwk, ngx_http_mcp_jwk_t *key)
{
    size_t   i;
    json_t  *alg;

    alg = json_object_get(jwk, "alg");
    if (alg == NULL) {
        return NULL;
    }

    /* "alg" narrows the key to one algorithm, which must fit its type */
    if (!json_is_string(alg)
        || ngx_http_mcp_jwt_alg(json_string_value(alg), &i) == NULL
        || (key->algs & (1u << i)) == 0)
    {
        return "\"alg\" does not fit the key";
    }

    key->algs = 1u << i;

    return NULL;
}


static int
ngx_http_mcp_jwk_member(json_t *jwk, const char *name, unsigned char *out,
    size_t size, size_t *outlen)
{
    size_t   len;
    json_t  *v;

    v = json_object_get(jwk, name);
    if (!json_is_string(v)) {
        return -1;
    }

    len = json_string_length(v);
    /* 4 characters carry 3 bytes; a tail of 2 or 3 carries 1 or 2 */
    if (len == 0 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > size) {
        return -1;
    }

    return ngx_http_mcp_jwt_b64_decode(json_string_value(v), len, out,
                                       outlen);
}


static void
ngx_http_mcp_jwk_clear(ngx_http_mcp_jwk_t *key)
{
    EVP_PKEY_free(key->pkey);
    free(key->kid);
    memset(key, 0, sizeof(ngx_http_mcp_jwk_t));
}


static size_t
ngx_http_mcp_jwks_drop_kidless(ngx_http_mcp_jwks_t *jwks)
{
    size_t  i, n, dropped;

    n = 0;
    dropped = 0;

    for (i = 0; i < jwks->nkeys; i++) {
        if (jwks->keys[i].kid == NULL) {
            ngx_http_mcp_jwk_clear(&jwks->keys[i]);
            dropped++;
            continue;
        }

        jwks->keys[n++] = jwks->keys[i];
    }

    jwks->nkeys = n;

    return dropped;
}


/* JWS */


int
ngx_http_mcp_jwt_verify(const char *token, size_t len,
    const ngx_http_mcp_jwks_t *jwks, const ngx_http_mcp_jwt_policy_t *policy,
    ngx_http_mcp_jwt_result_t *result)
{
    int                            ok;
    size_t                         dot1, dot2, hlen, plen, slen, max, ai;
    json_t                        *claims;
    EVP_PKEY                      *pkey;
    const char                    *reason;
    unsigned char                 *buf, *payload, *sig;
    json_error_t                   jerr;
    const ngx_http_mcp_jwt_alg_t  *alg;

    memset(result, 0, sizeof(ngx_http_mcp_jwt_result_t));

    max = policy->max_token_len ? policy->max_token_len
                                : NGX_HTTP_MCP_JWT_MAX_LEN_DEFAULT;
    if (len > max) {
        return ngx_http_mcp_jwt_fail(result, "too_long");
    }

    if (token == NULL || ngx_http_mcp_jwt_split(token, len, &dot1, &dot2)
                         != 0)
    {
        return ngx_http_mcp_jwt_fail(result, "malformed");
    }

    /* decoded parts are shorter than the encoded ones: one buffer holds all */
    buf = malloc(len);
    if (buf == NULL) {
        return ngx_http_mcp_jwt_fail(result, "no_memory");
    }

    payload = buf + dot1;
    sig = buf + dot2;

    if (ngx_http_mcp_jwt_b64_decode(token, dot1, buf, &hlen) != 0
        || ngx_http_mcp_jwt_b64_decode(token + dot1 + 1, dot2 - dot1 - 1,
                                       payload, &plen) != 0
        || ngx_http_mcp_jwt_b64_decode(token + dot2 + 1, len - dot2 - 1,
                                       sig, &slen) != 0)
    {
        free(buf);
        return ngx_http_mcp_jwt_fail(result, "malformed");
    }

    reason = ngx_http_mcp_jwt_header(buf, hlen, result, &ai);
    if (reason != NULL) {
        free(buf);
        return ngx_http_mcp_jwt_fail(result, reason);
    }

    alg = &ngx_http_mcp_jwt_algs[ai];
    result->alg = alg->name;

    /* the signing input is the encoded text up to the second dot */
    if (alg->family == NGX_HTTP_MCP_JWT_HMAC) {
        if (policy->hmac_secret == NULL
            || policy->hmac_secret_len < (size_t) alg->bits / 8)
        {
            /* RFC 7518 3.2: the key must be at least the hash size */
            free(buf);
            return ngx_http_mcp_jwt_fail(result, "alg_not_allowed");
        }

        ok = ngx_http_mcp_jwt_verify_hmac(alg, policy,
                                          (const unsigned char *) token,
                                          dot2, sig, slen);

    } else {
        reason = ngx_http_mcp_jwt_select(jwks, result->kid, ai, &pkey);
        if (reason != NULL) {
            free(buf);
            return ngx_http_mcp_jwt_fail(result, reason);
        }

        ok = ngx_http_mcp_jwt_verify_pkey(alg, pkey,
                                          (const unsigned char *) token,
                                          dot2, sig, slen);
    }

    if (!ok) {
        ERR_clear_error();
        free(buf);
        return ngx_http_mcp_jwt_fail(result, "bad_signature");
    }

    /* only authenticated bytes reach the JSON parser from here on */
    claims = json_loadb((const char *) payload, plen, JSON_REJECT_DUPLICATES,
                        &jerr);
    free(buf);

    if (!json_is_object(claims)) {
        json_decref(claims);
        return ngx_http_mcp_jwt_fail(result, "malformed");
    }

    reason = ngx_http_mcp_jwt_claims(claims, policy, result);
    json_decref(claims);

    if (reason != NULL) {
        return ngx_http_mcp_jwt_fail(result, reason);
    }

    return 0;
}


void
ngx_http_mcp_jwt_result_free(ngx_http_mcp_jwt_result_t *result)
{
    free(result->user);
    free(result->subject);
    free(result->roles);
    free(result->kid);

    result->user = NULL;
    result->subject = NULL;
    result->roles = NULL;
    result->kid = NULL;
}


static int
ngx_http_mcp_jwt_split(const char *token, size_t len, size_t *dot1,
    size_t *dot2)
{
    const char  *p, *q;

    /* exactly three parts; header and payload cannot be empty */
    p = memchr(token, '.', len);
    if (p == NULL || p == token) {
        return -1;
    }

    q = memchr(p + 1, '.', len - (p + 1 - token));
    if (q == NULL || q == p + 1) {
        return -1;
    }

    if (memchr(q + 1, '.', len - (q + 1 - token)) != NULL) {
        return -1;
    }

    *dot1 = p - token;
    *dot2 = q - token;

    return 0;
}


static const char *
ngx_http_mcp_jwt_header(const unsigned char *buf, size_t len,
    ngx_http_mcp_jwt_result_t *result, size_t *alg_index)
{
    json_t        *header, *alg, *kid;
    const char    *reason;
    json_error_t   jerr;

    header = json_loadb((const char *) buf, len, JSON_REJECT_DUPLICATES,
                        &jerr);
    if (!json_is_object(header)) {
        json_decref(header);
        return "malformed";
    }

    reason = NULL;

    alg = json_object_get(header, "alg");
    kid = json_object_get(header, "kid");

    if (!json_is_string(alg) || (kid != NULL && !json_is_string(kid))) {
        reason = "malformed";
        goto done;
    }

    if (kid != NULL) {
        result->kid = strdup(json_string_value(kid));
        if (result->kid == NULL) {
            reason = "no_memory";
            goto done;
        }
    }

    /* no extension is understood, so any "crit" must be refused */
    if (json_object_get(header, "crit") != NULL) {
        reason = "unsupported_crit";
        goto done;
    }

    /* "none" and anything unknown */
    if (ngx_http_mcp_jwt_alg(json_string_value(alg), alg_index) == NULL) {
        reason = "alg_not_allowed";
    }

done:

    json_decref(header);

    return reason;
}


static const char *
ngx_http_mcp_jwt_select(const ngx_http_mcp_jwks_t *jwks, const char *kid,
    size_t alg_index, EVP_PKEY **pkey)
{
    size_t                     i;
    unsigned                   found;
    const ngx_http_mcp_jwk_t  *key;

    if (jwks == NULL || jwks->nkeys == 0) {
        return "unknown_kid";
    }

    if (kid == NULL) {
        if (jwks->nkeys != 1) {
            return "unknown_kid";
        }

        key = &jwks->keys[0];

        if ((key->algs & (1u << alg_index)) == 0) {
            return "alg_not_allowed";
        }

        *pkey = key->pkey;
        return NULL;
    }

    found = 0;

    /* a kid is an opaque string: exact comparison, nothing else */
    for (i = 0; i < jwks->nkeys; i++) {
        key = &jwks->keys[i];

        if (key->kid == NULL || strcmp(key->kid, kid) != 0) {
            continue;
        }

        found = 1;

        if (key->algs & (1u << alg_index)) {
            *pkey = key->pkey;
            return NULL;
        }
    }

    return found ? "alg_not_allowed" : "unknown_kid";
}


static int
ngx_http_mcp_jwt_verify_pkey(const ngx_http_mcp_jwt_alg_t *alg,
    EVP_PKEY *pkey, const unsigned char *msg, size_t mlen,
    const unsigned char *sig, size_t slen)
{
    int             ok;
    size_t          derlen;
    EVP_MD_CTX     *ctx;
    EVP_PKEY_CTX   *pctx;
    unsigned char  *der;

    der = NULL;

    if (alg->family == NGX_HTTP_MCP_JWT_EC) {
        if (ngx_http_mcp_jwt_ecdsa_der(sig, slen, alg->coord, &der, &derlen)
            != 0)
        {
            return 0;
        }

        sig = der;
        slen = derlen;
    }

    ctx = EVP_MD_CTX_new();

    ok = ctx != NULL
         && EVP_DigestVerifyInit(ctx, &pctx, ngx_http_mcp_jwt_md(alg->bits),
                                 NULL, pkey) == 1;

    if (ok && alg->family == NGX_HTTP_MCP_JWT_PSS) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
                > 0;
    }

    ok = ok && EVP_DigestVerify(ctx, sig, slen, msg, mlen) == 1;

    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);

    return ok;
}


static int
ngx_http_mcp_jwt_ecdsa_der(const unsigned char *sig, size_t slen,
    size_t coord, unsigned char **der, size_t *derlen)
{
    int         n;
    BIGNUM     *r, *s;
    ECDSA_SIG  *es;

    /* JWS carries r || s, each exactly one coordinate long (RFC 7518 3.4) */
    if (slen != 2 * coord) {
        return -1;
    }

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, coord, NULL);
    s = BN_bin2bn(sig + coord, coord, NULL);

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return -1;
    }

    *der = NULL;
    n = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);

    if (n <= 0) {
        return -1;
    }

    *derlen = n;

    return 0;
}


static int
ngx_http_mcp_jwt_verify_hmac(const ngx_http_mcp_jwt_alg_t *alg,
    const ngx_http_mcp_jwt_policy_t *policy, const unsigned char *msg,
    size_t mlen, const unsigned char *sig, size_t slen)
{
    unsigned int   mdlen;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (policy->hmac_secret_len > INT32_MAX
        || HMAC(ngx_http_mcp_jwt_md(alg->bits), policy->hmac_secret,
                (int) policy->hmac_secret_len, msg, mlen, md, &mdlen)
           == NULL)
    {
        return 0;
    }

    return slen == mdlen && CRYPTO_memcmp(md, sig, mdlen) == 0;
}


static const ngx_http_mcp_jwt_alg_t *
ngx_http_mcp_jwt_alg(const char *name, size_t *index)
{
    size_t  i;

    for (i = 0; i < NGX_HTTP_MCP_JWT_NALGS; i++) {
        if (strcmp(ngx_http_mcp_jwt_algs[i].name, name) == 0) {
            *index = i;
            return &ngx_http_mcp_jwt_algs[i];
        }
    }

    return NULL;
}


static const EVP_MD *
ngx_http_mcp_jwt_md(int bits)
{
    switch (bits) {
    case 256:
        return EVP_sha256();
    case 384:
        return EVP_sha384();
    case 512:
        return EVP_sha512();
    default:
        /* EdDSA hashes internally */
        return NULL;
    }
}


/* claims */


static const char *
ngx_http_mcp_jwt_claims(json_t *claims,
    const ngx_http_mcp_jwt_policy_t *policy,
    ngx_http_mcp_jwt_result_t *result)
{
    json_t      *iss;
    const char  *reason;

    reason = ngx_http_mcp_jwt_times(claims, policy, result);
    if (reason != NULL) {
        return reason;
    }

    iss = json_object_get(claims, "iss");
    if (policy->issuer == NULL || !json_is_string(iss)
        || strcmp(json_string_value(iss), policy->issuer) != 0)
    {
        return "wrong_issuer";
    }

    reason = ngx_http_mcp_jwt_audience(claims, policy);
    if (reason != NULL) {
        return reason;
    }

    reason = ngx_http_mcp_jwt_user(claims, policy, result);
    if (reason != NULL) {
        return reason;
    }

    return ngx_http_mcp_jwt_roles(claims, policy->roles_claim, result);
}


static const char *
ngx_http_mcp_jwt_times(json_t *claims,
    const ngx_http_mcp_jwt_policy_t *policy,
    ngx_http_mcp_jwt_result_t *result)
{
    int     rc;
    double  now, leeway, exp, nbf, iat;

    now = (double) policy->now;
    leeway = policy->leeway > 0 ? (double) policy->leeway : 0;

    rc = ngx_http_mcp_jwt_date(claims, "exp", &exp);
    if (rc == 0) {
        return "no_expiry";
    }

    if (rc < 0) {
        return "bad_claims";
    }

    result->exp = (time_t) exp;

    /* RFC 7519 4.1.4: valid only while now is before exp */
    if (now - leeway >= exp) {
        return "expired";
    }

    rc = ngx_http_mcp_jwt_date(claims, "nbf", &nbf);
    if (rc < 0) {
        return "bad_claims";
    }

    if (rc > 0 && now + leeway < nbf) {
        return "not_yet_valid";
    }

    rc = ngx_http_mcp_jwt_date(claims, "iat", &iat);
    if (rc < 0) {
        return "bad_claims";
    }

    if (rc > 0 && iat > now + leeway) {
        return "not_yet_valid";
    }

    return NULL;
}


static int
ngx_http_mcp_jwt_date(json_t *claims, const char *name, double *out)
{
    double   d;
    json_t  *v;

    v = json_object_get(claims, name);
    if (v == NULL) {
        return 0;
    }

    if (!json_is_number(v)) {
        return -1;
    }

    d = json_number_value(v);
    if (!(d > -NGX_HTTP_MCP_JWT_DATE_MAX && d < NGX_HTTP_MCP_JWT_DATE_MAX)) {
        return -1;
    }

    *out = d;

    return 1;
}


static const char *
ngx_http_mcp_jwt_audience(json_t *claims,
    const ngx_http_mcp_jwt_policy_t *policy)
{
    size_t       i, j, n;
    json_t      *aud, *v;
    const char  *s;

    aud = json_object_get(claims, "aud");

    if (aud == NULL) {
        return "wrong_audience";
    }

    if (json_is_string(aud)) {
        n = 1;

    } else if (json_is_array(aud)) {
        n = json_array_size(aud);

    } else {
        return "bad_claims";
    }

    for (i = 0; i < n; i++) {
        v = json_is_array(aud) ? json_array_get(aud, i) : aud;

        if (!json_is_string(v)) {
            return "bad_claims";
        }

        s = json_string_value(v);

        for (j = 0; j < policy->naudiences; j++) {
            if (strcmp(s, policy->audiences[j]) == 0) {
                return NULL;
            }
        }
    }

    return "wrong_audience";
}


static const char *
ngx_http_mcp_jwt_user(json_t *claims, const ngx_http_mcp_jwt_policy_t *policy,
    ngx_http_mcp_jwt_result_t *result)
{
    size_t       i, n;
    json_t      *sub, *v;
    const char  *s;

    sub = json_object_get(claims, "sub");
    if (sub != NULL && !json_is_string(sub)) {
        return "bad_claims";
    }

    v = ngx_http_mcp_jwt_claim(claims, policy->user_claim ? policy->user_claim
                                                          : "sub");
    if (v == NULL || (json_is_string(v) && json_string_length(v) == 0)) {
        v = sub;
    }

    if (v == NULL) {
        return "no_user";
    }

    if (!json_is_string(v)) {
        return "bad_claims";
    }

    if (json_string_length(v) == 0) {
        return "no_user";
    }

    s = json_string_value(v);
    n = json_string_length(v);

    /* the name travels on in request headers and logs */
    if (n > NGX_HTTP_MCP_JWT_MAX_USER_LEN) {
        return "bad_user";
    }

    for (i = 0; i < n; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return "bad_user";
        }
    }

    result->user = strdup(s);

    if (sub != NULL) {
        result->subject = strdup(json_string_value(sub));
    }

    if (result->user == NULL || (sub != NULL && result->subject == NULL)) {
        return "no_memory";
    }

    return NULL;
}


static const char *
ngx_http_mcp_jwt_roles(json_t *claims, const char *path,
    ngx_http_mcp_jwt_result_t *result)
{
    size_t       i, pos, size, start;
    json_t      *v, *role;
    const char  *s;

    v = path ? ngx_http_mcp_jwt_claim(claims, path) : NULL;

    if (json_is_string(v)) {
        size = json_string_length(v) + 1;

    } else if (json_is_array(v)) {
        size = 1;

        json_array_foreach(v, i, role) {
            size += json_string_length(role) + 1;
        }

    } else if (v == NULL) {
        size = 1;

    } else {
        return "bad_claims";
    }

    result->roles = malloc(size);
    if (result->roles == NULL) {
        return "no_memory";
    }

    result->roles[0] = '\0';
    pos = 0;

    if (json_is_array(v)) {
        json_array_foreach(v, i, role) {
            if (json_is_string(role)) {
                ngx_http_mcp_jwt_add_role(result, &pos,
                                          json_string_value(role),
                                          json_string_length(role));
            }
        }

    } else if (json_is_string(v)) {
        /* "scope": names separated by spaces (RFC 6749 3.3) */
        s = json_string_value(v);
        size = json_string_length(v);
        start = 0;

        for (i = 0; i <= size; i++) {
            if (i == size || s[i] == ' ') {
                ngx_http_mcp_jwt_add_role(result, &pos, s + start, i - start);
                start = i + 1;
            }
        }
    }

    return NULL;
}


static void
ngx_http_mcp_jwt_add_role(ngx_http_mcp_jwt_result_t *result, size_t *pos,
    const char *name, size_t len)
{
    size_t         i;
    unsigned char  c;

    /* a comma, space or control character could forge a second role */
    for (i = 0; i < len; i++) {
        c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == ':' || c == '-'))
        {
            return;
        }
    }

    if (len == 0) {
        return;
    }

    if (result->nroles == NGX_HTTP_MCP_MAX_ROLES) {
        result->roles_truncated = 1;
        return;
    }

    if (*pos) {
        result->roles[(*pos)++] = ',';
    }

    memcpy(result->roles + *pos, name, len);
    *pos += len;
    result->roles[*pos] = '\0';
    result->nroles++;
}


static json_t *
ngx_http_mcp_jwt_claim(json_t *claims, const char *path)
{
    json_t      *v;
    const char  *p, *dot;

    v = json_object_get(claims, path);
    if (v != NULL) {
        return v;
    }

    v = claims;
    p = path;

    for ( ;; ) {
        dot = strchr(p, '.');

        if (!json_is_object(v)) {
            return NULL;
        }

        v = json_object_getn(v, p, dot ? (size_t) (dot - p) : strlen(p));

        if (v == NULL || dot == NULL) {
            return v;
        }

        p = dot + 1;
    }
}


static int
ngx_http_mcp_jwt_fail(ngx_http_mcp_jwt_result_t *result, const char *reason)
{
    /* the kid stays: "unknown_kid" tells the caller to refresh the keys */
    free(result->user);
    free(result->subject);
    free(result->roles);

    result->user = NULL;
    result->subject = NULL;
    result->roles = NULL;
    result->nroles = 0;
    result->roles_truncated = 0;
    result->reason = reason;

    return -1;
}


/* helpers */


static int
ngx_http_mcp_jwt_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}


static int
ngx_http_mcp_jwt_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t *outlen)
{
    int       v, bits;
    size_t    i, n;
    uint32_t  acc;

    /* base64url without padding (RFC 7515 2): no '=', no other alphabet */
    if (len % 4 == 1) {
        return -1;
    }

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = ngx_http_mcp_jwt_b64_value((unsigned char) in[i]);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
        }
    }

    /* canonical form only: the unused trailing bits must be zero */
    if (acc & ((1u << bits) - 1)) {
        return -1;
    }

    *outlen = n;

    return 0;
}


static void
ngx_http_mcp_jwt_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}
