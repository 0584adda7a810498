#!/usr/bin/python3
"""Sandbox worker latency and memory, measured in one run on this machine.

Starts the demo stack (demo/stack.py) and runs execute_code with two
snippets, each the same code in every case:

  trivial    print(1)
  json/re    200 records through json.dumps/loads, two regexes, a Counter,
             one print

  (a) directly to the worker, the identity header signed as the gateway does
      (docs/internals.md), one keep-alive connection (a small client:
      one write per request, a minimal reader; see Client)
  (b) through the gateway with an API key, one keep-alive connection
  (c) a cold `/usr/bin/python3.11 -I -S -c SNIPPET` per call (subprocess),
      the baseline the zygote replaces
  and calls/s with 2 and 4 concurrent clients (threads, one connection
  each), directly to the worker.

Sequential cases: warm-up calls, then timed calls one after another, the
three cases taking turns in rounds (so a slow moment of the machine does not
fall on one case only), in two modes: paced (a pause, --gap-ms, between an
answer and the next call: how an agent calls, and each call finds the
worker's background work -- forking and warming the next spare, tearing
down the last child -- done) and back-to-back (that background work
competes with the next call for the 2 cores).  The latency is the
client's, from sending the request to the last byte of the answer (for
(c): from spawn to exit).  Then memory of the worker daemon, its
zygote and the zygote's nursery and waiting spare children, idle after the
calls: VmRSS from /proc/PID/status, Pss and
private bytes from /proc/PID/smaps_rollup.

Prints numbers; not a test.  Run it with `make bench` or
/usr/bin/python3 bench/sandbox.py [--calls N] [--warmup N].
"""

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))

from stack import Stack, identity_header  # noqa: E402

COLD_PYTHON = "/usr/bin/python3.11"
USER = "bench-sandbox"
ROLES = "mcp-log-analyst"
TENANT = "log-analysis"

TRIVIAL = "print(1)"

# json/re workload: the same text runs in the sandbox and in the cold spawn
WORKLOAD = """\
import json, re
from collections import Counter
levels = ("INFO", "WARN", "ERROR", "DEBUG")
records = [{"id": i, "level": levels[i % 4], "service": "svc-%d" % (i % 7),
            "msg": "request %d took %d ms from 10.0.%d.%d" % (i, i * 7 % 500, i % 9, i % 250)}
           for i in range(200)]
back = json.loads(json.dumps(records))
took = re.compile(r"took (\\d+) ms")
addr = re.compile(r"\\b(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\b")
slow = sum(1 for r in back if int(took.search(r["msg"]).group(1)) > 250)
nets = Counter(addr.search(r["msg"]).group(3) for r in back)
levels_seen = Counter(r["level"] for r in back)
print(len(back), slow, nets.most_common(1)[0][0], levels_seen["ERROR"])
"""

SNIPPETS = [("trivial", TRIVIAL), ("json/re", WORKLOAD)]

# Untimed calls at the start of each case's turn in a round.
ROUND_SETTLE_CALLS = 3


