"""log_store and privacy through the real sandbox worker (confined
children, read-only log directory) with generated logs: bad regex,
catastrophic backtracking stopped by the CPU limit, wrong argument types,
and the top errors of the last hour via execute_code through the gateway.

Run after `make -C sandbox-worker`:
  /usr/bin/python3 -m pytest test/integration/test_log_analysis.py
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import post
from stack import generate_demo_logs, stage_sandbox
from test_worker import BINARY, SECRET, Worker, _free_port

CPU_MS = 2000       # low, so the backtracking test is quick


@pytest.fixture(scope="module")
def worker():
    assert BINARY.exists(), f"{BINARY} missing: run make -C sandbox-worker"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sw-la-"))
    os.chmod(tmp, 0o755)
    secret = tmp / "secret"
    secret.write_bytes(SECRET + b"\n")
    os.chmod(secret, 0o600)
    port = _free_port()
    binary, toolset, _ = stage_sandbox(str(tmp))
    data = generate_demo_logs(str(tmp / "logs"), size_mb=1, seed=11)
    cmd = [binary, "--toolset", toolset, "--listen", f"127.0.0.1:{port}",
           "--identity-secret-file", str(secret), "--workspace-root",
           str(tmp / "workspaces"), "--data-dir", data, "--cpu-ms", str(CPU_MS)]
    if os.geteuid() == 0:
        cmd += ["--user", "nobody"]
    log = open(tmp / "worker.log", "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
    line = proc.stdout.readline().decode()
    assert line.startswith("mcp-sandbox-worker ready"), (tmp / "worker.log").read_text()
    w = Worker(proc, port, tmp / "workspaces")
    w.data = pathlib.Path(data)
    yield w
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


def call(worker, tool, args):
    status, h, body = worker.call(tool, args)
    assert status == 200, body
    return h.get("X-MCP-Exec-Outcome"), body


def text(body):
    return body["result"]["content"][0]["text"]


def test_tools_listed_with_schemas(worker):
    _, _, body = worker.rpc("tools/list", {})
    tools = {t["name"]: t for t in body["result"]["tools"]}
    ls, pv = tools["log_store"], tools["privacy"]
    assert ls["inputSchema"]["properties"]["function"]["enum"] == [
        "search_logs", "get_error_summary", "tail_logs", "extract_fields", "list_services"]
    assert ls["annotations"]["readOnlyHint"] is True
    assert pv["inputSchema"]["required"] == ["text"]
    assert pv["annotations"]["readOnlyHint"] is True


def test_summary_and_search_on_generated_logs(worker):
    outcome, body = call(worker, "log_store", {"function": "get_error_summary",
                                               "service_name": "*", "top": 3})
    sc = body["result"]["structuredContent"]
    assert outcome == "ok" and sc["total_errors"] > 100 and len(sc["errors_by_type"]) == 3
    outcome, body = call(worker, "log_store", {
        "function": "search_logs", "service_name": "payment-service",
        "log_level": "ERROR", "regex": r"declined|refused", "since": "2h", "limit": 5})
    sc = body["result"]["structuredContent"]
    assert outcome == "ok" and 0 < sc["count"] <= 5
    outcome, body = call(worker, "log_store", {"function": "tail_logs",
                                               "service_name": "scheduler", "lines": 3})
    assert body["result"]["structuredContent"]["count"] == 3


def test_bad_regex_is_a_clear_error(worker):
    outcome, body = call(worker, "log_store", {"function": "search_logs",
                                               "service_name": "api-gateway",
                                               "regex": "([a-z]+"})
    assert outcome == "error" and body["result"]["isError"] is True
    assert "invalid regex '([a-z]+': missing ), unterminated subpattern" in text(body)


def test_catastrophic_backtracking_stopped_by_cpu_limit(worker):
    t0 = time.monotonic()
    outcome, body = call(worker, "log_store", {"function": "search_logs",
                                               "service_name": "api-gateway",
                                               "regex": "(.+)+XYZ"})
    assert outcome == "cpu_limit" and body["result"]["isError"] is True
    assert "CPU-time limit" in text(body)
    assert time.monotonic() - t0 < CPU_MS / 1000 + 5
    # the worker goes on serving
    outcome, _ = call(worker, "log_store", {"function": "list_services"})
    assert outcome == "ok"


@pytest.mark.parametrize("tool,args,words", [
    ("log_store", {"function": "search_logs", "service_name": "api-gateway",
                   "limit": "ten"}, "limit\" must be of type integer"),
    ("log_store", {"function": "search_logs", "service_name": 7}, "service_name"),
    ("log_store", {"function": "drop_logs"}, "function\" is not one of"),
    ("log_store", {"function": "search_logs", "service_name": "x", "colour": 1},
     "unexpected argument \"colour\""),
    ("privacy", {"text": 42}, "text\" must be of type string"),
    ("privacy", {"text": "x", "kinds": "email"}, "kinds\" must be of type array"),
    ("privacy", {}, "missing required argument \"text\""),
])
def test_wrong_argument_types_are_invalid_params(worker, tool, args, words):
    status, _, body = worker.call(tool, args)
    assert body["error"]["code"] == -32602, body
    assert words in body["error"]["message"]


def test_checks_the_schema_cannot_make_are_sentences(worker):
    outcome, body = call(worker, "log_store", {"function": "extract_fields",
                                               "service_name": "api-gateway",
                                               "fields": [1, 2]})
    assert outcome == "error" and "fields must be a list of field names" in text(body)
    outcome, body = call(worker, "log_store", {"function": "tail_logs",
                                               "service_name": "api-gateway", "top": 3})
    assert outcome == "error" and "unexpected keyword argument 'top'" in text(body)
    outcome, body = call(worker, "log_store", {"function": "search_logs",
                                               "service_name": "no-such"})
    assert outcome == "error" and "unknown service 'no-such'" in text(body)


def test_privacy_tool(worker):
    outcome, body = call(worker, "privacy", {
        "text": "Maria Garcia paid with 4111 1111 1111 1111 from 10.1.2.3 at "
                "2025-01-15T10:00:01Z"})
    sc = body["result"]["structuredContent"]
    assert outcome == "ok" and "4111" not in sc["text"] and "1111" not in sc["text"]
    assert sc["text"].endswith("from [IP_REDACTED] at 2025-01-15T10:00:01Z")
    assert sc["redactions"] == {"card": 1, "ipv4": 1, "name": 1}


def test_code_mode_with_log_store_and_privacy(worker):
    code = (
        "s = log_store.get_error_summary(since='1h', top=5)\n"
        "print(json.dumps(list(s['errors_by_type'])))\n"
        "scrub = privacy.Scrubber()\n"
        "lines = [scrub.scrub(r['line']) for r in log_store.iter_records(\n"
        "    'auth-service', log_level='ERROR', since='6h')][:50]\n"
        "print(sum('@' in ln for ln in lines), scrub.report()['total'] > 0)\n")
    outcome, out, is_error, _ = worker.run("import json\n" + code)
    assert outcome == "ok", out
    top, check = out.strip().splitlines()
    assert json.loads(top)[0] == "DatabaseConnectionRefused"     # the incident
    assert check == "0 True"


def test_log_directory_is_read_only(worker):
    code = ("import os\n"
            f"p = {str(worker.data / 'api-gateway.log')!r}\n"
            "try:\n"
            "    open(p, 'a').write('forged')\n"
            "    print('wrote')\n"
            "except OSError as e:\n"
            "    print('refused', type(e).__name__)\n")
    outcome, out, _, _ = worker.run(code)
    assert outcome == "ok" and out.startswith("refused"), out


# ------------------------------------------------------- through the gateway

def test_top_errors_last_hour_through_the_gateway(stack, keys):
    code = ("s = log_store.get_error_summary(since='1h', top=5)\n"
            "for t, n in s['errors_by_type'].items(): print(n, t)")
    resp = post(stack.gateway_url, {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                    "params": {"name": "execute_code",
                                               "arguments": {"code": code}}},
                key=keys["analyst"])
    assert resp.status == 200, resp.body
    out = resp.json()["result"]["content"][0]["text"].splitlines()
    assert len(out) == 5 and out[0].endswith(" DatabaseConnectionRefused")
    assert len(resp.body) < 2048
