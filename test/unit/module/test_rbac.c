/* Unit tests of role decisions and tools/list filtering. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_mcp_rbac.h"
#include "ngx_http_mcp_tools_list.h"


#define S(s)  { sizeof(s) - 1, (const unsigned char *) s }


static ngx_http_mcp_span_t  analyst_admin[] = { S("mcp-log-analyst"),
                                                S("mcp-admin") };
static ngx_http_mcp_span_t  everyone[] = { S("mcp-viewer"),
                                           S("mcp-log-analyst"),
                                           S("mcp-admin") };
static ngx_http_mcp_span_t  admin_only[] = { S("mcp-admin") };

static ngx_http_mcp_tool_rule_t  rules[] = {
    { S("execute_code"), 0, analyst_admin, 2 },
    { S("get_available_tools"), 0, everyone, 3 },
    { S("admin_"), 1, admin_only, 1 },
};


static ngx_http_mcp_roles_t
roles(const char *csv)
{
    ngx_http_mcp_roles_t  r;

    assert_int_equal(ngx_http_mcp_roles_parse((const unsigned char *) csv,
                                              strlen(csv), &r), 0);
    return r;
}


static int
allowed(const char *tool, const char *csv)
{
    ngx_http_mcp_roles_t  r = roles(csv);

    return ngx_http_mcp_tool_allowed(rules, 3, (const unsigned char *) tool,
                                     strlen(tool), &r);
}


static void
test_roles_parse(void **state)
{
    ngx_http_mcp_roles_t  r;

    r = roles(" a , b,,c ");
    assert_int_equal(r.nroles, 3);
    assert_memory_equal(r.roles[0].data, "a", 1);
    assert_int_equal(r.roles[1].len, 1);
    assert_memory_equal(r.roles[2].data, "c", 1);

    r = roles("");
    assert_int_equal(r.nroles, 0);
}


static void
test_too_many_roles(void **state)
{
    char                  csv[NGX_HTTP_MCP_MAX_ROLES * 3 + 8];
    size_t                i, n;
    ngx_http_mcp_roles_t  r;

    n = 0;
    for (i = 0; i <= NGX_HTTP_MCP_MAX_ROLES; i++) {
        n += sprintf(csv + n, "r%zu,", i % 10);
    }

    assert_int_equal(ngx_http_mcp_roles_parse((unsigned char *) csv, n, &r),
                     -1);
}


static void
test_endpoint_roles(void **state)
{
    ngx_http_mcp_roles_t  r;

    r = roles("other,mcp-viewer");
    assert_true(ngx_http_mcp_roles_intersect(&r, everyone, 3));

    r = roles("mcp-viewe,mcp-viewer-x");
    assert_false(ngx_http_mcp_roles_intersect(&r, everyone, 3));

    r = roles("");
    assert_false(ngx_http_mcp_roles_intersect(&r, everyone, 3));
}


static void
test_tool_rules(void **state)
{
    assert_true(allowed("execute_code", "mcp-log-analyst"));
    assert_true(allowed("execute_code", "x,mcp-admin"));
    assert_false(allowed("execute_code", "mcp-viewer"));
    assert_true(allowed("get_available_tools", "mcp-viewer"));

    /* deny by default: no rule names it */
    assert_false(allowed("log_store", "mcp-admin"));

    /* exact names are exact */
    assert_false(allowed("execute_code2", "mcp-admin"));
    assert_false(allowed("execute_cod", "mcp-admin"));

    /* prefix rules */
    assert_true(allowed("admin_reset", "mcp-admin"));
    assert_true(allowed("admin_", "mcp-admin"));
    assert_false(allowed("admin", "mcp-admin"));
    assert_false(allowed("admin_reset", "mcp-log-analyst"));
}


static char *
filter(const char *body, int sse, const char *csv, size_t *removed)
{
    char                        *out;
    size_t                       len;
    ngx_http_mcp_roles_t         r = roles(csv);
    ngx_http_mcp_list_filter_t   f = { rules, 3, &r, 0, NULL };

    out = ngx_http_mcp_filter_tools_list(body, strlen(body), sse, &f, &len);
    if (out) {
        assert_int_equal(strlen(out), len);
    }

    *removed = f.removed;

    return out;
}


