/* identity.c - HMAC-SHA256 identity verification (docs/internals.md). */
#include "identity.h"
#include "limits.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>

#define SW_SIG_PREFIX     "v1="
#define SW_SIG_HEX_LEN    64

/* A field may not contain control characters: '\n' would let a value
 * shift the other fields of the signed message. */
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

int
sw_identity_sign(const sw_identity_t *id, const unsigned char *key,
    size_t key_len, char *out, size_t out_size)
{
    static const char  hex[] = "0123456789abcdef";
    const char        *parts[7];
    unsigned char      mac[EVP_MAX_MD_SIZE];
    EVP_MAC           *emac = NULL;
    EVP_MAC_CTX       *mctx = NULL;
    OSSL_PARAM         params[2];
    size_t             i, olen = 0;
    int                rc = -1;

    if (out_size < sizeof(SW_SIG_PREFIX) + SW_SIG_HEX_LEN) {
        return -1;
    }
    parts[0] = "v1";
    parts[1] = id->time;
    parts[2] = id->user;
    parts[3] = id->roles;
    parts[4] = id->auth;
    parts[5] = id->key_id;
    parts[6] = id->tenant;

    emac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (emac == NULL) {
        return -1;
    }
    mctx = EVP_MAC_CTX_new(emac);
    if (mctx == NULL) {
        goto done;
    }
    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(mctx, key, key_len, params)) {
        goto done;
    }
    for (i = 0; i < 7; i++) {
        if (i > 0 && !EVP_MAC_update(mctx, (const unsigned char *) "\n", 1)) {
            goto done;
        }
        if (!EVP_MAC_update(mctx, (const unsigned char *) parts[i],
                            strlen(parts[i])))
        {
            goto done;
        }
    }
    if (!EVP_MAC_final(mctx, mac, &olen, sizeof(mac)) || olen != 32) {
        goto done;
    }
    memcpy(out, SW_SIG_PREFIX, 3);
    for (i = 0; i < 32; i++) {
        out[3 + 2 * i] = hex[mac[i] >> 4];
        out[3 + 2 * i + 1] = hex[mac[i] & 0x0f];
    }
    out[3 + SW_SIG_HEX_LEN] = '\0';
    rc = 0;

done:
    OPENSSL_cleanse(mac, sizeof(mac));
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(emac);
    return rc;
}

sw_identity_rc_t
sw_identity_verify(const sw_identity_t *id, const unsigned char *key,
    size_t key_len, time_t now, long max_skew)
{
    const char *fields[6];
    char        expect[sizeof(SW_SIG_PREFIX) + SW_SIG_HEX_LEN];
    long long   t;
    size_t      i;

    fields[0] = id->user;
    fields[1] = id->roles;
    fields[2] = id->auth;
    fields[3] = id->key_id;
    fields[4] = id->tenant;
    fields[5] = id->time;
    for (i = 0; i < 6; i++) {
        if (fields[i] == NULL) {
            return SW_ID_MISSING;
        }
    }
    if (id->signature == NULL) {
        return SW_ID_MISSING;
    }
    for (i = 0; i < 6; i++) {
        if (!sw_field_ok(fields[i])) {
            return SW_ID_MALFORMED;
        }
    }
    if (id->user[0] == '\0') {
        return SW_ID_MALFORMED;
    }
    if (strlen(id->signature) != sizeof(SW_SIG_PREFIX) - 1 + SW_SIG_HEX_LEN
        || strncmp(id->signature, SW_SIG_PREFIX, 3) != 0)
    {
        return SW_ID_MALFORMED;
    }
    if (sw_parse_time(id->time, &t) != 0) {
        return SW_ID_MALFORMED;
    }
    /* Compute the MAC before judging the time, so a stale request costs the
     * same as a fresh one and timing says nothing about the window. */
    if (sw_identity_sign(id, key, key_len, expect, sizeof(expect)) != 0) {
        return SW_ID_BAD_SIGNATURE;
    }
    if (CRYPTO_memcmp(expect, id->signature, sizeof(expect) - 1) != 0) {
        return SW_ID_BAD_SIGNATURE;
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
