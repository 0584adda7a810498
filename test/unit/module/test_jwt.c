/*
 * Unit tests of JWT verification against a JWKS.  Keys are generated here
 * with OpenSSL; JWKS documents and tokens are built and signed here too.
 * MCP_JWT_BENCH_N=20000 sets the iteration count of the timing test.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ngx_http_mcp_jwt.h"


#define NOW   1700000000
#define ISS   "https://idp.example/realms/mcp"
#define HS32  "0123456789abcdef0123456789abcdef"
#define HS64  HS32 HS32


static EVP_PKEY  *rsa, *rsa_other, *rsa_small, *ec256, *ec384, *ec521,
                 *ed25519, *ed448;

static ngx_http_mcp_jwks_t        *jwks;      /* the main key set */
static ngx_http_mcp_jwt_result_t   res;

static const char *const  auds[] = { "mcp-gateway", "other" };
static int                pss_saltlen = RSA_PSS_SALTLEN_DIGEST;

static const struct {
    const char  *kid;
    EVP_PKEY   **key;
} kids[] = {
    { "rsa1", &rsa },
    { "rsa-rs256-only", &rsa },
    { "ec256", &ec256 },
    { "ec384", &ec384 },
    { "ec521", &ec521 },
    { "ed1", &ed25519 },
    { "ed448", &ed448 },
    { "dup", &rsa },
    { "dup", &ec256 },
};


/* encoding and signing */


static char *
b64url(const unsigned char *in, size_t len)
{
    static const char  abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789-_";
    char              *out, *p;
    size_t             i;
    uint32_t           v;

    out = malloc(len * 4 / 3 + 4);
    assert_non_null(out);
    p = out;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        *p++ = abc[v >> 18];
        *p++ = abc[(v >> 12) & 63];
        *p++ = abc[(v >> 6) & 63];
        *p++ = abc[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        *p++ = abc[v >> 18];
        *p++ = abc[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        *p++ = abc[v >> 18];
        *p++ = abc[(v >> 12) & 63];
        *p++ = abc[(v >> 6) & 63];
    }

    *p = '\0';

    return out;
}


static char *
b64s(const char *s)
{
    return b64url((const unsigned char *) s, strlen(s));
}


static char *
join3(const char *a, const char *b, const char *c)
{
    char  *out;

    out = malloc(strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 3);
    assert_non_null(out);
    sprintf(out, "%s.%s%s%s", a, b, c ? "." : "", c ? c : "");

    return out;
}


static const EVP_MD *
md_of(const char *alg)
{
    if (strcmp(alg + 2, "256") == 0) {
        return EVP_sha256();
    }

    if (strcmp(alg + 2, "384") == 0) {
        return EVP_sha384();
    }

    return EVP_sha512();
}


/* JWS signature bytes of input under alg; *len set */
static unsigned char *
sign_bytes(const char *alg, EVP_PKEY *key, const unsigned char *secret,
    size_t secret_len, const char *input, size_t *len)
{
    int             coord;
    size_t          n;
    EVP_MD_CTX     *ctx;
    EVP_PKEY_CTX   *pctx;
    unsigned char  *sig, *raw;
    unsigned int    mdlen;
    const BIGNUM   *r, *s;
    ECDSA_SIG      *es;
    const unsigned char  *p;

    if (alg[0] == 'H') {
        sig = malloc(EVP_MAX_MD_SIZE);
        assert_non_null(HMAC(md_of(alg), secret, (int) secret_len,
                             (const unsigned char *) input, strlen(input),
                             sig, &mdlen));
        *len = mdlen;
        return sig;
    }

    ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, &pctx,
                                        alg[0] == 'E' && alg[1] == 'd'
                                        ? NULL : md_of(alg),
                                        NULL, key), 1);

    if (alg[0] == 'P') {
        assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx,
                                                 RSA_PKCS1_PSS_PADDING) > 0);
        assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_saltlen)
                    > 0);
    }

    assert_int_equal(EVP_DigestSign(ctx, NULL, &n,
                                    (const unsigned char *) input,
                                    strlen(input)), 1);
    sig = malloc(n);
    assert_int_equal(EVP_DigestSign(ctx, sig, &n,
                                    (const unsigned char *) input,
                                    strlen(input)), 1);
    EVP_MD_CTX_free(ctx);

    if (alg[0] != 'E' || alg[1] != 'S') {
        *len = n;
        return sig;
    }

    /* DER -> raw r || s, as JWS wants it */
    coord = (EVP_PKEY_get_bits(key) + 7) / 8;
    p = sig;
    es = d2i_ECDSA_SIG(NULL, &p, n);
    assert_non_null(es);
    ECDSA_SIG_get0(es, &r, &s);
    raw = malloc(2 * coord);
    assert_int_equal(BN_bn2binpad(r, raw, coord), coord);
    assert_int_equal(BN_bn2binpad(s, raw + coord, coord), coord);
    ECDSA_SIG_free(es);
    free(sig);

    *len = 2 * coord;

    return raw;
}


static char *
sign_raw(const char *alg, EVP_PKEY *key, const char *header,
    const char *payload, const unsigned char *secret, size_t secret_len)
{
    char           *h, *p, *input, *s, *token;
    size_t          n;
    unsigned char  *sig;

    h = b64s(header);
    p = b64s(payload);
    input = join3(h, p, NULL);

    sig = sign_bytes(alg, key, secret, secret_len, input, &n);
    s = b64url(sig, n);
    token = join3(h, p, s);

    free(h);
    free(p);
    free(input);
    free(sig);
    free(s);

    return token;
}


/* the key that can sign alg: RS and PS need RSA, ES384 a P-384 key... */
static EVP_PKEY *
key_for(const char *alg)
{
    switch (alg[0]) {
    case 'E':
        if (alg[1] == 'd') {
            return ed25519;
        }

        return strcmp(alg, "ES256") == 0 ? ec256
               : strcmp(alg, "ES384") == 0 ? ec384 : ec521;
    default:
        return rsa;
    }
}


