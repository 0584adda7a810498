/* config.c - CLI parsing and limit arithmetic. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
sw_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long  v;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;              /* empty, sign, or leading space */
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int
sw_parse_listen(const char *s, sw_config_t *cfg)
{
    const char *colon;
    size_t      hlen;
    long        port;

    if (strncmp(s, "unix:", 5) == 0) {
        const char *p = s + 5;
        if (p[0] != '/' || strlen(p) >= sizeof(cfg->unix_path)) {
            return -1;
        }
        cfg->listen_unix = 1;
        strcpy(cfg->unix_path, p);
        return 0;
    }
    colon = strrchr(s, ':');
    if (colon == NULL || colon == s) {
        return -1;
    }
    if (sw_parse_long(colon + 1, 1, 65535, &port) != 0) {
        return -1;
    }
    hlen = (size_t) (colon - s);
    if (s[0] == '[') {
        if (hlen < 3 || s[hlen - 1] != ']') {
            return -1;
        }
        s++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(cfg->host)) {
        return -1;
    }
    memcpy(cfg->host, s, hlen);
    cfg->host[hlen] = '\0';
    cfg->port = (int) port;
    cfg->listen_unix = 0;
    return 0;
}

void
sw_config_usage(const char *prog)
{
    printf(
"Usage: %s --toolset DIR --listen ADDR --identity-secret-file FILE\n"
"          --workspace-root DIR --data-dir DIR [options]\n"
"\n"
"Serves one tool set over MCP (JSON-RPC over HTTP POST /mcp). Every tool call\n"
"runs in a fresh, confined child of an embedded-CPython zygote.\n"
"\n"
"Required:\n"
"  --toolset DIR               tool set directory (tools.json, runner.py, ...)\n"
"  --listen ADDR               127.0.0.1:PORT, [::1]:PORT or unix:/path/to/sock\n"
"  --identity-secret-file FILE HMAC key shared with the gateway (>= %d bytes)\n"
"  --workspace-root DIR        parent of the per-user workspaces (created 0700)\n"
"  --data-dir DIR              read-only data for the tools (log files)\n"
"\n"
"Limits (per call unless noted):\n"
"  --wall-ms N          wall-clock limit, ms           (default %d)\n"
"  --cpu-ms N           CPU limit, ms (1 s resolution) (default %d)\n"
"  --memory-mb N        address-space limit, MiB       (default %d)\n"
"  --output-bytes N     output kept, bytes             (default %d)\n"
"  --max-concurrency N  calls running at once          (default %d)\n"
"  --queue N            calls waiting for a slot       (default %d)\n"
"  --prefork N          children kept forked and confined, waiting for a\n"
"                       call (0: fork per call)        (default %d)\n"
"  --workspace-quota-mb N  disk space of each user's workspace, MiB; over\n"
"                       it the workspace is read+delete only (default %d)\n"
"\n"
"Other:\n"
"  --user NAME          when started as root, switch to this user and its\n"
"                       group after binding and creating directories\n"
"  --allow-no-landlock  start even if the kernel lacks Landlock (then users'\n"
"                       workspaces are NOT isolated from each other)\n"
"  --help               show this text\n",
        prog, SW_IDENTITY_MIN_SECRET, SW_DEFAULT_WALL_MS, SW_DEFAULT_CPU_MS,
        SW_DEFAULT_MEMORY_MB, SW_DEFAULT_OUTPUT_BYTES, SW_DEFAULT_CONCURRENCY,
        SW_DEFAULT_QUEUE, SW_DEFAULT_PREFORK, SW_DEFAULT_QUOTA_MB);
}

enum {
    OPT_TOOLSET = 256, OPT_LISTEN, OPT_SECRET, OPT_WORKSPACE, OPT_DATA,
    OPT_CONC, OPT_QUEUE, OPT_WALL, OPT_CPU, OPT_MEM, OPT_OUT, OPT_USER,
    OPT_NO_LANDLOCK, OPT_HELP, OPT_ZYGOTE_FD, OPT_PREFORK, OPT_QUOTA
};

