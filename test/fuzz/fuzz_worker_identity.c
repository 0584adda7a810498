/*
 * libFuzzer harness: the sandbox worker's verification of the gateway's
 * signed identity (sandbox-worker/src/identity.c), against the gateway's
 * signer (ngx_mcp_module/ngx_http_mcp_crypto.c).
 *
 * The input is used twice: whole, as an X-MCP-Identity header value the
 * worker receives, and its first five lines as the user, roles, auth, key
 * id and tenant the gateway signs (a missing line is an empty field).
 * Invariants:
 *
 *   - sw_identity_verify() accepts a value only when it is the canonical
 *     encoding of a well-formed message (no control characters in a
 *     field, a non-empty user, a decimal time within the skew) with the
 *     HMAC of docs/internals.md: re-signing the decoded fields gives the
 *     value back byte for byte;
 *   - the fields signed by the gateway (time = now) are accepted by the
 *     worker whenever they are well-formed, refused as malformed
 *     otherwise; one changed signature character is refused, and so is a
 *     well-signed time out of the window: the two sides agree on the
 *     signed message and its encoding;
 *   - sw_identity_reason() never returns NULL.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "limits.h"
#include "ngx_http_mcp_crypto.h"
#include "fuzz_check.h"


#define NOW   1700000000
#define SKEW  SW_IDENTITY_MAX_SKEW_S

static const unsigned char  key[] = "0123456789abcdef0123456789abcdef-fuzz";
static ngx_http_mcp_signer_t  *signer;


static int
field_ok(const char *s)
{
    size_t  n;

    for (n = 0; s[n]; n++) {
        if ((unsigned char) s[n] < 0x20 || s[n] == 0x7f
            || n >= SW_IDENTITY_MAX_FIELD)
        {
            return 0;
        }
    }

    return 1;
}


static int
time_ok(const char *s, long long *t)
{
    size_t  n;

    *t = 0;

    for (n = 0; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 12) {
            return 0;
        }

        *t = *t * 10 + (s[n] - '0');
    }

    return n > 0;
}


#define VALUE_MAX  (4 * SW_IDENTITY_MAX_MESSAGE / 3 + 64)


static void
roundtrip(const char *const *f)
{
    size_t                i, n, lens[6];
    unsigned char         value[VALUE_MAX];
    const unsigned char  *fields[6];
    sw_identity_t        *id;
    sw_identity_rc_t      rc;
    int                   well_formed;

    id = malloc(sizeof(sw_identity_t));
    check(id != NULL);

    fields[0] = (const unsigned char *) "1700000000";

    for (i = 1; i < 6; i++) {
        fields[i] = (const unsigned char *) f[i - 1];
    }

    for (i = 0; i < 6; i++) {
        lens[i] = strlen((const char *) fields[i]);
    }

    if (ngx_http_mcp_identity_size(lens, 6) >= VALUE_MAX) {
        free(id);
        return;
    }

    n = ngx_http_mcp_identity_sign(signer, fields, lens, 6, value);
    check(n == ngx_http_mcp_identity_size(lens, 6));
    value[n] = '\0';

    well_formed = f[0][0] != '\0';

    for (i = 0; i < 5; i++) {
        well_formed = well_formed && field_ok(f[i]);
    }

    rc = sw_identity_verify((const char *) value, key, sizeof(key) - 1, NOW,
                            SKEW, id);

    check(well_formed ? rc == SW_ID_OK : rc == SW_ID_MALFORMED);

    if (!well_formed) {
        free(id);
        return;
    }

    check(strcmp(id->user, f[0]) == 0 && strcmp(id->tenant, f[4]) == 0);

    /* one signature character off: refused */
    value[n - 5] = (value[n - 5] == 'A') ? 'B' : 'A';
    check(sw_identity_verify((const char *) value, key, sizeof(key) - 1, NOW,
                             SKEW, id) == SW_ID_BAD_SIGNATURE);

    /* a time out of the window, even well signed, is stale */
    fields[0] = (const unsigned char *) "1699999000";
    lens[0] = strlen((const char *) fields[0]);
    n = ngx_http_mcp_identity_sign(signer, fields, lens, 6, value);
    value[n] = '\0';
    check(sw_identity_verify((const char *) value, key, sizeof(key) - 1, NOW,
                             SKEW, id) == SW_ID_STALE);

    free(id);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char              *buf, *copy, *p, *nl, expect[VALUE_MAX];
    const char        *f[5], *fields[6];
    size_t             n;
    long long          t;
    sw_identity_t     *id;
    sw_identity_rc_t   rc;

    if (signer == NULL) {
        signer = ngx_http_mcp_signer_create(key, sizeof(key) - 1);
        check(signer != NULL);
    }

    buf = malloc(size + 1);
    copy = malloc(size + 1);
    id = malloc(sizeof(sw_identity_t));

    if (buf == NULL || copy == NULL || id == NULL) {
        free(buf);
        free(copy);
        free(id);
        return 0;
    }

    memcpy(buf, data, size);
    buf[size] = '\0';
    memcpy(copy, buf, size + 1);

    /* the whole input as the header value */
    rc = sw_identity_verify(buf, key, sizeof(key) - 1, NOW, SKEW, id);

    check(sw_identity_reason(rc) != NULL);

    if (rc == SW_ID_OK) {
        check(id->user[0] != '\0');
        check(field_ok(id->time) && field_ok(id->user) && field_ok(id->roles)
              && field_ok(id->auth) && field_ok(id->key_id)
              && field_ok(id->tenant));
        check(time_ok(id->time, &t) && t >= NOW - SKEW && t <= NOW + SKEW);

        fields[0] = id->time;
        fields[1] = id->user;
        fields[2] = id->roles;
        fields[3] = id->auth;
        fields[4] = id->key_id;
        fields[5] = id->tenant;
        check(sw_identity_sign(fields, key, sizeof(key) - 1, expect,
                               sizeof(expect)) == 0);
        check(strcmp(expect, buf) == 0);
    }

    /* its first five lines as the fields the gateway signs */
    p = copy;

    for (n = 0; n < 5; n++) {
        f[n] = p;
        nl = strchr(p, '\n');

        if (nl) {
            *nl = '\0';
            p = nl + 1;

        } else {
            p = copy + size;    /* "" for the missing lines */
        }
    }

    roundtrip(f);

    free(id);
    free(copy);
    free(buf);

    return 0;
}
