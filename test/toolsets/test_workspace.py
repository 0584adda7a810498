"""The log-analysis tool set's workspace module and tools: files,
checkpoints, allowed types, quota, and refusal of traversal and links.

Run: /usr/bin/python3 -m pytest test/toolsets/test_workspace.py
"""

import json
import os

import pytest

from toolcall import LOG_ANALYSIS, call, import_module

workspace = import_module(LOG_ANALYSIS, "workspace")


@pytest.fixture
def ws(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    root.mkdir()
    monkeypatch.setattr(workspace, "ROOT", str(root))
    monkeypatch.setattr(workspace, "QUOTA_BYTES", 100 * 1024 * 1024)
    monkeypatch.setattr(workspace, "MAX_FILE_BYTES", 10 * 1024 * 1024)
    return root


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("top secret")
    return d


# ---------------------------------------------------------------- files

def test_write_read_roundtrip_creates_parents(ws):
    res = workspace.write_file("reports/2025/top.md", "# héllo\n")
    assert res == {"path": "reports/2025/top.md", "size": len("# héllo\n".encode()),
                   "created": True}
    assert (ws / "reports" / "2025" / "top.md").read_text() == "# héllo\n"
    assert workspace.read_file("reports/2025/top.md") == "# héllo\n"
    assert workspace.read_file("./reports//2025/top.md") == "# héllo\n"


def test_overwrite_append_and_ranges(ws):
    workspace.write_file("a.txt", "one")
    assert workspace.write_file("a.txt", "two")["created"] is False
    with pytest.raises(FileExistsError, match="overwrite"):
        workspace.write_file("a.txt", "three", overwrite=False)
    assert workspace.write_file("a.txt", "+more", append=True)["size"] == 8
    assert workspace.read_file("a.txt") == "two+more"
    assert workspace.read_file("a.txt", offset=3, max_bytes=2) == "+m"
    workspace.write_file("b.txt", b"\xff\xfe bytes")
    assert workspace.read_file("b.txt").endswith(" bytes")


def test_no_temporary_files_left_behind(ws):
    workspace.write_file("x.json", "{}")
    workspace.write_file("x.json", "[]")
    assert sorted(os.listdir(ws)) == ["x.json"]


def test_list_info_exists_delete(ws):
    workspace.write_file("d/one.txt", "1")
    workspace.write_file("d/sub/two.csv", "a,b\n")
    workspace.create_directory("empty/dir")
    top = workspace.list_files()
    assert [(e["name"], e["type"]) for e in top] == [("d", "directory"),
                                                     ("empty", "directory")]
    deep = {e["name"]: e for e in workspace.list_files("d", recursive=True)}
    assert set(deep) == {"d/one.txt", "d/sub", "d/sub/two.csv"}
    assert deep["d/sub/two.csv"]["size"] == 4
    assert workspace.file_info("d/one.txt")["type"] == "file"
    assert workspace.file_exists("d/sub") and not workspace.file_exists("nope.txt")
    with pytest.raises(workspace.WorkspaceError, match="not empty"):
        workspace.delete_file("d/sub")
    assert workspace.delete_file("d/sub/two.csv") == {"path": "d/sub/two.csv",
                                                      "deleted": True}
    workspace.delete_file("d/sub")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        workspace.delete_file("d/sub")
    with pytest.raises(FileNotFoundError):
        workspace.read_file("missing.txt")
    with pytest.raises(IsADirectoryError):
        workspace.read_file("d")


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("path", ["../x.txt", "a/../../x.txt", "..", "a/..",
                                  "/etc/passwd", "/tmp/x.txt"])
def test_traversal_and_absolute_paths_refused(ws, path):
    with pytest.raises(PermissionError, match="workspace"):
        workspace.read_file(path)
    with pytest.raises(PermissionError):
        workspace.write_file(path if path.endswith(".txt") else path + "/x.txt", "x")


@pytest.mark.parametrize("path", ["", "   ", ".hidden.txt", "a/.git/config.txt",
                                  "a\\b.txt", "tab\there.txt", "x" * 2000])
def test_malformed_paths_refused(ws, path):
    with pytest.raises(ValueError):
        workspace.write_file(path, "x")


def test_wrong_argument_types(ws):
    with pytest.raises(TypeError, match="filepath must be a string"):
        workspace.read_file(5)
    with pytest.raises(TypeError, match="content must be a string"):
        workspace.write_file("a.txt", {"not": "text"})
    with pytest.raises(TypeError, match="overwrite must be true or false"):
        workspace.write_file("a.txt", "x", overwrite="yes")
    with pytest.raises(TypeError, match="offset must be an integer"):
        workspace.read_file("a.txt", offset="1")


@pytest.mark.parametrize("name", ["run.exe", "script.sh", "noextension", "lib.so",
                                  "archive.tar.gz"])
def test_file_types_outside_the_allowlist_refused(ws, name):
    with pytest.raises(workspace.WorkspaceError, match="not allowed"):
        workspace.write_file(name, "x")
    assert not (ws / name).exists()


def test_planted_symlink_to_a_file_is_refused(ws, outside):
    os.symlink(outside / "secret.txt", ws / "link.txt")
    with pytest.raises(PermissionError, match="link"):
        workspace.read_file("link.txt")
    with pytest.raises(PermissionError, match="link"):
        workspace.write_file("link.txt", "overwritten")
    with pytest.raises(PermissionError, match="link"):
        workspace.write_file("link.txt", "appended", append=True)
    assert (outside / "secret.txt").read_text() == "top secret"
    assert not workspace.file_exists("link.txt")
    assert workspace.list_files() == [dict(workspace.list_files()[0], name="link.txt",
                                           type="link")]
    # deleting removes the link itself, never its target
    workspace.delete_file("link.txt")
    assert (outside / "secret.txt").exists() and not os.path.lexists(ws / "link.txt")


def test_planted_symlink_to_a_directory_is_refused(ws, outside):
    os.symlink(outside, ws / "shared")
    with pytest.raises(PermissionError, match="symbolic link"):
        workspace.read_file("shared/secret.txt")
    with pytest.raises(PermissionError, match="symbolic link"):
        workspace.write_file("shared/new.txt", "x")
    with pytest.raises(PermissionError, match="symbolic link"):
        workspace.list_files("shared")
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    # a link planted as the checkpoint directory is refused the same way
    os.symlink(outside, ws / "checkpoints")
    with pytest.raises(PermissionError):
        workspace.save_checkpoint("state", {"a": 1})
    assert sorted(os.listdir(outside)) == ["secret.txt"]


def test_planted_hard_link_is_refused(ws, outside):
    try:
        os.link(outside / "secret.txt", ws / "hard.txt")
    except OSError as e:
        pytest.skip(f"cannot make a hard link here: {e}")
    with pytest.raises(PermissionError, match="hard link"):
        workspace.read_file("hard.txt")


def test_planted_fifo_does_not_block(ws):
    os.mkfifo(ws / "pipe.txt")
    with pytest.raises(PermissionError, match="not a regular file"):
        workspace.read_file("pipe.txt")


# ---------------------------------------------------------------- quota

def test_quota_refuses_with_a_sentence(ws, monkeypatch):
    monkeypatch.setattr(workspace, "QUOTA_BYTES", 1000)
    workspace.write_file("a.txt", "x" * 600)
    with pytest.raises(workspace.QuotaExceeded) as e:
        workspace.write_file("b.txt", "y" * 600)
    assert "quota" in str(e.value) and "1000" in str(e.value)
    assert not (ws / "b.txt").exists()
    # replacing a file counts only the difference
    workspace.write_file("a.txt", "z" * 900)
    with pytest.raises(workspace.QuotaExceeded):
        workspace.write_file("a.txt", "z" * 200, append=True)
    with pytest.raises(workspace.QuotaExceeded):
        workspace.save_checkpoint("big", "q" * 500)
    info = workspace.get_workspace_info()
    assert info["used_bytes"] == 900 and info["quota_bytes"] == 1000
    assert info["used_percent"] == 90.0


def test_largest_file(ws, monkeypatch):
    monkeypatch.setattr(workspace, "MAX_FILE_BYTES", 100)
    with pytest.raises(workspace.QuotaExceeded, match="largest file"):
        workspace.write_file("a.txt", "x" * 101)
    workspace.write_file("a.txt", "x" * 100)


# ---------------------------------------------------------------- checkpoints

def test_checkpoints(ws):
    state = {"step": 3, "seen": ["a", "b"], "ratio": 0.5, "done": False, "none": None}
    saved = workspace.save_checkpoint("analysis-1", state)
    assert saved["name"] == "analysis-1" and saved["size"] > 0
    assert workspace.load_checkpoint("analysis-1") == state
    workspace.save_checkpoint("analysis-1", [1, 2])
    workspace.save_checkpoint("other", "text")
    assert workspace.load_checkpoint("analysis-1") == [1, 2]
    assert {c["name"] for c in workspace.list_checkpoints()} == {"analysis-1", "other"}
    assert workspace.get_workspace_info()["checkpoint_count"] == 2
    assert workspace.delete_checkpoint("other") == {"name": "other", "deleted": True}
    with pytest.raises(FileNotFoundError, match="no checkpoint named 'other'"):
        workspace.load_checkpoint("other")
    with pytest.raises(FileNotFoundError):
        workspace.delete_checkpoint("other")
    assert json.loads((ws / "checkpoints" / "analysis-1.json").read_text())["data"] == [1, 2]


@pytest.mark.parametrize("data", [{1, 2}, object(), float("nan"), {"f": print}])
def test_checkpoint_data_must_be_json(ws, data):
    with pytest.raises(workspace.WorkspaceError, match="JSON-serialisable"):
        workspace.save_checkpoint("bad", data)


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65, "a..b"])
def test_checkpoint_names(ws, name):
    with pytest.raises(ValueError, match="checkpoint name"):
        workspace.save_checkpoint(name, 1)


