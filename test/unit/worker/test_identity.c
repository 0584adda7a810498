/* Unit tests: signed identity verification (docs/internals.md). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "identity.h"
#include "limits.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test";
#define KEYLEN (sizeof(KEY) - 1)
#define NOW 1700000000

/* Known answer, computed independently with Python:
 * b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
 * m = b"v1\n1700000000\nalice\nanalyst,admin\napikey\n0123456789abcdef\ndefault"
 * b(m) + "." + b(hmac.new(KEY, m, sha256).digest()) */
#define KNOWN_VALUE                                                         \
    "djEKMTcwMDAwMDAwMAphbGljZQphbmFseXN0LGFkbWluCmFwaWtleQowMTIzNDU2Nzg5"  \
    "YWJjZGVmCmRlZmF1bHQ.TMOhO2k84N322JYl2rkFAfSd3q4hTpKXzM1nuGNwStw"

typedef struct {
    char          value[4 * SW_IDENTITY_MAX_MESSAGE / 3 + 64];
    char          time[16];
    sw_identity_t id;
} fixture_t;

/* the header value for user, roles "analyst,admin", at time t */
static void
make(fixture_t *f, const char *user, long t)
{
    const char *fields[6];

    memset(f, 0, sizeof(*f));
    snprintf(f->time, sizeof(f->time), "%ld", t);
    fields[0] = f->time;
    fields[1] = user;
    fields[2] = "analyst,admin";
    fields[3] = "apikey";
    fields[4] = "0123456789abcdef";
    fields[5] = "default";
    assert_int_equal(sw_identity_sign(fields, KEY, KEYLEN, f->value,
                                      sizeof(f->value)), 0);
}

static sw_identity_rc_t
verify(fixture_t *f, const unsigned char *key, size_t key_len, time_t now)
{
    return sw_identity_verify(f->value, key, key_len, now, 60, &f->id);
}

/* base64url of s, unpadded, into out */
static void
b64url(const char *s, size_t n, char *out)
{
    static const char d[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i, bits = 0;
    unsigned v = 0;

    for (i = 0; i < n; i++) {
        v = (v << 8) | (unsigned char) s[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            *out++ = d[(v >> bits) & 0x3f];
        }
    }
    if (bits > 0) {
        *out++ = d[(v << (6 - bits)) & 0x3f];
    }
    *out = '\0';
}

/* a value whose message part is msg, with the signature part of f */
static void
replace_message(fixture_t *f, const char *msg, size_t n)
{
    char sig[64];

    snprintf(sig, sizeof(sig), "%s", strchr(f->value, '.'));
    b64url(msg, n, f->value);
    strcat(f->value, sig);
}

static void
test_known_answer(void **state)
{
    fixture_t f;
    (void) state;
    make(&f, "alice", NOW);
    assert_string_equal(f.value, KNOWN_VALUE);
}

static void
test_valid(void **state)
{
    fixture_t f;
    (void) state;
    make(&f, "alice@example.com", NOW);
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_OK);
    assert_string_equal(f.id.user, "alice@example.com");
    assert_string_equal(f.id.roles, "analyst,admin");
    assert_string_equal(f.id.auth, "apikey");
    assert_string_equal(f.id.key_id, "0123456789abcdef");
    assert_string_equal(f.id.tenant, "default");
    assert_string_equal(f.id.time, "1700000000");
    /* inside the window on both sides */
    make(&f, "alice@example.com", NOW);
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW + 60), SW_ID_OK);
    make(&f, "alice@example.com", NOW);
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW - 60), SW_ID_OK);
}

static void
test_wrong_signature(void **state)
{
    fixture_t f;
    char     *sig;
    (void) state;
    make(&f, "alice", NOW);
    sig = strchr(f.value, '.') + 10;
    *sig = *sig == 'a' ? 'b' : 'a';
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_BAD_SIGNATURE);
}

static void
test_wrong_key(void **state)
{
    fixture_t f;
    static const unsigned char other[] = "another-key-another-key-another-key";
    (void) state;
    make(&f, "alice", NOW);
    assert_int_equal(verify(&f, other, sizeof(other) - 1, NOW),
                     SW_ID_BAD_SIGNATURE);
}

static void
test_field_changed(void **state)
{
    fixture_t   f;
    const char *forged = "v1\n1700000000\nmallory\nanalyst,admin\napikey\n"
                         "0123456789abcdef\ndefault";
    (void) state;
    make(&f, "alice", NOW);          /* signed for alice */
    replace_message(&f, forged, strlen(forged));
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_BAD_SIGNATURE);
}

static void
test_stale_and_future(void **state)
{
    fixture_t f;
    (void) state;
    make(&f, "alice", NOW - 61);
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_STALE);
    make(&f, "alice", NOW + 61);
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_STALE);
}

