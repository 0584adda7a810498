/* identity.h - verification of the gateway's signed identity headers
 * (docs/internals.md, "Signed identity"). Pure logic: no HTTP here. */
#ifndef SW_IDENTITY_H
#define SW_IDENTITY_H

#include <stddef.h>
#include <time.h>

/* Header values as received; NULL means the header was missing. */
typedef struct {
    const char *user;
    const char *roles;
    const char *auth;
    const char *key_id;
    const char *tenant;
    const char *time;
    const char *signature;
} sw_identity_t;

typedef enum {
    SW_ID_OK = 0,
    SW_ID_MISSING,          /* a header is absent */
    SW_ID_MALFORMED,        /* bad characters, bad time or signature format */
    SW_ID_STALE,            /* time more than the allowed skew from now */
    SW_ID_BAD_SIGNATURE     /* HMAC does not match */
} sw_identity_rc_t;

/* Checks all fields, the time window (|now - time| <= max_skew) and the
 * HMAC-SHA256 (constant-time compare). */
sw_identity_rc_t sw_identity_verify(const sw_identity_t *id,
    const unsigned char *key, size_t key_len, time_t now, long max_skew);

/* Short reason for logs (never includes header values). */
const char *sw_identity_reason(sw_identity_rc_t rc);

/* Computes "v1=<hex>" for id into out (at least 68 bytes). Used by tests
 * and by verification. Returns 0 on success. */
int sw_identity_sign(const sw_identity_t *id, const unsigned char *key,
    size_t key_len, char *out, size_t out_size);

/* Reads the secret file, strips surrounding white space. Returns a malloc'd
 * buffer (caller frees, after wiping) or NULL with a reason in err. */
unsigned char *sw_identity_load_secret(const char *path, size_t *len,
    char *err, size_t err_size);

#endif /* SW_IDENTITY_H */
