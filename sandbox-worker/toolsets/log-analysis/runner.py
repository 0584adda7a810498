"""Entry point of a tool call inside the sandbox child.

The zygote imports this module once (warm()), then each confined child calls
run(tool, arguments_json, context_json). Output the tool prints goes to fd 1
(capped); the result goes last, as one trailer line the zygote parses:
MARKER + {"status": "ok"|"error"|"memory_limit", "result"?, "error"?,
"truncated"}.
"""

import inspect
import io
import json
import os
import sys

import execute_code
import log_store
import privacy
import skills
import tool_discovery
import workspace

MARKER = "\x1e\x1eSW-RESULT "

# Modules pre-imported into execute_code and listed by get_available_tools.
APPROVED_MODULES = {"log_store": log_store}
APPROVED_MODULES.update(workspace=workspace, skills=skills,
                        tool_discovery=tool_discovery, privacy=privacy)

# The documented safe part of the standard library for execute_code: pure
# computation, text, data formats and time. Pre-imported in the zygote, so
# importing them costs nothing. (Anything else the kernel policy allows may
# be imported too; the sandbox, not this list, is the security boundary.)
STDLIB = ("base64", "bisect", "collections", "copy", "csv", "dataclasses",
          "datetime", "decimal", "difflib", "enum", "fractions", "functools",
          "gzip", "hashlib", "heapq", "io", "ipaddress", "itertools", "json",
          "math", "operator", "pprint", "random", "re", "statistics",
          "string", "textwrap", "time", "typing", "unicodedata", "zlib")

# Tools with a "function" selector: tool -> (module, functions, default).
SELECTOR_TOOLS = {
    "workspace": (workspace, tuple(workspace.__all__), "get_workspace_info"),
    # run_skill is its own tool ("function" there names the skill's one)
    "skills": (skills, tuple(f for f in skills.__all__
                             if f not in ("load_skill", "run_skill")),
               "list_skills"),
    "tool_discovery": (tool_discovery, tuple(tool_discovery.__all__),
                       "list_available_tools"),
    "privacy": (privacy, ("scrub_all_pii", "anonymize_names"),
                "scrub_all_pii"),
}
# Tools that are one function: tool -> (module, function).
DIRECT_TOOLS = {
    "get_workspace_info": (workspace, "get_workspace_info"),
    "list_skills": (skills, "list_skills"),
    "run_skill": (skills, "run_skill"),
    "list_available_tools": (tool_discovery, "list_available_tools"),
    "search_tools": (tool_discovery, "search_tools"),
}
# Most bytes of a file the workspace tool's read_file returns at once.
TOOL_READ_MAX = 200000
tool_discovery.MODULES = {k: v for k, v in APPROVED_MODULES.items()
                          if k != "tool_discovery"}
tool_discovery.STDLIB = STDLIB

# Warm-up calls for the worker's spare processes (docs/adding-a-tool-set.md):
# the first runs in every spare; the others only while the worker is idle,
# to take the copy-on-write faults of what agents' code commonly uses (JSON,
# text, regular expressions, collections, dates, the approved modules)
# before a call needs them. Fixed code, output discarded, no user data.
# Small data: the faults come from the code paths, not from the sizes.
_WARM_LINES = r"""
lines = ["2025-01-%02dT10:00:00Z host%d: %s took %dms ip=10.0.%d.%d"
         % (i + 1, i % 3, "ERROR x" if i % 3 == 0 else "INFO ok", i * 13, i, i)
         for i in range(10)]
"""
_WARM_JSON = r"""
import json
rows = [{"n": i, "name": "item-%d" % i, "tags": ["a", "b"][: i % 3],
         "v": i * 1.5, "ok": i % 2 == 0, "none": None} for i in range(10)]
back = json.loads(json.dumps(rows, sort_keys=True))
json.dumps(back, indent=2, ensure_ascii=False)
sorted(back, key=lambda r: (-r["v"], r["name"]))
[line.split() for line in lines if "error" in line.lower()]
print(len(back), f"{3.14159:.2f} {12345:,}", lines[0].strip().partition(" "))
"""
_WARM_TEXT = r"""
import collections, datetime, re, statistics
pat = re.compile(r"(?P<ts>\S+) (?P<host>\w+): (?P<level>[A-Z]+) (.*?) "
                 r"took (?P<ms>\d+)ms")
found = [m.groupdict() for m in map(pat.search, lines) if m]
re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", "\n".join(lines))
re.sub(r"ip=\S+", "ip=-", lines[0])
re.split(r"[,;\s]+", "a, b;c  d")
[line for line in lines if re.search("error", line, re.I)]
levels = collections.Counter(f["level"] for f in found)
by_host = collections.defaultdict(list)
for f in found:
    by_host[f["host"]].append(int(f["ms"]))
{h: (min(v), max(v), statistics.mean(v), statistics.median(v))
 for h, v in by_host.items()}
datetime.datetime.fromisoformat("2025-01-15T10:00:00+00:00").strftime("%H:%M")
log_store.parse_line(lines[0])
privacy.scrub_all_pii("a@example.com 10.0.0.1")
print(levels.most_common(1), len(by_host))
"""
REHEARSALS = tuple(("execute_code", json.dumps({"code": code}))
                   for code in ("print(1)", _WARM_LINES + _WARM_JSON,
                                _WARM_LINES + _WARM_TEXT))

