/* confine.h - confinement of one tool-call child (runs in the child, after
 * fork from the zygote), plus the pieces the zygote prepares once. */
#ifndef SW_CONFINE_H
#define SW_CONFINE_H

#include <stddef.h>
#include <linux/filter.h>
#include "config.h"

/* Prepared once in the zygote; read-only afterwards. */
typedef struct {
    int                 landlock_abi;   /* 0: Landlock unavailable */
    struct sock_fprog   bpf;            /* prebuilt seccomp program */
    const char         *toolset_dir;    /* absolute, read-only in child */
    const char         *data_dir;       /* absolute, read-only in child */
} sw_confine_t;

/* Highest Landlock ABI the kernel supports, 0 if none. */
int sw_landlock_abi(void);

/* Builds the seccomp program with libseccomp and exports it to memory. */
int sw_confine_init(sw_confine_t *c, char *err, size_t err_size);

/* Confines the calling (child) process: fds (0=/dev/null, 1,2=out_fd,
 * nothing else), cwd=workspace, rlimits, non-dumpable, NO_NEW_PRIVS,
 * Landlock, then seccomp. On failure returns -1 with a reason in err;
 * the caller must then exit without running anything. */
int sw_confine_child(const sw_confine_t *c, int out_fd, const char *workspace,
    const sw_limits_t *lim, char *err, size_t err_size);

#endif /* SW_CONFINE_H */
