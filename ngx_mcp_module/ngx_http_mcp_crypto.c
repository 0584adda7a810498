
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ngx_http_mcp_crypto.h"


static int ngx_http_mcp_all_hex(const unsigned char *p, size_t n);
static size_t ngx_http_mcp_identity_value(
    const ngx_http_mcp_signer_t *signer, const unsigned char *msg, size_t len,
    unsigned char *out);
static size_t ngx_http_mcp_base64url_size(size_t len);
static unsigned char *ngx_http_mcp_base64url(const unsigned char *in,
    size_t len, unsigned char *out);
static size_t ngx_http_mcp_memo_slot(const unsigned char *msg, size_t len);


int
ngx_http_mcp_apikey_well_formed(const unsigned char *key, size_t len)
{
    if (len != NGX_HTTP_MCP_KEY_LEN || memcmp(key, "mcp_", 4) != 0) {
        return 0;
    }

    if (key[4 + NGX_HTTP_MCP_KEY_ID_LEN] != '_') {
        return 0;
    }

    return ngx_http_mcp_all_hex(key + 4, NGX_HTTP_MCP_KEY_ID_LEN)
           && ngx_http_mcp_all_hex(key + 5 + NGX_HTTP_MCP_KEY_ID_LEN,
                                   NGX_HTTP_MCP_KEY_SECRET_LEN);
}


/*
 * OpenSSL 3 looks an algorithm up on every call unless it was fetched
 * explicitly: the digest and the MAC are fetched once, and the keyed MAC
 * is prepared once and re-initialised with the same key for each use (a
 * worker process is single-threaded, so one context serves it).
 */

/*
 * The signed message changes once a second per caller (it carries the
 * time in seconds), so a busy caller's signature is remembered: a few
 * recent messages and their header values, looked up by a hash of the
 * message and compared whole.  It holds nothing secret.
 */

#define NGX_HTTP_MCP_SIGN_MEMO        16
#define NGX_HTTP_MCP_SIGN_MEMO_MSG    192

/* base64url of the longest message, ".", base64url of a 32-byte HMAC */
#define NGX_HTTP_MCP_SIGN_MEMO_VALUE  ((NGX_HTTP_MCP_SIGN_MEMO_MSG * 4 + 2) / 3 \
                                       + 1 + 43)

typedef struct {
    size_t          len;          /* 0: empty */
    unsigned char   msg[NGX_HTTP_MCP_SIGN_MEMO_MSG];
    size_t          value_len;
    unsigned char   value[NGX_HTTP_MCP_SIGN_MEMO_VALUE];
} ngx_http_mcp_sign_memo_t;


struct ngx_http_mcp_signer_s {
    EVP_MAC_CTX               *ctx;
    ngx_http_mcp_sign_memo_t   memo[NGX_HTTP_MCP_SIGN_MEMO];
};


/* per process (a worker is single-threaded): fetched and made once */
static EVP_MD      *ngx_http_mcp_sha256_md;
static EVP_MD_CTX  *ngx_http_mcp_sha256_ctx;


void
ngx_http_mcp_sha256(const unsigned char *data, size_t len,
    unsigned char *out)
{
    if (ngx_http_mcp_sha256_md == NULL) {
        ngx_http_mcp_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        ngx_http_mcp_sha256_ctx = EVP_MD_CTX_new();
    }

    if (ngx_http_mcp_sha256_md == NULL || ngx_http_mcp_sha256_ctx == NULL
        || !EVP_DigestInit_ex(ngx_http_mcp_sha256_ctx, ngx_http_mcp_sha256_md,
                              NULL)
        || !EVP_DigestUpdate(ngx_http_mcp_sha256_ctx, data, len)
        || !EVP_DigestFinal_ex(ngx_http_mcp_sha256_ctx, out, NULL))
    {
        SHA256(data, len, out);    /* the slow, always available path */
    }
}


void
ngx_http_mcp_sha256_scoped(const unsigned char *scope,
    const unsigned char *data, size_t len, unsigned char *out)
{
    if (ngx_http_mcp_sha256_md == NULL) {
        ngx_http_mcp_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        ngx_http_mcp_sha256_ctx = EVP_MD_CTX_new();
    }

    if (ngx_http_mcp_sha256_md == NULL || ngx_http_mcp_sha256_ctx == NULL
        || !EVP_DigestInit_ex(ngx_http_mcp_sha256_ctx, ngx_http_mcp_sha256_md,
                              NULL)
        || !EVP_DigestUpdate(ngx_http_mcp_sha256_ctx, scope, 32)
        || !EVP_DigestUpdate(ngx_http_mcp_sha256_ctx, data, len)
        || !EVP_DigestFinal_ex(ngx_http_mcp_sha256_ctx, out, NULL))
    {
        /* never a digest that ignores the scope: no cache hit at all */
        RAND_bytes(out, 32);
    }
}


int
ngx_http_mcp_equal_ct(const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen)
{
    if (alen != blen) {
        return 0;
    }

    return CRYPTO_memcmp(a, b, alen) == 0;
}


