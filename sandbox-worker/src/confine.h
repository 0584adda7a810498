/* confine.h - confinement of tool-call children, in two steps:
 *
 *   spare (right after fork from the zygote, before any call is known):
 *     fds, rlimits at the configured limits, non-dumpable, NO_NEW_PRIVS,
 *     the main seccomp filter;
 *   call (when the call has arrived on SW_CHILD_CALL_FD):
 *     chdir to the user's workspace, the Landlock layer for it, and a
 *     small lockdown filter that denies further Landlock/seccomp changes.
 *
 * The zygote lowers the rlimits to the call's values from outside
 * (prlimit) before handing the call over. */
#ifndef SW_CONFINE_H
#define SW_CONFINE_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/filter.h>
#include "config.h"

/* A waiting child reads its call frame on SW_CHILD_CALL_FD; its output
 * pipe waits on SW_CHILD_OUT_FD (stdout and stderr are /dev/null until
 * the call). Both are gone before user code runs. */
#define SW_CHILD_CALL_FD    3
#define SW_CHILD_OUT_FD     4

/* The spare's Landlock ruleset, the workspace rule still missing. */
#define SW_CHILD_RULESET_FD 5

/* Prepared once in the zygote; read-only afterwards. */
typedef struct {
    int                 landlock_abi;   /* 0: Landlock unavailable */
    struct sock_fprog   bpf;            /* main seccomp program */
    struct sock_fprog   lockdown;       /* denies landlock_*, seccomp */
    const char         *toolset_dir;    /* absolute, read-only in child */
    const char         *data_dir;       /* absolute, read-only in child */
} sw_confine_t;

/* Highest Landlock ABI the kernel supports, 0 if none. */
int sw_landlock_abi(void);

/* Builds both seccomp programs with libseccomp, exported to memory. */
int sw_confine_init(sw_confine_t *c, char *err, size_t err_size);

/* Step 1, in a fresh child: fds (0,1,2=/dev/null, SW_CHILD_CALL_FD and
 * SW_CHILD_OUT_FD, nothing else), rlimits from lim, non-dumpable,
 * NO_NEW_PRIVS, the Landlock ruleset without the workspace
 * (SW_CHILD_RULESET_FD), main seccomp filter. Limits are only ever
 * lowered. On failure returns -1 with the reason in err, also written to
 * the output pipe; the caller must then exit without running anything. */
int sw_confine_spare(const sw_confine_t *c, int out_fd, int call_fd,
    const sw_limits_t *lim, char *err, size_t err_size);

/* Step 2, once the call is known: call pipe closed, stdout and stderr to
 * the output pipe, cwd = workspace, the workspace rule (read-write, or
 * read+remove when !writable) and Landlock in force, lockdown filter. */
int sw_confine_call(const sw_confine_t *c, const char *workspace,
    int writable, char *err, size_t err_size);

/* Run by the zygote on a waiting child: lowers its address-space, CPU and
 * file-size limits to the call's (never raises them). */
int sw_confine_lower_limits(pid_t pid, const sw_limits_t *lim,
    long fsize_bytes);

#endif /* SW_CONFINE_H */
