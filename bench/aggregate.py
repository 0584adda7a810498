#!/usr/bin/python3
"""What progressive discovery saves an agent with many tool sets.

Ten tool sets of twelve tools each (realistic descriptions and input
schemas, served by a static upstream) behind one aggregate endpoint, read
by a caller who may use all of them:

  full       tools/list of the aggregate: every tool set's schemas up front
  catalogue  the same aggregate with mcp_aggregate_discovery on: tools/list
             (two small tools), then list_toolsets, then load_toolset of the
             one tool set the task needs

Prints the bytes each answer takes and the tokens (bytes / 4) it costs a
model's context, and the time the aggregate's tools/list takes (ten
subrequests in parallel).  Not a timed test: `make bench` runs it.
"""

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))

from stack import Stack, free_port  # noqa: E402

TOOL_SETS = 10
TOOLS = 12


def tool(s, t):
    return {
        "name": f"tool_{t:02d}",
        "title": f"Tool {t} of set {s}",
        "description": f"Tool {t} of tool set {s}: queries the set's data by a filter "
                       "expression and returns matching records, newest first.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Filter expression."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000,
                          "description": "Most records to return."},
                "since": {"type": "string", "description": "ISO 8601 start time."},
                "fields": {"type": "array", "items": {"type": "string"},
                           "description": "Fields to return."},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    }


def write_lists(root):
    for s in range(TOOL_SETS):
        doc = {"jsonrpc": "2.0", "id": 0, "result": {"tools": [tool(s, t) for t in range(TOOLS)]}}
        path = os.path.join(root, f"set{s}.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        os.chmod(path, 0o644)


def config(stack, port, root):
    upstream = f"""
    server {{
        listen 127.0.0.1:{port};
        access_log off;
        location ~ ^/set(\\d+)$ {{
            error_page 405 =200 /static/set$1.json;
            return 405;
        }}
        location /static/ {{
            internal;
            alias {root}/;
            default_type application/json;
        }}
    }}
"""
    common = f"""
            mcp_identity_secret_file {stack.state}/identity.secret;
            mcp_allow_roles bench;
"""
    locations = []
    for s in range(TOOL_SETS):
        locations.append(f"""
        location = /bench/set{s} {{
            mcp_endpoint set{s};
            mcp_description "Tool set {s}: records of system {s}, by filter";
            {common}
            mcp_tool tool_* bench;
            proxy_pass http://127.0.0.1:{port}/set{s};
        }}""")
    names = " ".join(f"set{s}" for s in range(TOOL_SETS))
    for name, discovery in (("full", "off"), ("catalogue", "on")):
        locations.append(f"""
        location = /bench/{name} {{
            mcp_endpoint {name};
            {common}
            mcp_aggregate {names};
            mcp_aggregate_discovery {discovery};
        }}""")
    return upstream, "\n".join(locations)


def rpc(url, key, method, params=None):
    body = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        body["params"] = params
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + key,
                                          "Content-Type": "application/json",
                                          "Accept": "application/json, text/event-stream"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def main():
    root = tempfile.mkdtemp(prefix="ngx-mcp-bench-agg-")
    os.chmod(root, 0o755)
    write_lists(root)
    port = free_port()
    stack = Stack(apikey_ttl=300)
    stack.extra["extra_http"], stack.extra["extra_server"] = config(stack, port, root)
    try:
        with stack:
            key = stack.create_key("bench", "bench")["key"]
            base = stack.aggregate_url.replace("/mcp", "/bench")
            full = rpc(base + "/full", key, "tools/list")
            listed = json.loads(full)["result"]["tools"]
            if len(listed) != TOOL_SETS * TOOLS:
                raise SystemExit(f"the aggregate listed {len(listed)} tools, "
                                 f"not {TOOL_SETS * TOOLS}")
            catalogue = rpc(base + "/catalogue", key, "tools/list")
            toolsets = rpc(base + "/catalogue", key, "tools/call",
                           {"name": "list_toolsets", "arguments": {}})
            loaded = rpc(base + "/catalogue", key, "tools/call",
                         {"name": "load_toolset", "arguments": {"name": "set3"}})
            times = []
            for _ in range(50):
                started = time.perf_counter()
                rpc(base + "/full", key, "tools/list")
                times.append((time.perf_counter() - started) * 1000)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    rows = [("full tools/list", len(full)),
            ("catalogue: tools/list", len(catalogue)),
            ("catalogue: list_toolsets", len(toolsets)),
            ("catalogue: load_toolset (1 set)", len(loaded))]
    progressive = sum(n for _, n in rows[1:])
    print(f"\n{TOOL_SETS} tool sets x {TOOLS} tools behind one aggregate endpoint\n")
    print(f"{'answer':34} {'bytes':>8} {'tokens':>8}")
    for name, n in rows:
        print(f"{name:34} {n:8d} {n // 4:8d}")
    print(f"{'catalogue, all three':34} {progressive:8d} {progressive // 4:8d}")
    print(f"\nprogressive discovery: {progressive / len(full):.1%} of the full list's tokens "
          f"for a task that needs one tool set")
    print(f"aggregate tools/list ({TOOL_SETS} subrequests in parallel): "
          f"p50 {statistics.median(times):.2f} ms, "
          f"max {max(times):.2f} ms over {len(times)} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
