/*
 * libFuzzer harness: the sandbox worker's verification of the gateway's
 * signed identity (sandbox-worker/src/identity.c), against the gateway's
 * signer (ngx_mcp_module/ngx_http_mcp_crypto.c).
 *
 * The input is up to seven lines: the X-MCP-Identity-User, -Roles, -Auth,
 * -Key-Id, -Tenant, -Time and -Signature header values (a missing line is
 * a missing header).  Invariants:
 *
 *   - sw_identity_verify() accepts only complete, well-formed fields
 *     (no control characters, a non-empty user, a decimal time within the
 *     skew) whose signature is the HMAC of docs/internals.md;
 *   - the same fields signed by the gateway (time = now) are accepted by
 *     the worker whenever they are well-formed, and one flipped signature
 *     digit is refused: the two sides agree on the signed message;
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


static void
roundtrip(sw_identity_t *id)
{
    size_t                i, lens[6];
    unsigned char         sig[NGX_HTTP_MCP_SIGNATURE_LEN + 1];
    const unsigned char  *fields[6];
    sw_identity_rc_t      rc;
    int                   well_formed;

    id->time = "1700000000";

    fields[0] = (const unsigned char *) id->time;
    fields[1] = (const unsigned char *) id->user;
    fields[2] = (const unsigned char *) id->roles;
    fields[3] = (const unsigned char *) id->auth;
    fields[4] = (const unsigned char *) id->key_id;
    fields[5] = (const unsigned char *) id->tenant;

    for (i = 0; i < 6; i++) {
        lens[i] = strlen((const char *) fields[i]);
    }

    check(ngx_http_mcp_identity_sign(signer, fields, lens, 6, sig) == 0);
    sig[NGX_HTTP_MCP_SIGNATURE_LEN] = '\0';
    id->signature = (const char *) sig;

    well_formed = id->user[0] != '\0' && field_ok(id->user)
                  && field_ok(id->roles) && field_ok(id->auth)
                  && field_ok(id->key_id) && field_ok(id->tenant);

    rc = sw_identity_verify(id, key, sizeof(key) - 1, NOW, SKEW);

    check(well_formed ? rc == SW_ID_OK : rc == SW_ID_MALFORMED);

    if (!well_formed) {
        return;
    }

    /* one digit off: refused */
    sig[3] = (sig[3] == '0') ? '1' : '0';
    check(sw_identity_verify(id, key, sizeof(key) - 1, NOW, SKEW)
          == SW_ID_BAD_SIGNATURE);

    /* a time out of the window, even well signed, is stale */
    id->time = "1699999000";
    fields[0] = (const unsigned char *) id->time;
    lens[0] = strlen(id->time);
    check(ngx_http_mcp_identity_sign(signer, fields, lens, 6, sig) == 0);
    check(sw_identity_verify(id, key, sizeof(key) - 1, NOW, SKEW)
          == SW_ID_STALE);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char              *buf, *p, *nl, *f[7];
    size_t             n, i;
    long long          t;
    sw_identity_t      id;
    sw_identity_rc_t   rc;
    char               expect[80];

    if (signer == NULL) {
        signer = ngx_http_mcp_signer_create(key, sizeof(key) - 1);
        check(signer != NULL);
    }

    buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);
    buf[size] = '\0';

    memset(f, 0, sizeof(f));
    p = buf;

    for (n = 0; n < 7 && p != NULL; n++) {
        f[n] = p;
        nl = strchr(p, '\n');

        if (nl) {
            *nl = '\0';
            p = nl + 1;

        } else {
            p = NULL;
        }
    }

    id.user = f[0];
    id.roles = f[1];
    id.auth = f[2];
    id.key_id = f[3];
    id.tenant = f[4];
    id.time = f[5];
    id.signature = f[6];

    rc = sw_identity_verify(&id, key, sizeof(key) - 1, NOW, SKEW);

    check(sw_identity_reason(rc) != NULL);

    if (rc == SW_ID_OK) {
        for (i = 0; i < 7; i++) {
            check(f[i] != NULL && field_ok(f[i]));
        }

        check(id.user[0] != '\0');
        check(time_ok(id.time, &t) && t >= NOW - SKEW && t <= NOW + SKEW);
        check(sw_identity_sign(&id, key, sizeof(key) - 1, expect,
                               sizeof(expect)) == 0);
        check(strcmp(expect, id.signature) == 0);

    } else if (rc == SW_ID_MISSING) {
        check(n < 7);
    }

    if (n >= 5) {
        roundtrip(&id);
    }

    free(buf);

    return 0;
}
