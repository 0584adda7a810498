/*
 * Preloaded into nginx (after libasan) by test/asan/nginx: dlclose() does
 * nothing, so the module stays mapped until the process ends.  An nginx
 * worker unloads its modules (destroying its cycle's pool) just before it
 * exits, and LeakSanitizer, which runs at exit, could then no longer name
 * the module's frames in its reports ("<unknown module>").
 */

int
dlclose(void *handle)
{
    (void) handle;

    return 0;
}
