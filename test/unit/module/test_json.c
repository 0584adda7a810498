
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "ngx_http_mcp_json.h"


/* escapes in, checks the length function, and returns the text */

static const char *
escape(const char *in, size_t n)
{
    static unsigned char  out[1024];
    unsigned char        *end;

    assert_true(n * NGX_HTTP_MCP_JSON_ESCAPE_MAX < sizeof(out));

    end = ngx_http_mcp_json_escape(out, (const unsigned char *) in, n);
    assert_int_equal(end - out,
                     ngx_http_mcp_json_escaped_len((const unsigned char *) in,
                                                   n));
    *end = '\0';

    return (const char *) out;
}


/* the escaped text is a JSON string that decodes to want */

static void
decodes_to(const char *in, size_t n, const char *want, size_t want_len)
{
    char          text[1100];
    json_t       *v;
    json_error_t  err;

    snprintf(text, sizeof(text), "\"%s\"", escape(in, n));

    v = json_loadb(text, strlen(text), JSON_DECODE_ANY | JSON_ALLOW_NUL,
                   &err);
    assert_non_null(v);
    assert_int_equal(json_string_length(v), want_len);
    assert_memory_equal(json_string_value(v), want, want_len);
    json_decref(v);
}


static void
test_plain_and_escaped(void **state)
{
    assert_string_equal(escape("alice@example.com", 17), "alice@example.com");
    assert_string_equal(escape("a\"b\\c", 5), "a\\\"b\\\\c");
    assert_string_equal(escape("\n\r\t", 3), "\\n\\r\\t");
    assert_string_equal(escape("\x01\x1f\x7f", 3), "\\u0001\\u001f\\u007f");
    assert_string_equal(escape("a\0b", 3), "a\\u0000b");
    assert_string_equal(escape("", 0), "");

    decodes_to("a\"b\\c\n\x01", 7, "a\"b\\c\n\x01", 7);
    decodes_to("a\0b", 3, "a\0b", 3);
}


static void
test_valid_utf8_is_kept(void **state)
{
    /* 2, 3 and 4 bytes, and the edges of each range */
    static const char  *ok[] = {
        "\xc3\xa9", "\xc2\x80", "\xdf\xbf",
        "\xe2\x82\xac", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xef\xbf\xbf",
        "\xf0\x9f\x98\x80", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
    };
    size_t  i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_string_equal(escape(ok[i], strlen(ok[i])), ok[i]);
        decodes_to(ok[i], strlen(ok[i]), ok[i], strlen(ok[i]));
    }
}


static void
test_invalid_utf8_is_replaced(void **state)
{
    static const char  *bad[] = {
        "\xff", "\xfe", "\x80", "\xbf",           /* no lead byte */
        "\xc0\xaf", "\xc1\xbf",                   /* overlong 2 */
        "\xe0\x80\xaf", "\xe0\x9f\xbf",           /* overlong 3 */
        "\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf",   /* overlong 4 */
        "\xed\xa0\x80", "\xed\xbf\xbf",           /* surrogates */
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",   /* above U+10FFFF */
        "\xe2\x82", "\xf0\x9f\x98",               /* cut short */
        "\xc3\x28",                               /* not a continuation */
    };
    size_t       i, n;
    const char  *out;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = strlen(bad[i]);
        out = escape(bad[i], n);

        /* its lead byte is replaced; no byte of 0x80 and above is left */
        assert_memory_equal(out, "\\ufffd", 6);
        assert_null(strpbrk(out, "\x80\x81\x82\x8f\x90\x98\x9f\xa0\xaf\xbf"
                                 "\xc0\xc1\xc3\xe0\xe2\xed\xf0\xf4\xf5\xfe"
                                 "\xff"));
    }

    /* a session id with a quote and two invalid bytes stays one string */
    decodes_to("ab\xff\xfe\"cd", 7, "ab\xef\xbf\xbd\xef\xbf\xbd\"cd", 11);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_escaped),
        cmocka_unit_test(test_valid_utf8_is_kept),
        cmocka_unit_test(test_invalid_utf8_is_replaced),
    };

    return cmocka_run_group_tests_name("module/json", tests, NULL, NULL);
}
