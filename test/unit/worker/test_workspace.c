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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_are_hex),
        cmocka_unit_test(test_known_value_and_distinct),
        cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_ensure_creates_0700_and_refuses_symlink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