# Functions the log_store tool may call (never private helpers).
LOG_STORE_FUNCTIONS = ("search_logs", "get_error_summary", "tail_logs",
                       "extract_fields", "list_services")


class ToolError(Exception):
    """A tool failed in a way the agent should read."""


class _CappedWriter(io.TextIOBase):
    """stdout/stderr replacement: writes straight to fd 1 (so output made
    before a kill is kept) and stops after `budget` bytes."""

    def __init__(self, budget):
        super().__init__()
        self.left = budget
        self.truncated = False

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not "
                            f"{type(s).__name__}")
        data = s.encode("utf-8", "replace")
        if len(data) > self.left:
            data = data[:max(self.left, 0)]
            self.truncated = True
        self.left -= len(data)
        _write_fd(data)
        return len(s)

    def flush(self):
        pass


def _write_fd(data):
    view = memoryview(data)
    while view:
        n = os.write(1, view)
        view = view[n:]


def _available_tools(ctx):
    modules = {}
    for name, mod in APPROVED_MODULES.items():
        funcs = {}
        for fname, fn in inspect.getmembers(mod, inspect.isfunction):
            if fname.startswith("_") or fn.__module__ != mod.__name__:
                continue
            doc = inspect.getdoc(fn) or ""
            funcs[fname] = {"signature": f"{fname}{inspect.signature(fn)}",
                            "doc": doc.split("\n\n")[0].replace("\n", " ")}
        modules[name] = {"doc": (inspect.getdoc(mod) or "").split("\n")[0],
                         "functions": funcs}
    return {"modules": modules,
            "services": log_store.list_services(),
            "execute_code": {
                "preloaded": sorted(APPROVED_MODULES),
                "stdlib": list(STDLIB),
                "discovery": "list_available_tools, search_tools",
                "builtins": "all",
                "workspace": "current directory (read/write, yours only)",
                "blocked": "network, subprocesses, files outside the "
                           "workspace and the log data",
                "limits": {"wall_ms": ctx["wall_ms"],
                           "output_bytes": ctx["output_bytes"]}}}


def _dispatch(tool, args, ctx):
    if tool == "execute_code":
        try:
            execute_code.run(args.get("code", ""), dict(APPROVED_MODULES))
        except execute_code.CodeError as e:
            raise ToolError(str(e)) from None
        return None
    if tool == "log_store":
        args = dict(args)
        fname = args.pop("function", None)
        if fname not in LOG_STORE_FUNCTIONS:
            raise ToolError(f"unknown log_store function {fname!r}; one of: "
                            f"{', '.join(LOG_STORE_FUNCTIONS)}")
        fn = getattr(log_store, fname)
        try:
            inspect.signature(fn).bind(**args)
        except TypeError as e:
            raise ToolError(f"{fname}: {e}") from None
        try:
            return fn(**args)
        except (ValueError, LookupError) as e:
            raise ToolError(f"{fname}: {e}") from None
    if tool == "get_available_tools":
        return _available_tools(ctx)
    if tool in SELECTOR_TOOLS:
        mod, allowed, default = SELECTOR_TOOLS[tool]
        args = dict(args)
        fname = args.pop("function", default)
        if fname not in allowed:
            raise ToolError(f"unknown {tool} function {fname!r}; one of: "
                            f"{', '.join(allowed)}")
        return _call_function(mod, fname, args)
    if tool in DIRECT_TOOLS:
        mod, fname = DIRECT_TOOLS[tool]
        return _call_function(mod, fname, dict(args))
    raise ToolError(f"unknown tool {tool!r}")


