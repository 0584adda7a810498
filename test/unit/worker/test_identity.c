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

#include "identity.h"
#include "limits.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test";
#define KEYLEN (sizeof(KEY) - 1)
#define NOW 1700000000
#define KNOWN_SIG "4cc3a13b693ce0ddf6d89625dab90501f49ddeae214e9297cccd67b863704adc"

typedef struct {
    sw_identity_t id;
    char          sig[80];
    char          time[16];
} fixture_t;

static void
make(fixture_t *f, const char *user, long t)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->time, sizeof(f->time), "%ld", t);
    f->id.user = user;
    f->id.roles = "analyst,admin";
    f->id.auth = "apikey";
    f->id.key_id = "0123456789abcdef";
    f->id.tenant = "default";
    f->id.time = f->time;
    assert_int_equal(sw_identity_sign(&f->id, KEY, KEYLEN, f->sig,
                                      sizeof(f->sig)), 0);
    f->id.signature = f->sig;
}

/* Known answer, computed independently with Python's hmac module:
 * hmac.new(KEY, "v1\n1700000000\nalice\nanalyst,admin\napikey\n"
 *          "0123456789abcdef\ndefault".encode(), sha256).hexdigest() */
static void
test_known_answer(void **state)
{
    fixture_t f;
    (void) state;
    make(&f, "alice", NOW);
    assert_string_equal(f.sig, "v1=" KNOWN_SIG);
}

static void
test_valid(void **state)
{
    fixture_t f;
    (void) state;
    make(&f, "alice@example.com", NOW);
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60), SW_ID_OK);
    /* inside the window on both sides */
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW + 60, 60),
                     SW_ID_OK);
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW - 60, 60),
                     SW_ID_OK);
}

static void
test_wrong_signature(void **state)
{
    fixture_t f;
    (void) state;
    make(&f, "alice", NOW);
    f.sig[10] = f.sig[10] == 'a' ? 'b' : 'a';
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_BAD_SIGNATURE);
}

static void
test_wrong_key(void **state)
{
    fixture_t f;
    static const unsigned char other[] = "another-key-another-key-another-key";
    (void) state;
    make(&f, "alice", NOW);
    assert_int_equal(sw_identity_verify(&f.id, other, sizeof(other) - 1, NOW,
                                        60), SW_ID_BAD_SIGNATURE);
}

static void
test_field_changed(void **state)
{
    fixture_t f;
    (void) state;
    make(&f, "alice", NOW);
    f.id.user = "mallory";          /* signature was for alice */
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_BAD_SIGNATURE);
    make(&f, "alice", NOW);
    f.id.roles = "admin";
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_BAD_SIGNATURE);
}

static void
test_stale_and_future(void **state)
{
    fixture_t f;
    (void) state;
    make(&f, "alice", NOW - 61);
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_STALE);
    make(&f, "alice", NOW + 61);
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_STALE);
}

static void
test_missing_headers(void **state)
{
    fixture_t f;
    (void) state;
    make(&f, "alice", NOW);
    f.id.signature = NULL;
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_MISSING);
    make(&f, "alice", NOW);
    f.id.tenant = NULL;
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_MISSING);
    make(&f, "alice", NOW);
    f.id.time = NULL;
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_MISSING);
}

static void
test_malformed(void **state)
{
    fixture_t f;
    (void) state;
    /* a newline would let the user name forge the roles line */
    make(&f, "alice\nadmin", NOW);
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_MALFORMED);
    make(&f, "alice", NOW);
    f.id.time = "17e8";
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_MALFORMED);
    make(&f, "alice", NOW);
    f.id.time = "-5";
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_MALFORMED);
    make(&f, "alice", NOW);
    f.sig[0] = 'v';
    f.sig[1] = '2';                 /* unknown version */
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_MALFORMED);
    make(&f, "alice", NOW);
    f.sig[20] = '\0';               /* truncated signature */
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_MALFORMED);
    make(&f, "", NOW);              /* empty user */
    assert_int_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                     SW_ID_MALFORMED);
}

static void
test_upper_case_hex_rejected(void **state)
{
    fixture_t f;
    size_t    i;
    (void) state;
    make(&f, "alice", NOW);
    for (i = 3; f.sig[i]; i++) {
        if (f.sig[i] >= 'a' && f.sig[i] <= 'f') {
            f.sig[i] = (char) (f.sig[i] - 'a' + 'A');
        }
    }
    assert_int_not_equal(sw_identity_verify(&f.id, KEY, KEYLEN, NOW, 60),
                         SW_ID_OK);
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
        cmocka_unit_test(test_missing_headers),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_upper_case_hex_rejected),
        cmocka_unit_test(test_load_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
