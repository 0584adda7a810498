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

MARKER = "\x1e\x1eSW-RESULT "

# Modules pre-imported into execute_code and listed by get_available_tools.
APPROVED_MODULES = {"log_store": log_store}

# Functions the log_store tool may call (never private helpers).
LOG_STORE_FUNCTIONS = ("search_logs", "get_error_summary", "tail_logs")


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
            raise ToolError(f"unknown log_store function {fname!r}")
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
    raise ToolError(f"unknown tool {tool!r}")


def run(tool, args_json, ctx_json):
    """Run one tool call and write the trailer. Never raises."""
    ctx = json.loads(ctx_json)
    args = json.loads(args_json)
    log_store.DATA_DIR = ctx["data_dir"]
    os.environ["HOME"] = ctx["workspace"]
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
    execute_code._compile("x = 1\nx")
    json.loads(json.dumps({"a": [1, 2.5, "x"]}))
    _available_tools({"wall_ms": 0, "output_bytes": 0})
    log_store.DATA_DIR = None

