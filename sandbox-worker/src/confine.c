/* confine.c - rlimits, Landlock and seccomp for tool-call children.
 *
 * Nothing here needs root or capabilities: NO_NEW_PRIVS makes seccomp and
 * Landlock available to any UID. Layers, each covering what the others do
 * not: seccomp (no network, no processes, no signals to others), Landlock
 * (file access limited to /usr, the tool set, the data and this user's
 * workspace; it also keeps /proc/<zygote>/mem out of reach), rlimits
 * (memory, CPU, file size), non-dumpable (no ptrace-style access). */
#include "confine.h"
#include "limits.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* Debian 12's headers stop at Landlock ABI 2; newer constants are defined
 * here (values from the kernel UAPI), guarded so newer headers win. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER            (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE         (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV        (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP        (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP     (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL               (1ULL << 1)
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE                 (1U << 1)
#endif

/* Our own copy of the ABI-6 ruleset attribute; the kernel accepts a
 * shorter size for older ABIs (we pass only what that ABI knows). */
typedef struct {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
} sw_ll_ruleset_attr_t;

/* Filesystem rights of ABI 1 (EXECUTE .. MAKE_SYM). */
#define SW_LL_FS_ABI1   ((1ULL << 13) - 1)

#define SW_LL_READ      (LANDLOCK_ACCESS_FS_READ_FILE                        \
                         | LANDLOCK_ACCESS_FS_READ_DIR)

/* Workspace: read/write regular files and directories. No EXECUTE,
 * MAKE_SYM, MAKE_FIFO/SOCK/CHAR/BLOCK or REFER (no rename across dirs
 * out of it; links are also blocked by seccomp). */
#define SW_LL_WRITE     (SW_LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE          \
                         | LANDLOCK_ACCESS_FS_REMOVE_DIR                     \
                         | LANDLOCK_ACCESS_FS_REMOVE_FILE                    \
                         | LANDLOCK_ACCESS_FS_MAKE_DIR                       \
                         | LANDLOCK_ACCESS_FS_MAKE_REG)

/* Workspace over its quota: read and delete only. */
#define SW_LL_READ_REMOVE (SW_LL_READ | LANDLOCK_ACCESS_FS_REMOVE_DIR        \
                           | LANDLOCK_ACCESS_FS_REMOVE_FILE)

int
sw_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int) abi;
}

/* ---- seccomp ---- */

/* Syscalls a confined CPython needs after fork (sandboxing notes §4c). */
static const int sw_sc_allow[] = {
    /* file I/O (what may be opened is Landlock's business) */
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
    SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(close),
    SCMP_SYS(lseek), SCMP_SYS(fstat), SCMP_SYS(stat), SCMP_SYS(lstat),
    SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(open), SCMP_SYS(openat),
    SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
    SCMP_SYS(getdents64), SCMP_SYS(fcntl), SCMP_SYS(ftruncate),
    SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(readlink),
    SCMP_SYS(readlinkat), SCMP_SYS(getcwd), SCMP_SYS(chdir),
    SCMP_SYS(fchdir), SCMP_SYS(fstatfs), SCMP_SYS(flock),
    SCMP_SYS(fadvise64), SCMP_SYS(utimensat), SCMP_SYS(umask),
    SCMP_SYS(close_range),
    /* workspace mutation */
    SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(unlink),
    SCMP_SYS(unlinkat), SCMP_SYS(rmdir), SCMP_SYS(rename),
    SCMP_SYS(renameat), SCMP_SYS(renameat2),
    /* memory */
    SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
    SCMP_SYS(madvise), SCMP_SYS(mprotect),
    /* signals (own process only: kill & co. are denied below) */
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
    /* time, sync, randomness */
    SCMP_SYS(futex), SCMP_SYS(getrandom), SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_getres), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(sched_yield),
    /* identity and process info */
    SCMP_SYS(getpid), SCMP_SYS(getppid), SCMP_SYS(gettid),
    SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid),
    SCMP_SYS(getegid), SCMP_SYS(getresuid), SCMP_SYS(getresgid),
    SCMP_SYS(getgroups), SCMP_SYS(getpgrp), SCMP_SYS(getpgid),
    SCMP_SYS(getsid), SCMP_SYS(getrlimit), SCMP_SYS(getrusage),
    SCMP_SYS(times), SCMP_SYS(sched_getaffinity), SCMP_SYS(uname),
    SCMP_SYS(sysinfo), SCMP_SYS(getcpu),
    /* waiting and fd plumbing inside the process */
    SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
    SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(pipe),
    SCMP_SYS(pipe2),
    /* the end */
    SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
    /* only until the call starts: the per-call Landlock layer, then the
     * lockdown filter, which denies these four to the user's code */
    SCMP_SYS(landlock_create_ruleset), SCMP_SYS(landlock_add_rule),
    SCMP_SYS(landlock_restrict_self), SCMP_SYS(seccomp),
};

