#!/usr/bin/python3
"""Gateway overhead, measured with wrk on loopback.

All cases run in one nginx, in one run, against the same trivial upstream
(an nginx server block answering fixed JSON-RPC results):

  tools/call (the same body each time)
  (a) bare proxy_pass, no module, no credentials sent
  (b) API key, verified identity in the shared cache
  (c) JWT, verified token in the shared cache
  (d) JWT verified on every request: a second nginx without
      mcp_auth_cache (the cost of a token's first verification)
  (h) API key looked up in Redis on every request: the same second nginx
      (no cache, so every request is a Redis miss)
  (e) as (b), plus the JSON audit record (buffered access_log)

  and the same bare proxy_pass sent exactly what (b)-(e) are sent, so a
  ratio compares like with like:
  (a-key) bare, with the API key header (forwarded as is)
  (a-jwt) bare, with the JWT header: a 1 KB header makes nginx itself
          allocate a large header buffer, with or without the module
  (a-log) as (a-key), plus nginx's "combined" access log, buffered as (e)
          is: the log the audit record replaces

  tools/list of 500 tools, one connection (latency, not throughput)
  (f) bare proxy_pass
  (g) API key, filtered to the 250 tools the caller may call

Prints requests/s, p50 and p99 latency, each tools/call case as a ratio of
(a) and of its like-for-like bare case, and the p50 the filter adds,
(g) - (f).  Throughput on a shared 2-core VM moves with the machine, so
the cases run in rounds, each round in a rotated order (no case always
follows the same one, e.g. one that leaves log writeback behind), and a
ratio is the median of the ratios within each round, where the two cases
ran a few seconds apart; the range over the rounds is printed too.  The
CPU the nginx workers spend per request (both nginx instances, the
upstream included, from /proc) moves less, so it is printed too, and the
module's own cost as the difference to the like-for-like bare case.  Not a
timed test: run it with `make bench`.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))

from stack import MODULE_SO, NGINX_BIN, Stack, free_port, wait_for_port  # noqa: E402

CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "echo", "arguments": {"text": "hello", "n": 1}}})
LIST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})

# the demo provider's tokens live 300 s; a run takes longer
TOKEN_REFRESH_S = 120


def tools_list_document(n=500):
    """A tools/list result of n tools, half of them named allowed_*."""
    tools = [{"name": f"{'allowed' if i % 2 else 'other'}_{i}",
              "description": f"Tool number {i}: does one small thing well.",
              "inputSchema": {"type": "object",
                              "properties": {"query": {"type": "string"},
                                             "limit": {"type": "integer"}},
                              "required": ["query"]}} for i in range(n)]
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"tools": tools}})

ENDPOINT = """
            mcp_endpoint bench;
            mcp_identity_secret_file {state}/identity.secret;
            mcp_allow_roles mcp-log-analyst;
            mcp_tool echo mcp-log-analyst;
            mcp_tool allowed_* mcp-log-analyst;
            mcp_resource {resource};
            mcp_jwt_issuer {issuer};
            {keys}
            proxy_pass http://bench_upstream{target};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
"""

UPSTREAM = """
    upstream bench_upstream {{
        server 127.0.0.1:{port};
        keepalive 64;
    }}

    server {{
        listen 127.0.0.1:{port};
        access_log off;
        location = /echo {{
            default_type application/json;
            return 200 '{{"jsonrpc":"2.0","id":1,"result":{{"content":[]}}}}';
        }}

        # a POST to a static file: 405, redirected as a GET to the file
        location = /list {{
            error_page 405 =200 /tools500.json;
            return 405;
        }}

        location = /tools500.json {{
            internal;
            root {root};
            default_type application/json;
        }}
    }}
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
    wrk.headers["Authorization"] = auth
end
"""


def wrk(url, auth, seconds, connections, threads, body=CALL, workers=()):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
        script = f.name
    env = dict(os.environ, BENCH_BODY=body, BENCH_AUTH=auth or "")
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
           "--latency", "-s", script, url]
    before = cpu_seconds(workers)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    spent = cpu_seconds(workers) - before
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]),
            "cpu_us": spent / max(requests, 1) * 1e6,
            "non2xx": int(errors.group(1)) if errors else 0}


def nginx_workers(masters):
    """The worker processes of these nginx masters."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid in masters:
                pids.append(int(entry))
    return pids


def cpu_seconds(pids):
    """User + system CPU time of these processes, in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def median_run(runs):
    """The run with the median throughput, the median CPU per request and
    the total of non-2xx."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["cpu_us"] = sorted(r["cpu_us"] for r in runs)[len(runs) // 2]
    chosen["non2xx"] = sum(r["non2xx"] for r in runs)
    return chosen


