#!/usr/bin/python3
"""make valgrind-worker: the sandbox worker daemon under valgrind
(a full leak check when it stops serving), 10,000 calls, then its
summary checked.

The calls, round robin over keep-alive connections: tools/list, tools/call
execute_code with a trivial snippet, ping, bad requests (unparseable
JSON, a wrong signature, an unknown tool, arguments that fail the schema,
an unknown method, a notification) and the readiness probe GET /readyz.

--trace-children=no: only the daemon runs under valgrind.  It is the
long-lived process that parses every request, verifies the identity and
keeps the per-call state, so it is where a leak per call would pile up.
The zygote is the same binary re-executed (execv of /proc/self/exe) with
an embedded Python, and each call runs in a child forked from it under
seccomp and Landlock: traced, valgrind's own syscalls and files would
meet that confinement, and every call would run Python on valgrind's
CPU; the zygote's C side is covered by the ASan build (make test-asan).
Under valgrind /proc/self/exe names valgrind's tool, so the daemon's
execv("/proc/self/exe") of its zygote is pointed at the worker binary by
a preloaded shim (test/valgrind/exec_shim.c).

Debian 12's valgrind (3.19) does not know the Landlock syscalls, so under
it the daemon sees no Landlock and runs with --allow-no-landlock (the
workspace isolation, not the daemon's memory handling, is what changes).

Passes when valgrind reports no errors (ERROR SUMMARY: 0) and nothing
definitely or indirectly lost, and every call got the answer it should.

    test/valgrind/worker_calls.py [--calls 10000] [--binary PATH] [--bare]
"""

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "demo"))
from stack import IDENTITY_HEADER, identity_header, stage_sandbox  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def identity_headers(secret, user="vg@example.com", roles="mcp-log-analyst", bad=False):
    headers = identity_header(secret, user, roles, "apikey", "0123456789abcdef", "log-analysis")
    if bad:
        # change the signature's first character: all of its 6 bits are
        # signature (the last character's low bits are only padding)
        message, sig = headers[IDENTITY_HEADER].split(".")
        headers[IDENTITY_HEADER] = message + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    return {**headers, "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream"}


def rpc(i, method, params=None):
    msg = {"jsonrpc": "2.0", "id": i, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg)


# (name, body(i), expected HTTP status, check of the answer, bad signature)
CALLS = [
    ("tools/list", lambda i: rpc(i, "tools/list"), 200,
     lambda a: len(a["result"]["tools"]) > 0, False),
    ("execute_code", lambda i: rpc(i, "tools/call", {"name": "execute_code", "arguments":
                                                     {"code": f"print({i} + 1)"}}), 200,
     lambda a: a["result"]["isError"] is False, False),
    ("ping", lambda i: rpc(i, "ping"), 200, lambda a: a["result"] == {}, False),
    ("bad json", lambda i: '{"jsonrpc":"2.0","id":' + str(i) + ',"method":', 400,
     lambda a: a["error"]["code"] == -32700, False),
    ("bad signature", lambda i: rpc(i, "ping"), 401,
     lambda a: a["error"]["code"] == -32001, True),
    ("unknown tool", lambda i: rpc(i, "tools/call", {"name": "no_such_tool", "arguments": {}}),
     200, lambda a: a["error"]["code"] == -32602, False),
    ("bad arguments", lambda i: rpc(i, "tools/call", {"name": "execute_code",
                                                      "arguments": {"code": 5}}),
     200, lambda a: a["error"]["code"] == -32602, False),
    ("unknown method", lambda i: rpc(i, "no/such/method"), 200,
     lambda a: a["error"]["code"] == -32601, False),
    ("notification", lambda i: '{"jsonrpc":"2.0","method":"notifications/initialized"}', 202,
     None, False),
    ("tools/list", lambda i: rpc(i, "tools/list"), 200,
     lambda a: len(a["result"]["tools"]) > 0, False),
    # the readiness probe an orchestrator sends every few seconds
    ("GET /readyz", None, 200, lambda a: a["status"] == "ready", False),
]