/* the key kid names, when it can sign alg; else one that can */
static EVP_PKEY *
key_of(const char *kid, const char *alg)
{
    size_t     i;
    EVP_PKEY  *key, *want;

    want = key_for(alg);

    for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
        key = *kids[i].key;

        if (strcmp(kids[i].kid, kid) != 0) {
            continue;
        }

        if (strcmp(alg, "EdDSA") == 0
            ? EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")
            : EVP_PKEY_get_id(key) == EVP_PKEY_get_id(want)
              && EVP_PKEY_get_bits(key) == EVP_PKEY_get_bits(want))
        {
            return key;
        }
    }

    return want;
}


static char *
header_of(const char *alg, const char *kid)
{
    char  *h;

    h = malloc(256);
    assert_non_null(h);

    if (kid == NULL) {
        snprintf(h, 256, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);

    } else {
        snprintf(h, 256, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 alg, kid);
    }

    return h;
}


/* a token over claims (stolen), signed with the key kid names */
static char *
token(const char *alg, const char *kid, json_t *claims)
{
    char  *header, *payload, *t;

    header = header_of(alg, kid);
    payload = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);

    t = sign_raw(alg, key_of(kid ? kid : "rsa1", alg), header, payload,
                 (const unsigned char *) HS32, 32);

    free(header);
    free(payload);

    return t;
}


static json_t *
claims(void)
{
    json_t  *c;

    c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:{s:[s,s]}}",
                  "iss", ISS, "aud", "mcp-gateway", "sub", "u-123",
                  "preferred_username", "alice",
                  "exp", (json_int_t) NOW + 300,
                  "iat", (json_int_t) NOW - 10,
                  "realm_access", "roles", "mcp-user", "admin");
    assert_non_null(c);

    return c;
}


static json_t *
claims_set(json_t *c, const char *name, json_t *value)
{
    if (value == NULL) {
        json_object_del(c, name);

    } else {
        json_object_set_new(c, name, value);
    }

    return c;
}


/* t (freed) with its encoded header replaced by h */
static char *
swap_header(char *t, const char *h)
{
    char  *out, *dot;

    dot = strchr(t, '.');
    out = malloc(strlen(h) + strlen(dot) + 1);
    assert_non_null(out);
    sprintf(out, "%s%s", h, dot);
    free(t);

    return out;
}


static char *
claims_text(void)
{
    char    *s;
    json_t  *c;

    c = claims();
    s = json_dumps(c, JSON_COMPACT);
    json_decref(c);

    return s;
}


/* JWKs */


static json_t *
jwk(EVP_PKEY *key, const char *kid, const char *extra)
{
    int             coord;
    char           *s, group[32];
    size_t          n;
    json_t         *o, *more;
    BIGNUM         *a, *b;
    unsigned char   buf[1024];

    o = json_object();

    if (EVP_PKEY_is_a(key, "RSA")) {
        a = NULL;
        b = NULL;
        assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N,
                                               &a), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E,
                                               &b), 1);
        json_object_set_new(o, "kty", json_string("RSA"));
        n = BN_bn2bin(a, buf);
        s = b64url(buf, n);
        json_object_set_new(o, "n", json_string(s));
        free(s);
        n = BN_bn2bin(b, buf);
        s = b64url(buf, n);
        json_object_set_new(o, "e", json_string(s));
        free(s);
        BN_free(a);
        BN_free(b);

    } else if (EVP_PKEY_is_a(key, "EC")) {
        a = NULL;
        b = NULL;
        assert_int_equal(EVP_PKEY_get_utf8_string_param(key,
                             OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                             NULL), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(key,
                             OSSL_PKEY_PARAM_EC_PUB_X, &a), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(key,
                             OSSL_PKEY_PARAM_EC_PUB_Y, &b), 1);
        coord = (EVP_PKEY_get_bits(key) + 7) / 8;
        json_object_set_new(o, "kty", json_string("EC"));
        json_object_set_new(o, "crv", json_string(
                            strcmp(group, "prime256v1") == 0 ? "P-256"
                            : strcmp(group, "secp384r1") == 0 ? "P-384"
                            : "P-521"));
        BN_bn2binpad(a, buf, coord);
        s = b64url(buf, coord);
        json_object_set_new(o, "x", json_string(s));
        free(s);
        BN_bn2binpad(b, buf, coord);
        s = b64url(buf, coord);
        json_object_set_new(o, "y", json_string(s));
        free(s);
        BN_free(a);
        BN_free(b);

    } else {
        n = sizeof(buf);
        assert_int_equal(EVP_PKEY_get_raw_public_key(key, buf, &n), 1);
        json_object_set_new(o, "kty", json_string("OKP"));
        json_object_set_new(o, "crv", json_string(
                            EVP_PKEY_is_a(key, "ED25519") ? "Ed25519"
                                                          : "Ed448"));
        s = b64url(buf, n);
        json_object_set_new(o, "x", json_string(s));
        free(s);
    }

    if (kid != NULL) {
        json_object_set_new(o, "kid", json_string(kid));
    }

    if (extra != NULL) {
        more = json_loads(extra, 0, NULL);
        assert_non_null(more);
        json_object_update(o, more);
        json_decref(more);
    }

    return o;
}


/* {"keys":[...]} of the given JWKs (stolen), NULL-terminated; text */
static char *
jwks_text(json_t *first, ...)
{
    char     *s;
    json_t   *doc, *keys, *k;
    va_list   args;

    keys = json_array();
    va_start(args, first);

    for (k = first; k != NULL; k = va_arg(args, json_t *)) {
        json_array_append_new(keys, k);
    }

    va_end(args);

    doc = json_pack("{s:o}", "keys", keys);
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    return s;
}


static ngx_http_mcp_jwks_t *
jwks_of(char *text, char *err, size_t errlen)
{
    ngx_http_mcp_jwks_t  *k;

    ERR_clear_error();
    k = ngx_http_mcp_jwks_parse(text, strlen(text), err, errlen);
    free(text);
    assert_int_equal(ERR_peek_error(), 0);

    return k;
}


/* verification */