def test_damaged_checkpoint(ws):
    workspace.write_file("checkpoints/broken.json", "{not json")
    with pytest.raises(workspace.WorkspaceError, match="damaged"):
        workspace.load_checkpoint("broken")


def test_list_checkpoints_empty(ws):
    assert workspace.list_checkpoints() == []


# ---------------------------------------------------------------- the tools

def test_tool_round_trip_through_the_runner(tmp_path):
    r = call(LOG_ANALYSIS, "workspace", {"function": "write_file", "filepath": "n/a.txt",
                                         "content": "hello"}, tmp_path)
    assert r.result == {"path": "n/a.txt", "size": 5, "created": True}
    r = call(LOG_ANALYSIS, "workspace", {"function": "read_file", "filepath": "n/a.txt"},
             tmp_path)
    assert r.result == {"path": "n/a.txt", "size": 5, "offset": 0, "content": "hello",
                        "truncated": False}
    r = call(LOG_ANALYSIS, "workspace", {"function": "read_file", "filepath": "n/a.txt",
                                         "max_bytes": 2}, tmp_path)
    assert r.result["content"] == "he" and r.result["truncated"] is True
    # the default function is get_workspace_info, also a tool of its own
    assert call(LOG_ANALYSIS, "workspace", {}, tmp_path).result["file_count"] == 1
    assert call(LOG_ANALYSIS, "get_workspace_info", {}, tmp_path).result["used_bytes"] == 5


