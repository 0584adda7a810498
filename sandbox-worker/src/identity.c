/* identity.c - HMAC-SHA256 identity verification (docs/internals.md). */
#include "identity.h"
#include "limits.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>

#define SW_ID_FIELDS      6     /* after "v1": time, user, roles, auth,
                                   key id, tenant */
#define SW_MAC_LEN        32    /* HMAC-SHA256 */
#define SW_MAC_B64_LEN    43    /* its unpadded base64url */

static const char sw_b64url_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A field may not contain control characters. */
static int
sw_field_ok(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++, n++) {
        unsigned char c = (unsigned char) *s;
        if (c < 0x20 || c == 0x7f || n >= SW_IDENTITY_MAX_FIELD) {
            return 0;
        }
    }
    return 1;
}

static int
sw_parse_time(const char *s, long long *out)
{
    long long v = 0;

    if (*s == '\0' || strlen(s) > 12) {
        return -1;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

/* RFC 4648 section 5, unpadded; returns the length written (no NUL). */
static size_t
sw_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    char     *p = out;
    uint32_t  v;

    for (; len >= 3; in += 3, len -= 3) {
        v = (uint32_t) in[0] << 16 | (uint32_t) in[1] << 8 | in[2];
        *p++ = sw_b64url_digits[v >> 18];
        *p++ = sw_b64url_digits[(v >> 12) & 0x3f];
        *p++ = sw_b64url_digits[(v >> 6) & 0x3f];
        *p++ = sw_b64url_digits[v & 0x3f];
    }
    if (len > 0) {
        v = (uint32_t) in[0] << 16 | (len == 2 ? (uint32_t) in[1] << 8 : 0);
        *p++ = sw_b64url_digits[v >> 18];
        *p++ = sw_b64url_digits[(v >> 12) & 0x3f];
        if (len == 2) {
            *p++ = sw_b64url_digits[(v >> 6) & 0x3f];
        }
    }
    return (size_t) (p - out);
}

/* Strict unpadded base64url: only its alphabet, no leftover bits. Returns
 * the decoded length, or -1. */
static long
sw_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t out_size)
{
    uint32_t  v = 0;
    size_t    i, n = 0, bits = 0;

    if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > out_size) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        const char *d = memchr(sw_b64url_digits, in[i], 64);
        if (in[i] == '\0' || d == NULL) {
            return -1;
        }
        v = (v << 6) | (uint32_t) (d - sw_b64url_digits);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (v >> bits);
            v &= (1u << bits) - 1;
        }
    }
    return v == 0 ? (long) n : -1;
}

static int
sw_hmac(const unsigned char *key, size_t key_len, const unsigned char *msg,
    size_t len, unsigned char mac[SW_MAC_LEN])
{
    EVP_MAC     *emac;
    EVP_MAC_CTX *mctx = NULL;
    OSSL_PARAM   params[2];
    size_t       olen = 0;
    int          rc = -1;

    emac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (emac == NULL) {
        return -1;
    }
    mctx = EVP_MAC_CTX_new(emac);
    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (mctx != NULL && EVP_MAC_init(mctx, key, key_len, params)
        && EVP_MAC_update(mctx, msg, len)
        && EVP_MAC_final(mctx, mac, &olen, SW_MAC_LEN) && olen == SW_MAC_LEN)
    {
        rc = 0;
    }
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(emac);
    return rc;
}

