"""Helpers for the tool-set tests: call a tool set's runner.run() the way
the worker's zygote does (a fresh Python process, cwd = the workspace, the
same context JSON), without the kernel confinement, which the integration
tests (test/integration/test_toolsets.py) cover through the real worker.
"""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOLSETS = ROOT / "sandbox-worker" / "toolsets"
LOG_ANALYSIS = TOOLSETS / "log-analysis"
DATA_SCIENCE = TOOLSETS / "data-science"
MARKER = "\x1e\x1eSW-RESULT "

_DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
import runner
if sys.argv[5] == "warm":
    runner.warm(sys.argv[6])
runner.run(sys.argv[2], sys.argv[3], sys.argv[4])
"""


class Result:
    def __init__(self, output, trailer, returncode):
        self.output = output            # what the tool printed
        self.trailer = trailer          # {"status", "result"?, "error"?}
        self.returncode = returncode

    @property
    def ok(self):
        return self.trailer.get("status") == "ok"

    @property
    def result(self):
        assert self.ok, self.trailer
        return self.trailer.get("result")

    @property
    def error(self):
        assert not self.ok, self.trailer
        return self.trailer.get("error", "")

    def __repr__(self):
        return f"Result({self.trailer!r}, output={self.output!r})"


def call(toolset, tool, arguments, workspace, data_dir=None, warm=False,
         output_bytes=65536, extra_ctx=None, timeout=60):
    """Runs one tool call of toolset in a fresh interpreter; returns Result."""
    toolset = pathlib.Path(toolset)
    data_dir = str(data_dir or (toolset / "demo-logs"))
    ctx = {"data_dir": data_dir, "workspace": str(workspace),
           "output_bytes": output_bytes, "wall_ms": timeout * 1000}
    ctx.update(extra_ctx or {})
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", _DRIVER, str(toolset), tool,
         json.dumps(arguments), json.dumps(ctx), "warm" if warm else "cold",
         data_dir],
        cwd=str(workspace), capture_output=True, timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    out = proc.stdout.decode("utf-8", "replace")
    idx = out.rfind(MARKER)
    assert idx >= 0, (out, proc.stderr.decode(errors="replace"))
    trailer = json.loads(out[idx + len(MARKER):])
    text = out[:idx]
    if text.endswith("\n"):
        text = text[:-1]
    return Result(text, trailer, proc.returncode)


def import_module(toolset, name, alias=None):
    """Imports toolset/<name>.py (its siblings importable) under alias."""
    import importlib.util
    toolset = str(toolset)
    if toolset not in sys.path:
        sys.path.insert(0, toolset)
    spec = importlib.util.spec_from_file_location(
        alias or name, os.path.join(toolset, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