static ngx_http_mcp_jwt_policy_t
policy(void)
{
    ngx_http_mcp_jwt_policy_t  p;

    memset(&p, 0, sizeof(p));
    p.issuer = ISS;
    p.audiences = auds;
    p.naudiences = 2;
    p.leeway = 30;
    p.now = NOW;
    p.user_claim = "preferred_username";
    p.roles_claim = "realm_access.roles";
    p.max_token_len = 16384;

    return p;
}


/* "ok" or the reason; frees the token */
static const char *
check_with(char *t, const ngx_http_mcp_jwks_t *keys,
    const ngx_http_mcp_jwt_policy_t *p)
{
    int  rc;

    ngx_http_mcp_jwt_result_free(&res);
    ERR_clear_error();
    rc = ngx_http_mcp_jwt_verify(t, strlen(t), keys, p, &res);
    free(t);

    /* a stale error would be blamed on the worker's next TLS call */
    assert_int_equal(ERR_peek_error(), 0);

    if (rc == 0) {
        assert_null(res.reason);
        assert_non_null(res.user);
        assert_non_null(res.roles);
        return "ok";
    }

    assert_int_equal(rc, -1);
    assert_non_null(res.reason);
    assert_null(res.user);
    assert_null(res.roles);

    return res.reason;
}


static const char *
check(char *t)
{
    ngx_http_mcp_jwt_policy_t  p = policy();

    return check_with(t, jwks, &p);
}


static char *
dup_str(const char *s)
{
    char  *d;

    d = strdup(s);
    assert_non_null(d);

    return d;
}


/* fixtures */


static int
setup(void **state)
{
    char  *text;

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ec521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");

    if (!rsa || !rsa_other || !rsa_small || !ec256 || !ec384 || !ec521
        || !ed25519 || !ed448)
    {
        return -1;
    }

    text = jwks_text(jwk(rsa, "rsa1", NULL),
                     jwk(rsa, "rsa-rs256-only", "{\"alg\":\"RS256\"}"),
                     jwk(ec256, "ec256", "{\"use\":\"sig\"}"),
                     jwk(ec384, "ec384", NULL),
                     jwk(ec521, "ec521", NULL),
                     jwk(ed25519, "ed1", NULL),
                     jwk(ed448, "ed448", NULL),
                     jwk(rsa, "dup", NULL),
                     jwk(ec256, "dup", NULL),
                     jwk(rsa_other, "enc1", "{\"use\":\"enc\"}"),
                     NULL);
    jwks = jwks_of(text, NULL, 0);

    return jwks == NULL ? -1 : 0;
}


static int
teardown(void **state)
{
    ngx_http_mcp_jwt_result_free(&res);
    ngx_http_mcp_jwks_free(jwks);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa_other);
    EVP_PKEY_free(rsa_small);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ec521);
    EVP_PKEY_free(ed25519);
    EVP_PKEY_free(ed448);

    return 0;
}


/* tests */


static void
test_valid_algorithms(void **state)
{
    size_t  i;

    static const struct {
        const char  *alg;
        const char  *kid;
    } ok[] = {
        { "RS256", "rsa1" }, { "RS384", "rsa1" }, { "RS512", "rsa1" },
        { "PS256", "rsa1" }, { "PS384", "rsa1" }, { "PS512", "rsa1" },
        { "ES256", "ec256" }, { "ES384", "ec384" }, { "ES512", "ec521" },
        { "EdDSA", "ed1" }, { "EdDSA", "ed448" }, { "RS256", "rsa-rs256-only" },
        { "RS256", "dup" }, { "ES256", "dup" },
    };

    assert_int_equal(ngx_http_mcp_jwks_size(jwks), 9);   /* "enc" skipped */

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        print_message("%s kid=%s\n", ok[i].alg, ok[i].kid);
        assert_string_equal(check(token(ok[i].alg, ok[i].kid, claims())),
                            "ok");
        assert_string_equal(res.alg, ok[i].alg);
        assert_string_equal(res.kid, ok[i].kid);
        assert_string_equal(res.user, "alice");
        assert_string_equal(res.subject, "u-123");
        assert_string_equal(res.roles, "mcp-user,admin");
        assert_int_equal(res.nroles, 2);
        assert_int_equal(res.exp, NOW + 300);
    }
}


static void
test_alg_none(void **state)
{
    char  *h, *p, *t;

    h = b64s("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    p = b64s("{\"iss\":\"" ISS "\",\"aud\":\"mcp-gateway\",\"sub\":\"x\","
             "\"exp\":1700000300}");

    assert_string_equal(check(join3(h, p, "")), "alg_not_allowed");
    assert_string_equal(check(join3(h, p, "c2ln")), "alg_not_allowed");
    assert_string_equal(check(join3(h, p, NULL)), "malformed");

    free(h);

    /* no case games, no unknown algorithms */
    h = b64s("{\"alg\":\"None\",\"kid\":\"rsa1\"}");
    assert_string_equal(check(join3(h, p, "")), "alg_not_allowed");
    free(h);
    h = b64s("{\"alg\":\"rs256\",\"kid\":\"rsa1\"}");
    assert_string_equal(check(join3(h, p, "c2ln")), "alg_not_allowed");
    free(h);

    /* a valid RS256 token whose header is swapped for "none" */
    t = token("RS256", "rsa1", claims());
    h = b64s("{\"alg\":\"none\",\"kid\":\"rsa1\"}");
    assert_string_equal(check(swap_header(t, h)), "alg_not_allowed");
    free(h);

    free(p);
}


static void
test_hs256_key_confusion(void **state)
{
    int                         n;
    BIO                        *bio;
    char                       *pem, *payload, *t;
    unsigned char              *der;
    ngx_http_mcp_jwt_policy_t   p = policy();

    payload = claims_text();

    /* HMAC keyed with the RSA public key's PEM text: the classic attack */
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, rsa), 1);
    n = BIO_get_mem_data(bio, &pem);
    t = sign_raw("HS256", NULL, "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}",
                 payload, (unsigned char *) pem, n);
    assert_string_equal(check(t), "alg_not_allowed");

    /* the same with a secret configured: checked against it, never the key */
    t = sign_raw("HS256", NULL, "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}",
                 payload, (unsigned char *) pem, n);
    p.hmac_secret = (const unsigned char *) HS32;
    p.hmac_secret_len = 32;
    assert_string_equal(check_with(t, jwks, &p), "bad_signature");
    BIO_free(bio);

    /* and with the DER SubjectPublicKeyInfo */
    der = NULL;
    n = i2d_PUBKEY(rsa, &der);
    assert_true(n > 0);
    t = sign_raw("HS256", NULL, "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}",
                 payload, der, n);
    assert_string_equal(check(t), "alg_not_allowed");
    OPENSSL_free(der);

    free(payload);
}


