/* Unit tests of the API key format and the identity signature. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_mcp_crypto.h"


#define GOOD  "mcp_0123456789abcdef_"                                         \
              "00112233445566778899aabbccddeeff"                             \
              "00112233445566778899aabbccddeeff"


static int
well_formed(const char *key)
{
    return ngx_http_mcp_apikey_well_formed((const unsigned char *) key,
                                           strlen(key));
}


static void
test_key_format(void **state)
{
    char  key[sizeof(GOOD)];

    assert_true(well_formed(GOOD));
    assert_false(well_formed(""));
    assert_false(well_formed("mcp_"));
    assert_false(well_formed(GOOD "0"));                /* too long */

    memcpy(key, GOOD, sizeof(GOOD));
    key[0] = 'M';
    assert_false(well_formed(key));                     /* prefix */

    memcpy(key, GOOD, sizeof(GOOD));
    key[20] = '-';
    assert_false(well_formed(key));                     /* separator */

    memcpy(key, GOOD, sizeof(GOOD));
    key[5] = 'A';
    assert_false(well_formed(key));                     /* upper-case id */

    memcpy(key, GOOD, sizeof(GOOD));
    key[40] = 'g';
    assert_false(well_formed(key));                     /* non-hex secret */

    /* a JWT is not an API key */
    assert_false(well_formed("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));

    /* every byte value, in the id and in the secret: only 0-9 and a-f */
    {
        int  c, pos, hex;

        for (pos = 5; pos < 85; pos += 55) {
            for (c = 1; c < 256; c++) {
                memcpy(key, GOOD, sizeof(GOOD));
                key[pos] = (char) c;
                hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                assert_int_equal(well_formed(key), hex);
            }
        }
    }
}


static void
test_sha256(void **state)
{
    unsigned char  out[32];

    ngx_http_mcp_sha256((const unsigned char *) "abc", 3, out);
    assert_memory_equal(out, "\xba\x78\x16\xbf\x8f\x01\xcf\xea"
                             "\x41\x41\x40\xde\x5d\xae\x22\x23"
                             "\xb0\x03\x61\xa3\x96\x17\x7a\x9c"
                             "\xb4\x10\xff\x61\xf2\x00\x15\xad", 32);

    /* again: the context made on first use serves the next */
    ngx_http_mcp_sha256((const unsigned char *) "", 0, out);
    assert_memory_equal(out, "\xe3\xb0\xc4\x42\x98\xfc\x1c\x14"
                             "\x9a\xfb\xf4\xc8\x99\x6f\xb9\x24"
                             "\x27\xae\x41\xe4\x64\x9b\x93\x4c"
                             "\xa4\x95\x99\x1b\x78\x52\xb8\x55", 32);
}


static void
test_equal_ct(void **state)
{
    const unsigned char  *a = (const unsigned char *) "abcdef";

    assert_true(ngx_http_mcp_equal_ct(a, 6, (const unsigned char *) "abcdef",
                                      6));
    assert_false(ngx_http_mcp_equal_ct(a, 6, (const unsigned char *) "abcdeF",
                                       6));
    assert_false(ngx_http_mcp_equal_ct(a, 6, (const unsigned char *) "abcde",
                                       5));
}


#define VALUE_MAX  (4 + (3000 + 2) * 4 / 3 + 1 + 43)


static void
test_identity_signature(void **state)
{
    size_t                  n, m;
    unsigned char           out[VALUE_MAX], other[VALUE_MAX];
    const unsigned char    *fields[] = {
        (const unsigned char *) "1700000000",
        (const unsigned char *) "alice@example.com",
        (const unsigned char *) "mcp-admin,mcp-log-analyst",
        (const unsigned char *) "apikey",
        (const unsigned char *) "0123456789abcdef",
        (const unsigned char *) "log-analysis",
    };
    size_t                  lens[6];
    size_t                  i;
    const char             *secret = "0123456789abcdef0123456789abcdef";
    const char             *expect;
    ngx_http_mcp_signer_t  *signer;

    for (i = 0; i < 6; i++) {
        lens[i] = strlen((const char *) fields[i]);
    }

    signer = ngx_http_mcp_signer_create((const unsigned char *) secret, 32);
    assert_non_null(signer);

    n = ngx_http_mcp_identity_sign(signer, fields, lens, 6, out);

    /*
     * python3 -c 'import hmac,hashlib,base64; b=lambda x: base64.
     *   urlsafe_b64encode(x).rstrip(b"=").decode(); k=b"0123456789abcdef"*2;
     *   m=b"v1\n1700000000\nalice@example.com\nmcp-admin,mcp-log-analyst"
     *   b"\napikey\n0123456789abcdef\nlog-analysis"; print(b(m)+"."+
     *   b(hmac.new(k,m,hashlib.sha256).digest()))'
     */
    expect = "djEKMTcwMDAwMDAwMAphbGljZUBleGFtcGxlLmNvbQptY3AtYWRtaW4sbWNw"
             "LWxvZy1hbmFseXN0CmFwaWtleQowMTIzNDU2Nzg5YWJjZGVmCmxvZy1hbmFs"
             "eXNpcw.o6O1J40PUdObQDkbWgZhoze12OwEaXdgaMSlmYkUbkg";
    assert_int_equal(n, strlen(expect));
    assert_int_equal(n, ngx_http_mcp_identity_size(lens, 6));
    assert_memory_equal(out, expect, n);

    /* moving a byte between fields changes the value */
    fields[1] = (const unsigned char *) "alice@example.co";
    lens[1]--;
    fields[2] = (const unsigned char *) "mmcp-admin,mcp-log-analyst";
    lens[2]++;
    m = ngx_http_mcp_identity_sign(signer, fields, lens, 6, other);
    assert_int_equal(m, n);
    assert_memory_not_equal(out, other, n);

    /* the prepared key is reused: the same input signs the same */
    fields[1] = (const unsigned char *) "alice@example.com";
    lens[1]++;
    fields[2] = (const unsigned char *) "mcp-admin,mcp-log-analyst";
    lens[2]--;
    assert_int_equal(ngx_http_mcp_identity_sign(signer, fields, lens, 6,
                                                other), n);
    assert_memory_equal(out, other, n);

    /* every length mod 3 encodes as Python does, padding dropped */
    {
        const unsigned char  *one[] = { (const unsigned char *) "ab" };
        size_t                len[] = { 0 };

        /* "v1\n" (3 bytes), "v1\na" (4), "v1\nab" (5) */
        static const char  *encoded[] = { "djEK.", "djEKYQ.", "djEKYWI." };

        for (i = 0; i < 3; i++) {
            len[0] = i;
            n = ngx_http_mcp_identity_sign(signer, one, len, 1, out);
            assert_int_equal(n, ngx_http_mcp_identity_size(len, 1));
            assert_int_equal(n, strlen(encoded[i]) + 43);
            assert_memory_equal(out, encoded[i], strlen(encoded[i]));
        }
    }

    /* a message longer than the signer's stack buffer */
    {
        static unsigned char  big[3000];
        unsigned char         a[VALUE_MAX], b[VALUE_MAX];
        const unsigned char  *one[] = { big };
        size_t                len[] = { sizeof(big) };

        memset(big, 'x', sizeof(big));
        n = ngx_http_mcp_identity_sign(signer, one, len, 1, a);
        assert_int_equal(n, ngx_http_mcp_identity_size(len, 1));
        big[2999] = 'y';
        assert_int_equal(ngx_http_mcp_identity_sign(signer, one, len, 1, b), n);
        assert_memory_not_equal(a, b, n);
    }

    ngx_http_mcp_signer_free(signer);
}


/*
 * Values are remembered per signer: whatever was remembered, each
 * message signs as a fresh signer signs it, also when many messages
 * share the memo's slots.
 */

#define MEMO_VALUE  64


static void
test_identity_signature_memo(void **state)
{
    char                    user[64];
    unsigned char           sig[3][200][MEMO_VALUE];
    size_t                  i, round, len, n[3];
    const unsigned char    *field;
    const char             *secret = "0123456789abcdef0123456789abcdef";
    ngx_http_mcp_signer_t  *busy, *fresh;

    busy = ngx_http_mcp_signer_create((const unsigned char *) secret, 32);
    assert_non_null(busy);

    field = (const unsigned char *) user;

    for (round = 0; round < 2; round++) {
        for (i = 0; i < 200; i++) {
            /* round 2 visits them backwards: other neighbours per slot */
            len = snprintf(user, sizeof(user), "user-%03zu",
                           round ? 199 - i : i);
            assert_true(ngx_http_mcp_identity_size(&len, 1) <= MEMO_VALUE);
            n[round] = ngx_http_mcp_identity_sign(busy, &field, &len, 1,
                                         sig[round][round ? 199 - i : i]);
            assert_int_equal(n[round], ngx_http_mcp_identity_size(&len, 1));
        }
    }

    for (i = 0; i < 200; i++) {
        fresh = ngx_http_mcp_signer_create((const unsigned char *) secret, 32);
        assert_non_null(fresh);

        len = snprintf(user, sizeof(user), "user-%03zu", i);
        n[2] = ngx_http_mcp_identity_sign(fresh, &field, &len, 1, sig[2][i]);
        assert_int_equal(n[2], n[0]);
        assert_memory_equal(sig[0][i], sig[2][i], n[2]);
        assert_memory_equal(sig[1][i], sig[2][i], n[2]);

        if (i) {
            assert_memory_not_equal(sig[0][i], sig[0][i - 1], n[2]);
        }

        ngx_http_mcp_signer_free(fresh);
    }

    ngx_http_mcp_signer_free(busy);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_format),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_equal_ct),
        cmocka_unit_test(test_identity_signature),
        cmocka_unit_test(test_identity_signature_memo),
    };

    return cmocka_run_group_tests_name("module/crypto", tests, NULL, NULL);
}
