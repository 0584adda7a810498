/* workspace.c - user name -> safe workspace directory. */
#include "workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

int
sw_workspace_name(const char *user, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     md[EVP_MAX_MD_SIZE];
    unsigned int      md_len = 0;
    size_t            i;

    if (user == NULL || out_size < SW_WORKSPACE_NAME_HEX + 1) {
        return -1;
    }
    if (!EVP_Digest(user, strlen(user), md, &md_len, EVP_sha256(), NULL)
        || md_len * 2 < SW_WORKSPACE_NAME_HEX)
    {
        return -1;
    }
    for (i = 0; i < SW_WORKSPACE_NAME_HEX / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }
    out[SW_WORKSPACE_NAME_HEX] = '\0';
    return 0;
}

int
sw_workspace_ensure(const char *root, const char *user, char *path,
    size_t path_size)
{
    char        name[SW_WORKSPACE_NAME_HEX + 1];
    struct stat st;
    int         rootfd, fd, n;

    if (sw_workspace_name(user, name, sizeof(name)) != 0) {
        errno = EINVAL;
        return -1;
    }
    n = snprintf(path, path_size, "%s/%s", root, name);
    if (n < 0 || (size_t) n >= path_size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        return -1;
    }
    if (mkdirat(rootfd, name, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        close(rootfd);
        errno = e;
        return -1;
    }
    /* O_NOFOLLOW: a symlink planted in place of the workspace is refused. */
    fd = openat(rootfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(rootfd);
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* Walk state of sw_workspace_usage. */
typedef struct {
    dev_t               dev;
    long                entries_left;
    unsigned long long  bytes;
} sw_du_t;

/* Adds what is in the directory dirfd (consumed) to du. */
static int
sw_du_dir(sw_du_t *du, int dirfd, int depth_left)
{
    struct dirent *e;
    struct stat    st;
    DIR           *d;
    int            rc = 0, fd;

    d = fdopendir(dirfd);
    if (d == NULL) {
        int err = errno;
        close(dirfd);
        errno = err;
        return -1;
    }
    for (;;) {
        errno = 0;
        e = readdir(d);
        if (e == NULL) {
            rc = errno ? -1 : 0;
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (--du->entries_left < 0) {
            errno = E2BIG;
            rc = -1;
            break;
        }
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) {
                continue;       /* deleted meanwhile by a running call */
            }
            rc = -1;
            break;
        }
        du->bytes += (unsigned long long) st.st_blocks * 512;
        if (!S_ISDIR(st.st_mode) || st.st_dev != du->dev) {
            continue;
        }
        if (depth_left <= 0) {
            errno = E2BIG;
            rc = -1;
            break;
        }
        fd = openat(dirfd, e->d_name,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) {
                continue;
            }
            rc = -1;
            break;
        }
        if (sw_du_dir(du, fd, depth_left - 1) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc != 0) {
        int err = errno;
        closedir(d);
        errno = err;
        return -1;
    }
    closedir(d);
    return 0;
}

int
sw_workspace_usage(const char *path, long max_entries, int max_depth,
    unsigned long long *bytes)
{
    struct stat st;
    sw_du_t     du;
    int         fd;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    du.dev = st.st_dev;
    du.entries_left = max_entries;
    du.bytes = 0;
    if (sw_du_dir(&du, fd, max_depth) != 0) {
        return -1;
    }
    *bytes = du.bytes;
    return 0;
}