int
sw_identity_sign(const char *const fields[SW_ID_FIELDS],
    const unsigned char *key, size_t key_len, char *out, size_t out_size)
{
    unsigned char msg[SW_IDENTITY_MAX_MESSAGE], mac[SW_MAC_LEN];
    size_t        i, len = 2, flen, n;

    memcpy(msg, "v1", 2);
    for (i = 0; i < SW_ID_FIELDS; i++) {
        flen = strlen(fields[i]);
        if (len + 1 + flen > sizeof(msg)) {
            return -1;
        }
        msg[len++] = '\n';
        memcpy(msg + len, fields[i], flen);
        len += flen;
    }
    if (out_size < (len * 4 + 2) / 3 + 1 + SW_MAC_B64_LEN + 1
        || sw_hmac(key, key_len, msg, len, mac) != 0)
    {
        return -1;
    }
    n = sw_b64url_encode(msg, len, out);
    out[n++] = '.';
    n += sw_b64url_encode(mac, SW_MAC_LEN, out + n);
    out[n] = '\0';
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

/* Splits the verified message "v1\n<time>\n...\n<tenant>" in place. */
static sw_identity_rc_t
sw_identity_split(sw_identity_t *id, size_t len, long long *t)
{
    const char **slot[SW_ID_FIELDS];
    char        *p, *nl;
    size_t       i;

    slot[0] = &id->time;
    slot[1] = &id->user;
    slot[2] = &id->roles;
    slot[3] = &id->auth;
    slot[4] = &id->key_id;
    slot[5] = &id->tenant;

    if (memchr(id->msg, '\0', len) != NULL
        || strncmp(id->msg, "v1\n", 3) != 0)
    {
        return SW_ID_MALFORMED;
    }
    p = id->msg + 3;
    for (i = 0; i < SW_ID_FIELDS; i++) {
        nl = strchr(p, '\n');
        if ((nl == NULL) != (i == SW_ID_FIELDS - 1)) {
            return SW_ID_MALFORMED;     /* too few or too many fields */
        }
        if (nl != NULL) {
            *nl = '\0';
        }
        if (!sw_field_ok(p)) {
            return SW_ID_MALFORMED;
        }
        *slot[i] = p;
        if (nl != NULL) {
            p = nl + 1;
        }
    }
    if (id->user[0] == '\0' || sw_parse_time(id->time, t) != 0) {
        return SW_ID_MALFORMED;
    }
    return SW_ID_OK;
}

sw_identity_rc_t
sw_identity_verify(const char *header, const unsigned char *key,
    size_t key_len, time_t now, long max_skew, sw_identity_t *id)
{
    const char      *dot;
    unsigned char    mac[SW_MAC_LEN], expect[SW_MAC_LEN];
    long             len;
    long long        t;
    sw_identity_rc_t rc;

    if (header == NULL) {
        return SW_ID_MISSING;
    }
    dot = strchr(header, '.');
    if (dot == NULL || strlen(dot + 1) != SW_MAC_B64_LEN
        || sw_b64url_decode(dot + 1, SW_MAC_B64_LEN, mac, sizeof(mac))
           != SW_MAC_LEN)
    {
        return SW_ID_MALFORMED;
    }
    len = sw_b64url_decode(header, (size_t) (dot - header),
                           (unsigned char *) id->msg, SW_IDENTITY_MAX_MESSAGE);
    if (len < 0) {
        return SW_ID_MALFORMED;
    }
    id->msg[len] = '\0';
    /* The MAC first: nothing a client could have written is looked at
     * before it is known to come from the gateway. */
    if (sw_hmac(key, key_len, (unsigned char *) id->msg, (size_t) len,
                expect) != 0
        || CRYPTO_memcmp(expect, mac, SW_MAC_LEN) != 0)
    {
        return SW_ID_BAD_SIGNATURE;
    }
    rc = sw_identity_split(id, (size_t) len, &t);
    if (rc != SW_ID_OK) {
        return rc;
    }
    if (t > (long long) now + max_skew || t < (long long) now - max_skew) {
        return SW_ID_STALE;
    }
    return SW_ID_OK;
}

const char *
sw_identity_reason(sw_identity_rc_t rc)
{
    switch (rc) {
    case SW_ID_OK:
        return "ok";
    case SW_ID_MISSING:
        return "identity header missing";
    case SW_ID_MALFORMED:
        return "identity header malformed";
    case SW_ID_STALE:
        return "identity time outside the accepted window";
    case SW_ID_BAD_SIGNATURE:
        return "identity signature invalid";
    }
    return "unknown";
}

unsigned char *
sw_identity_load_secret(const char *path, size_t *len, char *err,
    size_t err_size)
{
    unsigned char  buf[SW_IDENTITY_MAX_SECRET + 1];
    unsigned char *out;
    ssize_t        n;
    size_t         got = 0, start, end;
    int            fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, err_size, "cannot open identity secret file %s: %s",
                 path, strerror(errno));
        return NULL;
    }
    while (got < sizeof(buf)) {
        n = read(fd, buf + got, sizeof(buf) - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(err, err_size, "cannot read identity secret file %s: %s",
                     path, strerror(errno));
            close(fd);
            OPENSSL_cleanse(buf, sizeof(buf));
            return NULL;
        }
        if (n == 0) {
            break;
        }
        got += (size_t) n;
    }
    close(fd);
    if (got > SW_IDENTITY_MAX_SECRET) {
        snprintf(err, err_size, "identity secret file %s is larger than %d bytes",
                 path, SW_IDENTITY_MAX_SECRET);
        OPENSSL_cleanse(buf, sizeof(buf));
        return NULL;
    }
    start = 0;
    end = got;
    while (start < end && isspace(buf[start])) {
        start++;
    }
    while (end > start && isspace(buf[end - 1])) {
        end--;
    }
    if (end - start < SW_IDENTITY_MIN_SECRET) {
        snprintf(err, err_size,
                 "identity secret in %s is shorter than %d bytes", path,
                 SW_IDENTITY_MIN_SECRET);
        OPENSSL_cleanse(buf, sizeof(buf));
        return NULL;
    }
    out = malloc(end - start);
    if (out == NULL) {
        snprintf(err, err_size, "out of memory");
        OPENSSL_cleanse(buf, sizeof(buf));
        return NULL;
    }
    memcpy(out, buf + start, end - start);
    *len = end - start;
    OPENSSL_cleanse(buf, sizeof(buf));
    return out;
}
