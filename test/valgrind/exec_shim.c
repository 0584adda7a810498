/*
 * Preloaded into the worker daemon under valgrind only
 * (test/valgrind/worker_calls.py).
 *
 * execv(): the daemon starts its zygote with execv("/proc/self/exe");
 * under valgrind that link names valgrind's own tool, so the exec is
 * pointed at the worker binary ($VG_WORKER_EXE) instead, and the zygote
 * then runs natively (--trace-children=no).
 *
 * MHD_stop_daemon(): the daemon's main() calls it (through sw_http_stop())
 * when it stops serving; the leak check is made right then, while what
 * main() keeps for the process's life (configuration, secret, tools.json)
 * is still reachable from its frame.  Made at exit instead, after main()
 * returned, those would count as lost and hide what matters: memory lost
 * while serving the calls.
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <valgrind/memcheck.h>


int
execv(const char *path, char *const argv[])
{
    const char  *exe;
    int        (*real)(const char *, char *const []);

    exe = getenv("VG_WORKER_EXE");

    if (exe != NULL && strcmp(path, "/proc/self/exe") == 0) {
        path = exe;
    }

    real = (int (*)(const char *, char *const [])) dlsym(RTLD_NEXT, "execv");

    return real(path, argv);
}


void
MHD_stop_daemon(void *daemon)
{
    void  (*real)(void *);

    real = (void (*)(void *)) dlsym(RTLD_NEXT, "MHD_stop_daemon");
    real(daemon);

    VALGRIND_PRINTF("worker_calls: leak check when the daemon stopped serving\n");
    VALGRIND_DO_LEAK_CHECK;
}
