/* Unit tests of the JSON-RPC envelope parser (ngx_http_mcp_jsonrpc.c). */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_mcp_jsonrpc.h"


static int
parse(const char *text, ngx_http_mcp_rpc_t *rpc)
{
    return ngx_http_mcp_rpc_parse(text, strlen(text), rpc, NULL);
}


static void
test_request_with_integer_id(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,"
                           "\"method\":\"tools/list\"}", &rpc), 0);
    assert_int_equal(rpc.kind, NGX_HTTP_MCP_MSG_REQUEST);
    assert_string_equal(rpc.method, "tools/list");
    assert_null(rpc.tool);

    assert_string_equal(rpc.id_text, "7");
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_notification_has_no_id(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\","
                           "\"method\":\"notifications/initialized\"}", &rpc),
                     0);
    assert_int_equal(rpc.kind, NGX_HTTP_MCP_MSG_NOTIFICATION);

    assert_null(rpc.id_text);
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_response_from_client(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"s1\","
                           "\"result\":{}}", &rpc), 0);
    assert_int_equal(rpc.kind, NGX_HTTP_MCP_MSG_RESPONSE);
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_malformed_json(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,", &rpc),
                     NGX_HTTP_MCP_RPC_PARSE_ERROR);
    assert_null(rpc.id);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("", &rpc), NGX_HTTP_MCP_RPC_PARSE_ERROR);
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_invalid_requests_keep_id(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    /* wrong version: invalid, but the id is kept for the error */
    assert_int_equal(parse("{\"jsonrpc\":\"1.0\",\"id\":\"a\","
                           "\"method\":\"ping\"}", &rpc),
                     NGX_HTTP_MCP_RPC_INVALID_REQUEST);
    assert_string_equal(rpc.id_text, "\"a\"");
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("42", &rpc), NGX_HTTP_MCP_RPC_INVALID_REQUEST);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1}", &rpc),
                     NGX_HTTP_MCP_RPC_INVALID_REQUEST);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}",
                           &rpc), NGX_HTTP_MCP_RPC_INVALID_REQUEST);
    ngx_http_mcp_rpc_free(&rpc);

    /* MCP ids are never null or fractional */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":null,"
                           "\"method\":\"ping\"}", &rpc),
                     NGX_HTTP_MCP_RPC_INVALID_REQUEST);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1.5,"
                           "\"method\":\"ping\"}", &rpc),
                     NGX_HTTP_MCP_RPC_INVALID_REQUEST);
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_batch_refused(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    assert_int_equal(parse("[{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"ping\"}]", &rpc),
                     NGX_HTTP_MCP_RPC_INVALID_REQUEST);
    assert_non_null(strstr(rpc.reason, "batch"));
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_duplicate_keys_refused(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    /* two "name"s could let the gateway and the sandbox disagree */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"a\",\"name\":\"b\"}}", &rpc),
                     NGX_HTTP_MCP_RPC_PARSE_ERROR);
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_tool_call_fields(void **state)
{
    ngx_http_mcp_rpc_t  rpc, again;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"execute_code\",\"arguments\":"
                           "{\"code\":\"print(1)\", \"a\":{\"b\":1}}}}", &rpc), 0);
    assert_string_equal(rpc.tool, "execute_code");

    /* the arguments exactly as sent, nested objects included */
    assert_int_equal(rpc.args_size,
                     strlen("{\"code\":\"print(1)\", \"a\":{\"b\":1}}"));
    assert_memory_equal(rpc.args, "{\"code\":\"print(1)\", \"a\":{\"b\":1}}",
                        rpc.args_size);

    /* fields in any order; the same arguments, the same bytes to hash */
    assert_int_equal(parse("{\"params\":{\"arguments\":"
                           "{\"code\":\"print(1)\", \"a\":{\"b\":1}},"
                           "\"name\":\"execute_code\"},\"method\":\"tools/call\","
                           "\"id\":1,\"jsonrpc\":\"2.0\"}", &again), 0);
    assert_string_equal(again.tool, "execute_code");
    assert_int_equal(again.args_size, rpc.args_size);
    assert_memory_equal(rpc.args, again.args, rpc.args_size);
    ngx_http_mcp_rpc_free(&again);

    /* other arguments, other bytes */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"execute_code\",\"arguments\":"
                           "{\"code\":\"print(2)\", \"a\":{\"b\":1}}}}", &again),
                     0);
    assert_int_equal(again.args_size, rpc.args_size);
    assert_memory_not_equal(rpc.args, again.args, rpc.args_size);

    ngx_http_mcp_rpc_free(&rpc);
    ngx_http_mcp_rpc_free(&again);

    /* no arguments: the fingerprint of nothing */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"t\"}}", &rpc), 0);
    assert_int_equal(rpc.args_size, 0);
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_duplicates_on_the_decision_path(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                           "\"ping\",\"method\":\"tools/call\"}", &rpc),
                     NGX_HTTP_MCP_RPC_PARSE_ERROR);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,"
                           "\"method\":\"ping\"}", &rpc),
                     NGX_HTTP_MCP_RPC_PARSE_ERROR);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                           "\"tools/call\",\"params\":{\"name\":\"a\"},"
                           "\"params\":{\"name\":\"b\"}}", &rpc),
                     NGX_HTTP_MCP_RPC_PARSE_ERROR);
    ngx_http_mcp_rpc_free(&rpc);

    /* a "name" deeper down is not the tool's name */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                           "\"tools/call\",\"params\":{\"arguments\":"
                           "{\"name\":\"x\",\"name2\":{\"name\":\"y\"}},"
                           "\"name\":\"t\"}}", &rpc), 0);
    assert_string_equal(rpc.tool, "t");
    ngx_http_mcp_rpc_free(&rpc);

    /* invalid UTF-8 is not JSON */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"\xff\","
                           "\"method\":\"ping\"}", &rpc),
                     NGX_HTTP_MCP_RPC_PARSE_ERROR);
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_tool_call_bad_params(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"tools/call\"}", &rpc),
                     NGX_HTTP_MCP_RPC_INVALID_PARAMS);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"x\\u0000y\"}}", &rpc),
                     NGX_HTTP_MCP_RPC_PARSE_ERROR);    /* NUL: refused */
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"x\",\"arguments\":[1]}}", &rpc),
                     NGX_HTTP_MCP_RPC_INVALID_PARAMS);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"ping\",\"params\":[]}", &rpc),
                     NGX_HTTP_MCP_RPC_INVALID_PARAMS);
    ngx_http_mcp_rpc_free(&rpc);
}