/* Table of the numeric flags: where the value goes and its range. */
typedef struct {
    int         opt;
    const char *name;
    long        min;
    long        max;
    size_t      offset;
} sw_num_flag_t;

static const sw_num_flag_t sw_num_flags[] = {
    { OPT_CONC, "--max-concurrency", SW_MIN_CONCURRENCY, SW_MAX_CONCURRENCY,
      offsetof(sw_config_t, max_concurrency) },
    { OPT_QUEUE, "--queue", SW_MIN_QUEUE, SW_MAX_QUEUE,
      offsetof(sw_config_t, queue) },
    { OPT_WALL, "--wall-ms", SW_MIN_WALL_MS, SW_MAX_WALL_MS,
      offsetof(sw_config_t, limits.wall_ms) },
    { OPT_CPU, "--cpu-ms", SW_MIN_CPU_MS, SW_MAX_CPU_MS,
      offsetof(sw_config_t, limits.cpu_ms) },
    { OPT_MEM, "--memory-mb", SW_MIN_MEMORY_MB, SW_MAX_MEMORY_MB,
      offsetof(sw_config_t, limits.memory_mb) },
    { OPT_OUT, "--output-bytes", SW_MIN_OUTPUT_BYTES, SW_MAX_OUTPUT_BYTES,
      offsetof(sw_config_t, limits.output_bytes) },
    { OPT_PREFORK, "--prefork", SW_MIN_PREFORK, SW_MAX_PREFORK,
      offsetof(sw_config_t, prefork) },
    { OPT_QUOTA, "--workspace-quota-mb", SW_MIN_QUOTA_MB, SW_MAX_QUOTA_MB,
      offsetof(sw_config_t, quota_mb) },
    { OPT_ZYGOTE_FD, "--zygote-fd", 3, 1023,
      offsetof(sw_config_t, zygote_fd) },
};

