"""Entry point of a data-science tool call inside the sandbox child.

The worker's contract (same as every tool set, docs/adding-a-tool-set.md):
the zygote imports this module and calls warm(data_dir) once; each
confined child calls run(tool, arguments_json, context_json), which writes
what the tool prints to fd 1 (capped) and then one trailer line:
MARKER + {"status": "ok"|"error"|"memory_limit", "result"?, "error"?,
"truncated"}.
"""

import ast
import builtins
import inspect
import io
import json
import linecache
import os
import sys
import traceback

import datasets

MARKER = "\x1e\x1eSW-RESULT "
CODE_FILE = "<code>"

# Pre-bound in execute_code.
PRELOAD = {"datasets": datasets}
# Pre-imported in the zygote and documented for execute_code.
STDLIB = ("collections", "csv", "datetime", "functools", "io", "itertools",
          "json", "math", "operator", "random", "re", "statistics", "string")
# Tools that call one function of datasets.
FUNCTION_TOOLS = {"list_datasets": "list_datasets", "load_csv": "load_csv",
                  "describe": "describe", "group_by": "group_by"}

# Warm-up calls for the worker's spares (docs/adding-a-tool-set.md): the
# second, made while the worker is idle, runs the CSV, type and statistics
# code of describe and group_by on a small CSV in memory (no data set read).
_WARM_CSV = r"""
import collections, io, json, math, statistics
text = "day,region,units,price\n" + "".join(
    "2025-01-%02d,%s,%d,%.2f\n" % (i % 28 + 1, ("west", "east", "north")[i % 3],
                                   i * 7 % 40, 3.5 + i % 9) for i in range(30))
columns, rows = datasets.read_csv(io.StringIO(text))
types = datasets._types(columns, rows)
stats = {c: datasets._stats([datasets._number(r[c]) for r in rows])
         for c in columns if types[c] != "text"}
groups = collections.defaultdict(list)
for r in rows:
    groups[r["region"]].append(datasets._number(r["units"]))
summary = sorted(((k, math.fsum(v), statistics.mean(v))
                  for k, v in groups.items()), key=lambda kv: -kv[1])
print(json.dumps({"types": types, "stats": stats, "groups": summary})[:80])
"""
REHEARSALS = tuple(("execute_code", json.dumps({"code": code}))
                   for code in ("print(1)", _WARM_CSV))


class ToolError(Exception):
    """A tool failed in a way the agent should read."""


class _CappedWriter(io.TextIOBase):
    """stdout/stderr: straight to fd 1, at most `budget` bytes."""

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
            raise TypeError("write() argument must be str, not "
                            f"{type(s).__name__}")
        data = s.encode("utf-8", "replace")
        if len(data) > self.left:
            data = data[:max(self.left, 0)]
            self.truncated = True
        self.left -= len(data)
        _write_fd(data)
        return len(s)


def _write_fd(data):
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


def _execute_code(code):
    """Ordinary Python: full builtins, one globals dict; the value of a
    final expression is printed. Security is the sandbox's."""
    linecache.cache[CODE_FILE] = (len(code), None, code.splitlines(True),
                                  CODE_FILE)
    try:
        tree = ast.parse(code, CODE_FILE, "exec")
    except SyntaxError as e:
        raise ToolError(f"SyntaxError: {e.msg} (line {e.lineno})") from None
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), CODE_FILE,
                       "eval")
    body = compile(tree, CODE_FILE, "exec")
    g = {"__name__": "__main__", "__builtins__": builtins}
    g.update(PRELOAD)
    try:
        exec(body, g)
        if last is not None:
            value = eval(last, g)
            if value is not None:
                print(repr(value))
    except SystemExit as e:
        if e.code not in (None, 0):
            raise ToolError(f"SystemExit: {e.code}") from None
    except MemoryError:
        raise
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != CODE_FILE:
            tb = tb.tb_next
        raise ToolError("".join(traceback.format_exception(
            type(e), e, tb)).rstrip()) from None


def _available(ctx):
    funcs = {}
    for name in datasets.__all__:
        fn = getattr(datasets, name)
        doc = inspect.getdoc(fn) or ""
        funcs[name] = {"signature": f"{name}{inspect.signature(fn)}",
                       "doc": " ".join(doc.split("\n\n")[0].split())}
    return {"modules": {"datasets": {"doc": " ".join(
                (inspect.getdoc(datasets) or "").split("\n\n")[0].split()),
                "functions": funcs}},
            "datasets": [d["name"] for d in datasets.list_datasets()],
            "execute_code": {"preloaded": sorted(PRELOAD),
                             "stdlib": list(STDLIB),
                             "workspace": "current directory (read/write, "
                                          "yours only)",
                             "limits": {"wall_ms": ctx["wall_ms"],
                                        "output_bytes": ctx["output_bytes"]}}}


def _dispatch(tool, args, ctx):
    args = dict(args)
    args.pop("timeout", None)
    if tool == "execute_code":
        _execute_code(args.get("code", ""))
        return None
    if tool == "get_available_tools":
        return _available(ctx)
    if tool not in FUNCTION_TOOLS:
        raise ToolError(f"unknown tool {tool!r}")
    fname = FUNCTION_TOOLS[tool]
    fn = getattr(datasets, fname)
    try:
        inspect.signature(fn).bind(**args)
    except TypeError as e:
        raise ToolError(f"{fname}: {e}") from None
    try:
        return fn(**args)
    except (ValueError, LookupError, TypeError, OSError) as e:
        raise ToolError(f"{fname}: {e}") from None


def run(tool, args_json, ctx_json):
    """Run one tool call and write the trailer. Never raises."""
    ctx = json.loads(ctx_json)
    args = json.loads(args_json)
    datasets.DATA_DIR = ctx["data_dir"]
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
        text = json.dumps(trailer, default=str, ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as e:
        text = json.dumps({"status": "error", "truncated": out.truncated,
                           "error": f"result is not serialisable: {e}"})
    _write_fd(("\n" + MARKER + text + "\n").encode("utf-8", "replace"))


def warm(data_dir):
    """In the zygote: import and exercise what calls use, so each child
    starts warm (shared copy-on-write)."""
    for name in STDLIB:
        __import__(name)
    datasets.DATA_DIR = data_dir
    datasets.list_datasets()
    datasets._stats([1.0, 2.0, 3.0])
    compile("x = 1", CODE_FILE, "exec")
    datasets.DATA_DIR = None
