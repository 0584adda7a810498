#!/usr/bin/python3
"""Token savings of code mode: "top 5 errors in the last hour" over 100 MB
of generated logs, answered by execute_code through the gateway.

Starts the demo stack (demo/stack.py) with --size-mb MiB of logs from
generate_logs.py (seed 42, ending now: six services, text, JSON lines,
syslog, gzip rotations), then sends, with an API key, --calls times:

    s = log_store.get_error_summary(since="1h", top=5)
    print(json.dumps(...the five types and counts...))

Prints the client's wall time per call (p50, min, max; the first call is
timed too, nothing is warmed but the zygote), the sandbox CPU time, the
bytes of the HTTP answer against the bytes of the logs (uncompressed and
on disk), and the targets: < 1.5 s and < 2 KB returned.

Prints numbers; not a test.  Run it with `make bench` or
/usr/bin/python3 bench/token_savings.py [--size-mb N] [--calls N].
"""

import argparse
import gzip
import http.client
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))

from stack import Stack  # noqa: E402

CODE = """\
import json
s = log_store.get_error_summary(since="1h", top=5)
print(json.dumps({"since": s["since"], "errors": s["total_errors"],
                  "top5": s["errors_by_type"]}))
"""
TARGET_S = 1.5
TARGET_BYTES = 2048


def log_sizes(data_dir, since):
    """(uncompressed bytes, bytes on disk, bytes of files written since)."""
    raw = disk = recent = 0
    for name in os.listdir(data_dir):
        path = os.path.join(data_dir, name)
        st = os.stat(path)
        disk += st.st_size
        if st.st_mtime >= since:
            recent += st.st_size
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    raw += len(chunk)
        else:
            raw += st.st_size
    return raw, disk, recent


def call(conn, path, key, rpc_id):
    body = json.dumps({"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call",
                       "params": {"name": "execute_code", "arguments": {"code": CODE}}})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key,
               "Accept": "application/json, text/event-stream"}
    t0 = time.monotonic()
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    wall = time.monotonic() - t0
    if resp.status != 200:
        raise SystemExit(f"HTTP {resp.status}: {data[:300]!r}")
    return wall, data, resp.getheader("X-MCP-Exec-Cpu-Ms")


def mib(n):
    return f"{n / 1048576:.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=100, help="MiB of logs (default 100)")
    parser.add_argument("--calls", type=int, default=5, help="timed calls (default 5)")
    args = parser.parse_args()

    print(f"generating {args.size_mb:g} MiB of logs and starting the demo stack ...", flush=True)
    t0 = time.monotonic()
    with Stack(log_size_mb=args.size_mb) as stack:
        print(f"ready in {time.monotonic() - t0:.1f} s", flush=True)
        key = stack.create_key("bench-tokens", "mcp-log-analyst")["key"]
        raw, disk, recent = log_sizes(stack.path("log-data"), time.time() - 3600)
        conn = http.client.HTTPConnection("127.0.0.1", stack.ports["gateway"], timeout=60)
        path = stack.gateway_url.split(str(stack.ports["gateway"]), 1)[1]
        walls, cpus = [], []
        for i in range(args.calls):
            wall, data, cpu = call(conn, path, key, i + 1)
            walls.append(wall)
            cpus.append(int(cpu or 0))
        conn.close()

    answer = json.loads(data)["result"]["content"][0]["text"]
    p50 = statistics.median(walls)
    print("\n\"top 5 errors in the last hour\" via execute_code through the gateway")
    print(f"  logs          {raw} bytes ({mib(raw)}) uncompressed, {mib(disk)} on disk;"
          f" {mib(recent)} in files written in the last hour (older files are skipped)")
    print(f"  returned      {len(data)} bytes (the whole HTTP body), "
          f"{100 * (1 - len(data) / raw):.4f}% less than the logs")
    print(f"  wall          p50 {p50:.3f} s, min {min(walls):.3f} s, max {max(walls):.3f} s"
          f" over {len(walls)} calls (first {walls[0]:.3f} s)")
    print(f"  sandbox CPU   p50 {statistics.median(cpus)} ms")
    print(f"  answer        {answer.strip()}")
    ok_time, ok_bytes = p50 < TARGET_S, len(data) < TARGET_BYTES
    print(f"  targets       wall < {TARGET_S} s: {'met' if ok_time else 'MISSED'};"
          f" returned < {TARGET_BYTES} bytes: {'met' if ok_bytes else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
