/* Unit tests: user name -> workspace directory name and creation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "workspace.h"

static void
assert_safe_name(const char *name)
{
    size_t i;

    assert_int_equal(strlen(name), SW_WORKSPACE_NAME_HEX);
    for (i = 0; name[i]; i++) {
        assert_true((name[i] >= '0' && name[i] <= '9')
                    || (name[i] >= 'a' && name[i] <= 'f'));
    }
}

static void
test_names_are_hex(void **state)
{
    const char *users[] = {
        "alice", "../", "..", ".", "a/b", "../../etc/passwd",
        "alice@example.com", "J\xc3\xbcrgen M\xc3\xbcller", "\xe5\xb1\xb1\xe7\x94\xb0",
        "with space, comma", "", "/", "\\x00", NULL
    };
    char        name[SW_WORKSPACE_NAME_HEX + 1];
    size_t      i;
    (void) state;

    for (i = 0; users[i] != NULL; i++) {
        assert_int_equal(sw_workspace_name(users[i], name, sizeof(name)), 0);
        assert_safe_name(name);
        assert_null(strchr(name, '/'));
        assert_null(strchr(name, '.'));
    }
}

static void
test_known_value_and_distinct(void **state)
{
    char a[SW_WORKSPACE_NAME_HEX + 1], b[SW_WORKSPACE_NAME_HEX + 1];
    (void) state;

    /* sha256("alice") = 2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f... */
    assert_int_equal(sw_workspace_name("alice", a, sizeof(a)), 0);
    assert_string_equal(a, "2bd806c97f0e00af1a1fc3328fa763a9");
    assert_int_equal(sw_workspace_name("alice", b, sizeof(b)), 0);
    assert_string_equal(a, b);                  /* deterministic */
    assert_int_equal(sw_workspace_name("Alice", b, sizeof(b)), 0);
    assert_string_not_equal(a, b);              /* case matters */
    assert_int_equal(sw_workspace_name("alice ", b, sizeof(b)), 0);
    assert_string_not_equal(a, b);
}

static void
test_small_buffer(void **state)
{
    char small[8];
    (void) state;
    assert_int_equal(sw_workspace_name("alice", small, sizeof(small)), -1);
    assert_int_equal(sw_workspace_name(NULL, small, sizeof(small)), -1);
}

static void
test_ensure_creates_0700_and_refuses_symlink(void **state)
{
    char        root[] = "/tmp/sw-ws-XXXXXX", path[4096], link[4200];
    char        name[SW_WORKSPACE_NAME_HEX + 1];
    struct stat st;
    (void) state;

    assert_non_null(mkdtemp(root));
    assert_int_equal(sw_workspace_ensure(root, "../../etc", path,
                                         sizeof(path)), 0);
    assert_int_equal(strncmp(path, root, strlen(root)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    /* idempotent */
    assert_int_equal(sw_workspace_ensure(root, "../../etc", path,
                                         sizeof(path)), 0);
    rmdir(path);

    /* a symlink planted where bob's workspace goes is refused */
    assert_int_equal(sw_workspace_name("bob", name, sizeof(name)), 0);
    snprintf(link, sizeof(link), "%s/%s", root, name);
    assert_int_equal(symlink("/etc", link), 0);
    assert_int_equal(sw_workspace_ensure(root, "bob", path, sizeof(path)), -1);
    unlink(link);

    /* a regular file there is refused too */
    FILE *f = fopen(link, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(sw_workspace_ensure(root, "bob", path, sizeof(path)), -1);
    unlink(link);
    rmdir(root);
}

static void
write_file(const char *dir, const char *name, size_t size)
{
    char  path[512];
    char  buf[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    memset(buf, 'x', sizeof(buf));
    while (size > 0) {
        size_t n = size < sizeof(buf) ? size : sizeof(buf);
        assert_int_equal(fwrite(buf, 1, n, f), n);
        size -= n;
    }
    assert_int_equal(fclose(f), 0);
}

static void
test_usage_counts_blocks_and_stops_at_limits(void **state)
{
    char                root[] = "/tmp/sw-du-XXXXXX";
    char                sub[600], deep[700], link[700];
    unsigned long long  bytes = 1;
    (void) state;

    assert_non_null(mkdtemp(root));
    /* empty: the directory itself does not count */
    assert_int_equal(sw_workspace_usage(root, 10, 4, &bytes), 0);
    assert_true(bytes == 0);

    write_file(root, "a", 100000);
    snprintf(sub, sizeof(sub), "%s/sub", root);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(sub, "b", 300000);
    /* a symlink counts as itself, never as what it points to */
    snprintf(link, sizeof(link), "%s/to-etc", root);
    assert_int_equal(symlink("/usr", link), 0);
    assert_int_equal(sw_workspace_usage(root, 10, 4, &bytes), 0);
    assert_true(bytes >= 400000 && bytes < 400000 + 64 * 1024);

    /* more entries than allowed */
    assert_int_equal(sw_workspace_usage(root, 3, 4, &bytes), -1);
    assert_int_equal(errno, E2BIG);
    /* deeper than allowed */
    snprintf(deep, sizeof(deep), "%s/d", sub);
    assert_int_equal(mkdir(deep, 0700), 0);
    assert_int_equal(sw_workspace_usage(root, 10, 1, &bytes), -1);
    assert_int_equal(errno, E2BIG);
    assert_int_equal(sw_workspace_usage(root, 10, 2, &bytes), 0);

    /* not a directory, or a symlink to one: refused */
    assert_int_equal(sw_workspace_usage(link, 10, 4, &bytes), -1);

    rmdir(deep);
    snprintf(deep, sizeof(deep), "%s/b", sub);
    unlink(deep);
    rmdir(sub);
    unlink(link);
    snprintf(deep, sizeof(deep), "%s/a", root);
    unlink(deep);
    assert_int_equal(rmdir(root), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_are_hex),
        cmocka_unit_test(test_known_value_and_distinct),
        cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_ensure_creates_0700_and_refuses_symlink),
        cmocka_unit_test(test_usage_counts_blocks_and_stops_at_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