def expected_output(code):
    """What a snippet prints, from the local interpreter (checks every answer)."""
    res = subprocess.run([COLD_PYTHON, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True)
    return res.stdout


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    k = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[k]


def summary(latencies_s, elapsed_s):
    ms = sorted(x * 1000 for x in latencies_s)
    return {"n": len(ms), "p50": percentile(ms, 50), "p90": percentile(ms, 90),
            "p99": percentile(ms, 99), "max": ms[-1],
            "rate": len(ms) / elapsed_s if elapsed_s > 0 else float("nan")}


class Signer:
    """The identity header for direct calls, signed as the gateway signs it;
    re-signed once per second (the signed time has 1 s resolution)."""

    def __init__(self, secret, user, roles, auth, key_id, tenant):
        self.key = secret.strip().encode()
        self.fields = [user, roles, auth, key_id, tenant]
        self.when = None
        self.headers = None
        self.lock = threading.Lock()

    def __call__(self):
        now = int(time.time())
        with self.lock:
            if now != self.when:
                self.headers = identity_header(self.key, *self.fields, when=now)
                self.when = now
            return self.headers


class Client:
    """One keep-alive HTTP/1.1 connection sending execute_code calls.

    The request goes out in one write and the answer is read by a small
    reader (status line, headers, a Content-Length or chunked body), so the
    figures are the server's: Python's http.client spends about 0.4 ms of
    its own a call on this machine (a second write for the body, its header
    parser), which would be counted as the worker's."""

    def __init__(self, port, path, auth_headers):
        self.port = port
        self.path = path
        self.auth_headers = auth_headers      # a callable returning a dict
        self.sock = None
        self.buf = b""
        self.connects = 0
        self.failures = []
        self.peak_rss_kb = []
        self.next_id = 1

    def request(self, code):
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                           "params": {"name": "execute_code",
                                      "arguments": {"code": code}}}).encode()
        self.next_id += 1
        headers = {"Host": f"127.0.0.1:{self.port}", "Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream",
                   "Content-Length": str(len(body)), **self.auth_headers()}
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return f"POST {self.path} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body

    def call(self, code, expect):
        data = self.request(code)
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buf = b""
                self.connects += 1
            start = time.perf_counter()
            try:
                self.sock.sendall(data)
                status, headers, body = self.read_response()
                break
            except ConnectionError:
                # the server closed an idle keep-alive connection: once more
                self.close()
                if attempt == 2:
                    raise
        elapsed = time.perf_counter() - start
        if headers.get("connection", "").lower() == "close":
            self.close()
        self.check(status, headers, body, expect)
        return elapsed

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def read_until(self, sep):
        while (i := self.buf.find(sep)) < 0:
            self.fill()
        line, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self):
        lines = self.read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while (size := int(self.read_until(b"\r\n").split(b";")[0], 16)) > 0:
                parts.append(self.read_exact(size))
                self.read_until(b"\r\n")
            while self.read_until(b"\r\n"):     # trailer fields, if any
                pass
            return status, headers, b"".join(parts)
        return status, headers, self.read_exact(int(headers.get("content-length", "0")))

    def check(self, status, headers, data, expect):
        outcome = headers.get("x-mcp-exec-outcome")
        try:
            result = json.loads(data)["result"]
            text = result["content"][0]["text"]
            ok = (status == 200 and outcome == "ok" and not result.get("isError")
                  and text.strip() == expect.strip())
        except (ValueError, KeyError, IndexError, TypeError):
            ok, text = False, data[:200]
        if not ok:
            self.failures.append(f"HTTP {status} outcome={outcome}: {text!r}"[:300])
        rss = headers.get("x-mcp-exec-peak-rss-kb")
        if rss and rss.isdigit():
            self.peak_rss_kb.append(int(rss))

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None