#define LIST  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":["         \
              "{\"name\":\"execute_code\"},{\"name\":\"log_store\"},"         \
              "{\"name\":\"get_available_tools\"},{\"name\":\"admin_x\"}],"  \
              "\"nextCursor\":\"c2\"}}"


static void
test_filter_json(void **state)
{
    char    *out;
    size_t   removed;

    out = filter(LIST, 0, "mcp-viewer", &removed);
    assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
                             "{\"tools\":[{\"name\":\"get_available_tools\"}]"
                             ",\"nextCursor\":\"c2\"}}");
    assert_int_equal(removed, 3);
    free(out);

    out = filter(LIST, 0, "mcp-admin", &removed);
    assert_non_null(strstr(out, "execute_code"));
    assert_non_null(strstr(out, "admin_x"));
    assert_null(strstr(out, "log_store"));
    assert_int_equal(removed, 1);
    free(out);
}


static void
test_filter_json_errors_pass(void **state)
{
    char    *out;
    size_t   removed;

    out = filter("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1,"
                 "\"message\":\"m\"}}", 0, "mcp-viewer", &removed);
    assert_non_null(out);
    assert_int_equal(removed, 0);
    free(out);

    /* not JSON, or a tools member that is not a list: fail closed */
    assert_null(filter("not json", 0, "mcp-admin", &removed));
    assert_null(filter("{\"result\":{\"tools\":{\"name\":\"x\"}}}", 0,
                       "mcp-admin", &removed));

    /* a tool without a string name is dropped, not passed */
    out = filter("{\"result\":{\"tools\":[{\"name\":1},{},"
                 "{\"name\":{\"a\":\"execute_code\"}},{\"name\":null}]}}", 0,
                 "mcp-admin", &removed);
    assert_string_equal(out, "{\"result\":{\"tools\":[]}}");
    assert_int_equal(removed, 4);
    free(out);

    /* the name the client will read is the unescaped one */
    out = filter("{\"result\":{\"tools\":[{\"name\":\"\\u0065xecute_code\"},"
                 "{\"name\":\"log_store\"}]}}", 0, "mcp-viewer", &removed);
    assert_string_equal(out, "{\"result\":{\"tools\":[]}}");
    free(out);

    out = filter("{\"result\":{\"tools\":[{\"name\":\"\\u0065xecute_code\"}]}}",
                 0, "mcp-admin", &removed);
    assert_string_equal(out, "{\"result\":{\"tools\":"
                             "[{\"name\":\"\\u0065xecute_code\"}]}}");
    free(out);

    /* whatever would make the client see something else: refused */
    assert_null(filter("{\"result\":{\"tools\":[{\"name\":\"log_store\","
                       "\"name\":\"execute_code\"}]}}", 0, "mcp-viewer",
                       &removed));
    assert_null(filter("{\"result\":{\"tools\":[]},\"result\":{\"tools\":"
                       "[{\"name\":\"x\"}]}}", 0, "mcp-viewer", &removed));
    assert_null(filter("{\"result\":{\"tools\":[],\"tools\":[]}}", 0,
                       "mcp-viewer", &removed));
    assert_null(filter("{\"result\":{\"tools\":[\"execute_code\"]}}", 0,
                       "mcp-admin", &removed));
    assert_null(filter("{\"result\":{\"tools\":[[]]}}", 0, "mcp-admin",
                       &removed));
    assert_null(filter("{\"result\":{\"tools\":[{\"name\":\"a\"}]}} x", 0,
                       "mcp-admin", &removed));

    /* nested "name" keys (schemas) do not name the tool; order is kept */
    out = filter("{\"result\":{\"tools\":[{\"inputSchema\":{\"properties\":"
                 "{\"name\":{\"type\":\"string\"}}},\"name\":\"admin_x\"},"
                 " {\"name\":\"other\"} , {\"name\":\"get_available_tools\"}]"
                 ",\"nextCursor\":\"n\"}}", 0, "mcp-admin", &removed);
    assert_string_equal(out, "{\"result\":{\"tools\":[{\"inputSchema\":"
                             "{\"properties\":{\"name\":{\"type\":\"string\"}}},"
                             "\"name\":\"admin_x\"},{\"name\":"
                             "\"get_available_tools\"}],\"nextCursor\":\"n\"}}");
    assert_int_equal(removed, 1);
    free(out);
}


