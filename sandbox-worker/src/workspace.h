/* workspace.h - per-user workspace directories. */
#ifndef SW_WORKSPACE_H
#define SW_WORKSPACE_H

#include <stddef.h>
#include "limits.h"

/* Writes the directory name for user into out (SW_WORKSPACE_NAME_HEX + 1
 * bytes): lower-case hex of SHA-256(user), truncated. The name never
 * contains '/', '.', or anything the user chose, whatever the user name
 * is. Returns 0 on success. */
int sw_workspace_name(const char *user, char *out, size_t out_size);

/* Creates (0700) or checks <root>/<name> for user and writes its absolute
 * path into path. Refuses symlinks and non-directories, and directories
 * owned by another UID. Returns 0 on success, -1 with errno set. */
int sw_workspace_ensure(const char *root, const char *user, char *path,
    size_t path_size);

/* Disk space used under the directory at path: the allocated blocks of
 * everything in it (not the directory itself), in bytes. Symlinks are not
 * followed and other file systems not entered. Returns 0, or -1 with errno
 * set: E2BIG when it holds more than max_entries entries or is nested
 * deeper than max_depth. */
int sw_workspace_usage(const char *path, long max_entries, int max_depth,
    unsigned long long *bytes);

#endif /* SW_WORKSPACE_H */