static void
test_hs_with_secret(void **state)
{
    char                       *payload;
    ngx_http_mcp_jwt_policy_t   p = policy();

    p.hmac_secret = (const unsigned char *) HS32;
    p.hmac_secret_len = 32;

    assert_string_equal(check_with(token("HS256", "any", claims()), jwks, &p),
                        "ok");
    assert_string_equal(res.alg, "HS256");

    /* HS* does not need a JWKS at all */
    assert_string_equal(check_with(token("HS256", NULL, claims()), NULL, &p),
                        "ok");

    /* without the secret configured: refused */
    assert_string_equal(check(token("HS256", NULL, claims())),
                        "alg_not_allowed");
    p.hmac_secret = NULL;
    assert_string_equal(check_with(token("HS256", NULL, claims()), jwks, &p),
                        "alg_not_allowed");

    /* wrong secret */
    p.hmac_secret = (const unsigned char *) "another secret of 32 bytes......";
    assert_string_equal(check_with(token("HS256", NULL, claims()), jwks, &p),
                        "bad_signature");

    /* RFC 7518 3.2: HS512 needs a 64-byte key */
    p.hmac_secret = (const unsigned char *) HS32;
    assert_string_equal(check_with(token("HS512", NULL, claims()), jwks, &p),
                        "alg_not_allowed");

    payload = claims_text();
    p.hmac_secret = (const unsigned char *) HS64;
    p.hmac_secret_len = 64;
    assert_string_equal(check_with(sign_raw("HS512", NULL,
                                            "{\"alg\":\"HS512\"}", payload,
                                            (const unsigned char *) HS64, 64),
                                   jwks, &p),
                        "ok");
    free(payload);
}


static void
test_tampered(void **state)
{
    char    *t, *t2, *dot1, *dot2, *evil, *out;
    json_t  *c;

    /* payload swapped for one that grants more: signature no longer fits */
    t = token("RS256", "rsa1", claims());
    dot1 = strchr(t, '.');
    dot2 = strchr(dot1 + 1, '.');
    c = claims();
    json_object_set_new(c, "realm_access",
                        json_pack("{s:[s]}", "roles", "superadmin"));
    out = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    evil = b64s(out);
    free(out);

    t2 = malloc(strlen(t) + strlen(evil) + 1);
    sprintf(t2, "%.*s.%s%s", (int) (dot1 - t), t, evil, dot2);
    free(evil);
    assert_string_equal(check(t2), "bad_signature");

    /* one signature character changed */
    t[strlen(t) - 5] = t[strlen(t) - 5] == 'A' ? 'B' : 'A';
    assert_string_equal(check(t), "bad_signature");

    /* signed by another key under a known kid */
    t = sign_raw("RS256", rsa_other, "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                 "{}", NULL, 0);
    assert_string_equal(check(t), "bad_signature");

    /* same for ES256 and EdDSA */
    t = token("ES256", "ec256", claims());
    t[strlen(t) - 3] = t[strlen(t) - 3] == 'A' ? 'B' : 'A';
    assert_string_equal(check(t), "bad_signature");

    t = token("EdDSA", "ed1", claims());
    t[strlen(t) - 3] = t[strlen(t) - 3] == 'A' ? 'B' : 'A';
    assert_string_equal(check(t), "bad_signature");

    /* RFC 7518 3.5: the PSS salt is as long as the hash, nothing else */
    pss_saltlen = RSA_PSS_SALTLEN_MAX;
    t = token("PS256", "rsa1", claims());
    pss_saltlen = RSA_PSS_SALTLEN_DIGEST;
    assert_string_equal(check(t), "bad_signature");

    /* PS256 signature presented as RS256 */
    t = token("PS256", "rsa1", claims());
    t2 = b64s("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"rsa1\"}");
    assert_string_equal(check(swap_header(t, t2)), "bad_signature");
    free(t2);
}


static void
test_ecdsa_signature_length(void **state)
{
    char           *t, *h, *p, *input, *s;
    size_t          n;
    EVP_MD_CTX     *ctx;
    unsigned char  *sig, der[256];

    h = b64s("{\"alg\":\"ES256\",\"kid\":\"ec256\"}");
    p = b64s("{}");
    input = join3(h, p, NULL);
    sig = sign_bytes("ES256", ec256, NULL, 0, input, &n);
    assert_int_equal(n, 64);

    /* one byte short, one byte long */
    s = b64url(sig, 63);
    assert_string_equal(check(join3(h, p, s)), "bad_signature");
    free(s);

    sig = realloc(sig, 65);
    sig[64] = 0;
    s = b64url(sig, 65);
    assert_string_equal(check(join3(h, p, s)), "bad_signature");
    free(s);

    /* DER, as some libraries wrongly send it */
    ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ec256),
                     1);
    n = sizeof(der);
    assert_int_equal(EVP_DigestSign(ctx, der, &n,
                                    (const unsigned char *) input,
                                    strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    s = b64url(der, n);
    assert_string_equal(check(join3(h, p, s)), "bad_signature");
    free(s);

    /* a P-384-sized signature for a P-256 key */
    t = malloc(96);
    memset(t, 1, 96);
    s = b64url((unsigned char *) t, 96);
    assert_string_equal(check(join3(h, p, s)), "bad_signature");
    free(s);
    free(t);

    /* all zeros: r = s = 0 is never valid */
    memset(sig, 0, 64);
    s = b64url(sig, 64);
    assert_string_equal(check(join3(h, p, s)), "bad_signature");
    free(s);

    free(sig);
    free(input);
    free(h);
    free(p);
}


static void
test_expiry(void **state)
{
    ngx_http_mcp_jwt_policy_t  p = policy();

    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "exp",
                                   json_integer(NOW - 100)))), "expired");
    assert_int_equal(res.exp, NOW - 100);     /* kept, for the log */

    /* within the 30 s leeway */
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "exp",
                                   json_integer(NOW - 10)))), "ok");

    /* exp == now is already expired without leeway */
    p.leeway = 0;
    assert_string_equal(check_with(token("RS256", "rsa1",
                        claims_set(claims(), "exp", json_integer(NOW))),
                        jwks, &p), "expired");
    assert_string_equal(check_with(token("RS256", "rsa1",
                        claims_set(claims(), "exp", json_integer(NOW + 1))),
                        jwks, &p), "ok");

    /* fractional NumericDate */
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "exp",
                                   json_real(NOW + 60.5)))), "ok");
    assert_int_equal(res.exp, NOW + 60);

    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "exp", NULL))), "no_expiry");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "exp",
                                   json_string("1700000300")))),
                        "bad_claims");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "exp", json_null()))),
                        "bad_claims");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "exp", json_real(1e300)))),
                        "bad_claims");
}