/* What the lockdown filter denies (EPERM), once the call's own Landlock
 * layer is in place; everything else is left to the main filter. */
static const int sw_sc_lockdown[] = {
    SCMP_SYS(landlock_create_ruleset), SCMP_SYS(landlock_add_rule),
    SCMP_SYS(landlock_restrict_self), SCMP_SYS(seccomp),
};

/* Syscalls users will try: a clear EPERM (PermissionError) instead of the
 * default ENOSYS. */
static const int sw_sc_eperm[] = {
    /* network */
    SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect),
    SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
    SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg),
    SCMP_SYS(recvmsg), SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg),
    SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(shutdown),
    SCMP_SYS(getsockname), SCMP_SYS(getpeername),
    /* processes: no exec, no fork, no threads */
    SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork), SCMP_SYS(vfork),
    SCMP_SYS(clone), SCMP_SYS(clone3),
    /* signals to anyone (a child has no business signalling) */
    SCMP_SYS(kill), SCMP_SYS(tkill), SCMP_SYS(tgkill),
    SCMP_SYS(rt_sigqueueinfo), SCMP_SYS(rt_tgsigqueueinfo),
    SCMP_SYS(pidfd_open), SCMP_SYS(pidfd_send_signal), SCMP_SYS(pidfd_getfd),
    /* other processes' memory */
    SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
    SCMP_SYS(kcmp),
    /* namespaces and mounts */
    SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root),
    SCMP_SYS(chroot), SCMP_SYS(unshare), SCMP_SYS(setns),
    /* kernel attack surface */
    SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key),
    SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd),
    SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register), SCMP_SYS(personality),
    SCMP_SYS(prctl), SCMP_SYS(memfd_create), SCMP_SYS(name_to_handle_at),
    SCMP_SYS(open_by_handle_at), SCMP_SYS(move_pages), SCMP_SYS(mbind),
    SCMP_SYS(migrate_pages),
    /* links and metadata changes */
    SCMP_SYS(symlink), SCMP_SYS(symlinkat), SCMP_SYS(link), SCMP_SYS(linkat),
    SCMP_SYS(chmod), SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(chown),
    SCMP_SYS(fchown), SCMP_SYS(lchown), SCMP_SYS(fchownat),
    SCMP_SYS(mknod), SCMP_SYS(mknodat),
    /* credentials and limits */
    SCMP_SYS(setrlimit), SCMP_SYS(setuid), SCMP_SYS(setgid),
    SCMP_SYS(setreuid), SCMP_SYS(setregid), SCMP_SYS(setresuid),
    SCMP_SYS(setresgid), SCMP_SYS(setgroups),
};

static int
sw_sc_add(scmp_filter_ctx ctx, uint32_t action, int nr, char *err,
    size_t err_size)
{
    int rc = seccomp_rule_add(ctx, action, nr, 0);

    /* -EDOM etc.: a pseudo syscall this architecture does not have. */
    if (rc != 0 && nr >= 0) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        snprintf(err, err_size, "seccomp rule for %s: %s",
                 name ? name : "?", strerror(-rc));
        free(name);
        return -1;
    }
    return 0;
}

