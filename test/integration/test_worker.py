"""Integration tests of sandbox-worker/build/mcp-sandbox-worker.

Run after `make -C sandbox-worker`:  /usr/bin/python3 -m pytest test/integration/test_worker.py
The worker is started once for the module (as user "nobody" when the tests
run as root) with the demo log data; every request is signed as described in
docs/internals.md ("Signed identity").
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from stack import IDENTITY_FIELDS, identity_fields, identity_header, stage_sandbox

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = ROOT / "sandbox-worker" / "build" / "mcp-sandbox-worker"
TOOLSET = ROOT / "sandbox-worker" / "toolsets" / "log-analysis"
DATA = TOOLSET / "demo-logs"      # the expected content; the worker reads a copy
SECRET = b"integration-test-secret-0123456789abcdef"
OUTPUT_CAP = 65536


# ---------------------------------------------------------------- fixture

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Worker:
    def __init__(self, proc, port, ws_root):
        self.proc = proc
        self.port = port
        self.ws_root = ws_root

    def workspace(self, user):
        name = hashlib.sha256(user.encode()).hexdigest()[:32]
        return self.ws_root / name

    def request(self, method, path, body=None, headers=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()

    def rpc(self, method, params=None, user="alice", id_=1, headers=None,
            sign=True, when=None, raw=None):
        msg = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        hdrs = {"Content-Type": "application/json",
                "Accept": "application/json, text/event-stream"}
        if sign:
            hdrs.update(identity_headers(user, when=when))
        hdrs.update(headers or {})
        body = raw if raw is not None else json.dumps(msg).encode()
        status, h, data = self.request("POST", "/mcp", body, hdrs)
        return status, h, (json.loads(data) if data else None)

    def call(self, tool, arguments, user="alice"):
        status, h, body = self.rpc("tools/call",
                                   {"name": tool, "arguments": arguments},
                                   user=user)
        return status, h, body

    def run(self, code, user="alice", timeout=None):
        """execute_code; returns (outcome, text, isError, headers)."""
        args = {"code": code}
        if timeout is not None:
            args["timeout"] = timeout
        status, h, body = self.call("execute_code", args, user=user)
        assert status == 200, body
        res = body["result"]
        return (h["X-MCP-Exec-Outcome"], res["content"][0]["text"],
                res["isError"], h)


def identity_headers(user, roles="analyst", auth="apikey",
                     key_id="0123456789abcdef", tenant="default", when=None,
                     secret=SECRET):
    return identity_header(secret, user, roles, auth, key_id, tenant, when)


def b64url(data):
    """base64url without padding, as in the X-MCP-Identity value."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def worker():
    assert BINARY.exists(), f"{BINARY} missing: run make -C sandbox-worker"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sw-it-"))
    os.chmod(tmp, 0o755)
    secret = tmp / "secret"
    secret.write_bytes(b"\n" + SECRET + b"\n")
    os.chmod(secret, 0o600)
    ws_root = tmp / "workspaces"
    port = _free_port()
    binary, toolset, data = stage_sandbox(str(tmp))
    cmd = [binary, "--toolset", toolset,
           "--listen", f"127.0.0.1:{port}",
           "--identity-secret-file", str(secret),
           "--workspace-root", str(ws_root), "--data-dir", data,
           "--output-bytes", str(OUTPUT_CAP), "--max-concurrency", "4",
           "--queue", "8"]
    if os.geteuid() == 0:
        cmd += ["--user", "nobody"]
    log = open(tmp / "worker.log", "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
    line = proc.stdout.readline().decode()
    assert line == f"mcp-sandbox-worker ready on 127.0.0.1:{port}\n", \
        (line, (tmp / "worker.log").read_text())
    w = Worker(proc, port, ws_root)
    w.toolset, w.data = pathlib.Path(toolset), pathlib.Path(data)
    yield w
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


def _file_lines(service):
    return [ln for ln in (DATA / f"{service}.log").read_text().splitlines()
            if ln]


def _level(line):
    if line.startswith("{"):
        return json.loads(line)["level"].upper()
    m = re.search(r"\[([A-Z]+)\]", line)
    return m.group(1) if m else None


# ------------------------------------------------------------ HTTP & MCP

def test_probes_and_routes(worker):
    assert worker.request("GET", "/healthz")[0] == 200
    assert json.loads(worker.request("GET", "/healthz")[2]) == {"status": "ok"}
    status, _, body = worker.request("GET", "/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"
    assert json.loads(body)["landlock_abi"] >= 1
    status, h, body = worker.request("GET", "/metrics")
    assert status == 200 and h["Content-Type"].startswith("text/plain")
    assert b'mcp_worker_calls_total{outcome="ok"}' in body
    assert b"mcp_worker_busy " in body and b"mcp_worker_queued " in body
    assert worker.request("GET", "/nope")[0] == 404
    assert worker.request("GET", "/mcp")[0] == 405
    assert worker.request("PUT", "/mcp", b"{}")[0] == 405


def test_initialize(worker):
    status, h, body = worker.rpc("initialize", {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}, id_="init-1")
    assert status == 200 and h["Content-Type"] == "application/json"
    assert "Mcp-Session-Id" not in h
    r = body["result"]
    assert body["id"] == "init-1"
    assert r["protocolVersion"] == "2025-06-18"
    assert r["capabilities"] == {"tools": {"listChanged": False}}
    assert r["serverInfo"]["name"] == "ngx-mcp-sandbox-log-analysis"
    assert r["serverInfo"]["version"]
    _, _, body = worker.rpc("initialize", {"protocolVersion": "1999-01-01"})
    assert body["result"]["protocolVersion"] == "2025-11-25"


def test_tools_list(worker):
    status, _, body = worker.rpc("tools/list", {}, id_=7)
    assert status == 200 and body["id"] == 7
    tools = {t["name"]: t for t in body["result"]["tools"]}
    assert {"execute_code", "log_store", "get_available_tools",
            "sandbox_status"} <= set(tools)
    for t in tools.values():
        assert t["inputSchema"]["type"] == "object"
        assert isinstance(t["description"], str) and t["description"]
        assert "annotations" in t
    assert tools["execute_code"]["inputSchema"]["required"] == ["code"]
    assert tools["log_store"]["annotations"]["readOnlyHint"] is True
    assert tools["log_store"]["inputSchema"]["properties"]["function"][
        "enum"] == ["search_logs", "get_error_summary", "tail_logs",
                    "extract_fields", "list_services"]


def test_jsonrpc_errors(worker):
    status, _, body = worker.rpc("ping", id_=3)
    assert status == 200 and body == {"jsonrpc": "2.0", "id": 3, "result": {}}
    status, _, body = worker.rpc("nope/nope", id_=4)
    assert body["error"]["code"] == -32601 and body["id"] == 4
    status, _, body = worker.rpc("x", raw=b"{not json")
    assert status == 400 and body["error"]["code"] == -32700
    assert body["id"] is None
    status, _, body = worker.rpc("x", raw=json.dumps(
        {"jsonrpc": "1.0", "id": 9, "method": "ping"}).encode())
    assert body["error"]["code"] == -32600 and body["id"] == 9
    status, _, body = worker.rpc("x", raw=b"[1,2]")
    assert body["error"]["code"] == -32600
    # an id that is not a string or an integer: refused before anything
    # runs (a fuzz finding: the call ran, and its answer had no body)
    for bad in (11.0, True, {"a": 1}, [1]):
        status, _, body = worker.rpc("x", raw=json.dumps(
            {"jsonrpc": "2.0", "id": bad, "method": "tools/call",
             "params": {"name": "execute_code",
                        "arguments": {"code": "print(1)"}}}).encode())
        assert status == 400 and body["id"] is None, (bad, body)
        assert body["error"]["code"] == -32600
        assert "id must be a string or an integer" in body["error"]["message"]
    # notifications: 202, empty body
    status, _, body = worker.rpc("x", raw=json.dumps(
        {"jsonrpc": "2.0", "method": "notifications/initialized"}).encode())
    assert status == 202 and body is None


def test_body_limit(worker):
    big = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + \
        b"a" * (2 * 1024 * 1024) + b'"}}'
    status, _, _ = worker.request("POST", "/mcp", big, {
        "Content-Type": "application/json", **identity_headers("alice")})
    assert status == 413


def test_unknown_tool_and_invalid_params(worker):
    status, h, body = worker.call("no_such_tool", {})
    assert status == 200
    assert body == {"jsonrpc": "2.0", "id": 1, "error": {
        "code": -32602, "message": "Unknown tool: no_such_tool"}}
    _, _, body = worker.call("execute_code", {})
    assert body["error"]["code"] == -32602 and "code" in body["error"]["message"]
    _, _, body = worker.call("execute_code", {"code": "1", "timeout": -1})
    assert body["error"]["code"] == -32602
    _, _, body = worker.call("execute_code", {"code": "1", "bogus": 1})
    assert body["error"]["code"] == -32602
    _, _, body = worker.call("log_store", {"function": "_log_path",
                                           "service_name": "x"})
    assert body["error"]["code"] == -32602


# ----------------------------------------------------------------- identity

def test_unsigned_request_rejected(worker):
    status, h, body = worker.rpc("tools/list", id_=11, sign=False)
    assert status == 401
    assert body["error"]["code"] == -32001 and body["id"] == 11


def test_bad_signature_rejected(worker):
    hdrs = identity_headers("alice", secret=b"wrong-secret-wrong-secret-wrong!!")
    status, _, body = worker.rpc("tools/list", sign=False, headers=hdrs)
    assert status == 401 and body["error"]["code"] == -32001
    # valid signature, but for another user name: the message part
    # re-encoded with user "admin", alice's signature kept
    value = identity_headers("alice")["X-MCP-Identity"]
    fields = identity_fields(value)
    assert fields["user"] == "alice"
    fields["user"] = "admin"
    message = "\n".join(["v1", *(fields[k] for k in IDENTITY_FIELDS)]).encode()
    hdrs = {"X-MCP-Identity": b64url(message) + "." + value.split(".")[1]}
    status, _, body = worker.rpc("tools/list", sign=False, headers=hdrs)
    assert status == 401


def test_stale_and_missing_identity_rejected(worker):
    status, _, body = worker.rpc("tools/list", when=time.time() - 120)
    assert status == 401 and body["error"]["code"] == -32001
    status, _, _ = worker.rpc("tools/list", when=time.time() + 120)
    assert status == 401
    # a message without its tenant field, correctly signed
    message = "\n".join(["v1", str(int(time.time())), "alice", "analyst", "apikey",
                         "0123456789abcdef"]).encode()
    sig = hmac.new(SECRET, message, hashlib.sha256).digest()
    hdrs = {"X-MCP-Identity": b64url(message) + "." + b64url(sig)}
    status, _, _ = worker.rpc("tools/list", sign=False, headers=hdrs)
    assert status == 401


# ------------------------------------------------------------ tool behaviour

def test_execute_code_sum(worker):
    outcome, text, is_error, h = worker.run("print(sum(range(10)))")
    assert outcome == "ok" and not is_error
    assert text.strip() == "45"
    assert int(h["X-MCP-Exec-Wall-Ms"]) >= 0
    assert int(h["X-MCP-Exec-Cpu-Ms"]) >= 0
    assert int(h["X-MCP-Exec-Peak-Rss-Kb"]) > 0


def test_execute_code_is_ordinary_python(worker):
    code = """
x = 5
def f():
    return x * 2
class Counter:
    def __init__(self):
        self.n = 0
    def __call__(self):
        self.n += 1
        return self.n
def make_adder(k):
    return lambda v: v + k
c = Counter(); c(); c()
print(f(), c.n, make_adder(3)(4), [i*i for i in range(4)])
try:
    1/0
except ZeroDivisionError:
    print("caught")
sorted({"b": 1, "a": 2})
"""
    outcome, text, is_error, _ = worker.run(code)
    assert outcome == "ok", text
    assert text.splitlines() == ["10 2 7 [0, 1, 4, 9]", "caught", "['a', 'b']"]


def test_execute_code_error_is_reported(worker):
    outcome, text, is_error, _ = worker.run("print('before')\nraise ValueError('boom')")
    assert outcome == "error" and is_error
    assert text.startswith("before\n") and "ValueError: boom" in text


def test_log_store_search(worker):
    status, h, body = worker.call("log_store", {
        "function": "search_logs", "service_name": "api-gateway",
        "keyword": "connectiontimeout", "log_level": "ERROR"})
    assert h["X-MCP-Exec-Outcome"] == "ok"
    res = body["result"]
    assert res["isError"] is False
    expected = [ln for ln in _file_lines("api-gateway")
                if "connectiontimeout" in ln.lower() and _level(ln) == "ERROR"]
    assert expected, "demo data should contain such lines"
    assert res["structuredContent"]["lines"] == expected
    assert res["structuredContent"]["count"] == len(expected)
    # limit
    _, _, body = worker.call("log_store", {
        "function": "search_logs", "service_name": "payment-service",
        "limit": 3})
    sc = body["result"]["structuredContent"]
    assert sc["lines"] == _file_lines("payment-service")[:3] and sc["more"]


def test_log_store_error_summary_matches_file(worker):
    for service in ("api-gateway", "payment-service"):
        _, _, body = worker.call("log_store", {
            "function": "get_error_summary", "service_name": service})
        sc = body["result"]["structuredContent"]
        lines = _file_lines(service)
        levels = [_level(ln) for ln in lines]
        assert sc["total_lines"] == len(lines)
        assert sc["total_errors"] == levels.count("ERROR")
        assert sc["total_warnings"] == levels.count("WARN")
        assert sum(sc["errors_by_type"].values()) == levels.count("ERROR")
        assert sc["most_frequent_error"] in sc["errors_by_type"]


def test_log_store_tail_and_bad_service(worker):
    _, _, body = worker.call("log_store", {
        "function": "tail_logs", "service_name": "auth-service", "lines": 5})
    assert body["result"]["structuredContent"]["lines"] == \
        _file_lines("auth-service")[-5:]
    _, h, body = worker.call("log_store", {
        "function": "tail_logs", "service_name": "../../etc/passwd"})
    assert body["result"]["isError"] is True
    _, h, body = worker.call("log_store", {
        "function": "search_logs", "service_name": "no-such-service"})
    assert body["result"]["isError"] is True
    assert "unknown service" in body["result"]["content"][0]["text"]


def test_get_available_tools(worker):
    _, h, body = worker.call("get_available_tools", {})
    sc = body["result"]["structuredContent"]
    funcs = sc["modules"]["log_store"]["functions"]
    assert {"search_logs", "get_error_summary", "tail_logs"} <= set(funcs)
    assert not any(name.startswith("_") for name in funcs)
    assert funcs["search_logs"]["signature"].startswith("search_logs(service_name")
    assert "api-gateway" in sc["services"]


def test_log_store_preloaded_in_execute_code(worker):
    outcome, text, _, _ = worker.run(
        "r = log_store.get_error_summary('payment-service')\n"
        "print(r['total_errors'])")
    assert outcome == "ok"
    assert int(text) == [_level(ln) for ln in _file_lines("payment-service")].count("ERROR")


def test_workspace_persists_for_same_user(worker):
    assert worker.run("open('notes.txt', 'w').write('hello')")[0] == "ok"
    outcome, text, _, _ = worker.run("print(open('notes.txt').read())")
    assert (outcome, text.strip()) == ("ok", "hello")
    assert (worker.workspace("alice") / "notes.txt").read_text() == "hello"


# ----------------------------------------------------------------- red team

def _denied(worker, code, errors=("PermissionError",), user="alice"):
    outcome, text, is_error, _ = worker.run(code, user=user)
    assert outcome == "error" and is_error, text
    assert any(e in text for e in errors), text
    return text


def test_tcp_socket_refused(worker):
    _denied(worker, f"import socket\ns = socket.create_connection(('127.0.0.1', {worker.port}))")


def test_udp_socket_refused(worker):
    _denied(worker, "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
            ".sendto(b'x', ('127.0.0.1', 53))")


def test_unix_socket_refused(worker):
    _denied(worker, "import socket\nsocket.socket(socket.AF_UNIX)")


def test_no_subprocess(worker):
    outcome, text, _, _ = worker.run(
        "import os\nprint(os.system('touch pwned_by_system'))")
    assert outcome == "ok" and text.strip() != "0"
    assert not (worker.workspace("alice") / "pwned_by_system").exists()
    _denied(worker, "import subprocess\nsubprocess.run(['/bin/true'])")
    _denied(worker, "import os\nos.fork()")
    _denied(worker, "import os\nos.execv('/bin/true', ['true'])")


def test_host_files_unreadable(worker):
    _denied(worker, "open('/etc/shadow').read()")
    _denied(worker, "open('/etc/passwd').read()")
    _denied(worker, "import os\nos.listdir('/root')")
    _denied(worker, f"open({str(secret_path(worker))!r}).read()")


def secret_path(worker):
    return worker.ws_root.parent / "secret"


def test_write_outside_workspace_refused(worker):
    _denied(worker, "open('/tmp/sw-pwned', 'w').write('x')")
    assert not os.path.exists("/tmp/sw-pwned")
    _denied(worker, f"open({str(worker.data / 'api-gateway.log')!r}, 'a').write('x')")
    _denied(worker, f"open({str(worker.toolset / 'log_store.py')!r}, 'a').write('x')")


def test_other_users_workspace(worker):
    assert worker.run("open('secret.txt', 'w').write('bob-only')",
                      user="bob")[0] == "ok"
    bob = worker.workspace("bob")
    assert (bob / "secret.txt").read_text() == "bob-only"
    worker.run("pass")  # make sure alice's workspace exists
    _denied(worker, f"print(open({str(bob / 'secret.txt')!r}).read())")
    _denied(worker, f"print(open('../{bob.name}/secret.txt').read())")
    _denied(worker, f"import os\nprint(os.listdir('../{bob.name}'))")
    # creating a symlink is refused outright ...
    _denied(worker, f"import os\nos.symlink({str(bob)!r}, 'to_bob')")
    # ... and one planted from outside does not help either
    link = worker.workspace("alice") / "planted"
    if link.is_symlink():
        link.unlink()
    os.symlink(bob, link)
    _denied(worker, "print(open('planted/secret.txt').read())")
    # nor does a hard link attempt
    _denied(worker, f"import os\nos.link({str(bob / 'secret.txt')!r}, 'hl')")


def test_cpu_spin_killed(worker):
    t0 = time.monotonic()
    outcome, text, is_error, h = worker.run("while True: pass", timeout=1)
    assert outcome in ("timeout", "cpu_limit") and is_error
    assert text.startswith("killed: ")
    assert time.monotonic() - t0 < 5
    assert 900 <= int(h["X-MCP-Exec-Wall-Ms"]) < 4000


def test_exception_swallowing_loop_still_killed(worker):
    code = """
import time
while True:
    try:
        time.sleep(0.05)
    except BaseException:
        pass
"""
    t0 = time.monotonic()
    outcome, text, is_error, _ = worker.run(code, timeout=1)
    assert outcome == "timeout" and is_error
    assert "wall-clock limit of 1 s exceeded" in text
    assert time.monotonic() - t0 < 5


def test_memory_bomb(worker):
    outcome, text, is_error, _ = worker.run("x = bytearray(4 * 1024**3)")
    assert outcome == "memory_limit" and is_error
    assert "memory limit" in text
    outcome, _, _, _ = worker.run("x = []\nwhile True: x.append(' ' * 10**6)")
    assert outcome == "memory_limit"


def test_huge_output_truncated(worker):
    outcome, text, is_error, _ = worker.run("print('x' * 5_000_000)")
    assert outcome == "output_truncated"
    body, _, note = text.partition("\n")
    assert body == "x" * OUTPUT_CAP
    assert "truncated" in note and not is_error
    # bypassing print with raw writes hits the hard cap and is killed
    outcome, text, is_error, _ = worker.run(
        "import os\nwhile True: os.write(1, b'y' * 65536)")
    assert outcome == "output_truncated" and is_error
    body, _, note = text.partition("\n")
    assert body == "y" * OUTPUT_CAP
    assert note.startswith("killed: output limit")


def test_cannot_kill_parent_and_worker_survives(worker):
    _denied(worker, "import os\nos.kill(os.getppid(), 9)")
    _denied(worker, "import os, signal\nos.killpg(0, signal.SIGKILL)")
    assert worker.run("print('still here')")[1].strip() == "still here"


def test_parent_memory_unreachable(worker):
    _denied(worker, "import os\nopen(f'/proc/{os.getppid()}/mem', 'rb')")
    _denied(worker, "import os\nopen(f'/proc/{os.getppid()}/environ', 'rb')")


def test_ctypes_raw_syscall_refused(worker):
    code = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(41, 2, 1, 0)   # SYS_socket(AF_INET, SOCK_STREAM, 0)
print(r, errno.errorcode.get(ctypes.get_errno()))
r = libc.syscall(57)            # SYS_fork
print(r, errno.errorcode.get(ctypes.get_errno()))
"""
    outcome, text, _, _ = worker.run(code)
    assert outcome == "ok"
    assert text.splitlines() == ["-1 EPERM", "-1 EPERM"]


def test_subclasses_walk_cannot_run_commands(worker):
    code = """
wrap = [c for c in ().__class__.__base__.__subclasses__()
        if c.__name__ == '_wrap_close'][0]
system = wrap.__init__.__globals__['system']
print(system('touch pwned_by_walk'))
"""
    outcome, text, _, _ = worker.run(code)
    assert outcome == "ok" and text.strip() != "0"
    assert not (worker.workspace("alice") / "pwned_by_walk").exists()


def test_monkeypatch_not_visible_to_next_call(worker):
    outcome, text, _, _ = worker.run(
        "log_store.search_logs = lambda *a, **k: 'PATCHED'\n"
        "import log_store as m; m.DATA_DIR = '/'\n"
        "print(log_store.search_logs('x'))")
    assert text.strip() == "PATCHED"
    _, h, body = worker.call("log_store", {
        "function": "search_logs", "service_name": "api-gateway", "limit": 1})
    assert body["result"]["structuredContent"]["lines"] == \
        _file_lines("api-gateway")[:1]
    outcome, text, _, _ = worker.run("print(log_store.search_logs('api-gateway', limit=1)['count'])")
    assert text.strip() == "1"


# ------------------------------------------------------------ process model

def test_concurrent_calls(worker):
    slow = {}

    def run_slow():
        slow["r"] = worker.run("import time\ntime.sleep(2)\nprint('slow')")

    t = threading.Thread(target=run_slow)
    t0 = time.monotonic()
    t.start()
    time.sleep(0.3)
    outcome, text, _, _ = worker.run("print('fast')")
    fast_done = time.monotonic() - t0
    t.join()
    assert (outcome, text.strip()) == ("ok", "fast")
    assert fast_done < 1.5
    assert slow["r"][0] == "ok" and slow["r"][1].strip() == "slow"


def _zygote_pid(worker):
    """The worker's child (the zygote), or None while it is being restarted."""
    pids = []
    for tid in os.listdir(f"/proc/{worker.proc.pid}/task"):
        try:
            pids += pathlib.Path(f"/proc/{worker.proc.pid}/task/{tid}/children").read_text().split()
        except FileNotFoundError:
            pass    # a thread that just ended
    return int(pids[0]) if pids else None


def _children(pid):
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(x) for x in pathlib.Path(
                f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except FileNotFoundError:
            pass    # a thread that just ended
    return out


def _slice_ns(pid):
    """The EEVDF slice the kernel shows for pid (Linux >= 6.12), or None."""
    for line in pathlib.Path(f"/proc/{pid}/sched").read_text().splitlines():
        if line.startswith("se.slice"):
            return int(line.split(":")[1])
    return None


def eventually_pid(find, timeout=10):
    """Polls find() (pids may come and go) until it gives something."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = find()
        except (FileNotFoundError, ProcessLookupError):
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("not found in time")


def test_call_path_scheduled_short_and_background_batch(worker):
    """limits.h: the daemon and the zygote (and so a call's child) ask for
    the shortest slice; the nursery and the spares it makes run
    SCHED_BATCH; a spare that gets a call is moved back."""
    zygote = eventually_pid(lambda: _zygote_pid(worker))
    assert os.sched_getscheduler(worker.proc.pid) == os.SCHED_OTHER
    assert os.sched_getscheduler(zygote) == os.SCHED_OTHER
    idle = eventually_pid(lambda: _children(zygote) if len(_children(zygote)) >= 2 else None)
    assert {os.sched_getscheduler(p) for p in idle} == {os.SCHED_BATCH}, idle
    if _slice_ns(zygote) is not None:           # the kernel shows (and has) slices
        assert _slice_ns(worker.proc.pid) == _slice_ns(zygote) == 100_000

    # while a call sleeps, its process is the zygote's one SCHED_OTHER child
    t = threading.Thread(target=worker.run, args=("import time\ntime.sleep(1.5)",))
    t.start()
    try:
        running = eventually_pid(lambda: [p for p in _children(zygote)
                                          if os.sched_getscheduler(p) == os.SCHED_OTHER]
                                 or None)
        assert len(running) == 1, running
        if _slice_ns(zygote) is not None:
            assert _slice_ns(running[0]) == 100_000
    finally:
        t.join()


def _settled_children(pid, count, timeout=10):
    """The children of pid once there are count of them, twice in a row."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        now = set(_children(pid))
        if len(now) == count and now == last:
            return now
        last = now
        time.sleep(0.05)
    raise AssertionError(f"children of {pid}: {last}, not {count}")


def test_refill_waits_for_a_call_that_found_the_worker_idle(worker):
    """spare.c sw_refill_waits: the spare taken by a call that found the
    worker idle is replaced only once that call's child is gone (the fork
    would take a core from the call); a call coming meanwhile takes the
    last spare, and the nursery forks at once."""
    zygote = eventually_pid(lambda: _zygote_pid(worker))
    worker.run("print(1)")
    idle = _settled_children(zygote, 3)       # the nursery and 2 spares
    time.sleep(0.2)
    first = threading.Thread(target=worker.run, args=("import time\ntime.sleep(3)",))
    first.start()
    try:
        time.sleep(1.0)
        assert set(_children(zygote)) <= idle, "a spare was forked during the call"
        second = threading.Thread(target=worker.run, args=("import time\ntime.sleep(0.3)",))
        second.start()
        deadline = time.monotonic() + 1.5
        while not set(_children(zygote)) - idle:
            assert time.monotonic() < deadline, "no spare forked for the second call"
            time.sleep(0.02)
        assert first.is_alive()
        second.join()
    finally:
        first.join()
    assert len(_settled_children(zygote, 3)) == 3


def _stat_fields(pid):
    """/proc/PID/stat from its state on (field 3), past the command name."""
    return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(pid):
    fields = _stat_fields(pid)          # utime, stime: fields 14, 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_nursery_lost_during_an_idle_call_is_restarted_without_spinning(worker):
    """The refill's wait (spare.c sw_refill_waits) does not hold back a
    nursery to restart: the zygote's loop wakes up for that, and a wait
    would make it spin for as long as the call runs."""
    zygote = eventually_pid(lambda: _zygote_pid(worker))
    worker.run("print(1)")
    helpers = _settled_children(zygote, 3)
    starts = {p: int(_stat_fields(p)[19]) for p in helpers}   # starttime: field 22
    nursery = min(starts, key=starts.get)      # forked with the zygote, before any spare
    time.sleep(0.2)
    call = threading.Thread(target=worker.run, args=("import time\ntime.sleep(3.5)",))
    call.start()
    try:
        time.sleep(0.3)
        os.kill(nursery, signal.SIGKILL)
        time.sleep(1.5)                         # past SW_PREFORK_RETRY_MS
        before = _cpu_seconds(zygote)
        time.sleep(1.0)
        assert _cpu_seconds(zygote) - before < 0.3, "the zygote spins"
        assert call.is_alive()
    finally:
        call.join()
    assert nursery not in _settled_children(zygote, 3)
    assert worker.run("print('after')")[1].strip() == "after"


def test_spares_and_nursery_killed(worker):
    """The zygote's helpers (the nursery and the spare children waiting for
    a call) die: calls go on, and the helpers come back."""
    worker.run("print(1)")
    zpid = _zygote_pid(worker)
    helpers = _settled_children(zpid, 3)   # nursery + spares (--prefork 2)
    for pid in helpers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass        # the last call's child, gone by itself meanwhile
    time.sleep(0.3)     # a spare killed as a call reaches it is that call lost
    for i in range(4):
        assert worker.run(f"print({i})")[:3] == ("ok", f"{i}\n", False)
    deadline = time.monotonic() + 10
    while len(set(_children(zpid)) - set(helpers)) < 3:
        assert time.monotonic() < deadline, "helpers did not come back"
        time.sleep(0.1)
    assert _zygote_pid(worker) == zpid
    assert worker.run("print('again')")[1].strip() == "again"


def test_zygote_restart(worker):
    zpid = _zygote_pid(worker)
    assert zpid, "zygote not found"
    os.kill(zpid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # the new pid first: a 200 seen after it is the new zygote's
        new = _zygote_pid(worker)
        status, _, _ = worker.request("GET", "/readyz")
        if new not in (None, zpid) and status == 200:
            break
        time.sleep(0.1)
    assert _zygote_pid(worker) not in (None, zpid)
    assert worker.run("print(6 * 7)")[1].strip() == "42"
    _, _, metrics = worker.request("GET", "/metrics")
    assert b"mcp_worker_zygote_restarts_total 1" in metrics


def test_sandbox_status_reports_limits_and_load(worker):
    worker.run("print(1)")
    status, h, body = worker.call("sandbox_status", {})
    assert status == 200, body
    report = body["result"]["structuredContent"]
    assert report["ready"] is True
    assert report["limits"]["output_bytes"] == OUTPUT_CAP
    assert report["load"]["max_busy"] == 4 and report["load"]["max_queue"] == 8
    assert report["calls"]["ok"] >= 1
    assert report["landlock_abi"] >= 1


# ------------------------------------------------ a second worker: unix
# socket behind nginx, CPU limit 1 s, workspace quota 1 MiB

QUOTA_MB = 1


def _start_worker(tmp, listen, extra=(), preexec_fn=None, runner_extra=""):
    """Starts the worker binary staged under tmp; returns (proc, log path,
    workspace root). Does not wait for it to be ready. runner_extra is
    appended to the staged tool set's runner.py."""
    secret = tmp / "secret"
    secret.write_bytes(SECRET + b"\n")
    os.chmod(secret, 0o600)
    ws_root = tmp / "workspaces"
    binary, toolset, data = stage_sandbox(str(tmp))
    if runner_extra:
        with open(os.path.join(toolset, "runner.py"), "a") as f:
            f.write(runner_extra)
    cmd = [binary, "--toolset", toolset, "--listen", listen,
           "--identity-secret-file", str(secret),
           "--workspace-root", str(ws_root), "--data-dir", data, *extra]
    if os.geteuid() == 0:
        cmd += ["--user", "nobody"]
    log_path = tmp / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log,
                                preexec_fn=preexec_fn)
    return proc, log_path, ws_root


def _stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


NGINX_CONF = """
error_log {tmp}/nginx-error.log warn;
pid {tmp}/nginx.pid;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    upstream sandbox {{
        server unix:{sock};
        keepalive 4;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://sandbox;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
        location = /direct-unix/readyz {{
            proxy_pass http://unix:{sock}:/readyz;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def unix_worker():
    """The worker on a unix socket, reached through nginx's proxy_pass."""
    from stack import NGINX_BIN
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sw-unix-"))
    os.chmod(tmp, 0o755)
    sock = tmp / "worker.sock"
    proc, log_path, ws_root = _start_worker(
        tmp, f"unix:{sock}", ["--cpu-ms", "1000", "--workspace-quota-mb",
                              str(QUOTA_MB), "--prefork", "1"])
    line = proc.stdout.readline().decode()
    assert line == f"mcp-sandbox-worker ready on unix:{sock}\n", \
        (line, log_path.read_text())
    port = _free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, sock=sock, port=port))
    nginx = subprocess.Popen([NGINX_BIN, "-p", str(tmp), "-c", str(conf),
                              "-e", str(tmp / "nginx-error.log"),
                              "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert nginx.poll() is None and time.monotonic() < deadline, \
                "nginx did not start"
            time.sleep(0.05)
    w = Worker(proc, port, ws_root)
    w.sock = sock
    w.log_path = log_path
    yield w
    _stop(nginx, signal.SIGQUIT)
    _stop(proc)
    shutil.rmtree(tmp, ignore_errors=True)


def test_unix_socket_behind_nginx(unix_worker):
    st = os.stat(unix_worker.sock)
    assert stat_is_socket(st.st_mode) and st.st_mode & 0o777 == 0o660
    status, _, body = unix_worker.request("GET", "/direct-unix/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"
    status, _, body = unix_worker.rpc("tools/list", {}, id_=5)
    assert status == 200 and body["id"] == 5
    assert "execute_code" in {t["name"] for t in body["result"]["tools"]}
    outcome, text, is_error, h = unix_worker.run("print(6 * 7)")
    assert (outcome, text.strip(), is_error) == ("ok", "42", False)
    assert int(h["X-MCP-Exec-Peak-Rss-Kb"]) > 0
    # identity is still checked behind the proxy
    status, _, _ = unix_worker.rpc("tools/list", sign=False)
    assert status == 401


def stat_is_socket(mode):
    import stat
    return stat.S_ISSOCK(mode)


def test_cpu_limit_kill_is_its_own_outcome(unix_worker):
    # wall limit 10 s, CPU limit 1 s: the CPU limit ends the spin
    t0 = time.monotonic()
    outcome, text, is_error, h = unix_worker.run("while True: pass",
                                                 timeout=10)
    assert outcome == "cpu_limit" and is_error
    assert text == "killed: CPU-time limit of 1 s exceeded"
    assert "wall-clock" not in text
    # rusage rounds differently from the limit's own accounting
    assert 500 <= int(h["X-MCP-Exec-Cpu-Ms"]) < 3000
    assert time.monotonic() - t0 < 8
    # while a sleeping loop, using no CPU, meets the wall-clock limit
    outcome, text, _, _ = unix_worker.run(
        "import time\nwhile True: time.sleep(0.05)", timeout=1)
    assert outcome == "timeout"
    assert text == "killed: wall-clock limit of 1 s exceeded"


def _quota_user(worker, name):
    """A user with a fresh, empty workspace."""
    worker.run("pass", user=name)
    ws = worker.workspace(name)
    assert ws.is_dir() and not any(ws.iterdir())
    return ws


def test_quota_bounds_what_a_call_can_write(unix_worker):
    ws = _quota_user(unix_worker, "quota-writer")
    # a file larger than the whole quota cannot be written ...
    outcome, text, is_error, _ = unix_worker.run(
        "open('big', 'wb').write(b'x' * (2 * 1024 * 1024))", user="quota-writer")
    assert outcome == "error" and is_error
    assert "File too large" in text
    assert (ws / "big").stat().st_size <= QUOTA_MB * 1024 * 1024
    # ... and the answer says the quota is reached
    assert f"workspace quota of {QUOTA_MB} MiB reached" in text


def test_over_quota_workspace_is_read_and_delete_only(unix_worker):
    ws = _quota_user(unix_worker, "quota-reader")
    (ws / "planted").write_bytes(b"p" * (QUOTA_MB * 1024 * 1024 + 65536))
    (ws / "notes.txt").write_text("still readable")
    outcome, text, is_error, _ = unix_worker.run(
        "print(open('notes.txt').read())", user="quota-reader")
    assert outcome == "ok" and not is_error
    lines = text.splitlines()
    assert lines[0] == "still readable"
    assert lines[1].startswith("workspace over quota: ")
    assert f"of {QUOTA_MB} MiB; files can be read and deleted but not" \
        " written" in lines[1]
    for code in ("open('new.txt', 'w').write('x')",
                 "open('notes.txt', 'a').write('x')",
                 "import os\nos.mkdir('d')"):
        outcome, text, is_error, _ = unix_worker.run(code, user="quota-reader")
        assert outcome == "error" and "PermissionError" in text, (code, text)
        assert "workspace over quota" in text
    assert (ws / "notes.txt").read_text() == "still readable"
    assert not (ws / "new.txt").exists() and not (ws / "d").exists()
    # deleting brings the workspace under the quota: writable again
    outcome, text, _, _ = unix_worker.run(
        "import os\nos.remove('planted')", user="quota-reader")
    assert outcome == "ok"
    outcome, text, is_error, _ = unix_worker.run(
        "open('new.txt', 'w').write('x')\nprint('written')",
        user="quota-reader")
    assert (outcome, text.strip()) == ("ok", "written")


def test_quota_in_sandbox_status(unix_worker):
    _, _, body = unix_worker.call("sandbox_status", {})
    assert body["result"]["structuredContent"]["limits"][
        "workspace_quota_mb"] == QUOTA_MB


# -------------------------------------------- a kernel without Landlock
#
# Simulated from outside: the worker is started under a seccomp filter
# (installed by the test before exec) that answers landlock_create_ruleset
# with ENOSYS, which is what a kernel without Landlock answers. The worker
# itself has no switch for this.

def _no_landlock_preexec():
    """preexec_fn: landlock_create_ruleset -> ENOSYS for this process and
    everything it starts (x86_64)."""
    import ctypes
    import struct
    ld_abs, jeq, ret = 0x20, 0x15, 0x06
    allow, errno_enosys = 0x7fff0000, 0x00050000 | 38
    insns = [
        (ld_abs, 0, 0, 4),                 # A = arch
        (jeq, 1, 0, 0xc000003e),           # x86_64? skip the allow
        (ret, 0, 0, allow),
        (ld_abs, 0, 0, 0),                 # A = syscall number
        (jeq, 0, 1, 444),                  # landlock_create_ruleset
        (ret, 0, 0, errno_enosys),
        (ret, 0, 0, allow),
    ]
    code = b"".join(struct.pack("HBBI", *i) for i in insns)
    buf = ctypes.create_string_buffer(code)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(insns), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:                      # NO_NEW_PRIVS
        os._exit(97)
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:     # SECCOMP filter
        os._exit(98)


needs_x86_64 = pytest.mark.skipif(os.uname().machine != "x86_64",
                                  reason="the simulating filter is x86_64")


@needs_x86_64
def test_no_landlock_refuses_to_start():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sw-noll-"))
    os.chmod(tmp, 0o755)
    try:
        proc, log_path, _ = _start_worker(
            tmp, f"127.0.0.1:{_free_port()}",
            preexec_fn=_no_landlock_preexec)
        assert proc.wait(timeout=20) == 1
        assert proc.stdout.read() == b""
        log = log_path.read_text()
        assert "Landlock is unavailable; refusing to start" in log
        assert '"event":"landlock_unavailable"' in log
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@needs_x86_64
def test_no_landlock_weaker_mode_only_when_accepted():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sw-noll-"))
    os.chmod(tmp, 0o755)
    port = _free_port()
    proc, log_path, ws_root = _start_worker(
        tmp, f"127.0.0.1:{port}", ["--allow-no-landlock"],
        preexec_fn=_no_landlock_preexec)
    try:
        line = proc.stdout.readline().decode()
        assert line == f"mcp-sandbox-worker ready on 127.0.0.1:{port}\n", \
            log_path.read_text()
        w = Worker(proc, port, ws_root)
        # said loudly: in the log, /readyz and /metrics
        log = log_path.read_text()
        assert '"level":"error"' in log and "NOT isolated" in log
        assert '"landlock_enforced":false' in log
        status, _, body = w.request("GET", "/readyz")
        ready = json.loads(body)
        assert status == 200 and ready["landlock_abi"] == 0
        assert "not isolated" in ready["landlock"]
        assert b"mcp_worker_landlock_abi 0" in w.request("GET", "/metrics")[2]
        # seccomp and the rlimits still hold
        outcome, text, _, _ = w.run("import socket\nsocket.socket()")
        assert outcome == "error" and "PermissionError" in text
        outcome, text, _, _ = w.run("print('ok')")
        assert (outcome, text.strip()) == ("ok", "ok")
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- warm-up
#
# runner.REHEARSALS: the first warm-up call runs in every spare, the others
# once the worker has been idle (limits.h, SW_REHEARSAL_IDLE_MS). Each
# counts itself in the spare process (sys is that process's own), so the
# call that process then runs can tell how many ran before it.

COUNT_STEP = "import sys\nsys.warm_steps = getattr(sys, 'warm_steps', 0) + 1"
BURN_STEP = ("import time\nt = time.process_time()\n"
             "while time.process_time() - t < 0.4: pass")
REPORT = "import sys\nprint(getattr(sys, 'warm_steps', 0))"


def _warm_worker(tmp, rehearsals, prefork=1):
    port = _free_port()
    proc, log_path, ws_root = _start_worker(
        tmp, f"127.0.0.1:{port}", ["--prefork", str(prefork)],
        runner_extra=f"\nREHEARSALS = {rehearsals!r}\n")
    return proc, log_path, Worker(proc, port, ws_root)


def test_answered_child_killed_soon_after_its_answer():
    """limits.h SW_ANSWERED_KILL_DELAY_MS: the zygote kills the child of
    a call that found it idle a moment after its answer (so its teardown
    is not on the answer's way out), not a second later when the child
    would exit on its own (SW_CHILD_LINGER_MS). Without spares and idle
    warm-up steps, nothing else wakes the zygote up."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sw-kill-"))
    os.chmod(tmp, 0o755)
    one_step = (("execute_code", json.dumps({"code": "print(1)"})),)
    proc, log_path, w = _warm_worker(tmp, one_step, prefork=0)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("mcp-sandbox-worker ready"), log_path.read_text()
        for _ in range(5):
            outcome, text, _, _ = w.run("import os\nprint(os.getpid())")
            assert outcome == "ok", text
            pid, answered = int(text), time.monotonic()
            while os.path.exists(f"/proc/{pid}"):
                assert time.monotonic() - answered < 0.5, f"child {pid} still alive"
                time.sleep(0.005)
            time.sleep(0.02)    # the next call finds the worker idle
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_idle_warm_up_runs_before_the_call_and_is_not_billed():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sw-warm-"))
    os.chmod(tmp, 0o755)
    # the last step burns 0.4 s of CPU and counts itself too, so a count
    # of 4 says the burn ran in the spare before the call
    steps = [("execute_code", json.dumps({"code": COUNT_STEP}))] * 3 + [
        ("execute_code", json.dumps({"code": BURN_STEP + "\n" + COUNT_STEP}))]
    proc, log_path, w = _warm_worker(tmp, tuple(steps))
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("mcp-sandbox-worker ready"), log_path.read_text()
        for _ in range(3):
            time.sleep(1.5)     # idle: the spare has run every step
            outcome, text, is_error, h = w.run(REPORT)
            assert (outcome, is_error) == ("ok", False), text
            assert text.strip() == "4"
            # the 0.4 s the last step burned is the spare's, not the call's
            assert int(h["X-MCP-Exec-Cpu-Ms"]) < 200, h["X-MCP-Exec-Cpu-Ms"]
        # a call's own CPU is still counted
        outcome, _, _, h = w.run(BURN_STEP)
        assert outcome == "ok" and int(h["X-MCP-Exec-Cpu-Ms"]) >= 350
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_warm_up_stops_when_the_call_arrives():
    # a call that arrives during a warm-up step waits for that step (no
    # call is cut into it), and no further step runs before the call
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sw-warm-"))
    os.chmod(tmp, 0o755)
    slow = ("import time\nt = time.monotonic()\n"
            "while time.monotonic() - t < 3: time.sleep(0.01)\n" + COUNT_STEP)
    steps = tuple(("execute_code", json.dumps({"code": code}))
                  for code in (COUNT_STEP, slow, COUNT_STEP))
    proc, log_path, w = _warm_worker(tmp, steps)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("mcp-sandbox-worker ready"), log_path.read_text()
        time.sleep(1.0)     # the spare is in its 3 s second step
        t0 = time.monotonic()
        outcome, text, _, _ = w.run(REPORT)
        assert outcome == "ok" and text.strip() == "2"
        assert time.monotonic() - t0 < 4.5
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_shipped_warm_up_calls_succeed_confined(worker):
    # every warm-up call of the log-analysis tool set, made as a call: a
    # call is confined at least as tightly as a waiting spare, and a step
    # that failed would end a spare's warm-up early without a word
    out = subprocess.run(
        ["/usr/bin/python3", "-c", "import json, sys; sys.path.insert(0, "
         "sys.argv[1]); import runner; print(json.dumps(runner.REHEARSALS))",
         str(TOOLSET)], capture_output=True, text=True, check=True).stdout
    rehearsals = json.loads(out)
    assert len(rehearsals) >= 2
    for tool, args in rehearsals:
        status, h, body = worker.call(tool, json.loads(args))
        assert status == 200 and h["X-MCP-Exec-Outcome"] == "ok", body
        assert not body["result"]["isError"], body


@pytest.mark.parametrize("rehearsals, message", [
    ((("execute_code", "not json"),),
     "runner.REHEARSALS[0]: the arguments are not a JSON object"),
    ((("execute_code",),),
     "runner.REHEARSALS[0] must be a (tool, arguments JSON) pair of strings"),
    ((), "runner.REHEARSALS must hold 1 to 8 (tool, arguments JSON) pairs"),
])
def test_malformed_rehearsals_refuse_to_start(rehearsals, message):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sw-warm-"))
    os.chmod(tmp, 0o755)
    proc, log_path, _ = _warm_worker(tmp, rehearsals)
    try:
        assert proc.wait(timeout=30) != 0
        assert proc.stdout.read() == b""
        log = log_path.read_text()
        assert message in log, log
        assert '"event":"toolset_import_failed"' in log
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