static void
test_not_before(void **state)
{
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "nbf",
                                   json_integer(NOW + 100)))),
                        "not_yet_valid");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "nbf",
                                   json_integer(NOW + 10)))), "ok");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "nbf",
                                   json_integer(NOW - 10)))), "ok");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "iat",
                                   json_integer(NOW + 100)))),
                        "not_yet_valid");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "iat", NULL))), "ok");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "nbf", json_string("x")))),
                        "bad_claims");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "iat", json_true()))),
                        "bad_claims");
}


static void
test_issuer(void **state)
{
    ngx_http_mcp_jwt_policy_t  p = policy();

    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "iss",
                                   json_string("https://evil.example")))),
                        "wrong_issuer");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "iss",
                                   json_string(ISS "/")))), "wrong_issuer");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "iss", NULL))), "wrong_issuer");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "iss", json_pack("[s]", ISS)))),
                        "wrong_issuer");

    /* no issuer configured: nothing is trusted */
    p.issuer = NULL;
    assert_string_equal(check_with(token("RS256", "rsa1", claims()), jwks,
                                   &p), "wrong_issuer");
}


static void
test_audience(void **state)
{
    ngx_http_mcp_jwt_policy_t  p = policy();

    assert_string_equal(check(token("RS256", "rsa1", claims())), "ok");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "aud",
                                   json_pack("[s,s]", "account", "other")))),
                        "ok");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "aud",
                                   json_pack("[s,s]", "account", "mcp")))),
                        "wrong_audience");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "aud",
                                   json_string("mcp-gateway2")))),
                        "wrong_audience");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "aud", json_array()))),
                        "wrong_audience");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "aud", NULL))),
                        "wrong_audience");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "aud", json_integer(1)))),
                        "bad_claims");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "aud",
                                   json_pack("[i,s]", 1, "mcp-gateway")))),
                        "bad_claims");

    /* none configured: fail closed */
    p.naudiences = 0;
    assert_string_equal(check_with(token("RS256", "rsa1", claims()), jwks,
                                   &p), "wrong_audience");
}


static void
test_kid_selection(void **state)
{
    char                 *text;
    ngx_http_mcp_jwks_t  *one;

    assert_string_equal(check(token("RS256", "nope", claims())),
                        "unknown_kid");
    assert_string_equal(res.kid, "nope");

    /* path characters are just characters */
    assert_string_equal(check(token("RS256", "../../../etc/passwd",
                                    claims())), "unknown_kid");
    assert_string_equal(res.kid, "../../../etc/passwd");
    assert_string_equal(check(token("RS256", "rsa1/../rsa1", claims())),
                        "unknown_kid");
    assert_string_equal(check(token("RS256", "rsa", claims())),
                        "unknown_kid");
    assert_string_equal(check(token("RS256", "RSA1", claims())),
                        "unknown_kid");

    /* no kid and several keys: ambiguous */
    assert_string_equal(check(token("RS256", NULL, claims())), "unknown_kid");
    assert_null(res.kid);

    /* kid of the wrong type */
    assert_string_equal(check(sign_raw("RS256", rsa,
                                       "{\"alg\":\"RS256\",\"kid\":1}", "{}",
                                       NULL, 0)), "malformed");

    /* no kid and exactly one key: that key */
    text = jwks_text(jwk(ec256, NULL, NULL), NULL);
    one = jwks_of(text, NULL, 0);
    assert_non_null(one);
    assert_int_equal(ngx_http_mcp_jwks_size(one), 1);
    {
        ngx_http_mcp_jwt_policy_t  p = policy();

        assert_string_equal(check_with(token("ES256", NULL, claims()), one,
                                       &p), "ok");
        assert_null(res.kid);

        /* a kid then must match exactly, even with a single key */
        assert_string_equal(check_with(token("ES256", "ec256", claims()), one,
                                       &p), "unknown_kid");

        /* and the key still binds the algorithm */
        assert_string_equal(check_with(token("RS256", NULL, claims()), one,
                                       &p), "alg_not_allowed");

        /* no JWKS at all */
        assert_string_equal(check_with(token("RS256", "rsa1", claims()),
                                       NULL, &p), "unknown_kid");
    }
    ngx_http_mcp_jwks_free(one);
}


static void
test_alg_bound_to_key(void **state)
{
    /* the JWK says "alg":"RS256" */
    assert_string_equal(check(token("PS256", "rsa-rs256-only", claims())),
                        "alg_not_allowed");
    assert_string_equal(check(token("RS512", "rsa-rs256-only", claims())),
                        "alg_not_allowed");
    assert_string_equal(res.kid, "rsa-rs256-only");

    /* by key type */
    assert_string_equal(check(token("ES256", "rsa1", claims())),
                        "alg_not_allowed");
    assert_string_equal(check(token("RS256", "ec256", claims())),
                        "alg_not_allowed");
    assert_string_equal(check(token("ES384", "ec256", claims())),
                        "alg_not_allowed");
    assert_string_equal(check(token("ES256", "ed1", claims())),
                        "alg_not_allowed");
    assert_string_equal(check(token("EdDSA", "rsa1", claims())),
                        "alg_not_allowed");

    /* the "enc" key was never loaded */
    assert_string_equal(check(token("RS256", "enc1", claims())),
                        "unknown_kid");
}


