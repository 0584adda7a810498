"""Your private workspace: files and checkpoints that persist between calls.

Every user has one directory, the current directory of each call; nobody
else's calls can see it. Paths are relative to it. Refused: absolute paths,
'..', hidden names, symbolic and hard links, file types outside
ALLOWED_EXTENSIONS, files over MAX_FILE_BYTES and writes past the quota.
"""

import datetime
import errno
import fcntl
import json
import os
import re
import stat

__all__ = ["read_file", "write_file", "list_files", "delete_file",
           "file_exists", "file_info", "create_directory", "save_checkpoint",
           "load_checkpoint", "list_checkpoints", "delete_checkpoint",
           "get_workspace_info"]

# Set by the runner for each call: the caller's workspace (also the cwd).
ROOT = None

# Whole workspace and single file. The worker may enforce a quota of its own
# at the OS level; this check refuses politely before the OS would.
QUOTA_BYTES = 100 * 1024 * 1024
MAX_FILE_BYTES = 10 * 1024 * 1024

ALLOWED_EXTENSIONS = (".txt", ".md", ".json", ".jsonl", ".csv", ".tsv",
                      ".log", ".py", ".yaml", ".yml", ".xml", ".html",
                      ".sql", ".ini", ".toml")

CHECKPOINT_DIR = "checkpoints"
MAX_PATH_CHARS = 1024
MAX_DEPTH = 16
MAX_LIST_ENTRIES = 10000

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f\\]")
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class WorkspaceError(ValueError):
    """A workspace request that cannot be done; the message says why."""


class QuotaExceeded(WorkspaceError):
    """A write would go past the workspace quota or the file size limit."""


# ---------------------------------------------------------------- paths

def _root():
    if not ROOT:
        raise RuntimeError("the workspace is not configured")
    return ROOT


def _split(path, what="path"):
    """Validated path components. Never touches the file system."""
    if not isinstance(path, str):
        raise TypeError(f"{what} must be a string, not {type(path).__name__}")
    if not path or not path.strip():
        raise WorkspaceError(f"{what} must not be empty")
    if len(path) > MAX_PATH_CHARS:
        raise WorkspaceError(f"{what} is longer than {MAX_PATH_CHARS} "
                             "characters")
    if _CTRL_RE.search(path):
        raise WorkspaceError(f"{what} {path!r} contains a control character "
                             "or a backslash")
    if path.startswith("/"):
        raise PermissionError(f"{what} {path!r} is absolute: use a path "
                              "relative to your workspace")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PermissionError(f"{what} {path!r} leaves the workspace ('..' "
                              "is not allowed)")
    for p in parts:
        if p.startswith("."):
            raise WorkspaceError(f"{what} {path!r}: hidden names (starting "
                                 "with '.') are not allowed")
    if len(parts) > MAX_DEPTH:
        raise WorkspaceError(f"{what} {path!r} is nested deeper than "
                             f"{MAX_DEPTH} directories")
    return parts


def _check_type(parts, path):
    ext = os.path.splitext(parts[-1])[1].lower() if parts else ""
    if ext not in ALLOWED_EXTENSIONS:
        raise WorkspaceError(
            f"file type {ext or '(none)'!r} of {path!r} is not allowed; "
            f"allowed: {', '.join(ALLOWED_EXTENSIONS)}")