static void
test_mirrored_fields(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"resources/read\",\"params\":"
                           "{\"uri\":\"file:///a\",\"_meta\":{"
                           "\"io.modelcontextprotocol/protocolVersion\":"
                           "\"2026-07-28\"}}}", &rpc), 0);
    assert_string_equal(rpc.name, "file:///a");
    assert_string_equal(rpc.meta_version, "2026-07-28");
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"t\"}}", &rpc), 0);
    assert_string_equal(rpc.name, "t");
    assert_null(rpc.meta_version);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"tools/list\",\"params\":"
                           "{\"name\":\"t\"}}", &rpc), 0);
    assert_null(rpc.name);
    ngx_http_mcp_rpc_free(&rpc);
}


static int  allocated, released;

static void *
counting_malloc(void *ctx, size_t size)
{
    allocated++;
    return malloc(size);
}

static void *
counting_realloc(void *ctx, void *p, size_t size)
{
    if (p == NULL) {
        allocated++;
    }
    return realloc(p, size);
}

static void
counting_free(void *ctx, void *p)
{
    released++;
    free(p);
}


static void
test_caller_allocator(void **state)
{
    ngx_http_mcp_rpc_t  rpc;
    yajl_alloc_funcs    funcs = { counting_malloc, counting_realloc,
                                  counting_free, NULL };
    const char         *text = "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":"
                               "\"tools/call\",\"params\":{\"name\":\"t\"}}";

    allocated = released = 0;

    assert_int_equal(ngx_http_mcp_rpc_parse(text, strlen(text), &rpc, &funcs),
                     0);
    assert_string_equal(rpc.tool, "t");
    assert_string_equal(rpc.id_text, "3");
    assert_true(allocated > 0);

    ngx_http_mcp_rpc_free(&rpc);

    /* everything the parser took through the allocator went back to it */
    assert_int_equal(allocated, released);
}


