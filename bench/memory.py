#!/usr/bin/python3
"""Memory of the gateway and the sandbox worker, idle and under 1,000
concurrent connections.

Starts the demo stack (demo/stack.py, nginx with 2 workers and room for
4,096 connections each), caches one API key, then measures VmRSS (from
/proc/PID/status) and Pss (smaps_rollup) of

  nginx workers     each worker process (the master is listed apart)
  sandbox worker    the log-analysis daemon, its zygote and any call child
  redis-server

  idle       after start and one request of each kind
  load       wrk -t2 -c1000 for --seconds per case, with RSS sampled every
             0.5 s (peak and mean of the samples):
             (1) ping at the aggregate endpoint /mcp, answered by the module
                 itself: API key from the cache, audit record, no upstream
             (2) tools/list at /mcp/log-analysis: through nginx to the
                 sandbox worker (cached key, audited, filtered)
  after      idle again, 2 s after the load

Prints tables (or --json); not a test.  `make bench` runs it through
bench/report.py.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# /proc helpers (also used by test/chaos) --------------------------------------

def children(pid):
    """Direct children of pid."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def descendants(pid):
    out = []
    for c in children(pid):
        out.append(c)
        out += descendants(c)
    return out


def process_memory(pid):
    """{'VmRSS', 'VmHWM', 'Pss', 'name'} in KiB of one process, or None."""
    mem = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    mem[key] = int(value.split()[0])
                elif key == "Name":
                    mem["comm"] = value.strip()
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key == "Pss":
                        mem["Pss"] = int(value.split()[0])
        except OSError:
            pass
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            mem["name"] = f.read().split(b"\0")[0].decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    return mem


def nginx_worker_pids(master):
    """nginx worker processes (not the cache manager/loader)."""
    pids = []
    for c in children(master):
        m = process_memory(c)
        if m and "worker process" in m["name"]:
            pids.append(c)
    return pids


def stack_processes(stack):
    """{'nginx master': [pid], 'nginx workers': [...], 'sandbox daemon': [pid],
    'sandbox zygote': [...], 'redis': [pid]} of a running demo stack."""
    out = {}
    if "nginx" in stack.procs:
        master = stack.procs["nginx"].pid
        out["nginx master"] = [master]
        out["nginx workers"] = nginx_worker_pids(master)
    if "worker" in stack.procs:
        daemon = stack.procs["worker"].pid
        out["sandbox daemon"] = [daemon]
        zygotes = children(daemon)
        out["sandbox zygote"] = zygotes
        # the zygote's children: warm (pre-forked) interpreters and calls
        out["sandbox pool"] = [p for z in zygotes for p in descendants(z)]
    if "redis" in stack.procs:
        out["redis"] = [stack.procs["redis"].pid]
    return out


def snapshot(groups):
    """{group: {'VmRSS': sum KiB, 'Pss': sum KiB, 'n': processes, 'each': [...]}}"""
    out = {}
    for group, pids in groups.items():
        rss = pss = 0
        each = []
        for pid in pids:
            m = process_memory(pid)
            if m is None:
                continue
            rss += m.get("VmRSS", 0)
            pss += m.get("Pss", 0)
            each.append(m.get("VmRSS", 0))
        out[group] = {"VmRSS": rss, "Pss": pss, "n": len(each), "each": each}
    return out


