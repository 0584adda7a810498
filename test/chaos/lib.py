"""Helpers of the fault and load scenarios (test/chaos): a demo stack that
takes 1,000+ connections, a load generator (threads, one keep-alive
connection each, every request bounded by a socket timeout), raw-socket
clients for hostile input, and RSS sampling from /proc.

Standard library only; everything talks to 127.0.0.1.
"""

import base64
import http.client
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "demo"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from stack import Stack, StackError, free_port  # noqa: E402,F401
from memory import children, process_memory, nginx_worker_pids  # noqa: E402,F401

FIGURES_FILE = os.path.join(ROOT, "build", "chaos", "figures.json")

ACCEPT = "application/json, text/event-stream"

# nginx settings of the chaos stack (added to the demo configuration):
# short client timeouts, so slow clients are cut within the test's time
CLIENT_TIMEOUT_S = 5
CHAOS_HTTP = f"""
    client_header_timeout {CLIENT_TIMEOUT_S}s;
    client_body_timeout {CLIENT_TIMEOUT_S}s;
    send_timeout {CLIENT_TIMEOUT_S}s;
"""


class ChaosStack(Stack):
    """The demo stack with room for 1,000+ client connections per nginx
    worker, and restarts that reuse the generated logs."""

    def __init__(self, worker_connections=4096, **kw):
        kw.setdefault("extra_http", CHAOS_HTTP)
        super().__init__(**kw)
        self.worker_connections = worker_connections

    def nginx_conf(self):
        conf = super().nginx_conf()
        n = self.worker_connections
        conf = conf.replace("worker_connections 1024;", f"worker_connections {n};")
        return conf.replace("worker_processes 2;",
                            f"worker_processes 2;\nworker_rlimit_nofile {2 * n + 64};")

    def start(self, attempts=3):
        """Starts the stack; on a shared machine another process may take a
        chosen port between free_port() and the bind (wait_for_port then sees
        the other listener), so the stack is checked and, if need be,
        started again on new ports."""
        for attempt in range(attempts):
            try:
                super().start()
                time.sleep(0.3)
                dead = [n for n, p in self.procs.items() if p.poll() is not None]
                if dead:
                    raise StackError(f"{', '.join(dead)} exited after starting")
                health = Client(self.ports["gateway"], 5).get("/healthz")
                if health != (200, b"ok\n"):
                    raise StackError(f"the gateway port answers {health!r}, not nginx")
                if not self.nginx_pids()[1]:
                    raise StackError("nginx has no worker processes")
            except StackError as e:
                self.stop()
                if attempt == attempts - 1:
                    raise
                print(f"stack start failed ({e}); again on new ports", flush=True)
                self.ports = {name: free_port() for name in self.ports}
                self.state = tempfile.mkdtemp(prefix="ngx-mcp-chaos-")
                os.chmod(self.state, 0o755)
                self.remove_state = True
                continue
            self.log_dir = self.path("log-data")     # a restarted worker reuses them
            return self

    def kill(self, name, sig=signal.SIGKILL):
        """Kills one component of the stack (it stays dead until start_*)."""
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=10)
        return proc.pid

    def nginx_pids(self):
        master = self.procs["nginx"].pid
        return master, sorted(nginx_worker_pids(master))