def call(conn, secret, i):
    name, body, status, check, bad = CALLS[i % len(CALLS)]
    if body is None:
        conn.request("GET", name.split()[1])
    else:
        conn.request("POST", "/mcp", body=body(i).encode(),
                     headers=identity_headers(secret, bad=bad))
    res = conn.getresponse()
    data = res.read()
    if res.status != status:
        return f"{name}: HTTP {res.status}, expected {status}: {data[:200]!r}"
    if check is not None:
        try:
            answer = json.loads(data)
            ok = check(answer)
        except (ValueError, KeyError, TypeError) as e:
            return f"{name}: {e!r} in {data[:200]!r}"
        if not ok:
            return f"{name}: unexpected answer {data[:200]!r}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--binary", default=os.path.join(ROOT, "sandbox-worker", "build",
                                                     "mcp-sandbox-worker"))
    ap.add_argument("--connections", type=int, default=2)
    ap.add_argument("--bare", action="store_true",
                    help="the same calls without valgrind (e.g. for the ASan build)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="vg-worker-")
    os.chmod(tmp, 0o755)
    import stack
    stack.WORKER_BIN = args.binary
    binary, toolset, data = stage_sandbox(tmp)
    secret = secrets.token_hex(32).encode()
    with open(os.path.join(tmp, "secret"), "wb") as f:
        f.write(secret + b"\n")
    os.chmod(os.path.join(tmp, "secret"), 0o600)
    ws = os.path.join(tmp, "workspaces")
    os.makedirs(ws)
    port = free_port()
    vglog = os.path.join(tmp, "valgrind.log")
    # the leak check that counts is made when the daemon stops serving
    # (exec_shim.c); at exit, after main() returned, only the process-life
    # allocations main() held are added, so no exit check is asked for
    cmd = ["valgrind", "--leak-check=no", "--show-leak-kinds=definite,indirect",
           "--errors-for-leak-kinds=none", "--trace-children=no",
           "--child-silent-after-fork=yes", "--num-callers=30", f"--log-file={vglog}",
           binary, "--toolset", toolset, "--listen", f"127.0.0.1:{port}",
           "--identity-secret-file", os.path.join(tmp, "secret"), "--workspace-root", ws,
           "--data-dir", data]
    if args.bare:
        cmd = cmd[cmd.index(binary):]
    else:
        # valgrind (3.19, Debian 12) does not know the Landlock syscalls and
        # answers ENOSYS, so the daemon would see a kernel without Landlock
        cmd.append("--allow-no-landlock")
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam("nobody")
        os.chown(ws, pw.pw_uid, pw.pw_gid)
        cmd += ["--user", "nobody"]
    env = dict(os.environ)
    if not args.bare:
        shim = os.path.join(tmp, "exec_shim.so")
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", shim,
                        os.path.join(ROOT, "test", "valgrind", "exec_shim.c"), "-ldl"], check=True)
        os.chmod(shim, 0o755)
        env.update(LD_PRELOAD=shim, VG_WORKER_EXE=binary)
    print("+", " ".join(cmd), flush=True)
    errlog = open(os.path.join(tmp, "worker.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errlog, stdin=subprocess.DEVNULL,
                            env=env)
    failures = []
    counts = {}
    started = time.monotonic()
    try:
        line = proc.stdout.readline().decode()
        if "ready" not in line:
            raise SystemExit("the worker did not start:\n"
                             + open(os.path.join(tmp, "worker.log"), errors="replace").read()[-3000:])
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                 for _ in range(args.connections)]
        for i in range(args.calls):
            name = CALLS[i % len(CALLS)][0]
            counts[name] = counts.get(name, 0) + 1
            try:
                err = call(conns[i % len(conns)], secret, i)
            except (OSError, http.client.HTTPException) as e:
                conns[i % len(conns)].close()
                conns[i % len(conns)] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                err = f"{name}: {e!r}"
            if err:
                failures.append(err)
            if (i + 1) % 1000 == 0:
                print(f"  {i + 1} calls, {len(failures)} unexpected, "
                      f"{time.monotonic() - started:.0f} s", flush=True)
        for c in conns:
            c.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    elapsed = time.monotonic() - started

    def figure(pattern):
        m = re.search(pattern, report)
        return int(m.group(1).replace(",", "")) if m else None

    if args.bare:
        ok = not failures and proc.returncode == 0
        print(f"calls: {args.calls} in {elapsed:.0f} s, unexpected answers: {len(failures)}, "
              f"exit {proc.returncode}")
        for err in failures[:10]:
            print("   ", err)
        print(open(os.path.join(tmp, "worker.log"), errors="replace").read()[-3000:] if not ok else "")
        return 0 if ok else 1
    with open(vglog, errors="replace") as f:
        report = f.read()
    at = report.find("worker_calls: leak check when the daemon stopped serving")
    if at < 0:
        print(report[-4000:])
        raise SystemExit("no leak check was made when the daemon stopped")
    errors = figure(r"ERROR SUMMARY: ([\d,]+) errors")
    report = report[at:]
    definite = figure(r"definitely lost: ([\d,]+) bytes") or 0
    indirect = figure(r"indirectly lost: ([\d,]+) bytes") or 0
    possible = figure(r"possibly lost: ([\d,]+) bytes") or 0
    reachable = figure(r"still reachable: ([\d,]+) bytes") or 0
    print("\n".join(l for l in report.splitlines()
                    if "SUMMARY" in l or "lost:" in l or "reachable:" in l or "suppressed:" in l))
    print(f"calls: {args.calls} in {elapsed:.0f} s ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    print(f"unexpected answers: {len(failures)}")
    for err in failures[:10]:
        print("   ", err)
    print(f"valgrind: {errors} errors, definitely lost {definite} B, indirectly lost {indirect} B, "
          f"possibly lost {possible} B, still reachable {reachable} B; exit {proc.returncode}")
    ok = errors == 0 and definite == 0 and indirect == 0 and not failures
    if not ok:
        print(report[-8000:])
        print(f"(valgrind log: {vglog})")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
