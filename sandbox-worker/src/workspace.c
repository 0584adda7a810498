/* workspace.c - user name -> safe workspace directory. */
#include "workspace.h"

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