def raise_nofile(n=65536):
    """Raises the soft RLIMIT_NOFILE (for wrk, the clients and nginx)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(n, hard) if hard != resource.RLIM_INFINITY else n
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# requests -------------------------------------------------------------------

def rpc_body(method, rpc_id, params=None):
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        body["params"] = params
    return json.dumps(body).encode()


def bearer(key):
    return {"Authorization": "Bearer " + key}


class Result:
    __slots__ = ("tag", "status", "code", "rpc_id", "retry_after", "ctype", "start",
                 "elapsed", "error", "body")

    def __init__(self, tag, start):
        self.tag = tag
        self.start = start
        self.status = None
        self.code = None
        self.rpc_id = None
        self.retry_after = None
        self.ctype = None
        self.elapsed = None
        self.error = None
        self.body = None

    @property
    def ok(self):
        return self.status is not None and 200 <= self.status < 300 and self.code is None

    def __repr__(self):
        return (f"<{self.tag} status={self.status} code={self.code} id={self.rpc_id} "
                f"{self.elapsed and round(self.elapsed, 3)}s err={self.error} "
                f"body={self.body[:120] if self.body else None!r}>")


class Client:
    """One keep-alive HTTP/1.1 connection; every request is bounded by
    `timeout` seconds (a hung request is an error, never a hang)."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, tag, path, body, headers, keep_body=False):
        h = {"Content-Type": "application/json", "Accept": ACCEPT}
        h.update(headers or {})
        res = Result(tag, time.monotonic())
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            self.conn.request("POST", path, body=body, headers=h)
            resp = self.conn.getresponse()
            data = resp.read()
            res.status = resp.status
            res.retry_after = resp.getheader("Retry-After")
            res.ctype = resp.getheader("Content-Type")
            if resp.will_close:
                self.close()
            if data:
                try:
                    msg = json.loads(data)
                except ValueError:
                    msg = None
                if isinstance(msg, dict):
                    res.rpc_id = msg.get("id")
                    if isinstance(msg.get("error"), dict):
                        res.code = msg["error"].get("code")
                    elif isinstance(msg.get("result"), dict) and msg["result"].get("isError"):
                        res.code = "isError"
                elif data and res.status != 202:
                    res.code = "not-json"
            if keep_body or res.code is not None:
                res.body = data[:2000]
        except (OSError, http.client.HTTPException) as e:
            res.error = f"{type(e).__name__}: {e}"
            self.close()
        res.elapsed = time.monotonic() - res.start
        return res

    def get(self, path):
        """(status, body) of a GET, or (None, error text)."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            conn.request("GET", path)
            resp = conn.getresponse()
            out = (resp.status, resp.read())
            conn.close()
            return out
        except (OSError, http.client.HTTPException) as e:
            return None, str(e)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Load:
    """`threads` clients sending requests made by make(thread, seq) ->
    (tag, path, body, headers) until stop() (or `per_thread` requests each),
    optionally paced to `rate` requests/s in total."""

    def __init__(self, port, make, threads=8, rate=None, per_thread=None, timeout=10.0):
        self.port = port
        self.make = make
        self.threads = threads
        self.rate = rate
        self.per_thread = per_thread
        self.timeout = timeout
        self.results = [[] for _ in range(threads)]
        self.stopping = threading.Event()
        self.workers = []
        self.started = None

    def _run(self, t):
        client = Client(self.port, self.timeout)
        out = self.results[t]
        interval = self.threads / self.rate if self.rate else 0
        next_at = time.monotonic() + (interval * t / self.threads if interval else 0)
        seq = 0
        while not self.stopping.is_set():
            if self.per_thread is not None and seq >= self.per_thread:
                break
            if interval:
                delay = next_at - time.monotonic()
                if delay > 0:
                    if self.stopping.wait(delay):
                        break
                next_at += interval
            tag, path, body, headers = self.make(t, seq)
            out.append(client.request(tag, path, body, headers))
            seq += 1
        client.close()

    def start(self):
        self.started = time.monotonic()
        self.workers = [threading.Thread(target=self._run, args=(t,), daemon=True)
                        for t in range(self.threads)]
        for w in self.workers:
            w.start()
        return self

    def stop(self):
        self.stopping.set()
        return self.join()

    def join(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        for w in self.workers:
            w.join(None if deadline is None else max(0, deadline - time.monotonic()))
        if any(w.is_alive() for w in self.workers):
            raise AssertionError("a load thread is still waiting: a request hung")
        return self.all()

    def all(self):
        return sorted((r for part in self.results for r in part), key=lambda r: r.start)

    def count(self):
        return sum(len(part) for part in self.results)


def between(results, t0, t1):
    return [r for r in results if t0 <= r.start < t1]


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def latency_ms(results):
    ms = [r.elapsed * 1000 for r in results if r.elapsed is not None]
    return {"n": len(ms), "p50": round(percentile(ms, 50), 2),
            "p99": round(percentile(ms, 99), 2), "max": round(max(ms), 2) if ms else None}


def histogram(results):
    out = {}
    for r in results:
        key = f"{r.tag}:{r.error or r.status}" + (f"/{r.code}" if r.code is not None else "")
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def wait_until(check, timeout, interval=0.05):
    """Polls check() until it returns a true value; (value, seconds)."""
    t0 = time.monotonic()
    while True:
        value = check()
        if value or time.monotonic() - t0 > timeout:
            return value, time.monotonic() - t0
        time.sleep(interval)


# raw sockets ------------------------------------------------------------------

def raw_connect(port, timeout=30.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(sock, timeout, first=None):
    """Reads what the server sends until it closes; (bytes, seconds, closed).
    first, a list, gets the seconds until the first byte."""
    t0 = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if chunk and not data and first is not None:
                first.append(time.monotonic() - t0)
            if not chunk:
                return data, time.monotonic() - t0, True
            data += chunk
    except socket.timeout:
        return data, time.monotonic() - t0, False
    except ConnectionResetError:
        return data, time.monotonic() - t0, True


def parse_raw_response(data):
    """(status, headers dict, body) of the first HTTP response in data."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return None, {}, data
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return status, headers, body


def unsigned_jwt(claims, kid="chaos-unknown-kid"):
    """A JWT-shaped token whose signature cannot verify (unknown kid)."""
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'RS256', 'typ': 'JWT', 'kid': kid})}.{b64(claims)}." + "A" * 342


# figures ----------------------------------------------------------------------

class Figures:
    """What each scenario measured: printed as it goes and written to
    build/chaos/figures.json for the report."""

    def __init__(self):
        self.data = {}

    def add(self, scenario, **values):
        self.data.setdefault(scenario, {}).update(values)
        for k, v in values.items():
            print(f"  [{scenario}] {k}: {json.dumps(v) if not isinstance(v, str) else v}",
                  flush=True)

    def save(self, path=FIGURES_FILE):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        old = {}
        if os.path.exists(path):
            try:
                with open(path) as f:
                    old = json.load(f)
            except ValueError:
                old = {}
        old.update(self.data)
        old["_written"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        with open(path, "w") as f:
            json.dump(old, f, indent=1)
