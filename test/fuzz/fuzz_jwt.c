/*
 * libFuzzer harness: JWT verification and JWKS parsing
 * (ngx_http_mcp_jwt.c).  Inputs starting with '{' are JWKS documents.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ngx_http_mcp_jwt.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                        err[128];
    ngx_http_mcp_jwks_t        *jwks;
    ngx_http_mcp_jwt_policy_t   policy;
    ngx_http_mcp_jwt_result_t   result;

    static const char *const  audiences[] = { "https://gw/mcp" };

    if (size && data[0] == '{') {
        jwks = ngx_http_mcp_jwks_parse((const char *) data, size, err,
                                       sizeof(err));
        if (jwks) {
            ngx_http_mcp_jwks_free(jwks);
        }

        return 0;
    }

    memset(&policy, 0, sizeof(policy));
    policy.issuer = "https://idp";
    policy.audiences = audiences;
    policy.naudiences = 1;
    policy.leeway = 30;
    policy.now = 1700000000;
    policy.user_claim = "preferred_username";
    policy.roles_claim = "realm_access.roles";
    policy.hmac_secret = (const unsigned char *)
                         "0123456789abcdef0123456789abcdef";
    policy.hmac_secret_len = 32;

    memset(&result, 0, sizeof(result));
    ngx_http_mcp_jwt_verify((const char *) data, size, NULL, &policy,
                            &result);
    ngx_http_mcp_jwt_result_free(&result);

    return 0;
}
