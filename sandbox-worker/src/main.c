/* main.c - start-up of mcp-sandbox-worker: config, directories, listening
 * socket, privilege drop, zygote, HTTP, signals.
 *
 * Order matters: the zygote is started before any thread exists; it is
 * exec'd, so it never holds the identity secret. */
#include "config.h"
#include "confine.h"
#include "http.h"
#include "identity.h"
#include "limits.h"
#include "mcp.h"
#include "pool.h"
#include "util.h"
#include "zygote.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

static void
sw_fatal(const char *event, const char *reason)
{
    sw_log("error", event, json_pack("{s:s}", "reason", reason));
    fprintf(stderr, "mcp-sandbox-worker: %s\n", reason);
}

/* Resolves a required directory to an absolute path (Landlock rules and
 * the zygote need stable absolute paths). */
static char *
sw_dir(const char *path, const char *flag)
{
    char        msg[SW_PATH_MAX + 64];
    struct stat st;
    char       *abs = realpath(path, NULL);

    if (abs == NULL || stat(abs, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(msg, sizeof(msg), "%s: %s is not a usable directory", flag,
                 path);
        sw_fatal("bad_config", msg);
        free(abs);
        return NULL;
    }
    return abs;
}

static int
sw_listen(const sw_config_t *cfg, uid_t uid, gid_t gid)
{
    int fd, one = 1;

    if (cfg->listen_unix) {
        struct sockaddr_un sa;
        struct stat        st;

        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        strcpy(sa.sun_path, cfg->unix_path);
        /* Remove a stale socket, never anything else. */
        if (lstat(cfg->unix_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            (void) unlink(cfg->unix_path);
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
            || chmod(cfg->unix_path, 0660) != 0
            || (uid != (uid_t) -1 && chown(cfg->unix_path, uid, gid) != 0)
            || listen(fd, 128) != 0)
        {
            sw_fatal("listen_failed", strerror(errno));
            return -1;
        }
        return fd;
    } else {
        struct addrinfo hints, *ai = NULL;
        char            port[16];
        int             rc;

        memset(&hints, 0, sizeof(hints));
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
        hints.ai_socktype = SOCK_STREAM;
        snprintf(port, sizeof(port), "%d", cfg->port);
        rc = getaddrinfo(cfg->host, port, &hints, &ai);
        if (rc != 0) {
            sw_fatal("bad_config", "--listen: host must be a numeric address");
            return -1;
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0
            || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
            || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0
            || listen(fd, 128) != 0)
        {
            sw_fatal("listen_failed", strerror(errno));
            freeaddrinfo(ai);
            return -1;
        }
        freeaddrinfo(ai);
        return fd;
    }
}

static int
sw_make_workspace_root(const char *path, uid_t uid, gid_t gid)
{
    if (mkdir(path, 0711) != 0 && errno != EEXIST) {
        sw_fatal("bad_config", "--workspace-root: cannot create directory");
        return -1;
    }
    if (uid != (uid_t) -1 && chown(path, uid, gid) != 0) {
        sw_fatal("bad_config", "--workspace-root: cannot chown to --user");
        return -1;
    }
    return 0;
}

static int
sw_drop_privileges(const struct passwd *pw)
{
    if (setgroups(1, &pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0
        || setuid(pw->pw_uid) != 0)
    {
        sw_fatal("privilege_drop_failed", strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        sw_fatal("privilege_drop_failed", "root could be regained");
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    sw_config_t     cfg;
    sw_pool_t       pool;
    sw_mcp_t        mcp;
    sw_http_t       http;
    struct passwd  *pw = NULL;
    unsigned char  *secret;
    size_t          secret_len;
    char            err[512];
    char           *toolset, *data, *wsroot;
    sigset_t        sigs;
    uid_t           uid = (uid_t) -1;
    gid_t           gid = (gid_t) -1;
    int             rc, lfd, sig, abi;

    rc = sw_config_parse(argc, argv, &cfg, err, sizeof(err));
    if (rc == 1) {
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "mcp-sandbox-worker: %s\n", err);
        return 2;
    }
    if (cfg.zygote_mode) {
        return sw_zygote_main(&cfg);
    }

    signal(SIGPIPE, SIG_IGN);
    /* The daemon holds the identity secret: no core dumps, no ptrace. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        sw_fatal("prctl_failed", strerror(errno));
        return 1;
    }

    toolset = sw_dir(cfg.toolset_dir, "--toolset");
    data = sw_dir(cfg.data_dir, "--data-dir");
    if (toolset == NULL || data == NULL) {
        return 2;
    }
    cfg.toolset_dir = toolset;
    cfg.data_dir = data;

    memset(&mcp, 0, sizeof(mcp));
    if (sw_mcp_load_tools(&mcp, toolset, err, sizeof(err)) != 0) {
        sw_fatal("bad_toolset", err);
        return 2;
    }

    secret = sw_identity_load_secret(cfg.secret_file, &secret_len, err,
                                     sizeof(err));
    if (secret == NULL) {
        sw_fatal("bad_secret", err);
        return 2;
    }

    abi = sw_landlock_abi();
    if (abi == 0) {
        sw_log("error", "landlock_unavailable",
               json_pack("{s:s}", "reason", "the kernel has no Landlock:"
                         " workspaces of different users are NOT isolated"));
        if (!cfg.allow_no_landlock) {
            fprintf(stderr, "mcp-sandbox-worker: Landlock is unavailable;"
                    " refusing to start (use --allow-no-landlock to run"
                    " without workspace isolation)\n");
            return 1;
        }
    }

    if (cfg.user != NULL) {
        pw = getpwnam(cfg.user);
        if (pw == NULL) {
            fprintf(stderr, "mcp-sandbox-worker: --user: no such user \"%s\"\n",
                    cfg.user);
            return 2;
        }
        if (geteuid() == 0) {
            uid = pw->pw_uid;
            gid = pw->pw_gid;
        } else {
            sw_log("warn", "user_ignored",
                   json_pack("{s:s}", "reason", "not started as root"));
            pw = NULL;
        }
    }

    if (sw_make_workspace_root(cfg.workspace_root, uid, gid) != 0) {
        return 1;
    }
    wsroot = sw_dir(cfg.workspace_root, "--workspace-root");
    if (wsroot == NULL) {
        return 2;
    }
    lfd = sw_listen(&cfg, uid, gid);
    if (lfd < 0) {
        return 1;
    }
    if (pw != NULL && sw_drop_privileges(pw) != 0) {
        return 1;
    }

    /* Before any thread and the zygote exist, so all of them (and the
     * zygote's children) inherit it: the short slice of a call's path. */
    if (sw_sched_slice(0, SCHED_OTHER, SW_SLICE_CALL_US) != 0) {
        sw_log("warn", "sched_slice_failed",
               json_pack("{s:s}", "error", strerror(errno)));
    }

    /* Signals are taken by sigwait below; block them before any thread
     * exists so every thread inherits the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
        return 1;
    }

    if (sw_pool_start(&pool, &cfg) != 0) {
        sw_fatal("zygote_failed", "the zygote did not start (see its log)");
        return 1;
    }
    if (sw_pool_run(&pool) != 0) {
        sw_fatal("thread_failed", "cannot start the reader thread");
        return 1;
    }

    mcp.workspace_root = wsroot;
    mcp.limits = cfg.limits;
    mcp.quota_mb = cfg.quota_mb;
    mcp.pool = &pool;
    memset(&http, 0, sizeof(http));
    http.mcp = &mcp;
    http.pool = &pool;
    http.secret = secret;
    http.secret_len = secret_len;
    if (sw_http_start(&http, lfd) != 0) {
        sw_fatal("http_failed", "libmicrohttpd did not start");
        return 1;
    }

    sw_log("info", "started",
           json_pack("{s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}",
                     "listen", cfg.listen, "server", mcp.server_name,
                     "landlock_abi", abi,
                     "wall_ms", (json_int_t) cfg.limits.wall_ms,
                     "cpu_ms", (json_int_t) cfg.limits.cpu_ms,
                     "memory_mb", (json_int_t) cfg.limits.memory_mb,
                     "output_bytes", (json_int_t) cfg.limits.output_bytes,
                     "max_concurrency", (json_int_t) cfg.max_concurrency,
                     "queue", (json_int_t) cfg.queue,
                     "prefork", (json_int_t) cfg.prefork,
                     "workspace_quota_mb", (json_int_t) cfg.quota_mb,
                     "landlock_enforced", abi > 0));
    printf("mcp-sandbox-worker ready on %s\n", cfg.listen);
    fflush(stdout);

    for (;;) {
        if (sigwait(&sigs, &sig) == 0) {
            break;
        }
    }
    sw_log("info", "stopping", json_pack("{s:i}", "signal", sig));
    sw_pool_stop(&pool);                /* pending calls fail fast */
    sw_http_stop(&http);
    if (cfg.listen_unix) {
        (void) unlink(cfg.unix_path);
    }
    OPENSSL_cleanse(secret, secret_len);
    free(secret);
    return 0;
}