/* libseccomp 2.5 exports only to an fd: go through a pipe into memory. */
static int
sw_export_bpf(scmp_filter_ctx ctx, struct sock_fprog *prog, char *err,
    size_t err_size)
{
    size_t          cap = 64 * 1024, len = 0;
    unsigned char  *buf = NULL;
    int             p[2], rc = -1;

    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, err_size, "pipe: %s", strerror(errno));
        return -1;
    }
    rc = seccomp_export_bpf(ctx, p[1]);
    close(p[1]);
    if (rc != 0) {
        snprintf(err, err_size, "seccomp_export_bpf: %s", strerror(-rc));
        close(p[0]);
        return -1;
    }
    rc = -1;
    buf = malloc(cap);
    if (buf == NULL) {
        snprintf(err, err_size, "out of memory");
        goto done;
    }
    for (;;) {
        ssize_t n = read(p[0], buf + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(err, err_size, "read bpf: %s", strerror(errno));
            goto done;
        }
        if (n == 0) {
            break;
        }
        len += (size_t) n;
        if (len == cap) {
            snprintf(err, err_size, "seccomp program too large");
            goto done;
        }
    }
    if (len == 0 || len % sizeof(struct sock_filter) != 0) {
        snprintf(err, err_size, "seccomp program has a bad size");
        goto done;
    }
    prog->filter = (struct sock_filter *) buf;
    prog->len = (unsigned short) (len / sizeof(struct sock_filter));
    buf = NULL;
    rc = 0;

done:
    free(buf);
    close(p[0]);
    return rc;
}

/* A new filter context; a foreign architecture (e.g. 32-bit int 0x80) is
 * never legitimate and kills the process. */
static scmp_filter_ctx
sw_sc_new(uint32_t def_action, char *err, size_t err_size)
{
    scmp_filter_ctx ctx = seccomp_init(def_action);

    if (ctx == NULL) {
        snprintf(err, err_size, "seccomp_init failed");
        return NULL;
    }
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)
        != 0)
    {
        snprintf(err, err_size, "seccomp bad-arch action");
        seccomp_release(ctx);
        return NULL;
    }
    return ctx;
}

static int
sw_sc_add_list(scmp_filter_ctx ctx, uint32_t action, const int *nrs,
    size_t n, char *err, size_t err_size)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (sw_sc_add(ctx, action, nrs[i], err, err_size) != 0) {
            return -1;
        }
    }
    return 0;
}

#define SW_NELTS(a)  (sizeof(a) / sizeof((a)[0]))

/* The main filter: default-deny (ENOSYS, so glibc fallbacks work). */
static int
sw_build_main(struct sock_fprog *prog, char *err, size_t err_size)
{
    scmp_filter_ctx ctx = sw_sc_new(SCMP_ACT_ERRNO(ENOSYS), err, err_size);
    int             rc = -1;

    if (ctx == NULL) {
        return -1;
    }
    /* A binary tree of syscall numbers rather than a list: the same rules,
     * fewer instructions per syscall, and the kernel's check of the filter
     * at each spare's seccomp() takes about 0.25 ms instead of 0.4 here.
     * A speed hint only (an older libseccomp keeps the list); not for the
     * few-rule lockdown filter (libseccomp < 2.5.4 mishandles a tree
     * without rules, and a tree gains nothing there). */
    (void) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (sw_sc_add_list(ctx, SCMP_ACT_ALLOW, sw_sc_allow, SW_NELTS(sw_sc_allow),
                       err, err_size) != 0
        || sw_sc_add_list(ctx, SCMP_ACT_ERRNO(EPERM), sw_sc_eperm,
                          SW_NELTS(sw_sc_eperm), err, err_size) != 0)
    {
        goto done;
    }
    /* ioctl only for what file objects do (isatty, close-on-exec). */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_EQ, TCGETS)) != 0
        || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                            SCMP_A1(SCMP_CMP_EQ, FIOCLEX)) != 0
        || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                            SCMP_A1(SCMP_CMP_EQ, FIONREAD)) != 0
        /* prlimit64 may read limits (new_limit == NULL), never set them. */
        || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                            SCMP_A2(SCMP_CMP_EQ, 0)) != 0
        || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prlimit64), 1,
                            SCMP_A2(SCMP_CMP_NE, 0)) != 0)
    {
        snprintf(err, err_size, "seccomp argument rules");
        goto done;
    }
    rc = sw_export_bpf(ctx, prog, err, err_size);