ngx_http_mcp_signer_t *
ngx_http_mcp_signer_create(const unsigned char *secret, size_t secret_len)
{
    EVP_MAC                *mac;
    OSSL_PARAM              params[2];
    ngx_http_mcp_signer_t  *signer;

    signer = calloc(1, sizeof(ngx_http_mcp_signer_t));
    if (signer == NULL) {
        return NULL;
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        free(signer);
        return NULL;
    }

    signer->ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);

    params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (signer->ctx == NULL
        || !EVP_MAC_init(signer->ctx, secret, secret_len, params))
    {
        ngx_http_mcp_signer_free(signer);
        return NULL;
    }

    return signer;
}


void
ngx_http_mcp_signer_free(ngx_http_mcp_signer_t *signer)
{
    if (signer) {
        EVP_MAC_CTX_free(signer->ctx);
        free(signer);
    }
}


size_t
ngx_http_mcp_identity_size(const size_t *lens, size_t n)
{
    size_t  i, len;

    len = 2;

    for (i = 0; i < n; i++) {
        len += 1 + lens[i];
    }

    return ngx_http_mcp_base64url_size(len) + 1
           + ngx_http_mcp_base64url_size(SHA256_DIGEST_LENGTH);
}


size_t
ngx_http_mcp_identity_sign(ngx_http_mcp_signer_t *signer,
    const unsigned char *const *fields, const size_t *lens, size_t n,
    unsigned char *out)
{
    size_t                     i, len, vlen;
    unsigned char             *msg, *p, buf[1024];
    ngx_http_mcp_sign_memo_t  *memo;

    len = 2;

    for (i = 0; i < n; i++) {
        len += 1 + lens[i];
    }

    msg = (len <= sizeof(buf)) ? buf : malloc(len);
    if (msg == NULL) {
        return 0;
    }

    p = msg;
    *p++ = 'v';
    *p++ = '1';

    for (i = 0; i < n; i++) {
        *p++ = '\n';
        memcpy(p, fields[i], lens[i]);
        p += lens[i];
    }

    if (len > NGX_HTTP_MCP_SIGN_MEMO_MSG) {
        vlen = ngx_http_mcp_identity_value(signer, msg, len, out);

        if (msg != buf) {
            free(msg);
        }

        return vlen;
    }

    memo = &signer->memo[ngx_http_mcp_memo_slot(msg, len)];

    if (memo->len == len && memcmp(memo->msg, msg, len) == 0) {
        memcpy(out, memo->value, memo->value_len);
        return memo->value_len;
    }

    vlen = ngx_http_mcp_identity_value(signer, msg, len, out);

    if (vlen == 0) {
        memo->len = 0;
        return 0;
    }

    memo->len = len;
    memcpy(memo->msg, msg, len);
    memo->value_len = vlen;
    memcpy(memo->value, out, vlen);

    return vlen;
}


/* base64url(msg) "." base64url(HMAC-SHA256 of msg with the signer's key) */

static size_t
ngx_http_mcp_identity_value(const ngx_http_mcp_signer_t *signer,
    const unsigned char *msg, size_t len, unsigned char *out)
{
    size_t          mdlen;
    unsigned char  *p, md[EVP_MAX_MD_SIZE];

    /* a NULL key: the key set at creation is used again */
    if (!EVP_MAC_init(signer->ctx, NULL, 0, NULL)
        || !EVP_MAC_update(signer->ctx, msg, len)
        || !EVP_MAC_final(signer->ctx, md, &mdlen, sizeof(md))
        || mdlen != SHA256_DIGEST_LENGTH)
    {
        return 0;
    }

    p = ngx_http_mcp_base64url(msg, len, out);
    *p++ = '.';
    p = ngx_http_mcp_base64url(md, mdlen, p);

    return p - out;
}


static size_t
ngx_http_mcp_base64url_size(size_t len)
{
    return (len * 4 + 2) / 3;
}


/* RFC 4648 section 5, without padding; returns the end of what it wrote */

static unsigned char *
ngx_http_mcp_base64url(const unsigned char *in, size_t len,
    unsigned char *out)
{
    static const char  digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t           v;

    for ( /* void */ ; len >= 3; in += 3, len -= 3) {
        v = (uint32_t) in[0] << 16 | (uint32_t) in[1] << 8 | in[2];
        *out++ = digits[v >> 18];
        *out++ = digits[(v >> 12) & 0x3f];
        *out++ = digits[(v >> 6) & 0x3f];
        *out++ = digits[v & 0x3f];
    }

    if (len > 0) {
        v = (uint32_t) in[0] << 16 | (len == 2 ? (uint32_t) in[1] << 8 : 0);
        *out++ = digits[v >> 18];
        *out++ = digits[(v >> 12) & 0x3f];

        if (len == 2) {
            *out++ = digits[(v >> 6) & 0x3f];
        }
    }

    return out;
}


/* FNV-1a: only spreads messages over the memo, the whole is compared */

static size_t
ngx_http_mcp_memo_slot(const unsigned char *msg, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h = (h ^ msg[i]) * 16777619u;
    }

    return h % NGX_HTTP_MCP_SIGN_MEMO;
}


static int
ngx_http_mcp_all_hex(const unsigned char *p, size_t n)
{
    size_t    i;
    unsigned  bad;

    /* no early exit: one pass, two unsigned compares per byte */
    bad = 0;

    for (i = 0; i < n; i++) {
        bad |= ((unsigned) (p[i] - '0') > 9) & ((unsigned) (p[i] - 'a') > 5);
    }

    return !bad;
}