static void
test_filter_cache_scope(void **state)
{
    char    *out;
    size_t   removed;

    /* a list filtered per caller may not be cached for everyone */
    out = filter("{\"result\":{\"resultType\":\"complete\",\"cacheScope\":"
                 " \"public\",\"tools\":[{\"name\":\"log_store\"}],"
                 "\"ttlMs\":60000}}", 0, "mcp-admin", &removed);
    assert_string_equal(out, "{\"result\":{\"resultType\":\"complete\","
                             "\"cacheScope\": \"private\",\"tools\":[],"
                             "\"ttlMs\":60000}}");
    free(out);

    out = filter("{\"result\":{\"tools\":[{\"name\":\"execute_code\"}],"
                 "\"cacheScope\":\"public\",\"ttlMs\":5}}", 0, "mcp-admin",
                 &removed);
    assert_string_equal(out, "{\"result\":{\"tools\":[{\"name\":"
                             "\"execute_code\"}],\"cacheScope\":\"private\","
                             "\"ttlMs\":5}}");
    free(out);

    /* a stateless answer without a scope gets one */
    out = filter("{\"result\":{\"tools\":[],\"ttlMs\":5}}", 0, "mcp-admin",
                 &removed);
    assert_string_equal(out, "{\"result\":{\"cacheScope\":\"private\","
                             "\"tools\":[],\"ttlMs\":5}}");
    free(out);

    /* a session-era answer stays as it was */
    out = filter("{\"result\":{\"tools\":[]}}", 0, "mcp-admin", &removed);
    assert_string_equal(out, "{\"result\":{\"tools\":[]}}");
    free(out);

    assert_null(filter("{\"result\":{\"tools\":[],\"cacheScope\":{}}}", 0,
                       "mcp-admin", &removed));
    assert_null(filter("{\"result\":{\"tools\":[],\"cacheScope\":\"a\","
                       "\"cacheScope\":\"b\"}}", 0, "mcp-admin", &removed));
}


static void
test_filter_sse(void **state)
{
    char    *out;
    size_t   removed;

    out = filter(": comment\n\nevent: message\nid: 5\ndata: " LIST "\n\n",
                 1, "mcp-viewer", &removed);
    assert_non_null(out);
    assert_int_equal(removed, 3);
    assert_non_null(strstr(out, ": comment\n\n"));
    assert_non_null(strstr(out, "event: message\nid: 5\ndata: {"));
    assert_null(strstr(out, "execute_code"));
    assert_non_null(strstr(out, "get_available_tools"));
    free(out);

    /* data split over several lines, CRLF line ends: lines are kept */
    out = filter("data: {\"result\":{\"tools\":\r\ndata: "
                 "[{\"name\":\"execute_code\"}]}}\r\n\r\n", 1, "mcp-viewer",
                 &removed);
    assert_non_null(out);
    assert_string_equal(out, "data: {\"result\":{\"tools\":\ndata: []}}\n\n");
    free(out);

    assert_null(filter("data: {broken\n\n", 1, "mcp-admin", &removed));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles_parse),
        cmocka_unit_test(test_too_many_roles),
        cmocka_unit_test(test_endpoint_roles),
        cmocka_unit_test(test_tool_rules),
        cmocka_unit_test(test_filter_json),
        cmocka_unit_test(test_filter_json_errors_pass),
        cmocka_unit_test(test_filter_cache_scope),
        cmocka_unit_test(test_filter_sse),
    };

    return cmocka_run_group_tests_name("module/rbac", tests, NULL, NULL);
}