def test_tool_errors_are_sentences(tmp_path):
    cases = [
        ({"function": "rm_rf"}, "unknown workspace function 'rm_rf'"),
        ({"function": "_split", "path": "x"}, "unknown workspace function '_split'"),
        ({"function": "read_file"}, "read_file: missing a required argument: 'filepath'"),
        ({"function": "read_file", "filepath": 7}, "filepath must be a string"),
        ({"function": "read_file", "filepath": "../../etc/passwd"}, "leaves the workspace"),
        ({"function": "read_file", "filepath": "nope.txt"}, "'nope.txt' does not exist"),
        ({"function": "write_file", "filepath": "x.bin", "content": "x"}, "is not allowed"),
        ({"function": "write_file", "filepath": "x.txt", "content": "x", "contents": "x"},
         "unexpected keyword argument 'contents'"),
        ({"function": "load_checkpoint", "name": "none"}, "no checkpoint named 'none'"),
    ]
    for args, expected in cases:
        r = call(LOG_ANALYSIS, "workspace", args, tmp_path)
        assert not r.ok and expected in r.error, (args, r)


def test_tool_quota_from_the_worker_context(tmp_path):
    r = call(LOG_ANALYSIS, "workspace", {"function": "write_file", "filepath": "a.txt",
                                         "content": "x" * 200}, tmp_path,
             extra_ctx={"workspace_quota_bytes": 100})
    assert not r.ok and "quota" in r.error and "100-byte" in r.error
    assert not (tmp_path / "a.txt").exists()


def test_workspace_usable_from_execute_code(tmp_path):
    code = ("workspace.write_file('notes.md', 'from code')\n"
            "workspace.save_checkpoint('s', {'n': 1})\n"
            "try:\n"
            "    workspace.read_file('../escape.txt')\n"
            "except PermissionError as e:\n"
            "    print('refused:', e)\n"
            "workspace.load_checkpoint('s')")
    r = call(LOG_ANALYSIS, "execute_code", {"code": code}, tmp_path)
    assert r.ok, r
    assert "refused: filepath '../escape.txt' leaves the workspace" in r.output
    assert r.output.endswith("{'n': 1}\n")
    assert (tmp_path / "notes.md").read_text() == "from code"
