/* config.h - command line and per-call limit logic (pure, unit-tested). */
#ifndef SW_CONFIG_H
#define SW_CONFIG_H

#include <stddef.h>
#include "limits.h"

/* Limits of one call. */
typedef struct {
    long wall_ms;
    long cpu_ms;
    long memory_mb;
    long output_bytes;
} sw_limits_t;

typedef struct {
    const char  *toolset_dir;
    const char  *listen;            /* as given, for the ready line */
    int          listen_unix;       /* 1: unix socket at unix_path */
    char         unix_path[108];
    char         host[64];
    int          port;
    const char  *secret_file;
    const char  *workspace_root;
    const char  *data_dir;
    const char  *user;              /* drop to this user when root */
    long         max_concurrency;
    long         queue;
    long         prefork;           /* waiting confined children */
    long         quota_mb;          /* per-user workspace quota */
    sw_limits_t  limits;
    int          allow_no_landlock;
    int          zygote_mode;       /* internal: run as the zygote */
    int          zygote_fd;
} sw_config_t;

/* Parses a decimal integer in [min, max]. No sign, no spaces, no
 * trailing characters. Returns 0 on success, -1 otherwise. */
int sw_parse_long(const char *s, long min, long max, long *out);

/* Parses "unix:/abs/path", "A.B.C.D:PORT" or "[v6]:PORT" into cfg. */
int sw_parse_listen(const char *s, sw_config_t *cfg);

/* Fills defaults, then parses argv. Returns 0 to run, 1 when --help was
 * printed, -1 on error with a sentence naming the flag in err. */
int sw_config_parse(int argc, char **argv, sw_config_t *cfg, char *err,
    size_t err_size);

/* Prints the usage text. */
void sw_config_usage(const char *prog);

/* Limits for one call: base, with the wall limit optionally LOWERED to
 * timeout_s seconds (never raised). The CPU limit is lowered to match (it
 * cannot usefully exceed the wall). Returns -1 when timeout_s is not a
 * finite number > 0. */
int sw_limits_for_call(const sw_limits_t *base, int has_timeout,
    double timeout_s, sw_limits_t *out);

#endif /* SW_CONFIG_H */