def paired_ratio(runs, base_runs):
    """The median over the rounds of a case's req/s over the base case's,
    both measured in the same round."""
    return statistics.median(r["rps"] / b["rps"] for r, b in zip(runs, base_runs))


def paired_difference(runs, base_runs):
    """The median over the rounds of a case's CPU per request minus the base
    case's, both measured in the same round."""
    return statistics.median(r["cpu_us"] - b["cpu_us"] for r, b in zip(runs, base_runs))


def check_filter(url, key):
    """The filtered case really filters: 250 of 500 tools come back."""
    req = urllib.request.Request(url, data=LIST.encode(), method="POST",
                                 headers={"Authorization": "Bearer " + key,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        tools = json.load(resp)["result"]["tools"]
    if len(tools) != 250 or not all(t["name"].startswith("allowed_") for t in tools):
        raise SystemExit(f"the filter returned {len(tools)} tools, not the 250 allowed")


def to_ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cold_nginx(stack, upstream_port, jwks_path):
    """A second nginx: same endpoint, JWKS from a file, the same Redis,
    no auth cache."""
    port = free_port()
    state = tempfile.mkdtemp(prefix="ngx-mcp-bench-")
    os.chmod(state, 0o755)
    os.makedirs(os.path.join(state, "logs"))
    resource = stack.gateway_url.replace("/mcp/log-analysis", "/bench/mcp")
    user = "user nobody nogroup;" if os.geteuid() == 0 else ""
    conf = f"""
load_module {MODULE_SO};
{user}
worker_processes 2;
daemon off;
pid {state}/nginx.pid;
error_log {state}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {stack.path('tmp', 'body')};
    proxy_temp_path {stack.path('tmp', 'proxy')};
    mcp_redis_server 127.0.0.1:{stack.ports['redis']};
    mcp_redis_user mcp-gateway;
    mcp_redis_password_file {stack.path('redis-gateway.password')};
    upstream bench_upstream {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location = /bench/mcp {{
            {ENDPOINT.format(state=stack.state, resource=resource, issuer=stack.issuer,
                             keys=f"mcp_jwks_file {jwks_path};", target="/echo")}
        }}
    }}
}}
"""
    path = os.path.join(state, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    proc = subprocess.Popen([NGINX_BIN, "-p", state, "-c", path, "-e",
                             os.path.join(state, "logs", "error.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, "the cold nginx")
    return proc, f"http://127.0.0.1:{port}/bench/mcp", state


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10,
                        help="each case runs this often, interleaved; the median counts")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    upstream_port = free_port()
    static = tempfile.mkdtemp(prefix="ngx-mcp-bench-static-")
    os.chmod(static, 0o755)
    with open(os.path.join(static, "tools500.json"), "w") as f:
        f.write(tools_list_document())
    os.chmod(os.path.join(static, "tools500.json"), 0o644)
    stack = Stack(apikey_ttl=300, extra_http=UPSTREAM.format(port=upstream_port, root=static))
    origin = stack.gateway_url.rsplit("/mcp/", 1)[0]      # ports are chosen already
    stack.extra_audiences.append(origin + "/bench/mcp")
    endpoint = dict(state=stack.state, resource=origin + "/bench/mcp", issuer=stack.issuer,
                    keys="mcp_jwks_uri /_mcp/jwks;")
    stack.extra["extra_server"] = f"""
        location = /bench/bare {{
            proxy_pass http://bench_upstream/echo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}

        location = /bench/bare-log {{
            access_log {stack.path('logs', 'bench-bare.log')} combined buffer=64k flush=1s;
            proxy_pass http://bench_upstream/echo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}

        location = /bench/bare-list {{
            proxy_pass http://bench_upstream/list;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}

        location = /bench/mcp {{
            {ENDPOINT.format(target="/echo", **endpoint)}
        }}

        location = /bench/mcp-audit {{
            access_log {stack.path('logs', 'bench-audit.log')} mcp_audit buffer=64k flush=1s;
            {ENDPOINT.format(target="/echo", **endpoint)}
        }}

        location = /bench/mcp-list {{
            {ENDPOINT.format(target="/list", **endpoint)}
        }}
"""
    with stack:
        key = stack.create_key("bench", "mcp-log-analyst")["key"]
        token = stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"],
                            resource=origin + "/bench/mcp")
        jwks_path = stack.path("jwks.json")
        with urllib.request.urlopen(stack.issuer + "/protocol/openid-connect/certs") as r:
            open(jwks_path, "wb").write(r.read())
        cold, cold_url, cold_state = cold_nginx(stack, upstream_port, jwks_path)
        try:
            workers = nginx_workers({stack.procs["nginx"].pid, cold.pid})
            c = args.connections
            key_auth = "Bearer " + key
            bare = origin + "/bench/bare"

            def all_cases(jwt_auth):
                return [("(a) bare proxy_pass", bare, None, CALL, c),
                        ("(a-key) bare, API key header", bare, key_auth, CALL, c),
                        ("(a-jwt) bare, JWT header", bare, jwt_auth, CALL, c),
                        ("(a-log) bare, key, access log", origin + "/bench/bare-log",
                         key_auth, CALL, c),
                        ("(b) API key, cached", origin + "/bench/mcp", key_auth, CALL, c),
                        ("(c) JWT, cached", origin + "/bench/mcp", jwt_auth, CALL, c),
                        ("(d) JWT, verified every request", cold_url, jwt_auth, CALL, c),
                        ("(e) API key, cached, audited", origin + "/bench/mcp-audit",
                         key_auth, CALL, c),
                        ("(h) API key, Redis lookup each request", cold_url, key_auth,
                         CALL, c),
                        ("(f) tools/list 500, bare, 1 conn", origin + "/bench/bare-list",
                         None, LIST, 1),
                        ("(g) tools/list 500, filtered, 1 conn",
                         origin + "/bench/mcp-list", key_auth, LIST, 1)]

            cases = all_cases("Bearer " + token)
            # each tools/call case, and the bare case sent the same request
            like = {"(b)": "(a-key)", "(c)": "(a-jwt)", "(d)": "(a-jwt)", "(e)": "(a-log)",
                    "(h)": "(a-key)"}
            for _, url, auth, body, conns in cases:     # warm up connections and caches
                wrk(url, auth, 1, conns, args.threads, body)
            # rounds interleave the cases, so a slow moment of the machine
            # does not fall on one case only; each round starts one case
            # later, so no case always runs after the same one
            runs = [[] for _ in cases]
            token_time = time.time()
            for n in range(args.rounds):
                if time.time() - token_time > TOKEN_REFRESH_S:
                    cases = all_cases("Bearer " + stack.token(
                        "demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"],
                        resource=origin + "/bench/mcp"))
                    token_time = time.time()
                start = n % len(cases)
                for i in list(range(start, len(cases))) + list(range(start)):
                    _, url, auth, body, conns = cases[i]
                    runs[i].append(wrk(url, auth, args.seconds, conns, args.threads, body,
                                       workers))
            results = [(case[0], median_run(r), r) for case, r in zip(cases, runs)]
            check_filter(origin + "/bench/mcp-list", key)
        finally:
            cold.send_signal(signal.SIGQUIT)
            cold.wait(timeout=10)
            shutil.rmtree(cold_state, ignore_errors=True)
            shutil.rmtree(static, ignore_errors=True)

    by_label = {name.split()[0]: r for name, r, _ in results}
    rounds = {name.split()[0]: r for name, _, r in results}
    print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {args.rounds} "
          f"rounds, cases in a rotated order each round, on loopback, "
          f"nginx 2 workers, {os.cpu_count()} cores; tools/call body {len(CALL)} bytes, "
          f"tools/list answer {len(tools_list_document())} bytes\n")
    print(f"{'case':38} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'vs (a)':>7} "
          f"{'vs bare, same request':>22} {'CPU us':>7} {'non-2xx':>7}")
    for name, r, _ in results:
        label = name.split()[0]
        ratio = (f"{paired_ratio(rounds[label], rounds['(a)']):7.1%}"
                 if "list" not in name else f"{'':7}")
        same = ""
        if label in like:
            same = (f"{paired_ratio(rounds[label], rounds[like[label]]):6.1%} "
                    f"of {like[label]}")
        print(f"{name:38} {r['rps']:9.0f} {r['p50']:7.3f} {r['p99']:7.3f} "
              f"{ratio} {same:>22} {r['cpu_us']:7.1f} {r['non2xx']:7d}")
    print("\nreq/s, p50, p99: the run with the median req/s; CPU us: the median. vs (a) and "
          "vs bare: the median over the rounds of the ratio within a round")
    print("ratio range over the rounds: " + ", ".join(
        f"{label} {min(spread)*100:.0f}-{max(spread)*100:.0f}% of (a)"
        for label in ("(a-key)", "(b)", "(c)", "(e)")
        for spread in [[x["rps"] / y["rps"] for x, y in zip(rounds[label], rounds["(a)"])]]))
    print("CPU us: nginx workers' CPU per request, the upstream's share included")
    print("the module's CPU per request, against the bare case sent the same request "
          "(median of the rounds' differences): "
          + ", ".join(f"{label} {paired_difference(rounds[label], rounds[bare]):+.1f} us"
                      for label, bare in like.items()))
    added = by_label["(g)"]["p50"] - by_label["(f)"]["p50"]
    print(f"tools/list filtering adds {added:.3f} ms at p50 (g - f)")
    bad = [name for name, r, _ in results if r["non2xx"]]
    if bad:
        print(f"\nnon-2xx answers in: {', '.join(bad)} (the figures above are not valid)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
