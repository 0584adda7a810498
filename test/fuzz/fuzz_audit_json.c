/*
 * libFuzzer harness: the audit record's string escaping
 * (ngx_http_mcp_json.c), which turns bytes a client chose (a header, a
 * tool name) into the inside of a JSON string.  Invariants:
 *
 *   - ngx_http_mcp_json_escaped_len() is exactly what is written;
 *   - the result between quotes is one JSON string (jansson parses it,
 *     which also proves it valid UTF-8);
 *   - valid UTF-8 comes back unchanged; otherwise invalid bytes became
 *     U+FFFD and nothing else changed (checked with jansson's own UTF-8
 *     validation, json_stringn(), as the independent judge).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ngx_http_mcp_json.h"
#include "fuzz_check.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          len;
    json_t         *parsed, *valid;
    json_error_t    err;
    unsigned char  *out, *end;

    len = ngx_http_mcp_json_escaped_len(data, size);
    check(len <= size * NGX_HTTP_MCP_JSON_ESCAPE_MAX);

    /* exactly len + 2 bytes, so a write past the end is caught */
    out = malloc(len + 2);
    if (out == NULL) {
        return 0;
    }

    out[0] = '"';
    end = ngx_http_mcp_json_escape(out + 1, data, size);
    check((size_t) (end - (out + 1)) == len);
    *end = '"';

    parsed = json_loadb((const char *) out, len + 2,
                        JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    check(parsed != NULL && json_is_string(parsed));

    valid = json_stringn((const char *) data, size);

    if (valid) {
        check(json_string_length(parsed) == size);
        check(memcmp(json_string_value(parsed), data, size) == 0);
        json_decref(valid);

    } else {
        /* each invalid byte is 3 bytes of U+FFFD: never shorter */
        check(json_string_length(parsed) > size);
        check(memmem(json_string_value(parsed), json_string_length(parsed),
                     "\xef\xbf\xbd", 3) != NULL);
    }

    json_decref(parsed);
    free(out);

    return 0;
}
