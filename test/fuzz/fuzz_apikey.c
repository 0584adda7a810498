/*
 * libFuzzer harness: the API-key parser (ngx_http_mcp_crypto.c) and the
 * key id/secret split the gateway makes of a key it accepts.
 *
 * The input is an Authorization (or X-API-Key) header value.  The bearer
 * scheme handling mirrors ngx_http_mcp_credentials() in
 * ngx_http_mcp_access.c (static and nginx-typed, so not linkable alone);
 * ngx_http_mcp_apikey_well_formed() is called as the module calls it.
 * Invariants:
 *
 *   - well_formed agrees with an independent check of
 *     ^mcp_[0-9a-f]{16}_[0-9a-f]{64}$ (docs/internals.md);
 *   - of an accepted key, the id (key + 4, 16 bytes, the Redis record
 *     name mcp:apikey:<id> and the audit's key id) and the secret are
 *     lower-case hex, so nothing of the header reaches a Redis command or
 *     a log line unescaped;
 *   - the hash compared with the Redis record is SHA-256 of the whole key,
 *     and ngx_http_mcp_equal_ct() is plain equality.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/sha.h>

#include "ngx_http_mcp_crypto.h"
#include "fuzz_check.h"


static int
lower_hex(const unsigned char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (!strchr("0123456789abcdef", p[i]) || p[i] == '\0') {
            return 0;
        }
    }

    return 1;
}


static int
ref_well_formed(const unsigned char *k, size_t len)
{
    return len == 85
           && k[0] == 'm' && k[1] == 'c' && k[2] == 'p' && k[3] == '_'
           && lower_hex(k + 4, 16)
           && k[20] == '_'
           && lower_hex(k + 21, 64);
}


static void
check_key(const unsigned char *key, size_t len)
{
    int             ok;
    unsigned char   md[32], ref[32], other[32];

    ok = ngx_http_mcp_apikey_well_formed(key, len);

    check(ok == ref_well_formed(key, len));

    if (!ok) {
        return;
    }

    check(len == NGX_HTTP_MCP_KEY_LEN);

    /* the split: id, then '_', then the secret */
    check(lower_hex(key + 4, NGX_HTTP_MCP_KEY_ID_LEN));
    check(key[4 + NGX_HTTP_MCP_KEY_ID_LEN] == '_');
    check(lower_hex(key + 5 + NGX_HTTP_MCP_KEY_ID_LEN,
                    NGX_HTTP_MCP_KEY_SECRET_LEN));
    check(4 + NGX_HTTP_MCP_KEY_ID_LEN + 1 + NGX_HTTP_MCP_KEY_SECRET_LEN
          == len);

    /* what is compared with the Redis record */
    ngx_http_mcp_sha256(key, len, md);
    SHA256(key, len, ref);
    check(memcmp(md, ref, 32) == 0);

    check(ngx_http_mcp_equal_ct(md, 32, ref, 32));
    check(!ngx_http_mcp_equal_ct(md, 32, ref, 31));

    /* a key one secret digit off hashes elsewhere */
    ngx_http_mcp_sha256(key, len - 1, other);
    check(!ngx_http_mcp_equal_ct(md, 32, other, 32));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          len;
    unsigned char  *buf, *token;

    /* an exact-size copy, so a read past the value is caught */
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    /* X-API-Key: the value as it came */
    check_key(buf, size);

    /* Authorization: "Bearer" (any case), a space, optional spaces */
    if (size >= 7 && strncasecmp((const char *) buf, "Bearer ", 7) == 0) {
        token = buf + 7;
        len = size - 7;

        while (len && token[0] == ' ') {
            token++;
            len--;
        }

        /* "mcp_" marks a key; anything else is a JWT */
        if (len >= 4 && memcmp(token, "mcp_", 4) == 0) {
            check_key(token, len);

        } else {
            check(!ngx_http_mcp_apikey_well_formed(token, len));
        }
    }

    /* equal_ct is equality, whatever the lengths */
    len = size / 2;
    check(ngx_http_mcp_equal_ct(buf, len, buf + len, size - len)
          == (len == size - len && memcmp(buf, buf + len, len) == 0));

    free(buf);

    return 0;
}