static void
test_too_long(void **state)
{
    char                       *t;
    ngx_http_mcp_jwt_policy_t   p = policy();

    p.max_token_len = 100;
    t = token("RS256", "rsa1", claims());
    assert_true(strlen(t) > 100);
    assert_string_equal(check_with(t, jwks, &p), "too_long");

    /* 0 means the 16 KiB default; the content does not matter */
    p.max_token_len = 0;
    t = malloc(NGX_HTTP_MCP_JWT_MAX_LEN_DEFAULT + 2);
    memset(t, '.', NGX_HTTP_MCP_JWT_MAX_LEN_DEFAULT + 1);
    t[NGX_HTTP_MCP_JWT_MAX_LEN_DEFAULT + 1] = '\0';
    assert_string_equal(check_with(t, jwks, &p), "too_long");
}


static void
test_malformed(void **state)
{
    char  *h, *p, *t;

    h = b64s("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}");
    p = b64s("{\"sub\":\"x\"}");

    assert_string_equal(check(dup_str("")), "malformed");
    assert_string_equal(check(dup_str("abc")), "malformed");
    assert_string_equal(check(dup_str("..")), "malformed");
    assert_string_equal(check(dup_str("...")), "malformed");
    assert_string_equal(check(join3(h, p, NULL)), "malformed");      /* 2 */
    assert_string_equal(check(join3(h, "", "c2ln")), "malformed");
    assert_string_equal(check(join3("", p, "c2ln")), "malformed");

    t = join3(h, p, "c2ln");
    h = realloc(h, strlen(t) + 8);
    sprintf(h, "%s.c2ln", t);                                       /* 4 */
    free(t);
    assert_string_equal(check(h), "malformed");

    /* padding, the standard alphabet, spaces, bad length, odd bits */
    h = b64s("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}");
    assert_string_equal(check(join3(h, p, "c2ln==")), "malformed");
    assert_string_equal(check(join3(h, p, "c2l+")), "malformed");
    assert_string_equal(check(join3(h, p, "c2l/")), "malformed");
    assert_string_equal(check(join3(h, p, "c2l n")), "malformed");
    assert_string_equal(check(join3(h, p, "c2lnc")), "malformed");
    assert_string_equal(check(join3(h, p, "c2lnA")), "malformed");
    assert_string_equal(check(join3(h, p, "c2m")), "malformed");   /* "sh"+1 */
    assert_string_equal(check(join3(h, p, "c2k")), "bad_signature");
    free(h);

    /* the header is not a JSON object with a string "alg" */
    h = b64s("hello");
    assert_string_equal(check(join3(h, p, "c2ln")), "malformed");
    free(h);
    h = b64s("[\"RS256\"]");
    assert_string_equal(check(join3(h, p, "c2ln")), "malformed");
    free(h);
    h = b64s("{\"kid\":\"rsa1\"}");
    assert_string_equal(check(join3(h, p, "c2ln")), "malformed");
    free(h);
    h = b64s("{\"alg\":256,\"kid\":\"rsa1\"}");
    assert_string_equal(check(join3(h, p, "c2ln")), "malformed");
    free(h);
    free(p);

    /* a correctly signed payload that is not a JSON object */
    t = sign_raw("RS256", rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                 "not json", NULL, 0);
    assert_string_equal(check(t), "malformed");
    assert_string_equal(res.kid, "rsa1");
    t = sign_raw("RS256", rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                 "[1,2]", NULL, 0);
    assert_string_equal(check(t), "malformed");
    t = sign_raw("RS256", rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                 "{\"a\":\"\\u0000\"}", NULL, 0);
    assert_string_equal(check(t), "malformed");
}