def _refuse_link(dirfd, name, path):
    """Raises the right error for a name that could not be opened with
    O_NOFOLLOW (a symlink, or not the expected kind of entry)."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path!r} does not exist") from None
    if stat.S_ISLNK(st.st_mode):
        raise PermissionError(f"{path!r} goes through a symbolic link; "
                              "links are refused in the workspace")
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path!r} is a directory")
    raise NotADirectoryError(f"{path!r}: {name!r} is not a directory")


def _open_dir(parts, path, create=False):
    """fd of the directory parts name, walked one component at a time with
    O_NOFOLLOW, so no symbolic link anywhere on the way is followed."""
    fd = os.open(_root(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in parts:
            try:
                nfd = os.open(name, _O_DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise FileNotFoundError(f"directory of {path!r} does not "
                                            "exist") from None
                try:
                    os.mkdir(name, 0o700, dir_fd=fd)
                except FileExistsError:
                    pass
                try:
                    nfd = os.open(name, _O_DIR, dir_fd=fd)
                except OSError:
                    _refuse_link(fd, name, path)
                    raise
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    _refuse_link(fd, name, path)
                raise
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_file(dirfd, name, path, flags, mode=0o600):
    """Opens name in dirfd without following a link; a regular file with
    one link only."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     mode, dir_fd=dirfd)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path!r} does not exist") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path!r} is a directory") from None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            _refuse_link(dirfd, name, path)
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(f"{path!r} is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise PermissionError(f"{path!r} is not a regular file")
        if st.st_nlink > 1:
            raise PermissionError(f"{path!r} has hard links; links are "
                                  "refused in the workspace")
        # fcntl, not os.set_blocking (that uses ioctl, which the sandbox
        # does not allow)
        fcntl.fcntl(fd, fcntl.F_SETFL,
                    fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return fd, st
    except BaseException:
        os.close(fd)
        raise


def _entry(dirfd, name):
    try:
        return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _usage():
    """(bytes, files, directories) of the workspace; links not followed."""
    total = files = dirs = 0
    for _, dnames, fnames, dfd in os.fwalk(_root(), follow_symlinks=False):
        dirs += len(dnames)
        for f in fnames:
            st = _entry(dfd, f)
            if st is not None and stat.S_ISREG(st.st_mode):
                total += st.st_size
                files += 1
    return total, files, dirs


def _check_quota(new_bytes, replaced_bytes, path):
    if new_bytes > MAX_FILE_BYTES:
        raise QuotaExceeded(f"{path!r} would be {new_bytes} bytes; the "
                            f"largest file allowed is {MAX_FILE_BYTES} bytes")
    used = _usage()[0]
    after = used - replaced_bytes + new_bytes
    if after > QUOTA_BYTES:
        raise QuotaExceeded(
            f"writing {path!r} would use {after} bytes of your "
            f"{QUOTA_BYTES}-byte workspace quota ({used} used); delete "
            "files or checkpoints first")


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _store(parts, path, data, overwrite=True, append=False):
    """Writes bytes to parts atomically (temp file + rename in the same
    directory), or appends. Returns (size, created)."""
    dirfd = _open_dir(parts[:-1], path, create=True)
    name = parts[-1]
    try:
        old = _entry(dirfd, name)
        if old is not None and stat.S_ISLNK(old.st_mode):
            raise PermissionError(f"{path!r} is a symbolic link; links are "
                                  "refused in the workspace")
        if old is not None and stat.S_ISDIR(old.st_mode):
            raise IsADirectoryError(f"{path!r} is a directory")
        if old is not None and not stat.S_ISREG(old.st_mode):
            raise PermissionError(f"{path!r} is not a regular file")
        if old is not None and not overwrite and not append:
            raise FileExistsError(f"{path!r} exists (pass overwrite=true to "
                                  "replace it)")
        old_size = old.st_size if old is not None else 0
        if append:
            _check_quota(old_size + len(data), old_size, path)
            fd, _ = _open_file(dirfd, name, path,
                               os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                _write_all(fd, data)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            return size, old is None
        _check_quota(len(data), old_size, path)
        tmp = f".tmp-{os.getpid()}-{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
        try:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dirfd)
            except OSError:
                pass
            raise
        return len(data), old is None
    finally:
        os.close(dirfd)


def _load(parts, path, offset=0, max_bytes=None):
    """(bytes, file size) of parts."""
    dirfd = _open_dir(parts[:-1], path)
    try:
        fd, st = _open_file(dirfd, parts[-1], path, os.O_RDONLY)
    finally:
        os.close(dirfd)
    try:
        if offset:
            os.lseek(fd, offset, os.SEEK_SET)
        want = st.st_size - offset if max_bytes is None else max_bytes
        chunks, left = [], max(want, 0)
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        return b"".join(chunks), st.st_size
    finally:
        os.close(fd)


def _when(ts):
    return datetime.datetime.fromtimestamp(
        ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_int(name, value, low=0):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not "
                        f"{type(value).__name__}")
    if value < low:
        raise WorkspaceError(f"{name} must be >= {low}")
    return value


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, not "
                        f"{type(value).__name__}")
    return value


# ---------------------------------------------------------------- files

def write_file(filepath, content, overwrite=True, append=False):
    """Write text (UTF-8) or bytes to a workspace file; parent directories
    are created. append adds to the end instead of replacing.

    Returns {path, size, created}. Refuses types outside
    ALLOWED_EXTENSIONS, files over MAX_FILE_BYTES and writes past the
    workspace quota."""
    parts = _split(filepath, "filepath")
    _check_type(parts, filepath)
    _check_bool("overwrite", overwrite)
    _check_bool("append", append)
    if isinstance(content, str):
        data = content.encode("utf-8")
    elif isinstance(content, (bytes, bytearray)):
        data = bytes(content)
    else:
        raise TypeError("content must be a string (or bytes), not "
                        f"{type(content).__name__}")
    size, created = _store(parts, filepath, data, overwrite, append)
    return {"path": "/".join(parts), "size": size, "created": created}


def read_file(filepath, offset=0, max_bytes=None):
    """Read a workspace file as text (UTF-8; undecodable bytes become
    U+FFFD). offset/max_bytes read a byte range of a large file."""
    parts = _split(filepath, "filepath")
    _check_int("offset", offset)
    if max_bytes is not None:
        _check_int("max_bytes", max_bytes, 1)
    data, _ = _load(parts, filepath, offset, max_bytes)
    return data.decode("utf-8", "replace")


def file_info(filepath):
    """Size, kind and modification time of a workspace file or directory:
    {path, type, size, modified}."""
    parts = _split(filepath, "filepath")
    dirfd = _open_dir(parts[:-1], filepath)
    try:
        st = _entry(dirfd, parts[-1])
    finally:
        os.close(dirfd)
    if st is None:
        raise FileNotFoundError(f"{filepath!r} does not exist")
    if stat.S_ISLNK(st.st_mode):
        raise PermissionError(f"{filepath!r} is a symbolic link; links are "
                              "refused in the workspace")
    kind = ("directory" if stat.S_ISDIR(st.st_mode) else
            "file" if stat.S_ISREG(st.st_mode) else "other")
    return {"path": "/".join(parts), "type": kind,
            "size": st.st_size if kind == "file" else 0,
            "modified": _when(st.st_mtime)}


def file_exists(filepath):
    """True if filepath is an existing regular file or directory (links do
    not count)."""
    try:
        return file_info(filepath)["type"] in ("file", "directory")
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return False


def list_files(directory="", recursive=False):
    """List a workspace directory ("" = the top): [{name, type, size,
    modified}], sorted by name; name is relative to the workspace.
    Symbolic links are listed with type "link" and never followed."""
    _check_bool("recursive", recursive)
    if not isinstance(directory, str):
        raise TypeError("directory must be a string, not "
                        f"{type(directory).__name__}")
    parts = _split(directory, "directory") if directory.strip("./") else []
    out = []

    def walk(fd, prefix, depth):
        for name in sorted(os.listdir(fd)):
            if name.startswith(".tmp-"):
                continue
            st = _entry(fd, name)
            if st is None:
                continue
            rel = prefix + name
            if stat.S_ISDIR(st.st_mode):
                kind = "directory"
            elif stat.S_ISREG(st.st_mode):
                kind = "file"
            elif stat.S_ISLNK(st.st_mode):
                kind = "link"
            else:
                kind = "other"
            out.append({"name": rel, "type": kind,
                        "size": st.st_size if kind == "file" else 0,
                        "modified": _when(st.st_mtime)})
            if len(out) >= MAX_LIST_ENTRIES:
                raise WorkspaceError(f"more than {MAX_LIST_ENTRIES} entries;"
                                     " list a subdirectory")
            if kind == "directory" and recursive and depth < MAX_DEPTH:
                sub = os.open(name, _O_DIR, dir_fd=fd)
                try:
                    walk(sub, rel + "/", depth + 1)
                finally:
                    os.close(sub)

    fd = _open_dir(parts, directory or ".")
    try:
        walk(fd, "/".join(parts) + "/" if parts else "", len(parts))
    finally:
        os.close(fd)
    return out


def delete_file(filepath):
    """Delete a workspace file, or an empty directory. Returns
    {path, deleted}."""
    parts = _split(filepath, "filepath")
    dirfd = _open_dir(parts[:-1], filepath)
    try:
        st = _entry(dirfd, parts[-1])
        if st is None:
            raise FileNotFoundError(f"{filepath!r} does not exist")
        if stat.S_ISDIR(st.st_mode):
            try:
                os.rmdir(parts[-1], dir_fd=dirfd)
            except OSError as e:
                if e.errno == errno.ENOTEMPTY:
                    raise WorkspaceError(f"directory {filepath!r} is not "
                                         "empty") from None
                raise
        else:
            # a planted link is removed itself, never its target
            os.unlink(parts[-1], dir_fd=dirfd)
    finally:
        os.close(dirfd)
    return {"path": "/".join(parts), "deleted": True}


def create_directory(dirpath):
    """Create a workspace directory (and its parents). Returns {path}."""
    parts = _split(dirpath, "dirpath")
    os.close(_open_dir(parts, dirpath, create=True))
    return {"path": "/".join(parts), "created": True}


# ---------------------------------------------------------------- checkpoints

def _checkpoint_parts(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, not {type(name).__name__}")
    if not _NAME_RE.match(name) or ".." in name:
        raise WorkspaceError(
            f"checkpoint name {name!r} must be 1-64 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit")
    return [CHECKPOINT_DIR, name + ".json"]


def save_checkpoint(name, data):
    """Save JSON-serialisable state (dict, list, str, number, bool, None)
    under name, replacing an older checkpoint of that name.

    Returns {name, size, saved_at}. Load it in a later call with
    load_checkpoint(name)."""
    parts = _checkpoint_parts(name)
    saved_at = _when(datetime.datetime.now().timestamp())
    try:
        text = json.dumps({"name": name, "saved_at": saved_at, "data": data},
                          ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise WorkspaceError("checkpoint data must be JSON-serialisable "
                             f"(dict, list, str, int, float, bool, None): {e}"
                             ) from None
    size, _ = _store(parts, "/".join(parts), text.encode("utf-8"))
    return {"name": name, "size": size, "saved_at": saved_at}


def load_checkpoint(name):
    """The state saved by save_checkpoint(name)."""
    parts = _checkpoint_parts(name)
    try:
        raw, _ = _load(parts, "/".join(parts))
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint named {name!r}") from None
    try:
        return json.loads(raw)["data"]
    except (ValueError, KeyError, TypeError):
        raise WorkspaceError(f"checkpoint {name!r} is damaged (not "
                             "written by save_checkpoint)") from None


def list_checkpoints():
    """Saved checkpoints: [{name, size, saved_at}], newest first."""
    try:
        entries = list_files(CHECKPOINT_DIR)
    except FileNotFoundError:
        return []
    out = []
    for e in entries:
        base = e["name"].rsplit("/", 1)[-1]
        if e["type"] == "file" and base.endswith(".json"):
            out.append({"name": base[:-5], "size": e["size"],
                        "saved_at": e["modified"]})
    out.sort(key=lambda c: (c["saved_at"], c["name"]), reverse=True)
    return out


def delete_checkpoint(name):
    """Delete the checkpoint name. Returns {name, deleted}."""
    parts = _checkpoint_parts(name)
    try:
        delete_file("/".join(parts))
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint named {name!r}") from None
    return {"name": name, "deleted": True}


# ---------------------------------------------------------------- info

def get_workspace_info():
    """Usage and limits of your workspace: {used_bytes, quota_bytes,
    used_percent, file_count, directory_count, checkpoint_count,
    max_file_bytes, allowed_extensions}."""
    used, files, dirs = _usage()
    return {"workspace": "the current directory of every call (yours only)",
            "used_bytes": used, "quota_bytes": QUOTA_BYTES,
            "used_percent": round(100.0 * used / QUOTA_BYTES, 2),
            "file_count": files, "directory_count": dirs,
            "checkpoint_count": len(list_checkpoints()),
            "max_file_bytes": MAX_FILE_BYTES,
            "allowed_extensions": list(ALLOWED_EXTENSIONS)}
