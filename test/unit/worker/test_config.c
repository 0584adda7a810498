/* Unit tests: CLI parsing, limit parsing, per-call limit lowering, schema
 * checks and UTF-8 sanitising. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "schema.h"
#include "util.h"

static void
test_parse_long(void **state)
{
    long v = 0;
    (void) state;
    assert_int_equal(sw_parse_long("42", 1, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(sw_parse_long("1", 1, 100, &v), 0);
    assert_int_equal(sw_parse_long("100", 1, 100, &v), 0);
    assert_int_equal(sw_parse_long("0", 1, 100, &v), -1);
    assert_int_equal(sw_parse_long("101", 1, 100, &v), -1);
    assert_int_equal(sw_parse_long("-5", -10, 100, &v), -1);
    assert_int_equal(sw_parse_long("+5", 1, 100, &v), -1);
    assert_int_equal(sw_parse_long(" 5", 1, 100, &v), -1);
    assert_int_equal(sw_parse_long("5 ", 1, 100, &v), -1);
    assert_int_equal(sw_parse_long("5ms", 1, 100, &v), -1);
    assert_int_equal(sw_parse_long("", 1, 100, &v), -1);
    assert_int_equal(sw_parse_long(NULL, 1, 100, &v), -1);
    assert_int_equal(sw_parse_long("0x10", 1, 100, &v), -1);
    assert_int_equal(sw_parse_long("99999999999999999999999", 1, 100, &v), -1);
}

static int
parse(char **argv, int argc, sw_config_t *cfg, char *err, size_t n)
{
    return sw_config_parse(argc, argv, cfg, err, n);
}

#define REQ "--toolset", "/t", "--listen", "127.0.0.1:8080", \
    "--identity-secret-file", "/s", "--workspace-root", "/w", "--data-dir", "/d"

static void
test_cli_defaults_and_values(void **state)
{
    sw_config_t cfg;
    char        err[256];
    char       *a1[] = { "w", REQ, NULL };
    char       *a2[] = { "w", REQ, "--wall-ms", "5000", "--cpu-ms", "2000",
                         "--memory-mb", "256", "--output-bytes", "4096",
                         "--max-concurrency", "2", "--queue", "0",
                         "--prefork", "0", "--workspace-quota-mb", "5", NULL };
    (void) state;

    assert_int_equal(parse(a1, 11, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.limits.wall_ms, SW_DEFAULT_WALL_MS);
    assert_int_equal(cfg.limits.cpu_ms, SW_DEFAULT_CPU_MS);
    assert_int_equal(cfg.limits.memory_mb, SW_DEFAULT_MEMORY_MB);
    assert_int_equal(cfg.limits.output_bytes, SW_DEFAULT_OUTPUT_BYTES);
    assert_int_equal(cfg.max_concurrency, SW_DEFAULT_CONCURRENCY);
    assert_int_equal(cfg.queue, SW_DEFAULT_QUEUE);
    assert_int_equal(cfg.prefork, SW_DEFAULT_PREFORK);
    assert_int_equal(cfg.quota_mb, SW_DEFAULT_QUOTA_MB);
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_int_equal(cfg.port, 8080);

    assert_int_equal(parse(a2, 27, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.limits.wall_ms, 5000);
    assert_int_equal(cfg.limits.cpu_ms, 2000);
    assert_int_equal(cfg.limits.memory_mb, 256);
    assert_int_equal(cfg.limits.output_bytes, 4096);
    assert_int_equal(cfg.max_concurrency, 2);
    assert_int_equal(cfg.queue, 0);
    assert_int_equal(cfg.prefork, 0);
    assert_int_equal(cfg.quota_mb, 5);
}

static void
test_cli_rejects(void **state)
{
    sw_config_t cfg;
    char        err[256];
    char       *bad_wall[] = { "w", REQ, "--wall-ms", "0", NULL };
    char       *bad_mem[] = { "w", REQ, "--memory-mb", "lots", NULL };
    char       *bad_conc[] = { "w", REQ, "--max-concurrency", "-1", NULL };
    char       *unknown[] = { "w", REQ, "--frobnicate", NULL };
    char       *missing[] = { "w", "--listen", "127.0.0.1:1", NULL };
    char       *bad_listen[] = { "w", "--toolset", "/t", "--listen",
                                 "localhost", NULL };
    char       *noval[] = { "w", REQ, "--wall-ms", NULL };
    char       *bad_prefork[] = { "w", REQ, "--prefork", "17", NULL };
    char       *bad_quota[] = { "w", REQ, "--workspace-quota-mb", "0", NULL };
    (void) state;

    assert_int_equal(parse(bad_prefork, 13, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--prefork"));
    assert_int_equal(parse(bad_quota, 13, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--workspace-quota-mb"));

    assert_int_equal(parse(bad_wall, 13, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--wall-ms"));
    assert_int_equal(parse(bad_mem, 13, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--memory-mb"));
    assert_int_equal(parse(bad_conc, 13, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--max-concurrency"));
    assert_int_equal(parse(unknown, 12, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--frobnicate"));
    assert_int_equal(parse(missing, 3, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--toolset"));
    assert_int_equal(parse(bad_listen, 5, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--listen"));
    assert_int_equal(parse(noval, 12, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--wall-ms"));
}

static void
test_listen_forms(void **state)
{
    sw_config_t cfg;
    (void) state;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(sw_parse_listen("unix:/run/w.sock", &cfg), 0);
    assert_true(cfg.listen_unix);
    assert_string_equal(cfg.unix_path, "/run/w.sock");
    assert_int_equal(sw_parse_listen("[::1]:9000", &cfg), 0);
    assert_string_equal(cfg.host, "::1");
    assert_int_equal(cfg.port, 9000);
    assert_int_equal(sw_parse_listen("unix:relative.sock", &cfg), -1);
    assert_int_equal(sw_parse_listen("127.0.0.1:0", &cfg), -1);
    assert_int_equal(sw_parse_listen("127.0.0.1:65536", &cfg), -1);
    assert_int_equal(sw_parse_listen(":80", &cfg), -1);
}

static void
test_timeout_only_lowers(void **state)
{
    sw_limits_t base = { 30000, 10000, 512, 1 << 20 }, out;
    (void) state;

    assert_int_equal(sw_limits_for_call(&base, 0, 0, &out), 0);
    assert_int_equal(out.wall_ms, 30000);
    assert_int_equal(out.cpu_ms, 10000);

    assert_int_equal(sw_limits_for_call(&base, 1, 2.0, &out), 0);
    assert_int_equal(out.wall_ms, 2000);
    assert_int_equal(out.cpu_ms, 2000);         /* lowered with the wall */
    assert_int_equal(out.memory_mb, 512);

    assert_int_equal(sw_limits_for_call(&base, 1, 0.25, &out), 0);
    assert_int_equal(out.wall_ms, 250);
    assert_int_equal(out.cpu_ms, 1000);         /* RLIMIT_CPU floor */

    /* asking for more than the server allows changes nothing */
    assert_int_equal(sw_limits_for_call(&base, 1, 3600, &out), 0);
    assert_int_equal(out.wall_ms, 30000);
    assert_int_equal(out.cpu_ms, 10000);

    assert_int_equal(sw_limits_for_call(&base, 1, 0, &out), -1);
    assert_int_equal(sw_limits_for_call(&base, 1, -1, &out), -1);
    assert_int_equal(sw_limits_for_call(&base, 1, NAN, &out), -1);
    assert_int_equal(sw_limits_for_call(&base, 1, INFINITY, &out), -1);
}