done:
    seccomp_release(ctx);
    return rc;
}

/* The lockdown filter: a few instructions, so cheap to attach per call. */
static int
sw_build_lockdown(struct sock_fprog *prog, char *err, size_t err_size)
{
    scmp_filter_ctx ctx = sw_sc_new(SCMP_ACT_ALLOW, err, err_size);
    int             rc = -1;

    if (ctx == NULL) {
        return -1;
    }
    if (sw_sc_add_list(ctx, SCMP_ACT_ERRNO(EPERM), sw_sc_lockdown,
                       SW_NELTS(sw_sc_lockdown), err, err_size) == 0)
    {
        rc = sw_export_bpf(ctx, prog, err, err_size);
    }
    seccomp_release(ctx);
    return rc;
}

int
sw_confine_init(sw_confine_t *c, char *err, size_t err_size)
{
    c->landlock_abi = sw_landlock_abi();
    return sw_build_main(&c->bpf, err, err_size)
           || sw_build_lockdown(&c->lockdown, err, err_size) ? -1 : 0;
}

/* ---- child side ---- */

/* 0, 1, 2 = /dev/null (until the call: see sw_confine_call),
 * SW_CHILD_CALL_FD = the pipe the call arrives on, SW_CHILD_OUT_FD = the
 * output pipe; nothing else. */
static int
sw_child_fds(int out_fd, int call_fd, char *err, size_t err_size)
{
    int devnull, out, call;

    /* Above the target numbers first, so no dup2 below clobbers them. */
    out = fcntl(out_fd, F_DUPFD, SW_CHILD_RULESET_FD);
    call = fcntl(call_fd, F_DUPFD, SW_CHILD_RULESET_FD);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (out < 0 || call < 0 || devnull < 0) {
        snprintf(err, err_size, "fds: %s", strerror(errno));
        return -1;
    }
    if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0
        || dup2(call, SW_CHILD_CALL_FD) < 0 || dup2(out, SW_CHILD_OUT_FD) < 0)
    {
        snprintf(err, err_size, "dup2: %s", strerror(errno));
        return -1;
    }
    /* Everything else (the zygote's control socket, other children's
     * pipes, the pidfds) must not be reachable from user code. */
    if (syscall(SYS_close_range, SW_CHILD_RULESET_FD, ~0U, 0U) != 0) {
        long fd, max = sysconf(_SC_OPEN_MAX);
        for (fd = SW_CHILD_RULESET_FD; fd < max; fd++) {
            (void) close((int) fd);
        }
    }
    return 0;
}

/* The call has arrived: its pipe closed, stdout and stderr the output,
 * and nothing the rehearsal may have opened (an fd opened before Landlock
 * would keep its access). */