int
sw_config_parse(int argc, char **argv, sw_config_t *cfg, char *err,
    size_t err_size)
{
    static const struct option opts[] = {
        { "toolset", required_argument, NULL, OPT_TOOLSET },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "identity-secret-file", required_argument, NULL, OPT_SECRET },
        { "workspace-root", required_argument, NULL, OPT_WORKSPACE },
        { "data-dir", required_argument, NULL, OPT_DATA },
        { "max-concurrency", required_argument, NULL, OPT_CONC },
        { "queue", required_argument, NULL, OPT_QUEUE },
        { "wall-ms", required_argument, NULL, OPT_WALL },
        { "cpu-ms", required_argument, NULL, OPT_CPU },
        { "memory-mb", required_argument, NULL, OPT_MEM },
        { "output-bytes", required_argument, NULL, OPT_OUT },
        { "prefork", required_argument, NULL, OPT_PREFORK },
        { "workspace-quota-mb", required_argument, NULL, OPT_QUOTA },
        { "user", required_argument, NULL, OPT_USER },
        { "allow-no-landlock", no_argument, NULL, OPT_NO_LANDLOCK },
        { "help", no_argument, NULL, OPT_HELP },
        /* internal: the daemon re-executes itself as the zygote */
        { "zygote-fd", required_argument, NULL, OPT_ZYGOTE_FD },
        { NULL, 0, NULL, 0 }
    };
    size_t i;
    int    c;

    memset(cfg, 0, sizeof(*cfg));
    cfg->max_concurrency = SW_DEFAULT_CONCURRENCY;
    cfg->queue = SW_DEFAULT_QUEUE;
    cfg->prefork = SW_DEFAULT_PREFORK;
    cfg->quota_mb = SW_DEFAULT_QUOTA_MB;
    cfg->limits.wall_ms = SW_DEFAULT_WALL_MS;
    cfg->limits.cpu_ms = SW_DEFAULT_CPU_MS;
    cfg->limits.memory_mb = SW_DEFAULT_MEMORY_MB;
    cfg->limits.output_bytes = SW_DEFAULT_OUTPUT_BYTES;
    cfg->zygote_fd = -1;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case OPT_TOOLSET:
            cfg->toolset_dir = optarg;
            continue;
        case OPT_LISTEN:
            if (sw_parse_listen(optarg, cfg) != 0) {
                snprintf(err, err_size, "--listen: expected 127.0.0.1:PORT,"
                         " [::1]:PORT or unix:/absolute/path, got \"%s\"",
                         optarg);
                return -1;
            }
            cfg->listen = optarg;
            continue;
        case OPT_SECRET:
            cfg->secret_file = optarg;
            continue;
        case OPT_WORKSPACE:
            cfg->workspace_root = optarg;
            continue;
        case OPT_DATA:
            cfg->data_dir = optarg;
            continue;
        case OPT_USER:
            cfg->user = optarg;
            continue;
        case OPT_NO_LANDLOCK:
            cfg->allow_no_landlock = 1;
            continue;
        case OPT_HELP:
            sw_config_usage(argv[0]);
            return 1;
        case ':':
            snprintf(err, err_size, "%s needs a value", argv[optind - 1]);
            return -1;
        case '?':
            snprintf(err, err_size, "unknown flag %s (see --help)",
                     argv[optind - 1]);
            return -1;
        default:
            break;
        }
        for (i = 0; i < sizeof(sw_num_flags) / sizeof(sw_num_flags[0]); i++) {
            const sw_num_flag_t *f = &sw_num_flags[i];
            if (f->opt != c) {
                continue;
            }
            long v;
            if (sw_parse_long(optarg, f->min, f->max, &v) != 0) {
                snprintf(err, err_size, "%s: expected an integer from %ld to"
                         " %ld, got \"%s\"", f->name, f->min, f->max, optarg);
                return -1;
            }
            if (c == OPT_ZYGOTE_FD) {
                cfg->zygote_fd = (int) v;
                cfg->zygote_mode = 1;
            } else {
                *(long *) ((char *) cfg + f->offset) = v;
            }
        }
    }
    if (optind < argc) {
        snprintf(err, err_size, "unexpected argument \"%s\" (see --help)",
                 argv[optind]);
        return -1;
    }
    if (cfg->toolset_dir == NULL) {
        snprintf(err, err_size, "--toolset is required");
        return -1;
    }
    if (cfg->data_dir == NULL) {
        snprintf(err, err_size, "--data-dir is required");
        return -1;
    }
    if (cfg->zygote_mode) {
        return 0;               /* the zygote needs nothing else */
    }
    if (cfg->listen == NULL) {
        snprintf(err, err_size, "--listen is required");
        return -1;
    }
    if (cfg->secret_file == NULL) {
        snprintf(err, err_size, "--identity-secret-file is required");
        return -1;
    }
    if (cfg->workspace_root == NULL) {
        snprintf(err, err_size, "--workspace-root is required");
        return -1;
    }
    return 0;
}

int
sw_limits_for_call(const sw_limits_t *base, int has_timeout,
    double timeout_s, sw_limits_t *out)
{
    *out = *base;
    if (!has_timeout) {
        return 0;
    }
    if (!isfinite(timeout_s) || timeout_s <= 0) {
        return -1;
    }
    if (timeout_s * 1000.0 < (double) base->wall_ms) {
        long ms = (long) ceil(timeout_s * 1000.0);
        out->wall_ms = ms < 1 ? 1 : ms;
    }
    /* RLIMIT_CPU counts whole seconds: keep at least 1 s. */
    if (out->cpu_ms > out->wall_ms) {
        out->cpu_ms = out->wall_ms < 1000 ? 1000 : out->wall_ms;
    }
    return 0;
}