static void
test_duplicate_keys(void **state)
{
    /* which "sub" wins would depend on the parser: refuse both */
    assert_string_equal(check(sign_raw("RS256", rsa,
                        "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                        "{\"iss\":\"" ISS "\",\"aud\":\"mcp-gateway\","
                        "\"sub\":\"alice\",\"sub\":\"admin\","
                        "\"exp\":1700000300}", NULL, 0)), "malformed");

    /* nested too */
    assert_string_equal(check(sign_raw("RS256", rsa,
                        "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                        "{\"iss\":\"" ISS "\",\"aud\":\"mcp-gateway\","
                        "\"sub\":\"alice\",\"exp\":1700000300,"
                        "\"realm_access\":{\"roles\":[],\"roles\":[\"a\"]}}",
                        NULL, 0)), "malformed");

    /* in the header */
    assert_string_equal(check(sign_raw("RS256", rsa,
                        "{\"alg\":\"RS256\",\"alg\":\"none\","
                        "\"kid\":\"rsa1\"}", "{}", NULL, 0)), "malformed");

    /* the same payload without the duplicate passes */
    assert_string_equal(check(sign_raw("RS256", rsa,
                        "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                        "{\"iss\":\"" ISS "\",\"aud\":\"mcp-gateway\","
                        "\"sub\":\"alice\",\"exp\":1700000300}", NULL, 0)),
                        "ok");
    assert_string_equal(res.user, "alice");
}


static void
test_crit(void **state)
{
    char  *payload;

    payload = claims_text();

    assert_string_equal(check(sign_raw("RS256", rsa,
                        "{\"alg\":\"RS256\",\"kid\":\"rsa1\","
                        "\"crit\":[\"exp\"],\"exp\":1}", payload, NULL, 0)),
                        "unsupported_crit");
    assert_string_equal(check(sign_raw("RS256", rsa,
                        "{\"alg\":\"RS256\",\"kid\":\"rsa1\","
                        "\"crit\":[\"b64\"],\"b64\":false}", payload,
                        NULL, 0)), "unsupported_crit");

    /* embedded keys are ignored: the JWKS decides */
    assert_string_equal(check(sign_raw("RS256", rsa_other,
                        "{\"alg\":\"RS256\",\"kid\":\"rsa1\","
                        "\"jku\":\"https://evil.example/jwks\"}", payload,
                        NULL, 0)), "bad_signature");

    free(payload);
}


static void
test_roles(void **state)
{
    int                         i;
    char                        name[16];
    json_t                     *c, *many;
    ngx_http_mcp_jwt_policy_t   p = policy();

    /* realm_access.roles (the default policy) */
    assert_string_equal(check(token("RS256", "rsa1", claims())), "ok");
    assert_string_equal(res.roles, "mcp-user,admin");

    /* resource_access.<client>.roles */
    p.roles_claim = "resource_access.mcp-gateway-client.roles";
    c = claims_set(claims(), "resource_access",
                   json_pack("{s:{s:[s]}, s:{s:[s,s]}}",
                             "account", "roles", "manage-account",
                             "mcp-gateway-client", "roles", "mcp-admin",
                             "mcp-viewer"));
    assert_string_equal(check_with(token("RS256", "rsa1", c), jwks, &p),
                        "ok");
    assert_string_equal(res.roles, "mcp-admin,mcp-viewer");

    /* client absent: no roles, not an error */
    assert_string_equal(check_with(token("RS256", "rsa1", claims()), jwks,
                                   &p), "ok");
    assert_string_equal(res.roles, "");
    assert_int_equal(res.nroles, 0);

    /* groups */
    p.roles_claim = "groups";
    c = claims_set(claims(), "groups",
                   json_pack("[s,s]", "mcp-log-analyst", "team:platform"));
    assert_string_equal(check_with(token("RS256", "rsa1", c), jwks, &p),
                        "ok");
    assert_string_equal(res.roles, "mcp-log-analyst,team:platform");

    /* scope: one string, names separated by spaces */
    p.roles_claim = "scope";
    c = claims_set(claims(), "scope",
                   json_string("openid  profile mcp:tools.read "));
    assert_string_equal(check_with(token("RS256", "rsa1", c), jwks, &p),
                        "ok");
    assert_string_equal(res.roles, "openid,profile,mcp:tools.read");
    assert_int_equal(res.nroles, 3);

    /* a namespaced claim whose name holds dots */
    p.roles_claim = "https://mcp.example.com/roles";
    c = claims_set(claims(), "https://mcp.example.com/roles",
                   json_pack("[s]", "mcp-admin"));
    assert_string_equal(check_with(token("RS256", "rsa1", c), jwks, &p),
                        "ok");
    assert_string_equal(res.roles, "mcp-admin");

    /* names that could forge another role are dropped */
    p.roles_claim = "groups";
    c = claims_set(claims(), "groups",
                   json_pack("[s,s,s,s,s,s,i,s,s,{}]", "ok",
                             "mcp-viewer,mcp-admin", "mcp admin", "", "a\nb",
                             "\xc3\xa9t\xc3\xa9", 5, "/admins", "fine_1.2"));
    assert_non_null(c);
    assert_string_equal(check_with(token("RS256", "rsa1", c), jwks, &p),
                        "ok");
    assert_string_equal(res.roles, "ok,fine_1.2");

    p.roles_claim = "scope";
    c = claims_set(claims(), "scope", json_string("a,b c\td e"));
    assert_string_equal(check_with(token("RS256", "rsa1", c), jwks, &p),
                        "ok");
    assert_string_equal(res.roles, "e");

    /* wrong type */
    p.roles_claim = "groups";
    c = claims_set(claims(), "groups", json_integer(7));
    assert_string_equal(check_with(token("RS256", "rsa1", c), jwks, &p),
                        "bad_claims");

    /* a path through a non-object */
    p.roles_claim = "sub.roles";
    assert_string_equal(check_with(token("RS256", "rsa1", claims()), jwks,
                                   &p), "ok");
    assert_string_equal(res.roles, "");

    /* no roles claim configured */
    p.roles_claim = NULL;
    assert_string_equal(check_with(token("RS256", "rsa1", claims()), jwks,
                                   &p), "ok");
    assert_string_equal(res.roles, "");

    /* more than the RBAC limit: the first 64 kept, flagged */
    p.roles_claim = "groups";
    many = json_array();
    for (i = 0; i < 70; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        json_array_append_new(many, json_string(name));
    }
    c = claims_set(claims(), "groups", many);
    assert_string_equal(check_with(token("RS256", "rsa1", c), jwks, &p),
                        "ok");
    assert_int_equal(res.nroles, 64);
    assert_true(res.roles_truncated);
    assert_non_null(strstr(res.roles, ",r63"));
    assert_null(strstr(res.roles, "r64"));
}


static void
test_user(void **state)
{
    char                        long_name[300];
    ngx_http_mcp_jwt_policy_t   p = policy();

    assert_string_equal(check(token("RS256", "rsa1", claims())), "ok");
    assert_string_equal(res.user, "alice");
    assert_string_equal(res.subject, "u-123");

    /* falls back to sub */
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "preferred_username", NULL))),
                        "ok");
    assert_string_equal(res.user, "u-123");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "preferred_username",
                                   json_string("")))), "ok");
    assert_string_equal(res.user, "u-123");

    p.user_claim = NULL;
    assert_string_equal(check_with(token("RS256", "rsa1", claims()), jwks,
                                   &p), "ok");
    assert_string_equal(res.user, "u-123");

    /* no user at all */
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims_set(claims(), "sub", NULL),
                                   "preferred_username", NULL))),
                        "no_user");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "sub", NULL))), "ok");
    assert_string_equal(res.user, "alice");
    assert_null(res.subject);

    /* not a name that can travel in a header */
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "preferred_username",
                                   json_string("alice\r\nX-MCP-Roles: admin")
                                   ))), "bad_user");
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "preferred_username",
                                   json_string(long_name)))), "bad_user");

    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "preferred_username",
                                   json_integer(42)))), "bad_claims");
    assert_string_equal(check(token("RS256", "rsa1",
                        claims_set(claims(), "sub", json_integer(42)))),
                        "bad_claims");
}