static void
test_error_body(void **state)
{
    char    *text;
    json_t  *id;

    id = json_string("a\"b");
    text = ngx_http_mcp_rpc_error_body(id, -32602, "Unknown tool: x", NULL);
    assert_string_equal(text, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\","
                              "\"error\":{\"code\":-32602,"
                              "\"message\":\"Unknown tool: x\"}}");
    free(text);
    json_decref(id);

    text = ngx_http_mcp_rpc_error_body(NULL, -32700, "bad", NULL);
    assert_string_equal(text, "{\"jsonrpc\":\"2.0\",\"id\":null,"
                              "\"error\":{\"code\":-32700,"
                              "\"message\":\"bad\"}}");
    free(text);

    id = json_pack("{s:[s]}", "supported", "2026-07-28");
    text = ngx_http_mcp_rpc_error_body(NULL, -32022, "v", id);
    assert_string_equal(text, "{\"jsonrpc\":\"2.0\",\"id\":null,"
                              "\"error\":{\"code\":-32022,\"message\":\"v\","
                              "\"data\":{\"supported\":[\"2026-07-28\"]}}}");
    free(text);
    json_decref(id);
}


/* the elements of a batch are found exactly, whatever their shape */
static void
test_batch_split(void **state)
{
    size_t                    n;
    const char               *reason;
    ngx_http_mcp_rpc_span_t   spans[4];
    ngx_http_mcp_rpc_t        rpc;
    const char               *body = " [ {\"jsonrpc\":\"2.0\",\"id\":1,"
                                     "\"method\":\"ping\",\"params\":{\"a\":[1,{}]}},"
                                     " 42 ,[\"x\"],\n{\"jsonrpc\":\"2.0\","
                                     "\"method\":\"notifications/x\"} ] ";

    assert_int_equal(ngx_http_mcp_rpc_split_batch(body, strlen(body), spans, 4,
                                                  &n, &reason, NULL), 0);
    assert_int_equal(n, 4);

    assert_true(spans[0].object);
    assert_int_equal(body[spans[0].start], '{');
    assert_int_equal(body[spans[0].end - 1], '}');
    assert_int_equal(ngx_http_mcp_rpc_parse(body + spans[0].start,
                                            spans[0].end - spans[0].start,
                                            &rpc, NULL), 0);
    assert_string_equal(rpc.method, "ping");
    ngx_http_mcp_rpc_free(&rpc);

    assert_false(spans[1].object);
    assert_false(spans[2].object);
    assert_int_equal(body[spans[2].start], '[');
    assert_int_equal(body[spans[2].end - 1], ']');

    assert_true(spans[3].object);
    assert_int_equal(ngx_http_mcp_rpc_parse(body + spans[3].start,
                                            spans[3].end - spans[3].start,
                                            &rpc, NULL), 0);
    assert_int_equal(rpc.kind, NGX_HTTP_MCP_MSG_NOTIFICATION);
    ngx_http_mcp_rpc_free(&rpc);
}