def _call_function(mod, fname, args):
    """Calls an approved module's function with the tool's arguments;
    wrong or missing arguments and refusals become a ToolError sentence."""
    import errno
    args.pop("timeout", None)          # the worker's wall limit, not ours
    fn = getattr(mod, fname)
    try:
        inspect.signature(fn).bind(**args)
    except TypeError as e:
        raise ToolError(f"{fname}: {e}") from None
    read_tool = mod is workspace and fname == "read_file"
    if read_tool:
        args["max_bytes"] = min(args.get("max_bytes") or TOOL_READ_MAX,
                                TOOL_READ_MAX)
    try:
        result = fn(**args)
        if read_tool:
            info = workspace.file_info(args["filepath"])
            offset = args.get("offset", 0)
            used = offset + len(result.encode("utf-8", "replace"))
            result = {"path": info["path"], "size": info["size"],
                      "offset": offset, "content": result,
                      "truncated": used < info["size"]}
        return result
    except OSError as e:
        if e.errno in (errno.EDQUOT, errno.ENOSPC, errno.EFBIG):
            raise ToolError(f"{fname}: the workspace quota is exhausted "
                            "(the disk refused the write)") from None
        if e.errno is not None and e.filename is not None:
            raise ToolError(f"{fname}: {e.strerror}") from None
        raise ToolError(f"{fname}: {e}") from None
    except (ValueError, LookupError, TypeError) as e:
        raise ToolError(f"{fname}: {e}") from None


def run(tool, args_json, ctx_json):
    """Run one tool call and write the trailer. Never raises."""
    ctx = json.loads(ctx_json)
    args = json.loads(args_json)
    log_store.DATA_DIR = ctx["data_dir"]
    os.environ["HOME"] = ctx["workspace"]
    workspace.ROOT = ctx["workspace"]
    if ctx.get("workspace_quota_bytes"):
        workspace.QUOTA_BYTES = int(ctx["workspace_quota_bytes"])
    skills.PRELOAD = dict(APPROVED_MODULES)
    out = _CappedWriter(ctx["output_bytes"])
    sys.stdout = sys.stderr = out
    trailer = {"status": "ok"}
    try:
        result = _dispatch(tool, args, ctx)
        if result is not None:
            trailer["result"] = result
    except MemoryError:
        trailer = {"status": "memory_limit", "error": "MemoryError"}
    except ToolError as e:
        trailer = {"status": "error", "error": str(e)}
    except BaseException as e:  # a bug in a tool: report, do not crash
        trailer = {"status": "error", "error": f"{type(e).__name__}: {e}"}
    trailer["truncated"] = out.truncated
    try:
        text = json.dumps(trailer, default=str, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        text = json.dumps({"status": "error", "truncated": out.truncated,
                           "error": f"result is not serialisable: {e}"})
    _write_fd(("\n" + MARKER + text + "\n").encode("utf-8", "replace"))


def warm(data_dir):
    """Run in the zygote: import and exercise what calls will use, so each
    child starts with warm modules shared copy-on-write."""
    import ast, base64, collections, csv, dataclasses, datetime  # noqa
    import decimal, fractions, functools, hashlib, heapq, itertools  # noqa
    import math, random, statistics, string, textwrap, typing  # noqa
    import linecache, traceback, re, time, enum, copy, pprint  # noqa
    log_store.DATA_DIR = data_dir
    log_store.parse_line("2025-01-01T00:00:00Z [ERROR] Boom: warm-up")
    log_store.parse_line('{"level": "warn", "message": "warm-up"}')
    log_store.parse_line('{"time": 1736935201123, "level": 50, "msg": "x"}')
    log_store.parse_line("Jan 15 10:00:01 host app[1]: ERROR Boom: warm-up")
    log_store.parse_time("1h")
    privacy.scrub_all_pii("warm-up a@example.com 4111 1111 1111 1111 Alice")
    execute_code._compile("x = 1\nx")
    json.loads(json.dumps({"a": [1, 2.5, "x"]}))
    _available_tools({"wall_ms": 0, "output_bytes": 0})
    log_store.DATA_DIR = None
    for name in STDLIB:
        __import__(name)
    # the discovery catalog: generated from the code once, here, and
    # inherited read-only (copy-on-write) by every call
    tool_discovery.build()