class Sampler:
    """Samples snapshot(groups()) every `interval` seconds in a thread."""

    def __init__(self, groups, interval=0.5):
        self.groups = groups
        self.interval = interval
        self.samples = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stopping.is_set():
            self.samples.append((time.monotonic(), snapshot(self.groups())))
            self.stopping.wait(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()

    def summary(self, key="VmRSS"):
        """{group: {'peak': KiB, 'mean': KiB, 'peak_each': KiB}} over the samples."""
        out = {}
        for _, snap in self.samples:
            for group, v in snap.items():
                s = out.setdefault(group, {"values": [], "each": []})
                s["values"].append(v[key])
                s["each"] += v["each"]
        return {g: {"peak": max(s["values"]), "mean": sum(s["values"]) / len(s["values"]),
                    "peak_each": max(s["each"]) if s["each"] else 0}
                for g, s in out.items() if s["values"]}


# the measurement ---------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
"""


def run_wrk(url, auth, body, connections, seconds, threads=2):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
        script = f.name
    env = dict(os.environ, BENCH_BODY=body, BENCH_AUTH=auth)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
           "--timeout", "10s", "--latency", "-s", script, url]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                             timeout=seconds + 60).stdout
    finally:
        os.unlink(script)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    return {"cmd": " ".join(cmd[:-3] + [url]), "rps": float(rps.group(1)) if rps else 0.0,
            "requests": int(total.group(1)) if total else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": dict(zip(("connect", "read", "write", "timeout"),
                                      map(int, errors.groups()))) if errors else {},
            "p50": lat.get("50"), "p99": lat.get("99"), "raw": out}


def open_connections(port):
    """Established TCP connections to 127.0.0.1:port (from /proc/net/tcp)."""
    n = 0
    hexport = f"{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1].endswith(":" + hexport) and parts[3] == "01":
                n += 1
    return n


def measure(connections=1000, seconds=10, quiet=False):
    sys.path.insert(0, os.path.join(ROOT, "test", "chaos"))
    from lib import ChaosStack, raise_nofile, rpc_body, Client, bearer  # noqa: E402

    def say(*a):
        if not quiet:
            print(*a, flush=True)

    nofile = raise_nofile(65536)
    result = {"connections": connections, "seconds": seconds, "nofile": nofile, "cases": {}}
    with ChaosStack(apikey_ttl=600) as stack:
        key = stack.create_key("bench-memory", "mcp-log-analyst")["key"]
        port = stack.ports["gateway"]
        gw_path = "/mcp/log-analysis"
        client = Client(port)
        for path, method in (("/mcp", "ping"), (gw_path, "tools/list"), (gw_path, "ping")):
            r = client.request("warm", path, rpc_body(method, 1), bearer(key))
            if not r.ok:
                raise SystemExit(f"warm-up {method} at {path} failed: {r}")
        r = client.request("warm", gw_path, rpc_body(
            "tools/call", 2, {"name": "execute_code", "arguments": {"code": "print(1)"}}),
            bearer(key))
        client.close()
        time.sleep(1.0)

        def groups():
            return stack_processes(stack)

        result["idle"] = snapshot(groups())
        say("idle:", {g: v["VmRSS"] for g, v in result["idle"].items()})
        cases = [("(1) ping at /mcp (module only, no upstream)", "/mcp", "ping"),
                 ("(2) tools/list at /mcp/log-analysis (to the sandbox worker)", gw_path,
                  "tools/list")]
        for name, path, method in cases:
            conn_peak = [0]
            stop = threading.Event()

            def count_conns():
                while not stop.is_set():
                    conn_peak[0] = max(conn_peak[0], open_connections(port))
                    stop.wait(0.5)

            counter = threading.Thread(target=count_conns, daemon=True)
            counter.start()
            audit = stack.path("logs", "audit.log")
            audit_from = os.path.getsize(audit)
            errlog = stack.path("logs", "error.log")
            err_from = os.path.getsize(errlog)
            with Sampler(groups, 0.5) as sampler:
                w = run_wrk(f"http://127.0.0.1:{port}{path}", "Bearer " + key,
                            rpc_body(method, 1).decode(), connections, seconds)
            stop.set()
            counter.join()
            w["established_peak"] = conn_peak[0]
            w.pop("raw")
            time.sleep(1.0)
            statuses = {}
            with open(audit, "rb") as f:
                f.seek(audit_from)
                for line in f:
                    rec = json.loads(line)
                    k = f"{rec['status']} {rec['reason'] or rec['exec_outcome'] or ''}".strip()
                    statuses[k] = statuses.get(k, 0) + 1
            w["audit_statuses"] = statuses
            errors = {}
            with open(errlog, "rb") as f:
                f.seek(err_from)
                for line in f:
                    m = re.search(r"\[(error|crit|alert|emerg)\] \d+#\d+: (?:\*\d+ )?([^,]*)",
                                  line.decode(errors="replace"))
                    if m:
                        k = re.sub(r"\d+", "N", m.group(2))[:100]
                        errors[k] = errors.get(k, 0) + 1
            w["nginx_errors"] = errors
            result["cases"][name] = {"wrk": w, "rss": sampler.summary("VmRSS"),
                                     "pss": sampler.summary("Pss")}
            say(name, json.dumps(w), json.dumps(result["cases"][name]["rss"]))
            time.sleep(2.0)
        result["after"] = snapshot(groups())
        say("after:", {g: v["VmRSS"] for g, v in result["after"].items()})
    return result


def mib(kb):
    return f"{kb / 1024:.1f}"


def markdown(res):
    groups = ["nginx workers", "nginx master", "sandbox daemon", "sandbox zygote",
              "sandbox pool", "redis"]
    lines = []
    lines.append(f"RSS in MiB (VmRSS summed over the processes of a row; under load: the "
                 f"peak and mean of samples every 0.5 s). Load: "
                 f"`wrk -t2 -c{res['connections']} -d{res['seconds']}s --timeout 10s` "
                 f"with a cached API key, on loopback, nginx 2 workers.\n")
    cases = list(res["cases"].items())
    head = "| process (count at idle) | idle | idle Pss |"
    sep = "|---|---:|---:|"
    for i, _ in enumerate(cases, 1):
        head += f" load ({i}) peak | load ({i}) mean |"
        sep += "---:|---:|"
    head += " idle after |"
    sep += "---:|"
    lines += [head, sep]
    for g in groups:
        idle = res["idle"].get(g)
        if not idle:
            continue
        row = f"| {g} ({idle['n']}) | {mib(idle['VmRSS'])} | {mib(idle['Pss'])} |"
        for _, c in cases:
            s = c["rss"].get(g, {"peak": 0, "mean": 0})
            row += f" {mib(s['peak'])} | {mib(s['mean'])} |"
        row += f" {mib(res['after'].get(g, {'VmRSS': 0})['VmRSS'])} |"
        lines.append(row)
    w_each = [c["rss"].get("nginx workers", {}).get("peak_each", 0) for _, c in cases]
    lines.append("")
    lines.append("The sandbox pool (warm interpreters forked from the zygote) shares "
                 "pages with the zygote: its RSS counts them again, its Pss does not.")
    lines.append(f"Largest single nginx worker under load: "
                 f"{', '.join(mib(x) + ' MiB' for x in w_each)}; "
                 f"Pss of the nginx workers at idle: {mib(res['idle']['nginx workers']['Pss'])} "
                 f"MiB.\n")
    lines.append("| load case | req/s | p50 | p99 | requests | non-2xx | socket errors | "
                 "connections open (peak) | audit records by status |")
    lines.append("|---|---:|---:|---:|---:|---:|---|---:|---|")
    notes = []
    for name, c in cases:
        w = c["wrk"]
        errs = ", ".join(f"{k} {v}" for k, v in w["socket_errors"].items() if v) or "none"
        for msg, n in sorted(w["nginx_errors"].items(), key=lambda x: -x[1])[:3]:
            notes.append(f"- {name}: nginx error log: {n} x `{msg}`")
        lines.append(f"| {name} | {w['rps']:.0f} | {w['p50']} | {w['p99']} | {w['requests']} "
                     f"| {w['non2xx']} | {errs} | {w['established_peak']} | "
                     + ", ".join(f"{k}: {v}" for k, v in sorted(w["audit_statuses"].items()))
                     + " |")
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    res = measure(args.connections, args.seconds, quiet=args.markdown)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    print()
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