/* the raw span of params.name, for routing a call to its tool set */
static void
test_name_span(void **state)
{
    ngx_http_mcp_rpc_t   rpc;
    const char          *body = "{\"jsonrpc\":\"2.0\",\"id\":1,"
                                "\"method\":\"tools/call\",\"params\":"
                                "{\"arguments\":{\"name\":\"inner\"},"
                                "\"name\" :\n \"a\\u0062c\",\"x\":1}}";

    assert_int_equal(parse(body, &rpc), 0);
    assert_string_equal(rpc.tool, "abc");
    assert_int_equal(rpc.name_end - rpc.name_start,
                     sizeof("\"a\\u0062c\"") - 1);
    assert_memory_equal(body + rpc.name_start, "\"a\\u0062c\"",
                        rpc.name_end - rpc.name_start);
    ngx_http_mcp_rpc_free(&rpc);
}


/* found by fuzzing: yajl takes '\v' and '\f' for white space too */
static void
test_name_span_after_vt_ff(void **state)
{
    ngx_http_mcp_rpc_t   rpc;
    const char          *body = "{\"jsonrpc\":\"2.0\",\"id\":1,"
                                "\"method\":\"tools/call\",\"params\":"
                                "{\"name\"\f:\v\"abc\"}}";

    assert_int_equal(parse(body, &rpc), 0);
    assert_string_equal(rpc.tool, "abc");
    assert_memory_equal(body + rpc.name_start, "\"abc\"",
                        rpc.name_end - rpc.name_start);
    assert_int_equal(rpc.name_end - rpc.name_start, 5);
    ngx_http_mcp_rpc_free(&rpc);
}


/* found by fuzzing: an id wider than 64 bits was answered as INT64_MAX */
static void
test_integer_id_too_wide(void **state)
{
    ngx_http_mcp_rpc_t  rpc;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\","
                           "\"id\":99999999999999999999,"
                           "\"method\":\"ping\"}", &rpc), -32600);
    assert_null(rpc.id);
    ngx_http_mcp_rpc_free(&rpc);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\","
                           "\"id\":-9223372036854775808,"
                           "\"method\":\"ping\"}", &rpc), 0);
    assert_string_equal(rpc.id_text, "-9223372036854775808");
    ngx_http_mcp_rpc_free(&rpc);
}

static void
test_batch_split_errors(void **state)
{
    size_t                    n;
    const char               *reason;
    ngx_http_mcp_rpc_span_t   spans[2];

#define SPLIT(text)                                                           \
    ngx_http_mcp_rpc_split_batch(text, strlen(text), spans, 2, &n, &reason, \
                                 NULL)

    assert_int_equal(SPLIT("[]"), -32600);
    assert_string_equal(reason, "batch is empty");
    assert_int_equal(SPLIT("[{},{},{}]"), -32600);
    assert_string_equal(reason, "batch has too many messages");
    assert_int_equal(SPLIT("[{},"), -32700);
    assert_int_equal(SPLIT("[{}] x"), -32700);
    assert_int_equal(SPLIT("{}"), -32600);
    assert_int_equal(SPLIT("[{},{}]"), 0);
    assert_int_equal(n, 2);

#undef SPLIT
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_with_integer_id),
        cmocka_unit_test(test_notification_has_no_id),
        cmocka_unit_test(test_response_from_client),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_invalid_requests_keep_id),
        cmocka_unit_test(test_batch_refused),
        cmocka_unit_test(test_batch_split),
        cmocka_unit_test(test_batch_split_errors),
        cmocka_unit_test(test_name_span),
        cmocka_unit_test(test_name_span_after_vt_ff),
        cmocka_unit_test(test_integer_id_too_wide),
        cmocka_unit_test(test_duplicate_keys_refused),
        cmocka_unit_test(test_tool_call_fields),
        cmocka_unit_test(test_tool_call_bad_params),
        cmocka_unit_test(test_duplicates_on_the_decision_path),
        cmocka_unit_test(test_mirrored_fields),
        cmocka_unit_test(test_caller_allocator),
        cmocka_unit_test(test_error_body),
    };

    return cmocka_run_group_tests_name("module/jsonrpc", tests, NULL, NULL);
}