class ColdSpawn:
    """The baseline: one `python3.11 -I -S -c SNIPPET` process per call."""

    def __init__(self):
        self.failures = []

    def call(self, code, expect):
        start = time.perf_counter()
        res = subprocess.run([COLD_PYTHON, "-I", "-S", "-c", code],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if res.returncode != 0 or res.stdout.decode() != expect:
            self.failures.append(f"rc={res.returncode} {res.stderr[-200:]!r}")
        return elapsed


def sequential(cases, code, expect, warmup, calls, rounds, gap_s):
    """Sequential calls of each case, `gap_s` seconds between an answer and
    the next call (0: back-to-back); the cases take turns in `rounds`
    rounds, so a slow moment of the machine does not fall on one case only.
    Returns {case: summary}; the rate counts only the time in calls."""
    for client in cases.values():
        for _ in range(warmup):
            client.call(code, expect)
    lat = {name: [] for name in cases}
    spent = dict.fromkeys(cases, 0.0)
    rss = {name: [] for name in cases}
    reconnects = dict.fromkeys(cases, 0)
    for r in range(rounds):
        per_round = calls // rounds + (1 if r < calls % rounds else 0)
        for name, client in cases.items():
            peak = getattr(client, "peak_rss_kb", None)
            if peak is not None:
                peak.clear()
            # a case's turn starts with untimed calls: the previous case's
            # aftermath (a cold spawn's exit, freed memory) is not this one's
            for _ in range(ROUND_SETTLE_CALLS):
                client.call(code, expect)
            before = getattr(client, "connects", 0)
            for _ in range(per_round):
                if gap_s:
                    time.sleep(gap_s)
                took = client.call(code, expect)
                lat[name].append(took)
                spent[name] += took
            reconnects[name] += getattr(client, "connects", 0) - before
            rss[name] += peak or []
    out = {}
    for name in cases:
        res = summary(lat[name], spent[name])
        res["reconnects"] = reconnects[name]
        res["peak_rss_kb"] = sorted(rss[name])[len(rss[name]) // 2] if rss[name] else None
        out[name] = res
    return out


def concurrent(make_client, code, expect, clients, warmup, calls_each):
    """calls/s (and latency) of `clients` threads, one connection each."""
    conns = [make_client() for _ in range(clients)]
    for c in conns:
        for _ in range(warmup):
            c.call(code, expect)
    barrier = threading.Barrier(clients + 1)
    lat = [[] for _ in conns]
    errors = []

    def run(i):
        barrier.wait()
        try:
            for _ in range(calls_each):
                lat[i].append(conns[i].call(code, expect))
        except Exception as e:  # reported with the figures
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    res = summary([x for part in lat for x in part], time.perf_counter() - start)
    res["failures"] = [f for c in conns for f in c.failures] + errors
    res["reconnects"] = sum(c.connects for c in conns) - clients
    for c in conns:
        c.close()
    return res


def children(pid):
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def memory(pid):
    """VmRSS, VmHWM, Pss and private (clean+dirty) KiB of a process."""
    mem = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                mem[key] = int(value.split()[0])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("Pss", "Private_Clean", "Private_Dirty"):
                    mem[key] = int(value.split()[0])
    except OSError:
        pass
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        mem["name"] = f.read().split(b"\0")[0].decode(errors="replace").rsplit("/", 1)[-1]
    return mem


def start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def worker_memory(daemon_pid):
    """The daemon, its zygote, and the zygote's children: the nursery (its
    oldest child, which forks the spares) and the spares waiting for a call."""
    rows = [("daemon", memory(daemon_pid))]
    for child in children(daemon_pid):
        try:
            m = memory(child)
        except OSError:
            continue   # a call's child that just exited
        if "zygote" not in m["name"]:
            rows.append(("child", m))
            continue
        rows.append(("zygote", m))
        kids = []
        for pid in children(child):
            try:
                kids.append((start_time(pid), memory(pid)))
            except OSError:
                pass   # a call's child that just exited
        kids.sort(key=lambda k: k[0])
        for i, (_, km) in enumerate(kids):
            rows.append(("nursery" if i == 0 else "spare", km))
    return rows


def fmt_mem(kb):
    return f"{kb / 1024:7.1f}" if kb is not None else f"{'-':>7}"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300,
                        help="timed calls per sequential case (default 300)")
    parser.add_argument("--warmup", type=int, default=30,
                        help="untimed calls before each sequential case (default 30)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="the sequential cases take turns in this many rounds")
    parser.add_argument("--gap-ms", type=float, default=20,
                        help="pause between an answer and the next call in the paced "
                             "sequential cases (default 20)")
    parser.add_argument("--concurrent-calls", type=int, default=600,
                        help="timed calls per concurrent case, split over the clients")
    args = parser.parse_args()

    started = time.monotonic()
    expect = {name: expected_output(code) for name, code in SNIPPETS}
    stack = Stack(apikey_ttl=600)     # the key stays cached for the whole run
    failures = []
    with stack:
        record = stack.create_key(USER, ROLES)
        daemon_pid = stack.procs["worker"].pid
        time.sleep(0.5)
        mem_start = worker_memory(daemon_pid)
        signer = Signer(stack.secrets["identity.secret"], USER, ROLES, "apikey",
                        record["id"], TENANT)
        gateway_path = urllib.parse.urlsplit(stack.gateway_url).path

        def direct_client():
            return Client(stack.ports["worker"], "/mcp", signer)

        def gateway_client():
            return Client(stack.ports["gateway"], gateway_path,
                          lambda: {"Authorization": "Bearer " + record["key"]})

        seq, b2b = {}, {}
        cases = {"direct": direct_client(), "gateway": gateway_client(), "cold": ColdSpawn()}
        for name, code in SNIPPETS:
            for mode, gap in ((seq, args.gap_ms / 1000), (b2b, 0)):
                for case, res in sequential(cases, code, expect[name], args.warmup,
                                            args.calls, args.rounds, gap).items():
                    mode[(name, case)] = res
        for case, client in cases.items():
            failures += [f"{case}: {f}" for f in client.failures]
            if hasattr(client, "close"):
                client.close()

        conc = {}
        for name, code in SNIPPETS:
            conc[(name, 1)] = b2b[(name, "direct")]
            for k in (2, 4):
                r = concurrent(direct_client, code, expect[name], k, 5,
                               args.concurrent_calls // k)
                conc[(name, k)] = r
                failures += [f"{name} x{k}: {f}" for f in r["failures"]]

        time.sleep(1.0)   # idle: every call's child has been reaped
        mem_idle = worker_memory(daemon_pid)
    took = time.monotonic() - started

    # ---------------------------------------------------------------- report
    print(f"\nexecute_code, {args.calls} sequential calls per case and mode after "
          f"{args.warmup} warm-ups, cases interleaved in {args.rounds} rounds, one "
          f"keep-alive connection; {os.cpu_count()} cores, worker defaults "
          f"(max-concurrency 4)")
    print(f"paced: the next call {args.gap_ms:g} ms after an answer (an agent's calls "
          f"come seconds apart; each call finds the worker's background work done)")
    print("back-to-back: the next call as soon as the answer is in (calls/s = 1 / mean "
          "latency)\n")
    labels = {"direct": "(a) worker, signed identity", "gateway": "(b) gateway, API key",
              "cold": "(c) cold python3.11 -I -S -c"}
    print(f"{'':40} {'paced':^35}  {'back-to-back':^26}")
    print(f"{'snippet':9} {'case':30} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8}  {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8} {'child peak RSS':>15}")
    for name, _ in SNIPPETS:
        for case in ("direct", "gateway", "cold"):
            r, q = seq[(name, case)], b2b[(name, case)]
            kb = sorted(x for x in (r.get("peak_rss_kb"), q.get("peak_rss_kb")) if x)
            rss = f"{kb[-1] / 1024:.1f} MiB" if kb else "-"
            print(f"{name:9} {labels[case]:30} {r['p50']:8.2f} {r['p90']:8.2f} "
                  f"{r['p99']:8.2f} {r['max']:8.2f}  {q['p50']:8.2f} {q['p99']:8.2f} "
                  f"{q['rate']:8.0f} {rss:>15}")
        print()

    print("ratios (p50)")
    for name, _ in SNIPPETS:
        for mode, title in ((seq, "paced"), (b2b, "back-to-back")):
            d, g, c = (mode[(name, k)] for k in ("direct", "gateway", "cold"))
            print(f"  {name:9} {title:13} cold / direct = {c['p50'] / d['p50']:5.1f}x  "
                  f"cold / gateway = {c['p50'] / g['p50']:5.1f}x  "
                  f"gateway - direct = {g['p50'] - d['p50']:+.2f} ms "
                  f"(p99 {g['p99'] - d['p99']:+.2f} ms)")

    print(f"\ndirect to the worker, concurrent clients (one connection each, "
          f"{args.concurrent_calls} calls split over them)")
    print(f"{'snippet':9} {'clients':>7} {'calls/s':>8} {'vs 1':>6} {'p50 ms':>8} "
          f"{'p99 ms':>8}")
    for name, _ in SNIPPETS:
        base = conc[(name, 1)]["rate"]
        for k in (1, 2, 4):
            r = conc[(name, k)]
            print(f"{name:9} {k:7d} {r['rate']:8.0f} {r['rate'] / base:5.2f}x "
                  f"{r['p50']:8.2f} {r['p99']:8.2f}")

    print("\nworker memory, MiB (VmRSS from /proc/PID/status; Pss and private = "
          "Private_Clean + Private_Dirty from smaps_rollup)")
    print(f"{'process':8} {'when':24} {'VmRSS':>7} {'VmHWM':>7} {'Pss':>7} {'private':>7}")
    for when, rows in (("after start", mem_start), ("idle after the calls", mem_idle)):
        for role, m in rows:
            private = (m["Private_Clean"] + m["Private_Dirty"]
                       if "Private_Dirty" in m else None)
            print(f"{role:8} {when:24} {fmt_mem(m.get('VmRSS'))} {fmt_mem(m.get('VmHWM'))} "
                  f"{fmt_mem(m.get('Pss'))} {fmt_mem(private)}")
    total = sum(m.get("Pss", 0) for _, m in mem_idle)
    roles = sorted({role for role, _ in mem_idle})
    print(f"{' + '.join(roles)} Pss at idle (the whole worker): {total / 1024:.1f} MiB")

    reconnects = {f"{n} {c}{' back-to-back' if mode is b2b else ''}": r["reconnects"]
                  for mode in (seq, b2b) for (n, c), r in mode.items()
                  if r.get("reconnects")}
    reconnects.update({f"{n} x{k}": r["reconnects"] for (n, k), r in conc.items()
                       if k > 1 and r["reconnects"]})
    if reconnects:
        print(f"\nconnections re-opened during timed calls (keep-alive not kept): "
              f"{reconnects}")
    print(f"\nwhole run {took:.0f} s")
    if failures:
        print(f"\n{len(failures)} calls failed (the figures above are not valid); first:")
        for f in failures[:5]:
            print("  " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