static void
test_schema(void **state)
{
    json_t *schema = json_loads(
        "{\"type\":\"object\",\"properties\":{"
        "\"code\":{\"type\":\"string\",\"minLength\":1},"
        "\"timeout\":{\"type\":\"number\",\"exclusiveMinimum\":0},"
        "\"fn\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},"
        "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}},"
        "\"required\":[\"code\"],\"additionalProperties\":false}", 0, NULL);
    char    err[256];
    (void) state;

#define CHECK(js, rc) do {                                               \
        json_t *v = json_loads(js, JSON_DECODE_ANY, NULL);               \
        assert_non_null(v);                                              \
        assert_int_equal(sw_schema_check(schema, v, err, sizeof(err)), rc); \
        json_decref(v);                                                  \
    } while (0)

    assert_non_null(schema);
    CHECK("{\"code\":\"x\"}", 0);
    CHECK("{\"code\":\"x\",\"timeout\":1.5,\"fn\":\"b\",\"n\":10}", 0);
    CHECK("{}", -1);
    assert_non_null(strstr(err, "code"));
    CHECK("{\"code\":5}", -1);
    CHECK("{\"code\":\"\"}", -1);
    CHECK("{\"code\":\"x\",\"timeout\":0}", -1);
    CHECK("{\"code\":\"x\",\"timeout\":\"1\"}", -1);
    CHECK("{\"code\":\"x\",\"fn\":\"c\"}", -1);
    CHECK("{\"code\":\"x\",\"n\":11}", -1);
    CHECK("{\"code\":\"x\",\"n\":2.5}", -1);
    CHECK("{\"code\":\"x\",\"extra\":1}", -1);
    assert_non_null(strstr(err, "extra"));
    CHECK("[]", -1);
#undef CHECK
    json_decref(schema);
}

static void
test_utf8_sanitize(void **state)
{
    size_t n;
    char  *s;
    (void) state;

    s = sw_utf8_sanitize("ok \xc3\xa9", 5, &n);
    assert_string_equal(s, "ok \xc3\xa9");
    free(s);
    /* invalid byte, truncated sequence, NUL, overlong, surrogate */
    s = sw_utf8_sanitize("a\xff" "b\xc3", 4, &n);
    assert_string_equal(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd");
    free(s);
    s = sw_utf8_sanitize("a\0b", 3, &n);
    assert_int_equal(n, 5);
    assert_string_equal(s, "a\xef\xbf\xbd" "b");
    free(s);
    s = sw_utf8_sanitize("\xc0\xaf", 2, &n);
    assert_string_equal(s, "\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    s = sw_utf8_sanitize("\xed\xa0\x80", 3, &n);
    assert_null(strstr(s, "\xed\xa0\x80"));
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_long),
        cmocka_unit_test(test_cli_defaults_and_values),
        cmocka_unit_test(test_cli_rejects),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_timeout_only_lowers),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_utf8_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