static void
test_jwks_parse(void **state)
{
    char                  err[256], *text;
    json_t               *k;
    ngx_http_mcp_jwks_t  *set;

    /* garbage */
    set = ngx_http_mcp_jwks_parse("<html>", 6, err, sizeof(err));
    assert_null(set);
    assert_non_null(strstr(err, "not valid JSON"));

    set = ngx_http_mcp_jwks_parse("{\"keys\":{}}", 11, err, sizeof(err));
    assert_null(set);
    assert_non_null(strstr(err, "no \"keys\" array"));

    set = ngx_http_mcp_jwks_parse("[]", 2, err, sizeof(err));
    assert_null(set);

    set = ngx_http_mcp_jwks_parse("{\"keys\":[]}", 11, err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "the JWKS has no keys");

    text = dup_str("{\"keys\":[],\"keys\":[]}");
    assert_null(jwks_of(text, err, sizeof(err)));

    /* only unusable keys: the first reason is named */
    set = jwks_of(jwks_text(jwk(rsa, "a", "{\"use\":\"enc\"}"), NULL),
                  err, sizeof(err));
    assert_null(set);
    assert_non_null(strstr(err, "no usable key"));
    assert_non_null(strstr(err, "\"use\" is not \"sig\""));

    set = jwks_of(jwks_text(jwk(rsa_small, "small", NULL), NULL),
                  err, sizeof(err));
    assert_null(set);
    assert_non_null(strstr(err, "shorter than 2048"));

    /* each of these is skipped; the good one stays */
    k = jwk(ec256, "offcurve", NULL);
    {
        /* flip a bit of y: no longer a point of the curve */
        char  *y = dup_str(json_string_value(json_object_get(k, "y")));

        y[10] = y[10] == 'A' ? 'B' : 'A';
        json_object_set_new(k, "y", json_string(y));
        free(y);
    }

    set = jwks_of(jwks_text(
              jwk(rsa, "good", NULL),
              jwk(rsa_other, "enc", "{\"use\":\"enc\"}"),
              jwk(rsa_other, "ops", "{\"key_ops\":[\"encrypt\"]}"),
              jwk(rsa_other, "oaep", "{\"alg\":\"RSA-OAEP\"}"),
              jwk(rsa_other, "hs", "{\"alg\":\"HS256\"}"),
              jwk(ec256, "mismatch", "{\"alg\":\"ES384\"}"),
              jwk(ec256, "p192", "{\"crv\":\"P-192\"}"),
              jwk(ec256, "short-x", "{\"x\":\"AAAA\"}"),
              jwk(ed25519, "x25519", "{\"crv\":\"X25519\"}"),
              jwk(rsa_other, "padded", "{\"e\":\"AQAB==\"}"),
              jwk(rsa_other, "e1", "{\"e\":\"AQ\"}"),
              jwk(rsa_other, "other", NULL),
              json_pack("{s:s,s:s,s:s}", "kty", "oct", "kid", "oct",
                        "k", "c2VjcmV0"),
              json_pack("{s:s}", "kid", "nokty"),
              json_string("not an object"),
              k,
              jwk(rsa_other, NULL, NULL),          /* kidless among many */
              NULL),
          err, sizeof(err));
    assert_non_null(set);
    assert_int_equal(ngx_http_mcp_jwks_size(set), 2);   /* good, other */
    assert_non_null(strstr(err, "15 of 17 keys skipped"));
    print_message("note: %s\n", err);
    ngx_http_mcp_jwks_free(set);

    /* key_ops with "verify" and "use":"sig" are fine; kid must be a string */
    set = jwks_of(jwks_text(
              jwk(rsa, "ops", "{\"key_ops\":[\"verify\"],\"use\":\"sig\"}"),
              jwk(rsa, NULL, "{\"kid\":7}"),
              NULL),
          err, sizeof(err));
    assert_non_null(set);
    assert_int_equal(ngx_http_mcp_jwks_size(set), 1);
    ngx_http_mcp_jwks_free(set);

    /* a single kidless key is kept, and err is empty without skips */
    set = jwks_of(jwks_text(jwk(rsa, NULL, NULL), NULL), err, sizeof(err));
    assert_non_null(set);
    assert_string_equal(err, "");
    ngx_http_mcp_jwks_free(set);

    ngx_http_mcp_jwks_free(NULL);
    assert_int_equal(ngx_http_mcp_jwks_size(NULL), 0);
}


static double
bench(const char *alg, const char *kid, long n)
{
    long                        i;
    char                       *t;
    double                      us;
    struct timespec             a, b;
    ngx_http_mcp_jwt_result_t   r;
    ngx_http_mcp_jwt_policy_t   p = policy();

    t = token(alg, kid, claims());

    clock_gettime(CLOCK_MONOTONIC, &a);

    for (i = 0; i < n; i++) {
        assert_int_equal(ngx_http_mcp_jwt_verify(t, strlen(t), jwks, &p, &r),
                         0);
        ngx_http_mcp_jwt_result_free(&r);
    }

    clock_gettime(CLOCK_MONOTONIC, &b);
    free(t);

    us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n;
    print_message("%s: %ld verifies, %.1f us/verify\n", alg, n, us);

    return us;
}


/* prints timings; asserts only that every verify succeeds */
static void
test_benchmark(void **state)
{
    long         n;
    const char  *env;

    env = getenv("MCP_JWT_BENCH_N");
    n = env ? atol(env) : 200;

    if (n <= 0) {
        n = 200;
    }

    bench("RS256", "rsa1", n);
    bench("PS256", "rsa1", n);
    bench("ES256", "ec256", n);
    bench("EdDSA", "ed1", n);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_algorithms),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_hs256_key_confusion),
        cmocka_unit_test(test_hs_with_secret),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_ecdsa_signature_length),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_not_before),
        cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_kid_selection),
        cmocka_unit_test(test_alg_bound_to_key),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_crit),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_user),
        cmocka_unit_test(test_jwks_parse),
        cmocka_unit_test(test_benchmark),
    };

    return cmocka_run_group_tests_name("module/jwt", tests, setup, teardown);
}
