/*
 * Linked into the ASan+UBSan build of the sandbox worker only
 * (test/asan/worker-cc), never into the real one.
 *
 * ASan reserves terabytes of address space (shadow memory, allocator
 * regions) when the process starts, so the confined child's RLIMIT_AS of a
 * few hundred MiB would leave it unable to map anything at all.  The
 * wrappers below add what was reserved before main() (VmSize at start) to
 * every finite RLIMIT_AS the worker sets, so the limit still bounds what
 * the tool's code allocates, as it does in the real build.
 *
 * mallopt(): ASan's allocator replaces glibc's, and its mallopt() refuses
 * every option, which the zygote takes for a fatal error; the tuning means
 * nothing under ASan, so it is reported done.
 *
 * Leaks: checked once, when the daemon has stopped serving (after
 * sw_http_stop(), called from main()), not at exit: at that point what
 * main() keeps for the process's life (configuration, secret, tools.json)
 * is still reachable from its frame, so what LeakSanitizer reports is
 * memory lost while serving.  The usage errors some tests provoke end the
 * process before that and are not checked.
 *
 * __asan_default_options: the confined child's allocations fail as they
 * would without ASan (MemoryError, outcome memory_limit) instead of ASan
 * aborting, and a small quarantine keeps ASan's own memory use inside the
 * limit.  ASAN_OPTIONS from the environment still comes on top.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sanitizer/lsan_interface.h>
#include <sys/resource.h>
#include <sys/types.h>


static rlim_t  asan_reserved;


__attribute__((constructor)) static void
asan_measure(void)
{
    char                line[256];
    FILE               *f;
    unsigned long long  kb;

    f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return;
    }

    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1) {
            asan_reserved = (rlim_t) kb * 1024 + (64 << 20);
        }
    }

    fclose(f);
}


static struct rlimit *
asan_widen(int resource, const struct rlimit *in, struct rlimit *out)
{
    if (in == NULL || resource != RLIMIT_AS) {
        return (struct rlimit *) in;
    }

    *out = *in;

    if (out->rlim_cur != RLIM_INFINITY) {
        out->rlim_cur += asan_reserved;
    }

    if (out->rlim_max != RLIM_INFINITY) {
        out->rlim_max += asan_reserved;
    }

    return out;
}


int __real_setrlimit(int resource, const struct rlimit *rl);
int __real_prlimit(pid_t pid, int resource, const struct rlimit *rl,
    struct rlimit *old);


int
__wrap_setrlimit(int resource, const struct rlimit *rl)
{
    struct rlimit  wide;

    return __real_setrlimit(resource, asan_widen(resource, rl, &wide));
}


int
__wrap_prlimit(pid_t pid, int resource, const struct rlimit *rl,
    struct rlimit *old)
{
    struct rlimit  wide;

    return __real_prlimit(pid, resource, asan_widen(resource, rl, &wide),
                          old);
}


int __real_mallopt(int param, int value);


int
__wrap_mallopt(int param, int value)
{
    (void) __real_mallopt(param, value);

    return 1;
}


void __real_sw_http_stop(void *http);


void
__wrap_sw_http_stop(void *http)
{
    __real_sw_http_stop(http);
    __lsan_do_leak_check();
}


const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1:quarantine_size_mb=16"
           ":leak_check_at_exit=0";
}
