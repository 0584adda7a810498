
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 */


#include <string.h>

#include "ngx_http_mcp_json.h"


static size_t ngx_http_mcp_utf8_len(const unsigned char *s, size_t n);


/*
 * What one byte becomes: 1 as it is, 2 for \" \\ \n \r \t, 6 for
 * \u00XX, and 0 for a byte of 0x80 and above (UTF-8, checked whole).
 */
static const unsigned char  ngx_http_mcp_json_width[256] = {
    6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 6, 6, 2, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};


unsigned char *
ngx_http_mcp_json_escape(unsigned char *dst, const unsigned char *s, size_t n)
{
    size_t                      i, end, len;
    unsigned char               c;
    static const unsigned char  hex[] = "0123456789abcdef";

    for (i = 0; i < n; /* void */) {

        /* a run of bytes written as they are, copied at once */
        end = i;

        while (end < n && ngx_http_mcp_json_width[s[end]] == 1) {
            end++;
        }

        if (end > i) {
            memcpy(dst, s + i, end - i);
            dst += end - i;
            i = end;
            continue;
        }

        c = s[i];

        switch (ngx_http_mcp_json_width[c]) {

        case 0:
            len = ngx_http_mcp_utf8_len(s + i, n - i);

            if (len == 0) {
                memcpy(dst, "\\ufffd", 6);
                dst += 6;
                i++;
                break;
            }

            memcpy(dst, s + i, len);
            dst += len;
            i += len;
            break;

        case 2:
            /* '"', '\\', and the controls with a short form */
            *dst++ = '\\';
            *dst++ = (c == '\n') ? 'n' : (c == '\r') ? 'r'
                     : (c == '\t') ? 't' : c;
            i++;
            break;

        default:
            /* the other control bytes and DEL */
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
            i++;
        }
    }

    return dst;
}


size_t
ngx_http_mcp_json_escaped_len(const unsigned char *s, size_t n)
{
    size_t  i, len, out, w;

    out = n;

    for (i = 0; i < n; /* void */) {
        w = ngx_http_mcp_json_width[s[i]];

        if (w) {
            out += w - 1;
            i++;
            continue;
        }

        len = ngx_http_mcp_utf8_len(s + i, n - i);
        out += len ? 0 : 5;
        i += len ? len : 1;
    }

    return out;
}


/*
 * The length of the well-formed UTF-8 sequence at s (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0.
 */

static size_t
ngx_http_mcp_utf8_len(const unsigned char *s, size_t n)
{
    size_t         len, i;
    unsigned char  lo, hi;

    lo = 0x80;
    hi = 0xbf;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;

    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        lo = (s[0] == 0xe0) ? 0xa0 : 0x80;
        hi = (s[0] == 0xed) ? 0x9f : 0xbf;

    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        lo = (s[0] == 0xf0) ? 0x90 : 0x80;
        hi = (s[0] == 0xf4) ? 0x8f : 0xbf;

    } else {
        return 0;
    }

    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }

    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }

    return len;
}