static void
test_missing_header(void **state)
{
    sw_identity_t id;
    (void) state;
    assert_int_equal(sw_identity_verify(NULL, KEY, KEYLEN, NOW, 60, &id),
                     SW_ID_MISSING);
}

/* any message, signed with KEY by hand, as the worker sees it */
static sw_identity_rc_t
verify_message(const char *msg)
{
    static sw_identity_t id;
    char                 value[512], mac_b64[64];
    unsigned char        mac[32];
    unsigned int         mac_len = 0;

    assert_non_null(HMAC(EVP_sha256(), KEY, KEYLEN,
                         (const unsigned char *) msg, strlen(msg), mac,
                         &mac_len));
    assert_int_equal(mac_len, 32);
    b64url((const char *) mac, 32, mac_b64);
    b64url(msg, strlen(msg), value);
    strcat(value, ".");
    strcat(value, mac_b64);
    return sw_identity_verify(value, KEY, KEYLEN, NOW, 60, &id);
}

static void
test_malformed(void **state)
{
    fixture_t f;
    (void) state;

    /* well signed, wrong inside; a newline in the user name (would forge
     * the roles field) makes one field too many */
    assert_int_equal(verify_message("v1\n1700000000\nalice\nadmin\nanalyst\n"
                                    "apikey\n-\ndefault"), SW_ID_MALFORMED);
    assert_int_equal(verify_message("v1\n17e8\nalice\nanalyst\napikey\n-\n"
                                    "default"), SW_ID_MALFORMED);
    assert_int_equal(verify_message("v1\n-5\nalice\nanalyst\napikey\n-\n"
                                    "default"), SW_ID_MALFORMED);
    assert_int_equal(verify_message("v1\n1700000000\n\nanalyst\napikey\n-\n"
                                    "default"), SW_ID_MALFORMED);
    assert_int_equal(verify_message("v1\n1700000000\nal\tice\nanalyst\n"
                                    "apikey\n-\ndefault"), SW_ID_MALFORMED);

    /* too few fields, and an unknown version, both well signed */
    assert_int_equal(verify_message("v1\n1700000000\nalice\nanalyst\n"
                                    "apikey\n-"), SW_ID_MALFORMED);
    assert_int_equal(verify_message("v2\n1700000000\nalice\nanalyst\n"
                                    "apikey\n-\ndefault"), SW_ID_MALFORMED);

    /* encoding errors */
    make(&f, "alice", NOW);
    *strchr(f.value, '.') = '!';                    /* no separator */
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_MALFORMED);
    make(&f, "alice", NOW);
    f.value[strlen(f.value) - 1] = '\0';            /* truncated signature */
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_MALFORMED);
    make(&f, "alice", NOW);
    f.value[2] = '+';                               /* not base64url */
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_MALFORMED);
    /* the message part shortened from 91 to 89 characters, a length
     * base64 never has */
    make(&f, "alice", NOW);
    memmove(f.value + 1, f.value + 3, strlen(f.value + 3) + 1);
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_MALFORMED);
}

static void
test_padding_and_stray_bits_rejected(void **state)
{
    fixture_t f;
    char     *dot;
    (void) state;
    /* the message (68 bytes) ends in a partial group: padding it with
     * "=" as standard base64 would is refused */
    make(&f, "alice", NOW);
    dot = strchr(f.value, '.');
    memmove(dot + 2, dot, strlen(dot) + 1);
    dot[0] = '=';
    dot[1] = '=';
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_MALFORMED);
    /* a last character with a bit beyond the message's end set: the
     * canonical "...bHQ" ends in four zero bits; "...bHR" decodes to the
     * same bytes but is refused */
    make(&f, "alice", NOW);
    dot = strchr(f.value, '.');
    assert_int_equal(dot[-1], 'Q');
    dot[-1] = 'R';
    assert_int_equal(verify(&f, KEY, KEYLEN, NOW), SW_ID_MALFORMED);
}

static void
test_load_secret(void **state)
{
    char           path[] = "/tmp/sw-secret-XXXXXX", err[256];
    size_t         len = 0;
    unsigned char *s;
    int            fd;
    (void) state;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "  \n0123456789abcdef0123456789abcdef\n\n", 37),
                     37);
    close(fd);
    s = sw_identity_load_secret(path, &len, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(len, 32);
    assert_memory_equal(s, "0123456789abcdef0123456789abcdef", 32);
    free(s);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "short-secret\n", 13), 13);
    close(fd);
    assert_null(sw_identity_load_secret(path, &len, err, sizeof(err)));
    assert_non_null(strstr(err, "shorter"));
    unlink(path);

    assert_null(sw_identity_load_secret("/nonexistent/x", &len, err,
                                        sizeof(err)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_wrong_signature),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_field_changed),
        cmocka_unit_test(test_stale_and_future),
        cmocka_unit_test(test_missing_header),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_padding_and_stray_bits_rejected),
        cmocka_unit_test(test_load_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
