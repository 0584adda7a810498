/* identity.h - verification of the gateway's signed identity header
 * (docs/internals.md, "Signed identity"). Pure logic: no HTTP here. */
#ifndef SW_IDENTITY_H
#define SW_IDENTITY_H

#include <stddef.h>
#include <time.h>

#include "limits.h"

/* The X-MCP-Identity header, decoded: each field is NUL-terminated inside
 * msg. Valid only after sw_identity_verify() returned SW_ID_OK. */
typedef struct {
    char        msg[SW_IDENTITY_MAX_MESSAGE + 1];
    const char *time;
    const char *user;
    const char *roles;
    const char *auth;
    const char *key_id;
    const char *tenant;
} sw_identity_t;

typedef enum {
    SW_ID_OK = 0,
    SW_ID_MISSING,          /* no header */
    SW_ID_MALFORMED,        /* bad encoding, fields, time or signature size */
    SW_ID_STALE,            /* time more than the allowed skew from now */
    SW_ID_BAD_SIGNATURE     /* HMAC does not match */
} sw_identity_rc_t;

/* Decodes header (NULL: missing) into id and checks the HMAC-SHA256
 * (constant-time compare), the fields and the time window
 * (|now - time| <= max_skew). */
sw_identity_rc_t sw_identity_verify(const char *header,
    const unsigned char *key, size_t key_len, time_t now, long max_skew,
    sw_identity_t *id);

/* Short reason for logs (never includes header values). */
const char *sw_identity_reason(sw_identity_rc_t rc);

/* The header value for fields {time, user, roles, auth, key id, tenant},
 * NUL-terminated, into out. For tests and tools. Returns 0 on success. */
int sw_identity_sign(const char *const fields[6], const unsigned char *key,
    size_t key_len, char *out, size_t out_size);

/* Reads the secret file, strips surrounding white space. Returns a malloc'd
 * buffer (caller frees, after wiping) or NULL with a reason in err. */
unsigned char *sw_identity_load_secret(const char *path, size_t *len,
    char *err, size_t err_size);

#endif /* SW_IDENTITY_H */