static int
sw_child_output(char *err, size_t err_size)
{
    if (syscall(SYS_close_range, SW_CHILD_RULESET_FD + 1, ~0U, 0U) != 0
        || close(SW_CHILD_CALL_FD) != 0 || dup2(SW_CHILD_OUT_FD, 1) < 0
        || dup2(SW_CHILD_OUT_FD, 2) < 0 || close(SW_CHILD_OUT_FD) != 0)
    {
        snprintf(err, err_size, "output fds: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Lowers a limit, never raises it: the zygote may already have lowered
 * it further for the call (sw_confine_lower_limits) while this spare was
 * still setting itself up. */
static int
sw_set_rlimit(int res, rlim_t soft, rlim_t hard, const char *name, char *err,
    size_t err_size)
{
    struct rlimit cur, rl;

    if (getrlimit(res, &cur) != 0) {
        snprintf(err, err_size, "getrlimit %s: %s", name, strerror(errno));
        return -1;
    }
    rl.rlim_max = hard < cur.rlim_max ? hard : cur.rlim_max;
    rl.rlim_cur = soft < cur.rlim_cur ? soft : cur.rlim_cur;
    if (rl.rlim_cur > rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
    }
    if (setrlimit(res, &rl) != 0) {
        snprintf(err, err_size, "setrlimit %s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

/* CPU: SIGXCPU at the soft limit, SIGKILL one second later in case the
 * code handles SIGXCPU. RLIMIT_CPU counts whole seconds. */
static rlim_t
sw_cpu_seconds(long cpu_ms)
{
    return (rlim_t) ((cpu_ms + 999) / 1000);
}

static int
sw_child_rlimits(const sw_limits_t *lim, char *err, size_t err_size)
{
    rlim_t mem = (rlim_t) lim->memory_mb * 1024 * 1024;
    rlim_t cpu = sw_cpu_seconds(lim->cpu_ms);

    return sw_set_rlimit(RLIMIT_AS, mem, mem, "AS", err, err_size)
        || sw_set_rlimit(RLIMIT_CPU, cpu, cpu + 1, "CPU", err, err_size)
        || sw_set_rlimit(RLIMIT_FSIZE, SW_CHILD_FSIZE_BYTES,
                         SW_CHILD_FSIZE_BYTES, "FSIZE", err, err_size)
        || sw_set_rlimit(RLIMIT_NOFILE, SW_CHILD_NOFILE, SW_CHILD_NOFILE,
                         "NOFILE", err, err_size)
        || sw_set_rlimit(RLIMIT_CORE, 0, 0, "CORE", err, err_size)
        || sw_set_rlimit(RLIMIT_MEMLOCK, 0, 0, "MEMLOCK", err, err_size)
        || sw_set_rlimit(RLIMIT_MSGQUEUE, 0, 0, "MSGQUEUE", err, err_size)
        ? -1 : 0;
}

static int
sw_prlimit(pid_t pid, int res, rlim_t soft, rlim_t hard)
{
    struct rlimit rl = { soft, hard };

    return prlimit(pid, res, &rl, NULL);
}

int
sw_confine_lower_limits(pid_t pid, const sw_limits_t *lim, long fsize_bytes)
{
    rlim_t mem = (rlim_t) lim->memory_mb * 1024 * 1024;
    rlim_t cpu = sw_cpu_seconds(lim->cpu_ms);

    return sw_prlimit(pid, RLIMIT_AS, mem, mem)
        || sw_prlimit(pid, RLIMIT_CPU, cpu, cpu + 1)
        || sw_prlimit(pid, RLIMIT_FSIZE, (rlim_t) fsize_bytes,
                      (rlim_t) fsize_bytes)
        ? -1 : 0;
}

static int
sw_ll_allow(int ruleset, const char *path, uint64_t access, char *err,
    size_t err_size)
{
    struct landlock_path_beneath_attr pb;
    int                               fd, rc;

    fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_size, "landlock open %s: %s", path, strerror(errno));
        return -1;
    }
    pb.allowed_access = access;
    pb.parent_fd = fd;
    rc = (int) syscall(SYS_landlock_add_rule, ruleset,
                       LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    close(fd);
    if (rc != 0) {
        snprintf(err, err_size, "landlock rule %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Filesystem rights Landlock handles for this ABI. */
static uint64_t
sw_ll_handled_fs(int abi)
{
    uint64_t fs = SW_LL_FS_ABI1;

    if (abi >= 2) {
        fs |= LANDLOCK_ACCESS_FS_REFER;
    }
    if (abi >= 3) {
        fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    }
    if (abi >= 5) {
        fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    }
    return fs;
}

/* In the spare: the ruleset with the rules every call shares (read-only
 * /usr, tool set and data), left on SW_CHILD_RULESET_FD. */
static int
sw_ll_prepare(const sw_confine_t *c, char *err, size_t err_size)
{
    sw_ll_ruleset_attr_t attr;
    size_t               attr_size = sizeof(uint64_t);
    int                  abi = c->landlock_abi, rs, rc;

    if (abi <= 0) {
        return 0;               /* allowed only with --allow-no-landlock */
    }
    memset(&attr, 0, sizeof(attr));
    attr.handled_access_fs = sw_ll_handled_fs(abi);
    if (abi >= 4) {
        /* Handled with no rule: every TCP bind/connect is denied. */
        attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP
                                  | LANDLOCK_ACCESS_NET_CONNECT_TCP;
        attr_size = 2 * sizeof(uint64_t);
    }
    if (abi >= 6) {
        /* No signals to, and no abstract sockets of, processes outside. */
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
                      | LANDLOCK_SCOPE_SIGNAL;
        attr_size = 3 * sizeof(uint64_t);
    }
    rs = (int) syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0) {
        snprintf(err, err_size, "landlock_create_ruleset: %s", strerror(errno));
        return -1;
    }
    rc = sw_ll_allow(rs, "/usr", SW_LL_READ, err, err_size)
         || sw_ll_allow(rs, c->toolset_dir, SW_LL_READ, err, err_size)
         || sw_ll_allow(rs, c->data_dir, SW_LL_READ, err, err_size);
    if (rc == 0 && rs != SW_CHILD_RULESET_FD
        && dup2(rs, SW_CHILD_RULESET_FD) < 0)
    {
        snprintf(err, err_size, "dup2 ruleset: %s", strerror(errno));
        rc = -1;
    }
    if (rs != SW_CHILD_RULESET_FD) {
        close(rs);
    }
    return rc ? -1 : 0;
}

/* At the call: this user's workspace joins the ruleset, which then
 * applies to this process for good. */
static int
sw_ll_restrict(const sw_confine_t *c, const char *workspace, int writable,
    char *err, size_t err_size)
{
    uint64_t ws;
    int      rc;

    if (c->landlock_abi <= 0) {
        return 0;
    }
    /* Over quota: the user may still read and delete, not write. */
    ws = writable ? SW_LL_WRITE : SW_LL_READ_REMOVE;
    if (c->landlock_abi >= 3 && writable) {
        ws |= LANDLOCK_ACCESS_FS_TRUNCATE;
    }
    rc = sw_ll_allow(SW_CHILD_RULESET_FD, workspace, ws, err, err_size);
    if (rc == 0
        && syscall(SYS_landlock_restrict_self, SW_CHILD_RULESET_FD, 0) != 0)
    {
        snprintf(err, err_size, "landlock_restrict_self: %s", strerror(errno));
        rc = -1;
    }
    if (close(SW_CHILD_RULESET_FD) != 0 && rc == 0) {
        snprintf(err, err_size, "close ruleset: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}

static int
sw_spare_steps(const sw_confine_t *c, const sw_limits_t *lim, char *err,
    size_t err_size)
{
    if (sw_child_rlimits(lim, err, err_size) != 0) {
        return -1;
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0
        || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    {
        snprintf(err, err_size, "prctl: %s", strerror(errno));
        return -1;
    }
    if (sw_ll_prepare(c, err, err_size) != 0) {
        return -1;
    }
    /* The costly filter (JIT, action cache) is attached here, before any
     * call is waiting for this process. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &c->bpf) != 0) {
        snprintf(err, err_size, "seccomp: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int
sw_confine_spare(const sw_confine_t *c, int out_fd, int call_fd,
    const sw_limits_t *lim, char *err, size_t err_size)
{
    if (sw_child_fds(out_fd, call_fd, err, err_size) != 0) {
        dprintf(out_fd, "sandbox setup failed: %s\n", err);
        return -1;
    }
    if (sw_spare_steps(c, lim, err, err_size) != 0) {
        dprintf(SW_CHILD_OUT_FD, "sandbox setup failed: %s\n", err);
        return -1;
    }
    return 0;
}

int
sw_confine_call(const sw_confine_t *c, const char *workspace, int writable,
    char *err, size_t err_size)
{
    if (sw_child_output(err, err_size) != 0) {
        return -1;
    }
    if (chdir(workspace) != 0) {
        snprintf(err, err_size, "chdir workspace: %s", strerror(errno));
        return -1;
    }
    if (sw_ll_restrict(c, workspace, writable, err, err_size) != 0) {
        return -1;
    }
    /* Last: from here on no Landlock or seccomp change is possible. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &c->lockdown) != 0) {
        snprintf(err, err_size, "seccomp lockdown: %s", strerror(errno));
        return -1;
    }
    return 0;
}
